"""Ensemble sums, scores per domain, variant choice, thresholds and decisions on hand-made
frames whose answers are known."""

import numpy as np
import pandas as pd
import pytest

from subcluster_adacos_asd import ensemble


def _index():
    """fan and valve, section 0; per domain 10 normal training files and 2+2 test files."""
    rows = []
    for machine_type in ("fan", "valve"):
        for domain in ("source", "target"):
            for split, labels in (("train", ["normal"] * 10),
                                  ("test", ["normal", "normal", "anomaly", "anomaly"])):
                for i, label in enumerate(labels):
                    rows.append(dict(file_id=f"{machine_type}/{domain}/{split}/{i}",
                                     machine_type=machine_type, section=0, domain=domain,
                                     split=split, label=label,
                                     section_class=f"{machine_type}_section_00"))
    return pd.DataFrame(rows)


def _terms(index, offset, snapshots=("s1", "s2")):
    """Score terms: section term = file number + offset; attribute term 100 (source),
    target term 1000 (target); anomalies get +50 on every term."""
    frames = []
    number = index["file_id"].str.rsplit("/", n=1).str[-1].astype(float)
    bump = np.where(index["label"] == "anomaly", 50.0, 0.0)
    source = index["domain"] == "source"
    for snapshot in snapshots:
        frames.append(pd.DataFrame({
            "file_id": index["file_id"], "snapshot": snapshot,
            "section_term": number + offset + bump,
            "attribute_term": np.where(source, 100.0 + bump, np.nan),
            "target_term": np.where(source, np.nan, 1000.0 + bump),
        }))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture()
def scores():
    index = _index()
    terms = {"sc01_both": _terms(index, 0.0), "sc02_both": _terms(index, 1.0),
             "sc01_sections": _terms(index, -2.0)}
    sums = ensemble.sum_members(terms)
    tmax = pd.DataFrame({"file_id": index["file_id"],
                         "tmax_term": np.where((index["machine_type"] == "valve")
                                               & (index["domain"] == "source"), 7.0, np.nan)})
    return index, sums, ensemble.variant_scores(sums, index, tmax)


def test_sum_over_snapshots_and_configurations_of_a_variant(scores):
    index, sums, _ = scores
    both = sums[sums["variant"] == "both"].set_index("file_id")
    f = "fan/source/train/3"
    assert both.loc[f, "n_members"] == 4
    assert both.loc[f, "section_term"] == 2 * 3 + 2 * 4  # snapshots x (3 + 0, 3 + 1)
    assert both.loc[f, "attribute_term"] == 400
    assert np.isnan(both.loc[f, "target_term"])
    sections = sums[sums["variant"] == "sections"].set_index("file_id")
    assert sections.loc[f, "n_members"] == 2 and sections.loc[f, "section_term"] == 2
    assert len(sums) == 2 * len(index)


def test_scores_per_domain_with_tmax_once_per_member(scores):
    _, _, frame = scores
    row = frame[(frame["variant"] == "both")].set_index("file_id")
    src = row.loc["valve/source/train/3"]
    assert src["tmax_term"] == 4 * 7.0
    assert src["score"] == 14 + 400 + 28 and src["threshold_score"] == src["score"]
    tgt = row.loc["valve/target/test/2"]  # anomaly: section 2*(2+50) + 2*(3+50), target 4*1050
    assert tgt["score"] == 210 + 4200 and np.isnan(tgt["tmax_term"])
    assert tgt["threshold_score"] == 210  # the section term only (paper 2.6)
    fan = row.loc["fan/source/train/3"]
    assert np.isnan(fan["tmax_term"]) and fan["score"] == 14 + 400


def test_thresholds_are_percentiles_of_normal_training_scores(scores):
    _, _, frame = scores
    table = ensemble.thresholds(frame[frame["variant"] == "both"], 90)
    assert list(table.columns) == ["machine_type", "section", "domain", "threshold",
                                   "percentile", "calibration"]
    assert len(table) == 4
    fan_source = table.set_index(["machine_type", "domain"]).loc[("fan", "source"), "threshold"]
    # training section terms: 4 * i + 2 for i = 0..9, attribute 400
    assert fan_source == pytest.approx(np.percentile(4 * np.arange(10) + 2 + 400, 90))
    fan_target = table.set_index(["machine_type", "domain"]).loc[("fan", "target"), "threshold"]
    assert fan_target == pytest.approx(np.percentile(4 * np.arange(10) + 2, 90))
    with pytest.raises(ValueError, match="percentile"):
        ensemble.thresholds(frame, 120)


def test_decisions_compare_threshold_score_strictly_above():
    frame = pd.DataFrame({
        "machine_type": "fan", "section": 0, "domain": ["source"] * 3 + ["target"],
        "threshold_score": [1.0, 2.0, 3.0, 5.0]})
    table = pd.DataFrame({"machine_type": ["fan"], "section": [0], "domain": ["source"],
                          "threshold": [2.0]})
    decided = ensemble.decide(frame, table)
    assert decided["decision"].tolist()[:3] == [0, 0, 1]
    assert decided["decision"].isna().tolist() == [False, False, False, True]


def test_anomaly_scores_of_the_chosen_variants(scores):
    index, _, frame = scores
    choice = {"fan": "both", "valve": "sections"}
    anomaly, table = ensemble.anomaly_scores(frame, frame, choice, 90)
    assert list(anomaly.columns) == ensemble.ANOMALY_SCORE_COLUMNS
    assert anomaly["file_id"].tolist() == index["file_id"].tolist()
    assert (anomaly.groupby("machine_type")["variant"].unique().map(list).to_dict()
            == {"fan": ["both"], "valve": ["sections"]})
    test = anomaly[anomaly["split"] == "test"]
    # anomalies are 50 per term per member above everything normal: all detected
    assert (test["decision"] == (test["label"] == "anomaly").astype(int)).all()
    assert len(table) == 4
    with pytest.raises(ValueError, match="pump"):
        ensemble.anomaly_scores(frame.assign(machine_type="pump"), frame, choice)
    # inference: new files decided with the saved thresholds give the same rows
    new = frame[frame["split"] == "test"]
    again = ensemble.apply_thresholds(new, choice, table)
    pd.testing.assert_frame_equal(again, test.reset_index(drop=True))


def test_variant_choice_fixed_default_fallback_and_dev_auc(scores):
    _, _, frame = scores
    assert ensemble.choose_variants(frame) == {"fan": "sections", "valve": "sections"}
    assert ensemble.choose_variants(frame, fixed={"fan": "both"}, default="sections") == {
        "fan": "both", "valve": "sections"}
    only_both = frame[frame["variant"] == "both"]
    assert ensemble.choose_variants(only_both) == {"fan": "both", "valve": "both"}
    # make `sections` useless for fan (anomalies scored lowest): dev_auc picks both
    flipped = frame.copy()
    bad = (flipped["variant"] == "sections") & (flipped["machine_type"] == "fan")
    flipped.loc[bad, "score"] = -flipped.loc[bad, "score"]
    assert ensemble.choose_variants(flipped, method="dev_auc")["fan"] == "both"
    # a tie keeps the fixed map's choice
    assert ensemble.choose_variants(frame, method="dev_auc")["valve"] == "sections"
    with pytest.raises(ValueError, match="method"):
        ensemble.choose_variants(frame, method="best")


def test_system_scores_hold_every_system(scores):
    _, _, frame = scores
    choice = {"fan": "both", "valve": "sections"}
    systems = ensemble.system_scores(frame, frame, choice, 90)
    assert set(systems["system"]) == set(ensemble.SYSTEMS)
    assert list(systems.columns) == ["file_id", "system", "score", "decision"]
    assert str(systems["decision"].dtype) == "Int64"
    anomaly, _ = ensemble.anomaly_scores(frame, frame, choice, 90)
    proposed = systems[systems["system"] == "proposed"].set_index("file_id")
    np.testing.assert_allclose(proposed.loc[anomaly["file_id"], "score"], anomaly["score"])
    assert (proposed.loc[anomaly["file_id"], "decision"].to_numpy()
            == anomaly["decision"].to_numpy()).all()
    by_system = systems.groupby("system")
    n = len(frame) // 2
    assert by_system.size()["loss_both"] == n and by_system.size()["dist_section"] == n
    assert by_system.size()["dist_attribute"] == n // 2  # source files only
    assert systems.loc[systems["system"] == "dist_target", "decision"].isna().all()
    assert systems.loc[systems["system"] == "dist_section", "decision"].notna().all()


def test_inconsistent_members_are_errors():
    index = _index()
    with pytest.raises(ValueError, match="different files"):
        ensemble.sum_members({"sc01_both": _terms(index, 0), "sc02_both": _terms(index.iloc[2:], 0)})
    with pytest.raises(ValueError, match="numbers of ensemble members"):
        partial = _terms(index, 0, snapshots=("s1", "s2"))
        partial = partial[~((partial["snapshot"] == "s2") & (partial.index % 7 == 0))]
        ensemble.sum_members({"sc01_both": partial})
    with pytest.raises(ValueError, match="no score terms"):
        sums = ensemble.sum_members({"sc01_both": _terms(index.iloc[1:], 0)})
        ensemble.variant_scores(sums, index)


def test_zscore_normalisation_per_member_section_and_term():
    index = _index()
    terms = {"sc01_sections": _terms(index, -2.0), "sc04_sections": _terms(index, 5.0)}
    tmax = pd.DataFrame({"file_id": index["file_id"],
                         "tmax_term": np.where(index["domain"] == "source", 7.0, np.nan)})
    stats = ensemble.normalisation_statistics(terms, tmax, index, "zscore")
    assert list(stats.columns) == ensemble.STATISTICS_COLUMNS
    # section term of the normal training files: numbers 0..9 in each domain, plus the offset
    spread = np.arange(10.0).std()
    row = stats[(stats["configuration"] == "sc04_sections") & (stats["snapshot"] == "s1")
                & (stats["section_class"] == "fan_section_00") & (stats["term"] == "section_term")]
    assert row[["mean", "std"]].to_numpy().tolist() == [[9.5, pytest.approx(spread)]]
    sums = ensemble.sum_members(terms, stats, index).set_index(["variant", "file_id"])
    number = index["file_id"].str.rsplit("/", n=1).str[-1].astype(float).to_numpy()
    bump = np.where(index["label"] == "anomaly", 50.0, 0.0)
    # every member contributes (number + bump - 4.5) / spread; two members x two snapshots
    expected = 4 * (number + bump - 4.5) / spread
    got = sums.loc["sections"].loc[index["file_id"], "section_term"].to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-9)
    # constant terms on the training files (attribute 100, target 1000) keep their own scale
    source = (index["domain"] == "source").to_numpy()
    got = sums.loc["sections"].loc[index["file_id"], "attribute_term"].to_numpy()
    np.testing.assert_allclose(got[source], 4 * bump[source], atol=1e-9)
    scores = ensemble.variant_scores(sums.reset_index(), index, tmax, stats)
    assert (scores.loc[scores["domain"] == "source", "tmax_term"] == 0.0).all()
    assert ensemble.normalisation_statistics(terms, tmax, index, "none").empty
    with pytest.raises(ValueError, match="normalisation must be one of"):
        ensemble.normalisation_statistics(terms, tmax, index, "rank")
