"""Decision thresholds on unseen normal clips: the calibration ways, measured on a finished run.

    make run                                       # or any kedro run that embedded its files
    python benchmarks/calibration.py               # the default run's data
    python benchmarks/calibration.py --env quality --folds 5

A threshold promises that about ``100 - threshold_percentile`` % of new normal recordings raise
an alarm. This script takes a finished run's embeddings (nothing is retrained), fits the
backends of every configuration as the score pipeline does, and sets the proposed system's
thresholds (paper 2.6: per machine type, section and domain) from calibration scores obtained
in each way of ``calibration.py``; then it counts, on the labelled test clips, the share of
normal clips flagged (false-alarm rate, the promise is 10 % at the 90th percentile) and of
anomalous clips flagged (detection rate), per domain (mean over sections), and the F1 of the
decisions.

Ways: ``in_sample`` (the paper: the clips the GMMs were fitted on), ``cross_fit`` (k-fold
backends, each training clip scored by the fit without it), each with the target-domain rules
``own`` (the percentile of its own 3 clips) and ``shifted`` (the source distribution moved by
the domains' median difference), and the ``empirical`` or ``gamma`` quantile.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
PROJECT = Path(__file__).resolve().parents[1]


def project_context(env: str | None):
    """The catalog and parameters of ``env`` (conf/base with conf/<env>)."""
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    loader = OmegaConfigLoader(str(PROJECT / "conf"), base_env="base", default_run_env="local",
                               env=env, merge_strategy={"catalog": "soft", "parameters": "soft"})
    return DataCatalog.from_config(loader["catalog"]), loader["parameters"]


def decision_rates(decided: pd.DataFrame, by: tuple[str, ...] = ("domain",)) -> pd.DataFrame:
    """Per domain (or ``by``): mean over sections of the false-alarm and detection rates, and
    the F1."""
    from subcluster_adacos_asd.metrics import decision_metrics

    test = decided[(decided["split"] == "test") & decided["label"].isin(["normal", "anomaly"])]
    rows = []
    for (machine_type, section, domain), group in test.groupby(
            ["machine_type", "section", "domain"]):
        y = (group["label"] == "anomaly").to_numpy(int)
        d = group["decision"].to_numpy(dtype=float)
        if np.isnan(d).any() or y.sum() in (0, len(y)):
            continue
        rows.append({"machine_type": machine_type, "domain": domain,
                     "false_alarm_rate": d[y == 0].mean(),
                     "detection_rate": d[y == 1].mean(),
                     "F1": decision_metrics(y, d.astype(int))["F1"]})
    return pd.DataFrame(rows).groupby(list(by)).mean(numeric_only=True)


def markdown(frame: pd.DataFrame) -> str:
    """A Markdown table of ``frame`` (no tabulate dependency)."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--percentile", type=float, default=90.0)
    parser.add_argument("--by-type", action="store_true", help="rates per machine type too")
    parser.add_argument("--dump", default=None,
                        help="folder to write the chosen variant's scores and calibration "
                             "scores to (Parquet), for further analysis")
    args = parser.parse_args()
    os.chdir(PROJECT)

    from subcluster_adacos_asd import backends, calibration, ensemble
    from subcluster_adacos_asd.backends import BackendSettings
    from subcluster_adacos_asd.configurations import paper_grid
    from subcluster_adacos_asd.mixtures import MixtureSettings

    catalog, parameters = project_context(args.env)
    score = parameters["score"]
    settings = BackendSettings.from_parameters(score["backends"])
    tmax_settings = MixtureSettings.from_parameters(
        {**score["backends"].get("gmm", {}), **(score["tmax"].get("gmm") or {})})
    index = catalog.load("file_index")
    folds = calibration.assign_folds(index, args.folds, args.seed)
    names = [c.name for c in paper_grid()]
    started = time.perf_counter()
    terms, calibration_terms = {}, {}
    for name in names:
        embeddings, centres = catalog.load(f"{name}.embeddings"), catalog.load(f"{name}.centres")
        fitted = backends.fit_configuration_backends(embeddings, centres, index, settings)
        terms[name] = backends.configuration_score_terms(fitted, embeddings, index)
        calibration_terms[name] = backends.configuration_calibration_terms(
            embeddings, centres, index, folds, settings)
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    tmax_features = catalog.load("tmax_features")
    machine_types = score["tmax"]["machine_types"]
    tmax = backends.tmax_terms(
        backends.fit_tmax_backend(tmax_features, index, machine_types, tmax_settings),
        tmax_features, index)
    tmax_calibration = backends.cross_fitted_tmax_terms(
        tmax_features, index, machine_types, folds, tmax_settings)
    statistics = ensemble.normalisation_statistics(terms, tmax, index, score["normalisation"])
    scores = ensemble.variant_scores(ensemble.sum_members(terms, statistics, index), index,
                                     tmax, statistics)
    training_index = index[calibration.normal_training(index)]
    calibration_scores = ensemble.variant_scores(
        ensemble.sum_members(calibration_terms, statistics, index), training_index,
        tmax_calibration, statistics)
    choice = ensemble.choose_variants(scores, "fixed", score["variant_choice"].get("fixed"),
                                      score["variant_choice"].get("default", "both"))
    chosen = ensemble._chosen_rows(scores, choice)
    chosen_calibration = ensemble._chosen_rows(calibration_scores, choice)
    in_sample = chosen[calibration.normal_training(chosen)]
    if args.dump:
        Path(args.dump).mkdir(parents=True, exist_ok=True)
        chosen.to_parquet(Path(args.dump) / "scores.parquet")
        chosen_calibration.to_parquet(Path(args.dump) / "calibration_scores.parquet")

    ways = [("in_sample", in_sample, "own", "empirical", "section_term")]
    for rule in ("own", "shifted"):
        for distribution in ("empirical", "gamma"):
            ways.append(("cross_fit", chosen_calibration, rule, distribution, "section_term"))
    ways.append(("cross_fit", chosen_calibration, "own", "empirical", "score"))
    records = []
    for method, rows, rule, distribution, target_column in ways:
        if target_column == "score":
            rows = rows.assign(threshold_score=rows["score"])
            decided_rows = chosen.assign(threshold_score=chosen["score"])
        else:
            decided_rows = chosen
        table = calibration.thresholds_table(rows, args.percentile, "threshold_score",
                                             target_column, rule, distribution)
        decided = ensemble.decide(decided_rows, table)
        rates = decision_rates(decided)
        record = {"method": method, "target": rule, "distribution": distribution,
                  "target decides on": target_column}
        for domain, values in rates.iterrows():
            for metric, value in values.items():
                record[f"{domain} {metric}"] = round(100 * value, 1)
        records.append(record)
        if args.by_type:
            by_type = decision_rates(decided, ("machine_type", "domain"))["false_alarm_rate"]
            print(method, rule, distribution, target_column, "false alarms per type:",
                  {f"{t}/{d}": round(100 * v, 1) for (t, d), v in by_type.items()})
    print(markdown(pd.DataFrame(records)))
    print(f"\n{args.folds} folds; backends of {len(names)} configurations fitted "
          f"{args.folds + 1} times each in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
