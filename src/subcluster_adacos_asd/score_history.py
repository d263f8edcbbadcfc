"""The score history of a monitored machine: every inference run's scores over recording time.

A monitoring user scores new recordings every day and asks "is this machine drifting?". Each
``inference`` run adds its scored files to ``score_history`` (a versioned Parquet: every run
keeps the history as it stood), keyed by machine type, section and recording time (the
manifest's ``timestamp``, else the file's modification time). A key already in the history is
replaced by the new run's row, so scoring the same files again adds no rows (and a rescore after
retraining updates them). One figure per machine type and section shows the score against time,
the decision threshold of each domain and the alarms (docs/own_recordings.md). No Kedro here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

#: One row of the history per key: a recording of one machine unit at one time.
HISTORY_KEY = ["machine_type", "section", "recorded_at"]
HISTORY_COLUMNS = [*HISTORY_KEY, "domain", "file", "score", "threshold_score", "threshold",
                   "decision", "variant", "scored_at"]
DOMAIN_MARKERS = {"source": "o", "target": "s"}


def history_rows(inference_scores: pd.DataFrame, scored_at: pd.Timestamp) -> pd.DataFrame:
    """The history rows of one inference run: its scored files (error rows have no score)."""
    scored = inference_scores[inference_scores["status"] == "scored"]
    rows = pd.DataFrame({
        "machine_type": scored["machine_type"].astype(str),
        "section": scored["section"].astype("int64"),
        "recorded_at": pd.to_datetime(scored["recorded_at"]).astype("datetime64[us]"),
        "domain": scored["domain"].astype(str),
        "file": scored["file"].astype(str),
        "score": scored["score"].astype(float),
        "threshold_score": scored["threshold_score"].astype(float),
        "threshold": scored["threshold"].astype(float),
        "decision": scored["decision"].astype("Int64"),
        "variant": scored["variant"].astype(str),
        "scored_at": pd.Timestamp(scored_at).as_unit("us"),
    })
    unknown = rows["recorded_at"].isna()
    if unknown.any():
        logger.warning("%d scored files have no recording time and stay out of the score "
                       "history, e.g. %s", int(unknown.sum()), rows.loc[unknown, "file"].iloc[0])
        rows = rows[~unknown]
    return rows[HISTORY_COLUMNS].reset_index(drop=True)


def update_history(previous: pd.DataFrame | None, inference_scores: pd.DataFrame,
                   scored_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """``previous`` (``None``: no history yet) with this run's rows; a key already there gets
    this run's row (module docstring). Sorted by machine type, section and recording time."""
    scored_at = pd.Timestamp.now() if scored_at is None else scored_at
    new = history_rows(inference_scores, scored_at)
    clashes = new[new.duplicated(HISTORY_KEY, keep=False)]
    if len(clashes):
        first = clashes.iloc[0]
        same = clashes[(clashes[HISTORY_KEY] == first[HISTORY_KEY]).all(axis=1)]["file"]
        logger.warning(
            "%d scored files share machine type, section and recording time with another file "
            "of this run; the history keeps the last of each, e.g. of %s", len(clashes),
            " and ".join(same.tolist()))
    # (a history written before a column existed gets it empty)
    frames = [new] if previous is None or previous.empty else [
        previous.reindex(columns=HISTORY_COLUMNS).astype(new.dtypes.to_dict()), new]
    history = pd.concat(frames, ignore_index=True)
    history = history.drop_duplicates(HISTORY_KEY, keep="last")
    added = len(history) - (0 if previous is None else len(previous))
    logger.info("Score history: %d rows (%d new, %d rescored)", len(history), added,
                len(new) - added)
    return history.sort_values(HISTORY_KEY, kind="stable").reset_index(drop=True)


def figure_name(machine_type: str, section: int) -> str:
    """The name of a machine section: ``<machine_type>_section_<SS>``."""
    return f"{machine_type}_section_{int(section):02d}"


def history_figures(history: pd.DataFrame) -> dict[str, Figure]:
    """``<machine_type>_section_<SS>.png``: one figure per machine type and section, the score
    that decides (``threshold_score``: the anomaly score in the source domain, its section term
    in the target domain, paper 2.6) against recording time per domain, the threshold as it
    stood at each recording (a step line), alarms marked in red."""
    figures = {}
    for (machine_type, section), rows in history.groupby(["machine_type", "section"], sort=True):
        figure = Figure(figsize=(8.0, 3.6), layout="constrained")
        draw_section(figure.add_subplot(), rows, str(machine_type), int(section))
        figures[f"{figure_name(machine_type, section)}.png"] = figure
    return figures


def history_overview(history: pd.DataFrame) -> Figure:
    """Every machine section's history in one figure (the one ``kedro viz`` previews)."""
    groups = list(history.groupby(["machine_type", "section"], sort=True))
    count = max(1, len(groups))
    columns = 1 if count == 1 else 2
    rows = int(np.ceil(count / columns))
    figure = Figure(figsize=(7.0 * columns, 3.0 * rows), layout="constrained")
    if not groups:
        axes = figure.add_subplot()
        axes.text(0.5, 0.5, "no scored recordings yet", ha="center", va="center")
        axes.set_axis_off()
        return figure
    for i, ((machine_type, section), group) in enumerate(groups):
        draw_section(figure.add_subplot(rows, columns, i + 1), group, str(machine_type),
                     int(section))
    return figure


def draw_section(axes, rows: pd.DataFrame, machine_type: str, section: int) -> None:
    """The history of one machine section on ``axes``."""
    rows = rows.sort_values("recorded_at")
    alarms = rows["decision"].fillna(0).astype(int) == 1
    for domain, group in rows.groupby("domain", sort=True):
        marker = DOMAIN_MARKERS.get(str(domain), "^")
        quiet = group[~alarms.loc[group.index]]
        loud = group[alarms.loc[group.index]]
        axes.plot(quiet["recorded_at"], quiet["threshold_score"], marker, linestyle="none",
                  color="tab:blue", markersize=4, label=f"{domain}: normal")
        axes.plot(loud["recorded_at"], loud["threshold_score"], marker, linestyle="none",
                  color="tab:red", markersize=6, label=f"{domain}: alarm")
        axes.step(group["recorded_at"], group["threshold"], where="post", color="0.3",
                  linestyle="--" if domain == "source" else ":", linewidth=1.2,
                  label=f"{domain}: threshold")
    axes.set_title(f"{machine_type} section {section:02d}: {len(rows)} recordings, "
                   f"{int(alarms.sum())} alarms", fontsize=10)
    axes.set_xlabel("recording time")
    axes.set_ylabel("score against its threshold")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    for label in axes.get_xticklabels():
        label.set_rotation(20)
        label.set_horizontalalignment("right")


def summary_of(history: pd.DataFrame) -> Mapping[str, dict]:
    """Per machine section: recordings, alarms, first and last recording time (for the log)."""
    result = {}
    for (machine_type, section), rows in history.groupby(["machine_type", "section"], sort=True):
        result[figure_name(machine_type, section)] = {
            "recordings": int(len(rows)),
            "alarms": int((rows["decision"].fillna(0) == 1).sum()),
            "first": str(rows["recorded_at"].min()), "last": str(rows["recorded_at"].max()),
        }
    return result
