"""Training snapshots of one configuration as a versioned folder of ``.keras`` files."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version
from kedro.io.core import get_filepath_str, get_protocol_and_path

from subcluster_adacos_asd.datasets.atomic import atomic_write


class KerasSnapshotsDataset(AbstractVersionedDataset[dict, dict]):
    """Saves ``{snapshot_name: keras.Model}`` as ``<filepath>/<version>/<name>/<snapshot>.keras``.

    One version holds every snapshot of one training run, so a later run never overwrites an
    earlier one and ``load`` returns the snapshots of the same run together. The folder is
    written under a temporary name and renamed when every snapshot is in it
    (:func:`~subcluster_adacos_asd.datasets.atomic.atomic_write`), so an interrupted save never
    leaves a partial set of snapshots as the latest version. Loading imports the project's Keras
    layers first, so custom objects resolve whichever pipeline runs.
    """

    def __init__(self, filepath: str, version: Version | None = None, metadata: dict | None = None):
        protocol, path = get_protocol_and_path(filepath, version)
        if protocol != "file":
            raise ValueError(f"KerasSnapshotsDataset supports local paths only, got {filepath}")
        super().__init__(filepath=PurePosixPath(path), version=version, exists_function=_exists)
        self._protocol = protocol
        self.metadata = metadata

    def load(self) -> dict:
        import keras

        import subcluster_adacos_asd.layers  # noqa: F401  registers the custom objects

        folder = Path(get_filepath_str(self._get_load_path(), self._protocol))
        if not folder.is_dir():
            raise FileNotFoundError(f"No snapshot folder {folder}")
        # An empty version is a saved empty dict (e.g. no model group to train).
        files = sorted(folder.glob("*.keras"))
        models = {}
        for file in files:
            try:
                models[file.stem] = keras.saving.load_model(file, compile=False)
            except Exception as exc:
                raise DatasetError(
                    f"Cannot load the snapshot {file}: {exc}\n{_recovery_hint(folder, self._version is not None)}"
                ) from exc
        return models

    def save(self, data: dict) -> None:
        target = Path(get_filepath_str(self._get_save_path(), self._protocol))
        with atomic_write(target) as folder:
            folder.mkdir()
            for name, model in data.items():
                model.save(folder / f"{name}.keras")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}


def _recovery_hint(folder: Path, versioned: bool) -> str:
    if not versioned:
        return f"Rerun the pipeline that writes {folder} (or delete it if it is broken)."
    return (
        f"If {folder.parent.name} is the version of an interrupted save, delete the folder "
        f"{folder.parent}: the previous version then loads as the latest; or rerun the pipeline "
        "that writes it."
    )


def _exists(path: str) -> bool:
    return Path(path).is_dir()
