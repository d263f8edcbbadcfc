"""Where the training budget pays: the paper-shaped grid against fewer networks trained longer.

    python benchmarks/budget.py --env selection                       # the three budgets below
    python benchmarks/budget.py --env one_machine --budgets 1,2,4,8,16:16 4:80
    python benchmarks/budget.py --env selection --no-run               # the table again

Each budget is ``<sub-cluster counts>:<epochs>``: the grid trains every count x both loss
variants for that many epochs, snapshots at half and at the end. The defaults spend the same
network-epochs (10 x 16 = 4 x 40 = 2 x 80 = 160):

- ``1,2,4,8,16:16``: the paper's grid shape at the default budget (conf/base);
- ``2,8:40``: 4 networks, 40 epochs each;
- ``4:80``: 2 networks, 80 epochs each.

The first budget runs the whole default pipeline (data, features, baselines) under
``data/budget/<env>/``; the others rerun ``train, embed, score, evaluate`` on the same features
and baselines (Kedro versions every output; the tables are the latest run's). Prints, per
budget, the networks' summed training time (their training histories), the run's wall time and
the proposed system's harmonic-mean AUC (overall, source, target), with the best no-learning
reference of the same data; writes the table as CSV (``--table``).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd
import yaml
from kedro_process import PROJECT, conf_copy, run_kedro
from tables import markdown

DEFAULT_BUDGETS = ("1,2,4,8,16:16", "2,8:40", "4:80")
REFERENCES = ("gaussian_statistics", "knn_statistics", "knn_frames")


def parse_budget(text: str) -> tuple[list[int], int]:
    """``"2,8:40"`` -> ([2, 8], 40)."""
    counts, _, epochs = text.partition(":")
    return [int(c) for c in counts.split(",")], int(epochs)


def deep_update(base: dict, overrides: dict) -> dict:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = (deep_update(out.get(key) or {}, value) if isinstance(value, dict)
                    else value)
    return out


def write_conf(root: Path, env: str | None, data_root: Path, counts: list[int],
               epochs: int) -> Path:
    """A copy of conf/ whose ``budget`` environment is ``env``'s files with its own data root
    and this budget's grid, epochs and snapshots (merged into its parameters.yml)."""
    budget = conf_copy(root, "budget", data_root, like=env)
    parameters_file = budget / "parameters.yml"
    parameters = (yaml.safe_load(parameters_file.read_text()) or {}
                  if parameters_file.exists() else {})
    parameters = deep_update(parameters, {
        "grid": {"sub_clusters": counts},
        "training": {"epochs": epochs, "snapshot_epochs": [epochs // 2, epochs]}})
    parameters_file.write_text(yaml.safe_dump(parameters, sort_keys=False))
    return budget.parent


def latest(folder: Path, name: str) -> Path:
    """The latest version of the versioned dataset file ``folder/name``."""
    return sorted(folder.glob(f"{name}/*/{name}"))[-1]


def training_seconds(data_root: Path) -> tuple[float, int]:
    """The summed training seconds of the networks the latest run's ensemble summed (its
    ``ensemble_configurations``, from their latest training histories), and how many."""
    names = json.loads(latest(data_root / "07_model_output",
                              "ensemble_configurations.json").read_text())
    seconds = sum(pd.read_csv(latest(data_root / "08_reporting" / "training" / name,
                                     "training_history.csv"))["seconds"].sum()
                  for name in names)
    return float(seconds), len(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None, help="the data (an environment of conf/)")
    parser.add_argument("--budgets", nargs="+", default=list(DEFAULT_BUDGETS))
    parser.add_argument("--no-run", action="store_true")
    parser.add_argument("--table", type=Path, default=None)
    args = parser.parse_args()

    base = Path("data") / "budget" / (args.env or "base")
    rows = []
    for position, text in enumerate(args.budgets):
        counts, epochs = parse_budget(text)
        tag = text.replace(",", "-").replace(":", "_e")
        overview = PROJECT / base / "overviews" / f"{tag}.csv"
        wall = None
        if not args.no_run:
            conf = write_conf(PROJECT / base, args.env, base, counts, epochs)
            arguments = ["run", f"--conf-source={conf}", "--env=budget"]
            if position:
                arguments.append("--pipelines=train,embed,score,evaluate")
            wall = run_kedro(*arguments)
            overview.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(PROJECT / base / "08_reporting" / "tables" / "overview.csv", overview)
            seconds, networks = training_seconds(PROJECT / base)
            overview.with_suffix(".time").write_text(f"{seconds} {wall} {networks}\n")
        seconds, wall, networks = map(float, overview.with_suffix(".time").read_text().split())
        table = pd.read_csv(overview).set_index("system")
        proposed = table.loc["proposed"]
        references = table.loc[[r for r in REFERENCES if r in table.index]]
        best = references["AUC"].idxmax()
        rows.append({"budget": text, "networks": int(networks), "epochs": epochs,
                     "training s": round(seconds), "run min": round(wall / 60, 1),
                     "AUC": 100 * proposed["AUC"], "source AUC": 100 * proposed["source AUC"],
                     "target AUC": 100 * proposed["target AUC"],
                     "best reference": f"{100 * references.loc[best, 'AUC']:.2f} ({best})"})
    frame = pd.DataFrame(rows)
    path = args.table or PROJECT / base / "budget.csv"
    frame.to_csv(path, index=False)
    print(f"proposed system, hmean AUC (%), data: {args.env or 'conf/base'}")
    print(markdown(frame.round(2)))
    print(f"table: {path}")


if __name__ == "__main__":
    main()
