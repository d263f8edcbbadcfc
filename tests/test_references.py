"""Non-learned references against independent computations (scipy cdist, sklearn), leave-one-out
scores of training clips, thresholds and decisions."""

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist
from sklearn.covariance import LedoitWolf

from subcluster_adacos_asd import references
from subcluster_adacos_asd.references import ReferenceSettings, reference_scores


def _clips(seed=0, n=9, frames=6, mels=4):
    return np.random.default_rng(seed).normal(size=(n, frames, mels)).astype(np.float32)


def test_knn_statistics_is_the_nearest_other_training_clip():
    train, queries = _clips(0), _clips(1, n=5)
    stats = np.concatenate([train.mean(1), train.std(1)], 1).astype(np.float64)
    mean, std = stats.mean(0), stats.std(0)
    own = np.array([-1, -1, 2, -1, 7])
    queries[2], queries[4] = train[2], train[7]
    got = references.knn_statistics_scores(train, queries, own)
    q = (np.concatenate([queries.mean(1), queries.std(1)], 1) - mean) / std
    d = cdist(q, (stats - mean) / std)
    d[2, 2] = d[4, 7] = np.inf  # a training clip is not its own neighbour
    np.testing.assert_allclose(got, d.min(axis=1), rtol=1e-6, atol=1e-6)


def test_knn_frames_is_the_mean_nearest_frame_distance(monkeypatch):
    monkeypatch.setattr(references, "BLOCK_VALUES", 50)  # several query blocks
    train, queries = _clips(2, n=4, frames=8), _clips(3, n=3, frames=8)
    own = np.array([-1, 1, -1])
    queries[1] = train[1]
    got = references.knn_frames_scores(train, queries, own, frame_step=2)
    frames = train[:, ::2].reshape(-1, 4).astype(np.float64)
    mean, std = frames.mean(0), frames.std(0)
    expected = []
    for i, clip in enumerate(queries):
        others = [c for c in range(4) if c != own[i]]
        reference = train[others][:, ::2].reshape(-1, 4)
        d = cdist((clip - mean) / std, (reference - mean) / std)
        expected.append(d.min(axis=1).mean())
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)  # float32 distances


def test_gaussian_statistics_is_ledoit_wolf_mahalanobis_leaving_training_clips_out():
    train, queries = _clips(4, n=12), _clips(5, n=3)
    own = np.array([-1, 5, -1])
    queries[1] = train[5]
    got = references.gaussian_statistics_scores(train, queries, own)
    full = LedoitWolf().fit(train.mean(1))
    np.testing.assert_allclose(got[[0, 2]], np.sqrt(full.mahalanobis(queries[[0, 2]].mean(1))),
                               rtol=1e-9)
    without = LedoitWolf().fit(np.delete(train.mean(1), 5, axis=0))
    assert got[1] == pytest.approx(np.sqrt(without.mahalanobis(train[5:6].mean(1))[0]))


def test_reference_scores_cover_every_file_with_percentile_thresholds():
    rng = np.random.default_rng(6)
    rows = []
    for section in (0, 1):
        for domain, n_train in (("source", 10), ("target", 3)):
            for i in range(n_train):
                rows.append(("train", "normal", section, domain, i))
            for i, label in enumerate(["normal", "anomaly"] * 2):
                rows.append(("test", label, section, domain, i))
    index = pd.DataFrame(rows, columns=["split", "label", "section", "domain", "n"])
    index["machine_type"] = "fan"
    index["section_class"] = "fan_section_0" + index["section"].astype(str)
    index["file_id"] = [f"f{i:03d}" for i in range(len(index))]
    log_mel = rng.normal(size=(len(index), 6, 4)).astype(np.float32)
    log_mel[(index["label"] == "anomaly").to_numpy()] += 3.0
    scores, thresholds = reference_scores(index, log_mel, ReferenceSettings())
    assert list(scores.columns) == ["file_id", "system", "score", "decision"]
    assert scores["system"].unique().tolist() == list(references.SYSTEMS)
    for system, part in scores.groupby("system"):
        assert part["file_id"].tolist() == index["file_id"].tolist(), system
    assert len(thresholds) == 3 * 2 * 2 and set(thresholds.columns) == {
        "system", "machine_type", "section", "domain", "threshold"}
    knn = scores[scores["system"] == "knn_statistics"].set_index("file_id")
    train = index[(index["section"] == 0) & (index["domain"] == "source")
                  & (index["split"] == "train")]
    expected = np.percentile(knn.loc[train["file_id"], "score"], 90)
    got = thresholds[(thresholds["system"] == "knn_statistics") & (thresholds["section"] == 0)
                     & (thresholds["domain"] == "source")]["threshold"].item()
    assert got == pytest.approx(expected)
    test = index["split"] == "test"
    assert (knn.loc[index.loc[test & (index["label"] == "anomaly"), "file_id"], "decision"]
            == 1).all()
    with pytest.raises(ValueError, match="Unknown reference systems"):
        ReferenceSettings(systems=("knn",))
