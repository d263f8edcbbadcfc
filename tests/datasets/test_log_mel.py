"""LogMelDataset: Parquet for the catalog, a cache beside it that is rebuilt when stale."""

import json
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from subcluster_adacos_asd.datasets import LogMelDataset
from subcluster_adacos_asd.feature_store import LogMelBlocks
from subcluster_adacos_asd.feature_table import array_to_frame, frame_to_array
from subcluster_adacos_asd.log_mel import AudioError


def _values(files=11, frames=7, mels=4, seed=0):
    return np.random.default_rng(seed).normal(size=(files, frames, mels)).astype(np.float32)


def _ids(n):
    return [f"fan/train/section_00_source_train_normal_{i:04d}" for i in range(n)]


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_saved_blocks_are_a_parquet_table_any_reader_gets_and_a_cache(tmp_path):
    values = _values()
    path = tmp_path / "log_mel.parquet"
    blocks = LogMelBlocks(_ids(11), 7, 4, lambda: ((s, values[s : s + 3]) for s in range(0, 11, 3)))
    LogMelDataset(str(path), row_group_size=4).save(blocks)
    assert _files(tmp_path) == ["log_mel.cache/source.json", "log_mel.cache/values.npy",
                                "log_mel.parquet"]
    # The catalog format is unchanged: file_id and a fixed-size list of frames x mels.
    frame = pd.read_parquet(path, dtype_backend="pyarrow")
    assert frame.columns.tolist() == ["file_id", "log_mel"]
    assert frame["file_id"].tolist() == _ids(11)
    np.testing.assert_array_equal(frame_to_array(frame, 4), values)
    parquet = pq.ParquetFile(path)
    assert parquet.schema_arrow.field("log_mel").type == pa.list_(pa.float32(), 28)
    groups = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    assert groups == [4, 4, 3]
    # The cache is a plain .npy of the raw values.
    np.testing.assert_array_equal(np.load(tmp_path / "log_mel.cache" / "values.npy"), values)
    store = LogMelDataset(str(path)).load()
    np.testing.assert_array_equal(store[0:11], values)


def test_a_stale_or_missing_cache_is_rebuilt_from_the_parquet_table(tmp_path):
    path = tmp_path / "log_mel.parquet"
    dataset = LogMelDataset(str(path), row_group_size=4, n_mels=4)
    dataset.save(array_to_frame(_ids(11), _values()))
    # A table copied in by hand (here: another data set written as plain Parquet by pandas,
    # as the project wrote it before the cache existed) replaces the first.
    other = _values(files=5, seed=1)
    os.remove(path)
    array_to_frame(_ids(5), other).to_parquet(path)
    store = dataset.load()
    assert store.shape == (5, 7, 4)
    np.testing.assert_array_equal(store[0:5], other)
    stamp = json.loads((tmp_path / "log_mel.cache" / "source.json").read_text())
    assert stamp["parquet_bytes"] == path.stat().st_size and stamp["shape"] == [5, 7, 4]
    # A deleted cache comes back.
    (tmp_path / "log_mel.cache" / "values.npy").unlink()
    np.testing.assert_array_equal(dataset.load()[0:5], other)
    assert _files(tmp_path) == ["log_mel.cache/source.json", "log_mel.cache/values.npy",
                                "log_mel.parquet"]


def test_a_table_without_its_shape_needs_the_right_n_mels(tmp_path):
    path = tmp_path / "log_mel.parquet"
    array_to_frame(_ids(3), _values(files=3, frames=5, mels=6)).to_parquet(path)
    with pytest.raises(Exception, match="do not split into 4 mel bins"):
        LogMelDataset(str(path), n_mels=4).load()
    assert LogMelDataset(str(path), n_mels=6).load().shape == (3, 5, 6)


def test_a_failing_extraction_leaves_the_previous_table_and_cache(tmp_path):
    path = tmp_path / "log_mel.parquet"
    dataset = LogMelDataset(str(path), row_group_size=2)
    dataset.save(array_to_frame(_ids(11), _values()))
    before = {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)}

    def blocks():
        yield 0, _values(files=4, seed=3)
        raise AudioError("fan/train/bad.wav: the audio is empty (no samples).")

    with pytest.raises(AudioError, match=r"^fan/train/bad\.wav: the audio is empty"):
        dataset.save(LogMelBlocks(_ids(11), 7, 4, blocks))
    assert {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)} == before
    np.testing.assert_array_equal(dataset.load()[0:11], _values())


def test_blocks_that_do_not_fit_the_file_ids_are_refused(tmp_path):
    dataset = LogMelDataset(str(tmp_path / "log_mel.parquet"))
    with pytest.raises(Exception, match="3 log-mel rows written for 4 file ids"):
        dataset.save(LogMelBlocks(_ids(4), 7, 4, lambda: iter([(0, _values(files=3))])))
    with pytest.raises(Exception, match=r"block of shape \(7, 5\)"):
        dataset.save(LogMelBlocks(_ids(3), 7, 4, lambda: iter([(0, _values(files=3, mels=5))])))
    assert _files(tmp_path) == []
