"""Atomic saves: write under a temporary name in the same folder, then rename into place.

A save that stops half-way (Ctrl-C, a full disk, an exception inside the writer) must never
leave a partial file where the next run looks for the data: for a versioned dataset Kedro loads
the newest ``<filepath>/<version>/<name>`` that exists, and an unversioned dataset has only one
copy (``log_mel``: hours of extraction on the real data). So every save here writes a hidden
sibling ``.tmp-<token>-<name>`` first, which never matches Kedro's version glob
``<filepath>/*/<name>``, and renames it into place with ``os.replace`` (atomic on one file
system) only once the write has finished; a failed save removes its temporary files again.

:func:`atomic_write` does this for any path (a file, or a folder such as a set of ``.keras``
snapshots); :class:`AtomicDataset` wraps any file-based Kedro dataset with it, so the
kedro-datasets types of the catalog get the same guarantee without a copy of their code.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, AbstractVersionedDataset, DatasetError, Version
from kedro.io.core import get_filepath_str, get_protocol_and_path

#: Prefixes of the hidden siblings a save uses; ``prune-versions`` removes stale ones.
TEMPORARY_PREFIX = ".tmp-"
BACKUP_PREFIX = ".old-"


def temporary_sibling(path: Path, prefix: str = TEMPORARY_PREFIX) -> Path:
    """A hidden, unique name next to ``path`` that keeps its suffix (writers that pick the
    format from the extension, e.g. Keras' ``.keras``, still see it) and never matches the
    version glob ``*/<name>``."""
    return path.with_name(f"{prefix}{uuid.uuid4().hex[:12]}-{path.name}")


def remove_path(path: Path) -> None:
    """Remove a file or a folder tree; nothing if it is not there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _fsync_tree(path: Path) -> None:
    """Flush what was written to disk before the rename publishes it (a power cut after the
    rename must not leave an empty file under the final name)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for file in files:
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def publish(written: Path, path: Path, durable: bool = True) -> None:
    """Move the finished ``written`` to ``path``, replacing what is there.

    A file over a file is one ``os.replace``. A folder (or a change between file and folder)
    cannot replace a non-empty folder in one step, so the old one is first renamed aside to a
    hidden ``.old-`` sibling and removed after the new one is in place: at every moment either
    the old or the new complete copy exists. ``durable``: flush the data to disk first, so that
    not even a power cut right after the rename leaves an empty file under the final name.
    """
    if not written.exists():
        raise DatasetError(f"The save wrote nothing at {written}; nothing to publish as {path}")
    if durable:
        _fsync_tree(written)
    if path.exists() and (path.is_dir() or written.is_dir()):
        backup = temporary_sibling(path, BACKUP_PREFIX)
        os.replace(path, backup)
        os.replace(written, path)
        remove_path(backup)
    else:
        os.replace(written, path)
    if durable:
        _fsync_folder(path.parent)


@contextmanager
def atomic_write(path: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; publish it as ``path`` when the block ends.

    If the block raises (including ``KeyboardInterrupt``), the temporary file or folder and the
    folders created for it (e.g. an empty version folder) are removed and ``path`` is left as it
    was: the previous version, or nothing. ``durable``: see :func:`publish` (off for the many
    small WAVs of a synthetic data set, which are cheap to write again).
    """
    path = Path(path)
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    written = temporary_sibling(path)
    try:
        yield written
        publish(written, path, durable)
    except BaseException:
        remove_path(written)
        for folder in created:  # deepest first; stops at the first one that is not empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise


class AtomicDataset(AbstractVersionedDataset[Any, Any]):
    """Any file-based Kedro dataset, saved atomically (see the module docstring).

    The wrapped dataset is configured under ``dataset`` as in a ``CachedDataset`` or a
    ``PartitionedDataset`` (a type name, or a dict with ``type`` and its arguments); the path
    and versioning belong to the wrapper, which resolves load and save versions itself exactly
    as any Kedro versioned dataset (``--load-versions`` and ``kedro catalog`` work as before)::

        file_index:
          type: subcluster_adacos_asd.datasets.AtomicDataset
          filepath: data/02_intermediate/file_index.parquet
          versioned: true
          dataset: pandas.ParquetDataset

    Saving builds the wrapped dataset on a temporary sibling of the save path, saves, and
    renames. Loading builds it on the load path; a load that fails (e.g. a file truncated by an
    interrupted save from before this wrapper) says which version it was and how to recover.
    A wrapped dataset that writes a folder (a dict of figures, a ``PartitionedDataset``) is
    replaced whole, as with ``overwrite: true``. ``filepath_arg`` names the wrapped dataset's
    path argument (``path`` for a ``PartitionedDataset``). Local paths only: ``os.replace`` is
    what makes the save atomic.
    """

    def __init__(
        self,
        filepath: str,
        dataset: str | dict,
        filepath_arg: str = "filepath",
        version: Version | None = None,
        metadata: dict | None = None,
    ):
        protocol, path = get_protocol_and_path(filepath, version)
        if protocol != "file":
            raise ValueError(f"AtomicDataset supports local paths only, got {filepath}")
        config = {"type": dataset} if isinstance(dataset, str) else dict(dataset)
        if "type" not in config:
            raise ValueError(f"AtomicDataset {filepath}: the `dataset` entry needs a `type`")
        for key in (filepath_arg, "versioned"):
            if key in config:
                raise ValueError(
                    f"AtomicDataset {filepath}: `{key}` belongs to the wrapper, not to its "
                    f"`dataset` entry (write `{key}:` one level up)"
                )
        super().__init__(filepath=PurePosixPath(path), version=version)
        self._protocol = protocol
        self._dataset_config = config
        self._filepath_arg = filepath_arg
        self._loaders: dict[str, AbstractDataset] = {}
        self.metadata = metadata

    def _wrapped(self, path: PurePosixPath) -> AbstractDataset:
        """The wrapped dataset, unversioned, on ``path``."""
        location = get_filepath_str(path, self._protocol)
        return AbstractDataset.from_config(
            location, {**self._dataset_config, self._filepath_arg: location}
        )

    def load(self) -> Any:
        path = self._get_load_path()
        location = get_filepath_str(path, self._protocol)
        if location not in self._loaders:
            self._loaders[location] = self._wrapped(path)
        try:
            return self._loaders[location].load()
        except Exception as exc:
            raise DatasetError(
                f"Cannot load {location}: {exc}\n{self._recovery_hint(path)}"
            ) from exc

    def _recovery_hint(self, path: PurePosixPath) -> str:
        if self._version is None:
            return (
                f"Rerun the pipeline that writes {path.name} (or delete {path} if it is the "
                "remains of an interrupted save)."
            )
        return (
            f"This is version {path.parent.name}. If it is the remains of an interrupted save, "
            f"delete the folder {path.parent}: the previous version then loads as the latest; "
            "or rerun the pipeline that writes it."
        )

    def save(self, data: Any) -> None:
        target = Path(get_filepath_str(self._get_save_path(), self._protocol))
        with atomic_write(target) as written:
            self._wrapped(PurePosixPath(written.as_posix())).save(data)
        self._loaders.clear()

    def _exists(self) -> bool:
        return Path(get_filepath_str(self._get_load_path(), self._protocol)).exists()

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "version": self._version,
            "dataset": self._dataset_config["type"],
        }

    def _release(self) -> None:
        super()._release()
        self._loaders.clear()

    def __getattr__(self, name: str):
        """``preview`` of the wrapped dataset (what kedro-viz shows) when it has one; nothing
        else is delegated."""
        if name != "preview" or "_dataset_config" not in self.__dict__:
            raise AttributeError(name)
        try:
            wrapped = self._wrapped(self._get_load_path())
        except Exception as exc:  # nothing saved yet: no preview
            raise AttributeError(name) from exc
        return getattr(wrapped, name)
