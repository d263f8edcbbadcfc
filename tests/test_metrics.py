"""DCASE metrics against values computed by hand from a known ROC curve."""

import numpy as np
import pandas as pd
import pytest

from subcluster_adacos_asd import metrics

# Ranked from the highest score: a1 n1 a2 a3 n2 n3 a4 n4 ... n20 (4 anomalies, 20 normals).
# ROC points: (0,0) (0,.25) (.05,.25) (.05,.75) (.1,.75) (.15,.75) (.15,1) ... (1,1).
ORDER = ["a", "n", "a", "a", "n", "n", "a"] + ["n"] * 17
Y_TRUE = np.array([1 if c == "a" else 0 for c in ORDER])
SCORES = np.arange(len(ORDER), 0, -1, dtype=float)
# AUC: the anomalies rank above 20, 19, 19 and 17 of the 20 normals.
AUC = (20 + 19 + 19 + 17) / 80
# Raw partial areas: up to 0.1: .05 * .25 + .05 * .75 = .05; up to .07: .0125 + .02 * .75.
AREA_01, AREA_007 = 0.05, 0.0275


def mcclish(area, max_fpr):
    return 0.5 * (1 + (area - max_fpr**2 / 2) / (max_fpr - max_fpr**2 / 2))


def test_auc_and_official_pauc_on_a_known_roc():
    assert len(Y_TRUE) == 24 and Y_TRUE.sum() == 4
    assert metrics.roc_auc(Y_TRUE, SCORES) == pytest.approx(AUC)
    # official evaluator: sklearn's McClish-standardised value
    assert metrics.partial_roc_auc(Y_TRUE, SCORES) == pytest.approx(mcclish(AREA_01, 0.1))
    assert metrics.partial_roc_auc(Y_TRUE, SCORES) == pytest.approx(0.7368421052631579)
    assert metrics.partial_roc_auc(Y_TRUE, SCORES, 0.07) == pytest.approx(
        mcclish(AREA_007, 0.07))


def test_unstandardised_pauc_is_the_area_over_max_fpr():
    assert metrics.partial_roc_auc_unstandardised(Y_TRUE, SCORES) == pytest.approx(0.5)
    assert metrics.partial_roc_auc_unstandardised(Y_TRUE, SCORES, 0.07) == pytest.approx(
        AREA_007 / 0.07)
    assert metrics.partial_roc_auc_unstandardised(Y_TRUE, SCORES, 1.0) == pytest.approx(AUC)


def test_decision_metrics_as_the_evaluator_computes_them():
    y_true = [1, 1, 1, 1, 0, 0, 0]
    decisions = [1, 1, 0, 0, 1, 0, 0]  # tp 2, fn 2, fp 1
    got = metrics.decision_metrics(y_true, decisions)
    assert got["precision"] == pytest.approx(2 / 3)
    assert got["recall"] == pytest.approx(0.5)
    assert got["F1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert got["false_alarm_rate"] == pytest.approx(1 / 3)  # 1 of 3 normal clips flagged
    assert got["detection_rate"] == pytest.approx(2 / 4)  # 2 of 4 anomalies flagged
    none = metrics.decision_metrics(y_true, [0] * 7)  # no positive decision: epsilon guards
    assert none == {"precision": 0.0, "recall": 0.0, "F1": 0.0, "false_alarm_rate": 0.0,
                    "detection_rate": 0.0}
    every = metrics.decision_metrics(y_true, [1] * 7)
    assert every["false_alarm_rate"] == 1.0 and every["detection_rate"] == 1.0


def _brute_force_best_f1(y_true, scores):
    """Every threshold between sorted scores (and below all), F1 counted by hand."""
    y_true, scores = np.asarray(y_true), np.asarray(scores, float)
    best = 0.0
    for threshold in [-np.inf, *np.unique(scores)]:
        flagged = scores > threshold
        tp = int(np.sum(flagged & (y_true == 1)))
        fp = int(np.sum(flagged & (y_true == 0)))
        fn = int(np.sum(~flagged & (y_true == 1)))
        if tp:
            best = max(best, 2 * tp / (2 * tp + fp + fn))
    return best


def test_oracle_f1_is_the_best_f1_of_any_threshold():
    rng = np.random.default_rng(3)
    for _ in range(20):
        y_true = rng.integers(0, 2, size=15)
        y_true[:2] = [0, 1]
        scores = rng.normal(size=15) + y_true
        assert metrics.oracle_f1(y_true, scores) == pytest.approx(
            _brute_force_best_f1(y_true, scores))
    # a perfect ranking reaches 1; flagging everything is the floor of the oracle
    assert metrics.oracle_f1([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(1.0)
    assert metrics.oracle_f1([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == pytest.approx(2 / 3)


def test_harmonic_mean_floors_at_epsilon_and_drops_nan():
    assert metrics.harmonic_mean([0.5, 1.0]) == pytest.approx(2 / (1 / 0.5 + 1))
    assert metrics.harmonic_mean([0.5, np.nan, 1.0]) == pytest.approx(2 / 3)
    assert metrics.harmonic_mean([0.0, 1.0]) == pytest.approx(2 * metrics.EPSILON, rel=1e-6)
    assert np.isnan(metrics.harmonic_mean([]))


def _index_and_scores():
    """Two sections (source) of fan: section 0 the known ROC above, section 1 perfect; an
    all-normal section 2 that must be skipped; training files that must be ignored."""
    rows, scores = [], []
    for section, y, s in ((0, Y_TRUE, SCORES), (1, np.array([0, 0, 1, 1]), [1.0, 2, 3, 4]),
                          (2, np.array([0, 0]), [1.0, 2])):
        for i, (label, score) in enumerate(zip(y, s, strict=True)):
            rows.append(dict(file_id=f"fan/{section}/{i}", machine_type="fan", section=section,
                             domain="source", split="test",
                             label="anomaly" if label else "normal"))
            scores.append(score)
    rows.append(dict(file_id="fan/train", machine_type="fan", section=0, domain="source",
                     split="train", label="normal"))
    scores.append(1000.0)
    index = pd.DataFrame(rows)
    system = pd.DataFrame({"file_id": index["file_id"], "system": "proposed", "score": scores,
                           "decision": pd.array([1] * len(index), dtype="Int64")})
    other = system.assign(system="dist_target", decision=pd.array([pd.NA] * len(index),
                                                                  dtype="Int64"))
    return index, pd.concat([system, other], ignore_index=True)


def test_section_metrics_summary_and_official_score():
    index, scores = _index_and_scores()
    per_section = metrics.section_metrics(scores, index)
    proposed = per_section[per_section["system"] == "proposed"].set_index("section")
    assert list(proposed.index) == [0, 1]  # all-normal section 2 left out
    assert proposed.loc[0, "AUC"] == pytest.approx(AUC)
    assert proposed.loc[0, "pAUC"] == pytest.approx(mcclish(AREA_01, 0.1))
    assert proposed.loc[1, "AUC"] == 1.0 and proposed.loc[1, "pAUC"] == 1.0
    assert (proposed.loc[0, "n_normal"], proposed.loc[0, "n_anomaly"]) == (20, 4)
    # every decision 1: precision = anomalies / files, recall 1
    assert proposed.loc[0, "precision"] == pytest.approx(4 / 24)
    assert proposed.loc[0, "recall"] == 1.0
    assert per_section[per_section["system"] == "dist_target"]["precision"].isna().all()

    summary = metrics.summary(per_section)
    overall = summary[(summary["system"] == "proposed") & (summary["machine_type"] == "all")
                      & (summary["domain"] == "all")].iloc[0]
    assert overall["AUC"] == pytest.approx(2 / (1 / AUC + 1))
    assert set(summary["domain"]) == {"source", "all"}
    official = metrics.official_scores(per_section).set_index("system")["official_score"]
    p = mcclish(AREA_01, 0.1)
    assert official["proposed"] == pytest.approx(4 / (1 / AUC + 1 / p + 1 + 1))


def test_the_chance_auc_standard_error_matches_random_scores():
    """The null standard error against the spread of AUCs of scores that carry nothing."""
    rng = np.random.default_rng(0)
    for n, m in ((15, 15), (50, 50), (100, 10)):
        labels = np.r_[np.zeros(n), np.ones(m)]
        aucs = [metrics.roc_auc(labels, rng.normal(size=n + m)) for _ in range(4000)]
        assert metrics.chance_auc_standard_error(n, m) == pytest.approx(np.std(aucs), rel=0.05)
    assert metrics.chance_auc_standard_error(15, 15) == pytest.approx(0.10715, abs=1e-4)


def test_chance_band_and_note_name_the_systems_within_two_standard_errors_of_chance():
    from subcluster_adacos_asd import reporting

    per_section = pd.DataFrame({
        "system": ["good"] * 4 + ["lucky"] * 4,
        "n_normal": [50] * 8, "n_anomaly": [50] * 8,
        "AUC": [0.8] * 4 + [0.55] * 4})
    # 4 AUCs of 50 + 50 clips: SE 0.0580 each, of their mean 0.0290; 2 SE above 0.5: 0.558
    assert metrics.chance_band(per_section, "lucky") == pytest.approx(
        0.5 + 2 * np.sqrt(101 / 30000) / 2, abs=1e-9)
    overview = pd.DataFrame({"system": ["good", "lucky"], "AUC": [0.8, 0.55]})
    note = reporting.chance_note(per_section, overview)
    assert "lucky (55.0 % < 55.8 %)" in note and "good" not in note
    assert reporting.chance_note(per_section, overview.iloc[:1]) == ""
