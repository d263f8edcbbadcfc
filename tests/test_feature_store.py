"""Log-mel read piece by piece: the same values, rows and batches as the in-memory arrays."""

import pickle

import numpy as np
import pandas as pd
import pytest

from subcluster_adacos_asd import feature_table, training
from subcluster_adacos_asd.augmentation import ClassAugmentation
from subcluster_adacos_asd.datasets import LogMelDataset
from subcluster_adacos_asd.feature_store import (
    LogMelArray,
    LogMelBlocks,
    LogMelStore,
    StandardisedFeatures,
    log_mel_source,
    select_rows,
)
from subcluster_adacos_asd.feature_table import array_to_frame


def _values(files=23, frames=9, mels=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(-40.0, 12.0, size=(files, frames, mels)).astype(np.float32)


def _stats(values):
    flat = values.reshape(-1, values.shape[-1]).astype(np.float64)
    return pd.DataFrame({"mel": np.arange(values.shape[-1]), "mean": flat.mean(axis=0),
                         "std": flat.std(axis=0)})


def _store(tmp_path, values, ids=None) -> LogMelStore:
    ids = ids or [f"f{i:03d}" for i in range(len(values))]
    dataset = LogMelDataset(str(tmp_path / "log_mel.parquet"), row_group_size=5)
    dataset.save(array_to_frame(ids, values))
    return dataset.load()


def test_the_store_reads_any_rows_as_the_array_gives_them(tmp_path):
    values = _values()
    store = _store(tmp_path, values)
    assert isinstance(store, LogMelStore) and store.shape == values.shape and len(store) == 23
    assert list(store.file_ids[:2]) == ["f000", "f001"]
    rng = np.random.default_rng(1)
    rows = rng.integers(0, 23, size=40)  # unsorted, repeated rows
    np.testing.assert_array_equal(store[rows], values[rows])
    np.testing.assert_array_equal(store[np.sort(rows)], values[np.sort(rows)])
    np.testing.assert_array_equal(store[3:17], values[3:17])
    np.testing.assert_array_equal(store[::4], values[::4])
    np.testing.assert_array_equal(store[-1], values[-1])
    mask = rng.random(23) < 0.5
    np.testing.assert_array_equal(store[mask], values[mask])
    assert store[np.array([], dtype=int)].shape == (0, 9, 6)
    blocks = list(store.blocks(rows_per_block=7))
    assert [start for start, _ in blocks] == [0, 7, 14, 21]
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), values)
    with pytest.raises(IndexError):
        store[np.array([23])]
    # a worker process gets it pickled and opens the file itself
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(store))[rows], values[rows])


def test_the_standardised_view_equals_the_whole_array_standardised_bit_for_bit(tmp_path):
    values = _values()
    stats = _stats(values)
    whole = feature_table.standardised_features(array_to_frame(
        [f"f{i:03d}" for i in range(23)], values), stats)
    store = _store(tmp_path, values)
    view = feature_table.standardised_view(store, stats)
    assert isinstance(view, StandardisedFeatures) and view.shape == whole.shape
    rows = np.array([5, 1, 22, 1, 0])
    np.testing.assert_array_equal(view[rows], whole[rows])
    np.testing.assert_array_equal(view[4:11], whole[4:11])
    np.testing.assert_array_equal(np.asarray(view), whole)
    # a selection of rows (embed: file_index order)
    order = np.random.default_rng(2).permutation(23)
    selected = feature_table.standardised_view(store, stats, order)
    np.testing.assert_array_equal(selected[0:23], whole[order])
    np.testing.assert_array_equal(selected[np.array([3, 0])], whole[order[[3, 0]]])
    with pytest.raises(ValueError, match="mel bins"):
        feature_table.standardised_view(store, _stats(values[..., :4]))


def test_training_batches_from_the_store_equal_the_in_memory_batches(tmp_path):
    """The memory-saving path gives the network exactly the batches of the in-memory path,
    epoch after epoch, with crops and self-supervised classes drawing from the same seed."""
    values = _values(files=40, frames=40, mels=8)
    stats = _stats(values)
    ids = [f"f{i:03d}" for i in range(40)]
    in_memory = feature_table.standardised_features(array_to_frame(ids, values), stats)
    view = feature_table.standardised_view(_store(tmp_path, values, ids), stats)
    rows = np.arange(3, 40, 2)
    labels = {"section": (["a", "b", "c"], np.arange(len(rows)) % 3)}
    kwargs = dict(batch_size=4, seed=7, crop_frames=32,
                  augmentation=ClassAugmentation((-1, 1), 0.5, 0.3))
    a = training.TrainingBatches(in_memory, rows, labels, **kwargs)
    b = training.TrainingBatches(view, rows, labels, **kwargs)
    assert len(a) == len(b) == 5
    for _ in range(3):
        for i in range(len(a)):
            (xa, ya), (xb, yb) = a[i], b[i]
            assert xa.keys() == xb.keys()
            for key in xa:
                np.testing.assert_array_equal(xa[key], xb[key])
            for key in ya:
                np.testing.assert_array_equal(ya[key], yb[key])
        a.on_epoch_end()
        b.on_epoch_end()


def test_sources_from_frames_arrays_and_blocks_agree():
    values = _values(files=6)
    ids = [f"f{i}" for i in range(6)]
    frame = array_to_frame(ids, values)
    from_frame = log_mel_source(frame)  # the shape is in the frame's attrs
    np.testing.assert_array_equal(from_frame[0:6], values)
    blocks = LogMelBlocks(ids, 9, 6, lambda: iter([(0, values[:4]), (4, values[4:])]))
    np.testing.assert_array_equal(log_mel_source(blocks)[np.array([5, 0])], values[[5, 0]])
    array = LogMelArray(ids, values)
    assert log_mel_source(array) is array
    selected = select_rows(array, np.array([4, 2]))
    assert list(selected.file_ids) == ["f4", "f2"]
    np.testing.assert_array_equal(selected[0:2], values[[4, 2]])
    assert select_rows(array, np.arange(6)) is array
    with pytest.raises(ValueError, match="n_mels"):
        log_mel_source(frame.copy().pipe(lambda f: setattr(f, "attrs", {}) or f))
    with pytest.raises(TypeError, match="Not a log-mel table"):
        log_mel_source([1, 2])


def test_feature_statistics_and_maxima_stream_from_the_store(tmp_path):
    """The features pipeline's statistics read the stored table block by block and equal the
    in-memory frame's (the path the node used before)."""
    from subcluster_adacos_asd.log_mel import iter_feature_blocks, standardisation_statistics

    values = _values(files=30)
    ids = [f"f{i:03d}" for i in range(30)]
    frame = array_to_frame(ids, values)
    store = _store(tmp_path, values, ids)
    training_rows = np.arange(30) % 3 != 0
    expected = standardisation_statistics(lambda: iter_feature_blocks(frame, 6), training_rows)
    streamed = standardisation_statistics(lambda: iter_feature_blocks(store, 6), training_rows)
    np.testing.assert_allclose(streamed, expected, rtol=1e-12)
    stats = pd.DataFrame({"mel": np.arange(6), "mean": expected[0], "std": expected[1]})
    pd.testing.assert_frame_equal(feature_table.tmax_table(store, stats),
                                  feature_table.tmax_table(frame, stats))
