"""score_history.py: each inference run's scores over recording time, without duplicates."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from subcluster_adacos_asd.score_history import (
    HISTORY_COLUMNS,
    history_figures,
    history_overview,
    update_history,
)


def _scores(files, scores, days, status=None, section=0, decisions=None) -> pd.DataFrame:
    n = len(files)
    return pd.DataFrame({
        "file": files, "machine_type": "pump", "section": pd.array([section] * n, "Int64"),
        "domain": "source", "status": status or ["scored"] * n, "score": scores,
        "threshold_score": scores,
        "decision": pd.array(decisions or [0] * n, "Int64"), "threshold": 5.0,
        "variant": "both",
        "recorded_at": [pd.Timestamp("2024-05-01") + pd.Timedelta(days=d) for d in days]})


def test_scoring_the_same_files_twice_adds_no_rows():
    first = _scores(["/r/a.wav", "/r/b.wav", "/r/c.wav"], [1.0, 2.0, 9.0], [0, 1, 2],
                    status=["scored", "scored", "error"])
    history = update_history(None, first, pd.Timestamp("2024-05-03"))
    assert list(history.columns) == HISTORY_COLUMNS
    assert history["file"].tolist() == ["/r/a.wav", "/r/b.wav"]  # error rows have no score

    again = update_history(history, first, pd.Timestamp("2024-05-04"))
    assert len(again) == 2
    assert again["scored_at"].tolist() == [pd.Timestamp("2024-05-04")] * 2  # the latest run's

    # a new day adds its row; a rescore of day 0 (e.g. after retraining) replaces its row
    later = _scores(["/r/a.wav", "/r/d.wav"], [1.5, 3.0], [0, 3], decisions=[0, 1])
    grown = update_history(again, later, pd.Timestamp("2024-05-05"))
    assert grown["file"].tolist() == ["/r/a.wav", "/r/b.wav", "/r/d.wav"]
    assert grown["score"].tolist() == [1.5, 2.0, 3.0]
    assert grown["recorded_at"].is_monotonic_increasing
    assert not grown.duplicated(["machine_type", "section", "recorded_at"]).any()

    # a history saved before a column existed still takes new rows
    older = update_history(again.drop(columns="threshold_score"), later)
    assert older["threshold_score"].isna().tolist() == [False, True, False]


def test_one_figure_per_machine_section_and_an_overview():
    target = _scores(["/r/t.wav"], [-40.0], [2], decisions=[1]).assign(
        domain="target", threshold_score=7.0)  # the target domain decides on its section term
    scores = pd.concat([
        _scores(["/r/a.wav", "/r/b.wav"], [1.0, 8.0], [0, 1], decisions=[0, 1]), target,
        _scores(["/r/c.wav"], [2.0], [0], section=3)])
    history = update_history(None, scores, pd.Timestamp("2024-05-03"))
    figures = history_figures(history)
    assert sorted(figures) == ["pump_section_00.png", "pump_section_03.png"]
    (axes,) = figures["pump_section_00.png"].axes
    assert axes.get_title() == "pump section 00: 3 recordings, 2 alarms"
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert list(lines) == ["source: normal", "source: alarm", "source: threshold",
                           "target: normal", "target: alarm", "target: threshold"]
    assert list(lines["source: alarm"].get_ydata()) == [8.0]
    # what is drawn against the threshold is what the decision compared with it
    assert list(lines["target: alarm"].get_ydata()) == [7.0]
    overview = history_overview(history)
    assert isinstance(overview, Figure) and len(overview.axes) == 2
    assert len(history_overview(history.iloc[:0]).axes) == 1  # an empty history still draws
