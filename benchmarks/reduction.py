"""Ensemble reduction on data it was not chosen on: the default run's choice on the quality set.

    make run                              # the default run: its reduction is the choice
    python benchmarks/quality.py          # the quality set (another seed, twice the clips)
    python benchmarks/reduction.py        # the choice applied there, per machine type

The ``reduce_ensemble`` node picks, per machine type, the fewest members (configuration x
snapshot) that keep 99 % of the full ensemble's hmean AUC, on the labelled test files of the
run it is part of: on those files it is an optimistic figure. This script takes the members
the ``--choose`` environment's run kept and scores the ``--apply`` environment's files with
them (the same members' saved score terms; nothing retrained), beside that run's full ensemble
and its own in-sample choice. Machine types of both runs only. Also prints the share of the
grid's training time the kept configurations took (training histories of the choosing run).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
PROJECT = Path(__file__).resolve().parents[1]


def project_catalog(env: str | None):
    """The project's catalog of ``env`` (conf/base with conf/<env>), paths resolved from here."""
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    loader = OmegaConfigLoader(str(PROJECT / "conf"), base_env="base", default_run_env="local",
                               env=env, merge_strategy={"catalog": "soft", "parameters": "soft"})
    return DataCatalog.from_config(loader["catalog"])


def member_scores_of(catalog, names: list[str]):
    """Every member's score of every file of a finished run, from its saved terms."""
    from subcluster_adacos_asd import backends, reduction

    index = catalog.load("file_index")
    terms = {name: catalog.load(f"{name}.score_terms") for name in names}
    tmax = backends.tmax_terms(catalog.load("tmax_backend"), catalog.load("tmax_features"), index)
    return reduction.member_scores(terms, tmax, index, catalog.load("score_normalisation")), index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--choose", default=None, help="environment whose reduction is applied")
    parser.add_argument("--apply", default="quality", help="environment it is applied to")
    parser.add_argument("--fraction", type=float, default=0.99)
    args = parser.parse_args()
    os.chdir(PROJECT)

    from subcluster_adacos_asd import reduction
    from subcluster_adacos_asd.configurations import grid_of_project

    names = [c.name for c in grid_of_project(PROJECT, args.apply)]
    chosen = project_catalog(args.choose)
    kept = chosen.load("reduced_members")
    applied = project_catalog(args.apply)
    scores, index = member_scores_of(applied, names)
    variants = applied.load("variant_choice")
    _, own = reduction.reduce_ensemble(scores, index, variants, args.fraction)

    rows = []
    for machine_type in sorted(set(kept) & set(pd.unique(index["machine_type"]))):
        full = sorted(scores.loc[scores["variant"] == variants[machine_type], "member"].unique())
        for label, members in (("full ensemble", full), ("chosen elsewhere", kept[machine_type]),
                               ("chosen here (in-sample)", own[machine_type])):
            aucs = reduction.members_aucs(scores, index, machine_type, members)
            rows.append({"machine type": machine_type, "members": label, "n": len(members),
                         **{k: 100 * v for k, v in aucs.items()}})
    table = pd.DataFrame(rows)
    print(f"reduction chosen on env {args.choose or 'base'}, applied to env {args.apply}")
    print("| machine type | members | n | hmean AUC | source | target |")
    print("|---|---|---:|---:|---:|---:|")
    for r in table.itertuples(index=False):
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} |")
    histories = {name: chosen.load(f"{name}.training_history") for name in names}
    saved = reduction.saved_training(histories, kept)
    print(f"\nconfigurations kept: {reduction.configurations_kept(kept)}; their training took "
          f"{saved['kept_seconds']:.0f} s of the grid's {saved['all_seconds']:.0f} s "
          f"({100 * saved['kept_share']:.0f} %)")


if __name__ == "__main__":
    main()
