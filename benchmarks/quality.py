"""Quality benchmark: every system at the default budget on a synthetic set it was not tuned on.

    python benchmarks/quality.py             # kedro run --env quality, then the table
    python benchmarks/quality.py --no-run    # the table of the last run

The ``quality`` environment (conf/quality) generates a synthetic evaluation set with the
project's generator at seed 7 (settings were chosen on seeds 11 and 12), 6 machine types x 3
sections, 100 source + 3 target training clips and 50 + 50 test clips per domain and section,
and runs the whole default pipeline on it with conf/base's budget: the proposed system, its
Table 3 / Table 4 parts, both DCASE baselines and the non-learned references. Its data and
results live in data/quality/ (conf/quality/globals.yml), apart from the default run's.

Prints one table: harmonic-mean AUC and pAUC over all sections and domains, per domain, the
official score, and the run's wall time. docs/quality.md keeps the measured tables.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from kedro_process import run_kedro

PROJECT = Path(__file__).resolve().parents[1]
SYSTEM_ORDER = [
    "proposed", "loss_both", "loss_sections", "dist_section", "dist_attribute", "dist_target",
    "autoencoder", "mobilenetv2", "knn_statistics", "knn_frames", "gaussian_statistics",
]


def run_pipeline(env: str) -> float:
    """``kedro run --env <env>`` in the project; returns its wall time in seconds."""
    return run_kedro("run", "--env", env)


def results_table(reporting: Path) -> pd.DataFrame:
    """The overview table of the last run (one row per system), in a fixed system order."""
    table = pd.read_csv(reporting / "tables" / "overview.csv")
    order = {s: i for i, s in enumerate(SYSTEM_ORDER)}
    table = table.assign(_o=table["system"].map(order).fillna(len(order))).sort_values("_o")
    return table.drop(columns="_o").reset_index(drop=True)


def as_markdown(table: pd.DataFrame) -> str:
    columns = ["system", "official score", "AUC", "pAUC", "source AUC", "source pAUC",
               "target AUC", "target pAUC"]
    present = [c for c in columns if c in table.columns]
    lines = ["| " + " | ".join(present) + " |",
             "|---|" + "---:|" * (len(present) - 1)]
    for row in table[present].itertuples(index=False):
        cells = [row[0]] + [_percent(v) for v in row[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _percent(value) -> str:
    if isinstance(value, str):
        return value
    return "-" if pd.isna(value) else f"{100 * float(value):.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="quality")
    parser.add_argument("--no-run", action="store_true", help="only print the last run's table")
    args = parser.parse_args()
    seconds = None if args.no_run else run_pipeline(args.env)
    root = "data/quality" if args.env == "quality" else "data"
    print(as_markdown(results_table(PROJECT / root / "08_reporting")))
    if seconds is not None:
        print(f"\nkedro run --env {args.env}: {seconds / 60:.1f} min wall")


if __name__ == "__main__":
    main()
