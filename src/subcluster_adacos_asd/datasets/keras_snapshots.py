"""Training snapshots of one configuration as a versioned folder of ``.keras`` files."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, Version
from kedro.io.core import get_filepath_str, get_protocol_and_path


class KerasSnapshotsDataset(AbstractVersionedDataset[dict, dict]):
    """Saves ``{snapshot_name: keras.Model}`` as ``<filepath>/<version>/<name>/<snapshot>.keras``.

    One version holds every snapshot of one training run, so a later run never overwrites an
    earlier one and ``load`` returns the snapshots of the same run together. Loading imports the
    project's Keras layers first, so custom objects resolve whichever pipeline runs.
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
        return {f.stem: keras.saving.load_model(f, compile=False) for f in files}

    def save(self, data: dict) -> None:
        folder = Path(get_filepath_str(self._get_save_path(), self._protocol))
        folder.mkdir(parents=True, exist_ok=True)
        for name, model in data.items():
            model.save(folder / f"{name}.keras")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}


def _exists(path: str) -> bool:
    return Path(path).is_dir()
