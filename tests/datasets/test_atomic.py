"""Atomic saves: an interrupted save leaves the previous version loadable and no partial latest.

Interruptions are simulated by raising ``KeyboardInterrupt`` (what SIGINT raises) from inside
the writer, after it has written part of the file, for a pickle, a Parquet and a ``.keras``
dataset, versioned and not.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError, Version
from kedro_datasets.pickle import PickleDataset

from subcluster_adacos_asd.datasets import AtomicDataset, KerasSnapshotsDataset
from tests.support import PROJECT, catalog_config


class _Interrupt:
    """Pickles as SIGINT mid-write: everything before it is already in the file."""

    def __reduce__(self):
        raise KeyboardInterrupt


def _interrupting_payload() -> list:
    # 2 MB before the interruption: pickle flushes its 64 kB frames to the file as it goes.
    return [np.random.default_rng(0).bytes(2_000_000), _Interrupt()]


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _pickle(root: Path, save: str | None = None) -> AtomicDataset:
    return AtomicDataset(
        str(root / "backends.pkl"), dataset="pickle.PickleDataset", version=Version(None, save)
    )


def test_the_simulated_interruption_breaks_a_plain_pickle_dataset(tmp_path):
    """The control: without the wrapper the same interruption leaves a partial latest version."""
    PickleDataset(filepath=str(tmp_path / "b.pkl"), version=Version(None, "v1")).save({"a": 1})
    with pytest.raises(KeyboardInterrupt):
        PickleDataset(filepath=str(tmp_path / "b.pkl"), version=Version(None, "v2")).save(
            _interrupting_payload()
        )
    assert (tmp_path / "b.pkl" / "v2" / "b.pkl").stat().st_size > 1_000_000
    with pytest.raises(DatasetError):
        PickleDataset(filepath=str(tmp_path / "b.pkl"), version=Version(None, None)).load()


def test_interrupted_versioned_pickle_keeps_the_previous_version_as_latest(tmp_path):
    _pickle(tmp_path, "v1").save({"gmm": 1})
    with pytest.raises(KeyboardInterrupt):
        _pickle(tmp_path, "v2").save(_interrupting_payload())

    assert _pickle(tmp_path).load() == {"gmm": 1}
    assert _pickle(tmp_path).resolve_load_version() == "v1"
    # no partial file anywhere, and no empty version folder of the failed save
    assert _files(tmp_path) == ["backends.pkl/v1/backends.pkl"]
    assert not (tmp_path / "backends.pkl" / "v2").exists()


def test_an_exception_inside_the_write_is_handled_like_an_interruption(tmp_path, monkeypatch):
    _pickle(tmp_path, "v1").save({"gmm": 1})

    def failing_dump(data, handle, **kwargs):
        handle.write(b"\x80\x05 half a pickle")
        raise OSError("No space left on device")

    monkeypatch.setattr(pickle, "dump", failing_dump)
    with pytest.raises(DatasetError, match="No space left on device"):
        _pickle(tmp_path, "v2").save({"gmm": 2})
    monkeypatch.undo()
    assert _pickle(tmp_path).load() == {"gmm": 1}
    assert _files(tmp_path) == ["backends.pkl/v1/backends.pkl"]


def _interrupt_half_way_through_to_parquet(monkeypatch):
    real = pd.DataFrame.to_parquet

    def half_written(self, path, **kwargs):
        buffer = io.BytesIO()
        real(self, buffer, **kwargs)
        path.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_written)


@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "unversioned (log_mel)"])
def test_interrupted_parquet_save_keeps_the_previous_copy(tmp_path, monkeypatch, versioned):
    def dataset(save=None):
        return AtomicDataset(
            str(tmp_path / "log_mel.parquet"),
            dataset={"type": "pandas.ParquetDataset", "save_args": {"row_group_size": 2}},
            version=Version(None, save) if versioned else None,
        )

    first = pd.DataFrame({"file_id": ["a", "b", "c"], "value": [1.0, 2.0, 3.0]})
    dataset("v1").save(first)
    _interrupt_half_way_through_to_parquet(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        dataset("v2").save(first.assign(value=first["value"] * 10))
    monkeypatch.undo()

    pd.testing.assert_frame_equal(dataset().load(), first)
    expected = ["log_mel.parquet/v1/log_mel.parquet"] if versioned else ["log_mel.parquet"]
    assert _files(tmp_path) == expected


def test_a_complete_unversioned_save_replaces_the_earlier_copy(tmp_path):
    dataset = AtomicDataset(str(tmp_path / "log_mel.parquet"), dataset="pandas.ParquetDataset")
    dataset.save(pd.DataFrame({"x": [1]}))
    dataset.save(pd.DataFrame({"x": [2]}))
    assert dataset.load()["x"].tolist() == [2]
    assert _files(tmp_path) == ["log_mel.parquet"]


def _model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def test_interrupted_keras_snapshots_save_keeps_the_previous_version(tmp_path, monkeypatch):
    x = np.arange(8, dtype="float32").reshape(2, 4)
    old = _model(0)
    KerasSnapshotsDataset(str(tmp_path / "snaps"), version=Version(None, "v1")).save(
        {"epoch_0001": old, "epoch_0002": old}
    )
    real_save = keras.Model.save
    saved = []

    def interrupted_after_one(self, path, *args, **kwargs):
        if saved:
            raise KeyboardInterrupt
        saved.append(path)
        real_save(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", interrupted_after_one)
    with pytest.raises(KeyboardInterrupt):
        KerasSnapshotsDataset(str(tmp_path / "snaps"), version=Version(None, "v2")).save(
            {"epoch_0001": _model(1), "epoch_0002": _model(1)}
        )
    monkeypatch.undo()

    assert saved, "the first snapshot of the interrupted save was written"
    latest = KerasSnapshotsDataset(str(tmp_path / "snaps"), version=Version(None, None))
    assert latest.resolve_load_version() == "v1"
    models = latest.load()
    assert sorted(models) == ["epoch_0001", "epoch_0002"]
    np.testing.assert_array_equal(
        models["epoch_0001"].predict(x, verbose=0), old.predict(x, verbose=0)
    )
    assert _files(tmp_path) == [
        "snaps/v1/snaps/epoch_0001.keras", "snaps/v1/snaps/epoch_0002.keras"
    ]


def test_a_corrupt_version_names_the_version_and_the_fix(tmp_path):
    _pickle(tmp_path, "v1").save({"gmm": 1})
    broken = tmp_path / "backends.pkl" / "v2" / "backends.pkl"
    broken.parent.mkdir()
    broken.write_bytes(pickle.dumps({"gmm": 2})[:10])  # a pre-atomic interrupted save

    with pytest.raises(DatasetError) as error:
        _pickle(tmp_path).load()
    message = str(error.value)
    assert str(broken) in message
    assert "version v2" in message
    assert f"delete the folder {broken.parent}" in message
    assert "rerun" in message


def test_a_corrupt_keras_snapshot_names_the_version_and_the_fix(tmp_path):
    folder = tmp_path / "snaps" / "v1" / "snaps"
    folder.mkdir(parents=True)
    (folder / "epoch_0001.keras").write_bytes(b"PK\x03\x04 not a whole zip")
    with pytest.raises(DatasetError, match=r"epoch_0001\.keras.*\n.*delete the folder .*v1"):
        KerasSnapshotsDataset(str(tmp_path / "snaps"), version=Version(None, None)).load()


def test_a_folder_dataset_is_replaced_whole(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dataset = AtomicDataset(
        str(tmp_path / "roc_curves"),
        dataset={"type": "matplotlib.MatplotlibDataset", "overwrite": True},
    )
    dataset.save({"fan.png": plt.figure(), "valve.png": plt.figure()})
    dataset.save({"gearbox.png": plt.figure()})
    assert _files(tmp_path) == ["roc_curves/gearbox.png"]


def test_wrapper_arguments_in_the_wrapped_entry_are_refused(tmp_path):
    with pytest.raises(ValueError, match="`versioned` belongs to the wrapper"):
        AtomicDataset(str(tmp_path / "x.pkl"), dataset={"type": "pickle.PickleDataset",
                                                         "versioned": True})
    with pytest.raises(ValueError, match="`filepath` belongs to the wrapper"):
        AtomicDataset(str(tmp_path / "x.pkl"), dataset={"type": "pickle.PickleDataset",
                                                         "filepath": "y.pkl"})


def _project_catalog() -> dict:
    names = [p.stem.removeprefix("catalog_") for p in (PROJECT / "conf/base").glob("catalog_*.yml")]
    return catalog_config(*sorted(names))


def test_every_dataset_the_project_writes_saves_atomically():
    """Each catalog entry but the (read) audio and manifest is an AtomicDataset (or its
    OptionalAtomicDataset), a KerasSnapshotsDataset or the LogMelDataset (atomic itself,
    tests/datasets/test_log_mel.py), and a temporary name of a versioned entry can never match
    Kedro's version glob."""
    config = _project_catalog()
    own = {"subcluster_adacos_asd.datasets.AtomicDataset",
           "subcluster_adacos_asd.datasets.OptionalAtomicDataset",
           "subcluster_adacos_asd.datasets.KerasSnapshotsDataset",
           "subcluster_adacos_asd.datasets.LogMelDataset"}
    assert {name for name, entry in config.items() if entry["type"] not in own} == {
        "raw_audio", "recordings_manifest"}
    catalog = DataCatalog.from_config(config)
    backends = catalog.get("sc16_both.backends")
    assert isinstance(backends, AtomicDataset)
    assert backends._describe()["filepath"].endswith("data/06_models/sc16_both/backends.pkl")  # noqa: SLF001
    assert backends._version is not None  # noqa: SLF001


def test_catalog_round_trip_and_load_versions(tmp_path):
    config = {
        "scores": {
            "type": "subcluster_adacos_asd.datasets.AtomicDataset",
            "filepath": str(tmp_path / "scores.parquet"),
            "versioned": True,
            "dataset": "pandas.ParquetDataset",
        }
    }
    DataCatalog.from_config(config, save_version="v1").save("scores", pd.DataFrame({"x": [1]}))
    DataCatalog.from_config(config, save_version="v2").save("scores", pd.DataFrame({"x": [2]}))
    assert DataCatalog.from_config(config).load("scores")["x"].tolist() == [2]
    pinned = DataCatalog.from_config(config, load_versions={"scores": "v1"})
    assert pinned.load("scores")["x"].tolist() == [1]


def test_kedro_viz_previews_reach_the_wrapped_dataset(tmp_path):
    def dataset():
        return AtomicDataset(str(tmp_path / "scores.parquet"), dataset="pandas.ParquetDataset",
                             version=Version(None, None))

    assert not hasattr(dataset(), "preview")  # nothing saved yet
    dataset().save(pd.DataFrame({"score": [0.5, 1.5]}))
    assert dataset().preview() == {"index": [0, 1], "columns": ["score"], "data": [[0.5], [1.5]]}
