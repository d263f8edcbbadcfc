"""Decision thresholds that hold on unseen normal clips (calibration.py, backends' cross-fitting)."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from subcluster_adacos_asd import backends, calibration
from subcluster_adacos_asd.backends import BackendSettings
from tests.pipelines.score.fakes import make_file_index


def test_folds_cover_every_normal_training_clip_once_stratified_and_seeded():
    index = make_file_index(n_train=12)
    folds = calibration.assign_folds(index, 5, seed=3)
    normal_train = index[(index["split"] == "train") & (index["label"] == "normal")]
    assert sorted(folds["file_id"]) == sorted(normal_train["file_id"])
    joined = folds.merge(index, on="file_id")
    for _, stratum in joined.groupby(["section_class", "domain", "attribute_class"]):
        counts = np.bincount(stratum["fold"], minlength=5)
        assert counts.max() - counts.min() <= 1  # dealt out evenly
    # three target clips of a section land in three different folds
    target = joined[joined["domain"] == "target"]
    assert (target.groupby("section_class")["fold"].nunique() == 3).all()
    pd.testing.assert_frame_equal(folds, calibration.assign_folds(index, 5, seed=3))
    assert not folds.equals(calibration.assign_folds(index, 5, seed=4))
    with pytest.raises(ValueError, match="at least 2 folds"):
        calibration.assign_folds(index, 1)


def _one_section(n_train: int, n_fresh: int, dim: int, seed: int):
    """Embeddings of one section from a known Gaussian: training clips and fresh normal ones."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=dim)
    direction /= np.linalg.norm(direction)
    values = direction + rng.normal(size=(n_train + n_fresh, dim)) * np.linspace(0.05, 0.3, dim)
    ids = [f"m/train/{i}" for i in range(n_train)] + [f"m/test/{i}" for i in range(n_fresh)]
    index = pd.DataFrame({
        "file_id": ids, "machine_type": "m", "section": 0, "domain": "source",
        "split": ["train"] * n_train + ["test"] * n_fresh, "label": "normal",
        "section_class": "m_section_00", "attribute_class": ""})
    embeddings = pd.DataFrame(values, columns=[f"emb_{i:03d}" for i in range(dim)])
    embeddings.insert(0, "file_id", ids)
    centres = pd.DataFrame([{"head": "section", "class_name": "m_section_00", "sub_cluster": 0,
                             **{f"c_{i:03d}": direction[i] for i in range(dim)}}])
    return index, embeddings, centres


def test_cross_fitted_thresholds_keep_the_nominal_false_alarm_rate_in_sample_ones_do_not():
    """Fresh normal clips from the training clips' own distribution: a threshold at the 90th
    percentile should flag about 10 % of them. In-sample scores (of the clips the GMM was fitted
    on) set it too low; cross-fitted ones hold the rate."""
    settings = BackendSettings.from_parameters({"gmm": {"covariance": "shrunk",
                                                        "reg_covar": 1e-6}})
    in_sample, cross_fitted = [], []
    for seed in range(6):
        index, embeddings, centres = _one_section(100, 4000, 16, seed)
        train = (index["split"] == "train").to_numpy()
        fitted = backends.fit_backends(embeddings, centres, index, settings)
        terms = backends.score_terms(fitted, embeddings, index)["section_term"].to_numpy()
        folds = calibration.assign_folds(index, 10, seed)
        oof = backends.cross_fitted_terms(embeddings, centres, index, folds, settings)
        assert sorted(oof["file_id"]) == sorted(index.loc[train, "file_id"])
        fresh = terms[~train]
        in_sample.append(np.mean(fresh > np.percentile(terms[train], 90)))
        cross_fitted.append(np.mean(fresh > np.percentile(oof["section_term"], 90)))
    assert 0.07 <= np.mean(cross_fitted) <= 0.14
    assert np.mean(in_sample) > 0.17


def test_section_thresholds_own_shifted_and_gamma_by_hand():
    source = np.arange(1.0, 21.0)  # 1 .. 20
    target = np.array([30.0, 31.0, 35.0])
    own = calibration.section_thresholds(source, target, 90)
    assert own == {"source": pytest.approx(np.percentile(source, 90)),
                   "target": pytest.approx(np.percentile(target, 90))}
    shifted = calibration.section_thresholds(source, target, 90, "shifted")
    # the source percentile (18.1) moved by the medians' difference (31 - 10.5)
    assert shifted["target"] == pytest.approx(18.1 + 31.0 - 10.5)
    # the target domain compares another quantity: its source values shape the threshold
    other = source / 10
    moved = calibration.section_thresholds(source, target, 90, "shifted",
                                           source_of_target=other)
    assert moved["target"] == pytest.approx(np.percentile(other, 90) + 31.0 - np.median(other))
    assert moved["source"] == pytest.approx(18.1)
    # prediction: mean + t(0.9, 2) * s * sqrt(1 + 1/3), s the larger standard deviation
    bound = calibration.section_thresholds(source, target, 90, "prediction")
    spread = max(np.std(target, ddof=1), np.std(source, ddof=1))
    assert bound["target"] == pytest.approx(
        32.0 + scipy.stats.t.ppf(0.9, 2) * spread * np.sqrt(4 / 3))
    gamma = calibration.section_thresholds(source, target, 90, "own", "gamma")
    shape, loc, scale = scipy.stats.gamma.fit(source)
    assert gamma["source"] == pytest.approx(scipy.stats.gamma.ppf(0.9, shape, loc, scale))
    # nothing to calibrate on: no threshold
    assert calibration.section_thresholds(source, np.array([]), 90) == {
        "source": pytest.approx(18.1)}
    with pytest.raises(ValueError, match="percentile"):
        calibration.section_thresholds(source, target, 120)


def test_thresholds_table_uses_only_normal_training_rows_and_the_target_column():
    rows = []
    for i in range(10):
        rows.append(dict(machine_type="fan", section=0, domain="source", split="train",
                         label="normal", score=float(i), section_term=float(i) / 2))
    for i in range(3):
        rows.append(dict(machine_type="fan", section=0, domain="target", split="train",
                         label="normal", score=100.0, section_term=float(10 + i)))
    rows.append(dict(machine_type="fan", section=0, domain="source", split="test",
                     label="normal", score=1e6, section_term=1e6))
    frame = pd.DataFrame(rows)
    table = calibration.thresholds_table(frame, 90, "score", "section_term").set_index("domain")
    assert table.loc["source", "threshold"] == pytest.approx(np.percentile(np.arange(10), 90))
    assert table.loc["target", "threshold"] == pytest.approx(np.percentile([10, 11, 12], 90))
    shifted = calibration.thresholds_table(frame, 90, "score", "section_term", "shifted")
    halves = np.arange(10) / 2
    expected = np.percentile(halves, 90) + 11 - np.median(halves)
    assert shifted.set_index("domain").loc["target", "threshold"] == pytest.approx(expected)


def test_holdout_clips_share_per_class_leave_one_to_train_and_no_target_clip():
    index = make_file_index(n_train=10)
    held = calibration.holdout_clips(index, 0.2, seed=1)
    rows = index[index["file_id"].isin(held)]
    assert (rows["domain"] == "source").all() and (rows["split"] == "train").all()
    per_class = rows.groupby("attribute_class").size()
    assert (per_class == 2).all()  # 20 % of the 10 clips of each attribute class
    source_train = index[(index["domain"] == "source") & (index["split"] == "train")]
    assert set(per_class.index) == set(source_train["attribute_class"])
    assert held == calibration.holdout_clips(index, 0.2, seed=1)
    # a class of two clips keeps one to train on
    tiny = make_file_index(n_train=2)
    held_tiny = calibration.holdout_clips(tiny, 0.9)
    assert (tiny[tiny["file_id"].isin(held_tiny)].groupby("attribute_class").size() == 1).all()
    marked = calibration.without_clips(index, held)
    assert (marked.loc[marked["file_id"].isin(held), "split"] == calibration.HELD_OUT).all()
    assert (marked.loc[~marked["file_id"].isin(held), "split"]
            == index.loc[~index["file_id"].isin(held), "split"]).all()
    with pytest.raises(ValueError, match="share"):
        calibration.holdout_clips(index, 1.0)


def test_holdout_thresholds_by_hand():
    rows = [dict(machine_type="fan", section=0, domain="source", split="held_out",
                 label="normal", score=float(s)) for s in range(11)]  # 0 .. 10
    rows += [dict(machine_type="fan", section=0, domain="source", split="train",
                  label="normal", score=float(s)) for s in (1, 2, 3)]  # in-sample, median 2
    rows += [dict(machine_type="fan", section=0, domain="target", split="train",
                  label="normal", score=float(s)) for s in (7, 8, 12)]  # median 8
    shifted = calibration.holdout_thresholds(pd.DataFrame(rows), 90, "shifted")
    shifted = shifted.set_index("domain")
    assert shifted.loc["source", "threshold"] == pytest.approx(9.0)
    assert shifted.loc["target", "threshold"] == pytest.approx(9.0 + 8 - 2)
    # the target's in-sample scores raised by the source's in-sample bias (median 5 held out
    # against 2 in-sample): 10, 11, 15, then their own percentile / prediction bound
    own = calibration.holdout_thresholds(pd.DataFrame(rows), 90, "own").set_index("domain")
    assert own.loc["target", "threshold"] == pytest.approx(np.percentile([10, 11, 15], 90))
    bound = calibration.holdout_thresholds(pd.DataFrame(rows), 90).set_index("domain")
    spread = max(np.std([10, 11, 15], ddof=1), np.std(np.arange(11), ddof=1))
    assert bound.loc["target", "threshold"] == pytest.approx(
        12 + scipy.stats.t.ppf(0.9, 2) * spread * np.sqrt(4 / 3))


def test_settings_name_the_parameter():
    with pytest.raises(ValueError, match="score.calibration.method"):
        calibration.CalibrationSettings(method="leave_one_out")
    with pytest.raises(ValueError, match="score.calibration.folds"):
        calibration.CalibrationSettings(folds=1)
    with pytest.raises(ValueError, match="score.calibration.target"):
        calibration.CalibrationSettings(target="pooled")
    with pytest.raises(ValueError, match="score.calibration.folds"):
        calibration.CalibrationSettings(folds="10")
    with pytest.raises(ValueError, match="baselines.calibration.share"):
        calibration.HoldoutSettings(method="holdout", share=0)
    with pytest.raises(ValueError, match="unknown keys"):
        calibration.CalibrationSettings.from_parameters({"fold": 5})


def test_the_prediction_bound_holds_its_rate_for_normal_scores_of_any_location_and_spread():
    """Three target clips from N(mu, sigma), thresholds by each rule, fresh clips of the same
    distribution: the prediction bound flags about 10 % on average (exact for normal scores),
    the 90th percentile of three values about 30 %."""
    rng = np.random.default_rng(0)
    own, bound = [], []
    for _ in range(3000):
        mu, sigma = rng.normal(0, 5), rng.uniform(0.5, 3)
        target = rng.normal(mu, sigma, size=3)
        reference = rng.normal(0, 0.1, size=50)  # a narrower source: the target's spread counts
        fresh = rng.normal(mu, sigma, size=50)
        own.append(np.mean(fresh > calibration.target_threshold(target, reference, 90, "own")))
        bound.append(np.mean(fresh > calibration.target_threshold(target, reference, 90,
                                                                   "prediction")))
    assert 0.08 <= np.mean(bound) <= 0.12
    assert np.mean(own) > 0.25
