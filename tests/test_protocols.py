"""Evaluation protocols (2021 vs 2022-2024) against hand-computed AUCs, the layout detection,
ground-truth folders written by the test, and the 2022 submission names."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from subcluster_adacos_asd import metrics, protocols, reporting


def _index(folder_of, eval_section=False):
    rows = []
    for domain in ("source", "target"):
        for label in ("normal", "anomaly"):
            for n in range(4):
                section = 3 if eval_section else 0
                name = (f"section_{section:02d}_{domain}_test_{len(rows):04d}.wav" if eval_section
                        else f"section_00_{domain}_test_{label}_{len(rows):04d}.wav")
                rows.append(dict(
                    file_id=f"fan/{folder_of(domain)}/{name[:-4]}", path=f"/d/fan/{folder_of(domain)}/{name}",
                    filename=name, machine_type="fan", section=section, domain=domain,
                    split="test", label="unknown" if eval_section else label, truth=label))
    return pd.DataFrame(rows)


def _scores(index, seed=0):
    rng = np.random.default_rng(seed)
    score = rng.normal(size=len(index)) + np.where(index["truth"] == "anomaly", 1.0, 0.0)
    return pd.DataFrame({"file_id": index["file_id"], "system": "s", "score": score,
                         "decision": pd.array((score > 0.5).astype(int), dtype="Int64")})


def test_the_layout_decides_the_protocol():
    assert protocols.protocol_of(_index(lambda d: f"{d}_test")) == "dcase2021"
    assert protocols.protocol_of(_index(lambda d: "test")) == "dcase2022"
    assert protocols.protocol_of(_index(lambda d: "test"), "dcase2021") == "dcase2021"
    with pytest.raises(ValueError, match="protocol must be one of"):
        protocols.protocol_of(_index(lambda d: "test"), "dcase2020")


def test_2022_protocol_scores_each_domain_against_all_anomalies_and_pauc_over_both():
    index = _index(lambda d: "test")
    scores = _scores(index)
    table = metrics.section_metrics(scores, index, 0.1, "auto").set_index("domain")
    s = scores.set_index("file_id")["score"]
    anomalies = index["truth"] == "anomaly"
    for domain in ("source", "target"):
        rows = index[((index["domain"] == domain) & ~anomalies) | anomalies]
        expected = roc_auc_score(rows["truth"] == "anomaly", s.loc[rows["file_id"]])
        assert table.loc[domain, "AUC"] == pytest.approx(expected)
        assert table.loc[domain, "n_anomaly"] == 8 and np.isnan(table.loc[domain, "pAUC"])
    expected = roc_auc_score(anomalies, s.loc[index["file_id"]], max_fpr=0.1)
    assert table.loc["both", "pAUC"] == pytest.approx(expected)
    assert np.isnan(table.loc["both", "AUC"])
    official = metrics.official_scores(table.reset_index())["official_score"].item()
    assert official == pytest.approx(metrics.harmonic_mean(
        [table.loc["source", "AUC"], table.loc["target", "AUC"], table.loc["both", "pAUC"]]))
    # the 2021 protocol: each domain alone
    old = metrics.section_metrics(scores, index, 0.1, "dcase2021").set_index("domain")
    source = index[index["domain"] == "source"]
    assert old.loc["source", "AUC"] == pytest.approx(
        roc_auc_score(source["truth"] == "anomaly", s.loc[source["file_id"]]))
    assert "both" not in old.index


def test_ground_truth_labels_evaluation_files(tmp_path):
    index = _index(lambda d: f"{d}_test", eval_section=True)
    assert metrics.section_metrics(_scores(index), index).empty  # no labels, no metrics
    for domain in ("source", "target"):
        rows = index[index["domain"] == domain]
        pd.DataFrame({"f": rows["filename"], "l": (rows["truth"] == "anomaly").astype(int)}).to_csv(
            tmp_path / f"ground_truth_fan_section_03_{domain}_test.csv", header=False, index=False)
    (tmp_path / "notes.csv").write_text("x,1\n")
    labelled = protocols.apply_ground_truth(index, str(tmp_path))
    assert labelled["label"].tolist() == index["truth"].tolist()
    table = metrics.section_metrics(_scores(index), labelled)
    assert sorted(table["domain"]) == ["source", "target"] and (table["section"] == 3).all()
    assert protocols.apply_ground_truth(index, None) is index
    # 2022+ naming: one file per section
    one = tmp_path / "2022"
    one.mkdir()
    pd.DataFrame({"f": index["filename"], "l": (index["truth"] == "anomaly").astype(int)}).to_csv(
        one / "ground_truth_fan_section_03_test.csv", header=False, index=False)
    assert protocols.apply_ground_truth(index, one)["label"].tolist() == index["truth"].tolist()


def test_bad_ground_truth_is_named(tmp_path):
    index = _index(lambda d: f"{d}_test", eval_section=True)
    (tmp_path / "ground_truth_fan_section_03_source_test.csv").write_text(
        f"{index['filename'].iloc[0]},2\n")
    with pytest.raises(ValueError, match=r"ground_truth_fan_section_03_source_test.csv: labels "
                                         r"must be 0 \(normal\) or 1 \(anomaly\)"):
        protocols.apply_ground_truth(index, tmp_path)
    with pytest.raises(FileNotFoundError, match="no folder"):
        protocols.apply_ground_truth(index, tmp_path / "absent")
    labelled = _index(lambda d: f"{d}_test")
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    first = labelled.iloc[0]  # a normal clip by its name
    (wrong / "ground_truth_fan_section_00_source_test.csv").write_text(f"{first['filename']},1\n")
    with pytest.raises(ValueError, match="ground truth says anomaly for /d/fan"):
        protocols.apply_ground_truth(labelled, wrong)


def test_2022_submission_has_one_file_per_section():
    index = _index(lambda d: "test")
    anomaly = index.drop(columns=["filename", "path"]).assign(
        score=1.0, decision=pd.array([1] * len(index), dtype="Int64"))
    files = reporting.submission_files(anomaly, index, "auto")
    assert sorted(files) == ["anomaly_score_fan_section_00_test",
                             "decision_result_fan_section_00_test"]
    assert len(files["anomaly_score_fan_section_00_test"]) == len(index)
    per_domain = reporting.submission_files(anomaly, index, "dcase2021")
    assert "anomaly_score_fan_section_00_source_test" in per_domain
