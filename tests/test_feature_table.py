"""The feature tables: standardisation per mel bin, rows by file id, the temporal-max table."""

import numpy as np
import pandas as pd
import pytest

from subcluster_adacos_asd import feature_table
from subcluster_adacos_asd.feature_table import array_to_frame


def _stats(mean, std):
    return pd.DataFrame({"mel": np.arange(len(mean)), "mean": mean, "std": std})


def test_standardised_features_use_feature_stats_per_mel_bin():
    rng = np.random.default_rng(0)
    values = rng.normal(3.0, 2.0, size=(4, 5, 6)).astype(np.float32)
    mean, std = rng.normal(size=6), rng.uniform(0.5, 2.0, size=6)
    frame = array_to_frame([f"f{i}" for i in range(4)], values)
    # Stats rows in another order still map to their mel bins.
    stats = _stats(mean, std).iloc[::-1]
    out = feature_table.standardised_features(frame, stats)
    np.testing.assert_allclose(out, (values - mean) / std, rtol=1e-5, atol=1e-5)
    assert out.dtype == np.float32 and out.shape == (4, 5, 6)


def test_bad_feature_stats_are_refused():
    frame = array_to_frame(["a"], np.zeros((1, 2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="std"):
        feature_table.standardised_features(frame, _stats(np.zeros(3), [1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="one row per mel bin"):
        feature_table.standardised_features(frame, _stats(np.zeros(3), np.ones(3)).iloc[:2].assign(mel=[0, 2]))


def _index(rows):
    return pd.DataFrame(rows, columns=["file_id", "split", "label", "section_class",
                                       "attribute_class"])


def test_feature_rows_follow_file_ids_and_report_missing_files():
    index = _index([("b", "train", "normal", "s", "a"), ("a", "train", "normal", "s", "a")])
    log_mel = pd.DataFrame({"file_id": ["a", "b", "c"]})
    assert feature_table.feature_rows(index, log_mel).tolist() == [1, 0]
    with pytest.raises(ValueError, match="zz"):
        feature_table.feature_rows(index.assign(file_id=["a", "zz"]), log_mel)


def test_tmax_table_is_the_maximum_of_the_standardised_log_mel():
    rng = np.random.default_rng(2)
    values = rng.normal(size=(3, 7, 4)).astype(np.float32)
    mean, std = rng.normal(size=4), rng.uniform(0.5, 2, 4)
    table = feature_table.tmax_table(array_to_frame(["a", "b", "c"], values), _stats(mean, std))
    assert table.columns.tolist() == ["file_id", "tmax_000", "tmax_001", "tmax_002", "tmax_003"]
    np.testing.assert_allclose(table.iloc[:, 1:].to_numpy(), ((values - mean) / std).max(axis=1),
                               atol=1e-6)
