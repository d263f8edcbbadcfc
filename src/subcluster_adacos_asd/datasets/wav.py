"""A WAV file as a Kedro dataset (used inside a PartitionedDataset for whole DCASE folders)."""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import Any, NamedTuple

import fsspec
import numpy as np
import soundfile
from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import get_filepath_str, get_protocol_and_path

from subcluster_adacos_asd.datasets.atomic import atomic_write


class Audio(NamedTuple):
    """Samples as float32 in [-1, 1], shape (n,) for mono or (n, channels), and their rate."""

    samples: np.ndarray
    sample_rate: int
    filepath: str = ""


def read_error_reason(exc: Exception, path: str) -> str:
    """What is wrong with an audio file, in words, without a file object's ``repr``.

    soundfile names what it was given: a path, or for a file object from fsspec
    ``<fsspec...LocalFileOpener object at 0x...>``, which tells the reader nothing. Its own
    reason (``error_string``) is kept instead, and an empty file is said to be empty.
    """
    try:
        if os.path.getsize(path) == 0:
            return "the file is empty (0 bytes)"
    except OSError:
        pass
    if isinstance(exc, soundfile.LibsndfileError):
        return str(exc.error_string).strip() or "libsndfile cannot open it"
    return str(exc)


class AudioReadError(DatasetError):
    """An audio file that cannot be read; ``reason`` says why without repeating the path."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"Cannot read audio file {path}: {reason}")
        self.path = path
        self.reason = reason


def read_wav(path: str) -> tuple[np.ndarray, int]:
    """``soundfile.read`` of a local file as float32 (no resampling, no downmixing); any
    failure is an :class:`AudioReadError` naming the file and what is wrong."""
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=False)
    except Exception as exc:  # soundfile raises several types for broken files
        raise AudioReadError(path, read_error_reason(exc, path)) from exc
    return samples, int(rate)


class WavDataset(AbstractDataset[Audio, Audio]):
    """Loads a WAV file as :class:`Audio`; saves :class:`Audio` as 16-bit PCM.

    Loading never resamples or downmixes: what to do with an unexpected rate or channel count is
    the feature extraction's decision (and error message), not the reader's. Local files are
    read by path, so an error names the file; saves write a temporary sibling and rename it
    (:func:`~subcluster_adacos_asd.datasets.atomic.atomic_write`), so an interrupted save leaves
    no truncated WAV.
    """

    def __init__(self, filepath: str, subtype: str = "PCM_16", metadata: dict | None = None):
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._filepath = PurePosixPath(path)
        self._fs = fsspec.filesystem(protocol)
        self._subtype = subtype
        self.metadata = metadata

    @property
    def filepath(self) -> str:
        return get_filepath_str(self._filepath, self._protocol)

    def load(self) -> Audio:
        path = self.filepath
        if self._protocol == "file":
            path = os.path.abspath(path)
            samples, rate = read_wav(path)
            return Audio(samples, rate, path)
        try:
            with self._fs.open(path, mode="rb") as f:
                samples, rate = soundfile.read(f, dtype="float32", always_2d=False)
        except Exception as exc:  # soundfile raises several types for broken files
            raise DatasetError(f"Cannot read audio file {path}: {exc}") from exc
        return Audio(samples, int(rate), path)

    def save(self, data: Audio) -> None:
        samples, rate = np.asarray(data[0]), int(data[1])
        path = self.filepath
        if self._protocol == "file":
            with atomic_write(path, durable=False) as written:
                soundfile.write(written, samples, rate, subtype=self._subtype, format="WAV")
            return
        self._fs.makedirs(str(PurePosixPath(path).parent), exist_ok=True)
        with self._fs.open(path, mode="wb") as f:
            soundfile.write(f, samples, rate, subtype=self._subtype, format="WAV")

    def _exists(self) -> bool:
        return self._fs.exists(self.filepath)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self.filepath, "subtype": self._subtype}
