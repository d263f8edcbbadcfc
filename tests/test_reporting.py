"""Tables, figures and DCASE submission files (read back the way the official evaluator reads
them)."""

import csv
import re

import numpy as np
import pandas as pd
import pytest
from kedro_datasets.pandas import CSVDataset
from kedro_datasets.partitions import PartitionedDataset
from matplotlib.figure import Figure

from subcluster_adacos_asd import metrics, reporting


def _index_and_anomaly_scores():
    rows = []
    for machine_type in ("fan", "valve"):
        for section, labels in ((0, ["normal", "anomaly"] * 3), (3, ["unknown"] * 4)):
            for domain in ("source", "target"):
                for i, label in enumerate(labels):
                    if label == "unknown":
                        name = f"section_{section:02d}_{domain}_test_{i:04d}.wav"
                    else:
                        name = f"section_{section:02d}_{domain}_test_{label}_{i:04d}_x_1.wav"
                    rows.append(dict(file_id=f"{machine_type}/{domain}_test/{name[:-4]}",
                                     filename=name, machine_type=machine_type, section=section,
                                     domain=domain, split="test", label=label))
                rows.append(dict(file_id=f"{machine_type}/train/{section}{domain}",
                                 filename=f"section_{section:02d}_{domain}_train_normal_0000.wav",
                                 machine_type=machine_type, section=section, domain=domain,
                                 split="train", label="normal"))
    index = pd.DataFrame(rows)
    rng = np.random.default_rng(0)
    score = rng.normal(size=len(index)) + (index["label"] == "anomaly") * 2
    anomaly = index.drop(columns="filename").assign(
        score=score, threshold_score=score, threshold=0.5,
        decision=pd.array((score > 0.5).astype(int), dtype="Int64"))
    return index, anomaly.sample(frac=1.0, random_state=1)  # any row order


def _read_as_evaluator(path):
    """dcase2021_task2_evaluator.read_score: csv rows sorted, column 1 as float."""
    with open(path) as handle:
        rows = list(csv.reader(handle))
    return [(row[0], float(row[1])) for row in sorted(rows)], rows


def test_submission_files_round_trip_as_the_official_evaluator_reads_them(tmp_path):
    index, anomaly = _index_and_anomaly_scores()
    files = reporting.submission_files(anomaly, index)
    dataset = PartitionedDataset(
        path=str(tmp_path / "submission"), filename_suffix=".csv",
        dataset={"type": "pandas.CSVDataset", "save_args": {"header": False, "index": False}})
    dataset.save(files)
    written = sorted(p.name for p in (tmp_path / "submission").iterdir())
    assert len(written) == 2 * 2 * 2 * 2  # kinds x types x sections x domains
    pattern = re.compile(r"(anomaly_score|decision_result)_(fan|valve)_section_(00|03)_"
                         r"(source|target)_test\.csv")
    assert all(pattern.fullmatch(name) for name in written)

    test = anomaly[anomaly["split"] == "test"].merge(index[["file_id", "filename"]])
    for name in written:
        kind, machine_type, section, domain = pattern.fullmatch(name).groups()
        expected = test[(test["machine_type"] == machine_type)
                        & (test["section"] == int(section)) & (test["domain"] == domain)]
        column = "score" if kind == "anomaly_score" else "decision"
        want = sorted(zip(expected["filename"], expected[column].astype(float), strict=True))
        got, raw = _read_as_evaluator(tmp_path / "submission" / name)
        assert all(len(row) == 2 for row in raw)  # two columns, no header, no index
        assert [f for f, _ in got] == [f for f, _ in want]
        np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-12)
        if kind == "decision_result":
            assert {row[1] for row in raw} <= {"0", "1"}
    # also what a pandas user of the partition sees
    back = CSVDataset(filepath=str(tmp_path / "submission" / written[0]),
                      load_args={"header": None}).load()
    assert back.shape[1] == 2


def test_submission_errors_and_missing_decisions(caplog):
    index, anomaly = _index_and_anomaly_scores()
    undecided = anomaly.copy()
    undecided.loc[undecided["machine_type"] == "valve", "decision"] = pd.NA
    files = reporting.submission_files(undecided, index)
    assert not any(k.startswith("decision_result_valve") for k in files)
    assert any(k.startswith("anomaly_score_valve") for k in files)
    assert "no decision threshold" in caplog.text
    clash = index.copy()
    clash.loc[clash["split"] == "test", "filename"] = "same.wav"
    with pytest.raises(ValueError, match="same.wav"):
        reporting.submission_files(anomaly, clash)


def _per_section():
    rows = []
    for system, base in (("proposed", 0.8), ("autoencoder", 0.6), ("dist_section", 0.7),
                         ("dist_target", 0.75)):
        for machine_type in ("fan", "valve"):
            for domain in ("source", "target"):
                if system == "dist_target" and domain == "source":
                    continue
                for section in (0, 1):
                    rows.append(dict(system=system, machine_type=machine_type, section=section,
                                     domain=domain, n_normal=5, n_anomaly=5,
                                     AUC=base + 0.01 * section, pAUC=base - 0.1, precision=0.5,
                                     recall=0.5, F1=0.5, false_alarm_rate=0.1 * (section + 1),
                                     detection_rate=0.5 + 0.2 * section, oracle_F1=0.7))
    return pd.DataFrame(rows)


def test_table_per_section_has_a_column_pair_per_system_and_harmonic_means():
    per_section = _per_section()
    summary = metrics.summary(per_section)
    systems = reporting.comparison_systems(per_section["system"].unique())
    assert systems == ["autoencoder", "proposed"]
    table = reporting.table_per_section(per_section, summary, systems)
    assert list(table.columns) == ["machine_type", "section", "domain", "autoencoder AUC",
                                   "autoencoder pAUC", "proposed AUC", "proposed pAUC"]
    assert len(table) == 2 * (4 + 1) + 1
    fan_mean = table[(table["machine_type"] == "fan") & (table["section"] == "harmonic mean")]
    assert fan_mean["proposed AUC"].iloc[0] == pytest.approx(
        metrics.harmonic_mean([0.8, 0.81, 0.8, 0.81]))
    row = table[(table["machine_type"] == "valve") & (table["section"] == "01")
                & (table["domain"] == "target")]
    assert row["autoencoder AUC"].iloc[0] == pytest.approx(0.61)


def test_type_domain_table_and_markdown():
    summary = metrics.summary(_per_section())
    table = reporting.table_per_type_and_domain(
        summary, ["dist_section", "dist_attribute", "dist_target", "proposed"])
    assert "dist_attribute AUC" not in table.columns  # absent systems are left out
    assert table[["machine_type", "domain"]].values.tolist() == [
        ["fan", "source"], ["fan", "target"], ["valve", "source"], ["valve", "target"],
        ["all", "source"], ["all", "target"]]
    assert np.isnan(table.loc[0, "dist_target AUC"])
    text = reporting.markdown_table(table, "Table 3", "caption")
    lines = text.splitlines()
    assert lines[0] == "# Table 3" and lines[-1] == "caption"
    assert lines[2].startswith("| machine_type | domain | dist_section AUC")
    assert "| fan | source | 70.50% | 60.00% | - | - | 80.50% | 70.00% |" in lines
    assert "| --- |" not in text and "|---|---|---:|" in text


def test_figures_one_per_machine_type():
    index, anomaly = _index_and_anomaly_scores()
    systems = pd.concat([
        anomaly[["file_id", "score", "decision"]].assign(system="proposed"),
        anomaly[["file_id", "score", "decision"]].assign(system="autoencoder",
                                                         score=-anomaly["score"])])
    roc = reporting.roc_curve_figures(systems, index, ["proposed", "autoencoder", "absent"])
    assert sorted(roc) == ["roc_fan.png", "roc_valve.png"]
    figure = roc["roc_fan.png"]
    assert isinstance(figure, Figure) and len(figure.axes) == 2  # labelled section 00 x 2 domains
    assert len(figure.axes[0].get_legend().get_texts()) == 2
    histograms = reporting.score_histogram_figures(anomaly)
    assert sorted(histograms) == ["scores_fan.png", "scores_valve.png"]
    assert len(histograms["scores_valve.png"].axes) == 4  # 2 domains x sections 00, 03


def test_harmonic_mean_figure_bars_are_the_summary_values():
    summary = metrics.summary(_per_section())
    figure = reporting.harmonic_mean_figure(summary, ["proposed", "autoencoder", "absent"])
    auc_bars = [bar.get_height() for bar in figure.axes[0].patches]
    assert len(auc_bars) == 2 * 3  # systems x (fan, valve, all)
    assert auc_bars[0] == pytest.approx(100 * metrics.harmonic_mean([0.8, 0.81] * 2))
    assert [t.get_text() for t in figure.axes[1].get_xticklabels()] == ["fan", "valve", "all"]


def test_nan_to_none_makes_json_safe_values():
    value = {"a": [np.float64("nan"), np.int64(3)], "b": {1: 0.5}}
    assert reporting.nan_to_none(value) == {"a": [None, 3], "b": {"1": 0.5}}


def test_overview_and_decisions_tables_hold_the_decision_columns():
    per_section = _per_section()
    summary = metrics.summary(per_section)
    overview = reporting.table_overview(summary, metrics.official_scores(per_section))
    assert list(overview.columns) == ["system", "official score",
                                      *[name for _, _, name in reporting.OVERVIEW_COLUMNS]]
    proposed = overview.set_index("system").loc["proposed"]
    # by hand: sections 0 and 1 flag 10 % and 20 % of normal clips in each of 2 machine types,
    # so the mean over the 4 section rows of a domain is 15 %; detections 50 % and 70 %
    assert proposed["source false alarms"] == pytest.approx(0.15)
    assert proposed["target false alarms"] == pytest.approx(0.15)
    assert proposed["source detections"] == pytest.approx(0.6)
    assert proposed["F1"] == pytest.approx(0.5) and proposed["oracle F1"] == pytest.approx(0.7)
    decisions = reporting.table_decisions(summary)
    assert list(decisions.columns) == ["system", "machine_type", "domain", "false alarms",
                                       "detections", "F1", "oracle F1"]
    assert decisions["system"].iloc[0] == "proposed"
    fan_target = decisions[(decisions["system"] == "autoencoder")
                           & (decisions["machine_type"] == "fan")
                           & (decisions["domain"] == "target")].iloc[0]
    assert fan_target["false alarms"] == pytest.approx(0.15)
    assert fan_target["detections"] == pytest.approx(0.6)
    assert set(decisions["machine_type"]) == {"fan", "valve", "all"}
    # a system without decisions (NaN rates) has no rows
    no_decisions = per_section.assign(false_alarm_rate=np.nan, detection_rate=np.nan)
    assert reporting.table_decisions(metrics.summary(no_decisions)).empty
