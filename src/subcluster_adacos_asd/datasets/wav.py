"""A WAV file as a Kedro dataset (used inside a PartitionedDataset for whole DCASE folders)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, NamedTuple

import fsspec
import numpy as np
import soundfile
from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import get_filepath_str, get_protocol_and_path


class Audio(NamedTuple):
    """Samples as float32 in [-1, 1], shape (n,) for mono or (n, channels), and their rate."""

    samples: np.ndarray
    sample_rate: int
    filepath: str = ""


class WavDataset(AbstractDataset[Audio, Audio]):
    """Loads a WAV file as :class:`Audio`; saves :class:`Audio` as 16-bit PCM.

    Loading never resamples or downmixes: what to do with an unexpected rate or channel count is
    the feature extraction's decision (and error message), not the reader's.
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
        try:
            with self._fs.open(path, mode="rb") as f:
                samples, rate = soundfile.read(f, dtype="float32", always_2d=False)
        except Exception as exc:  # soundfile raises several types for broken files
            raise DatasetError(f"Cannot read audio file {path}: {exc}") from exc
        return Audio(samples, int(rate), path)

    def save(self, data: Audio) -> None:
        samples, rate = np.asarray(data[0]), int(data[1])
        path = self.filepath
        self._fs.makedirs(str(PurePosixPath(path).parent), exist_ok=True)
        with self._fs.open(path, mode="wb") as f:
            soundfile.write(f, samples, rate, subtype=self._subtype, format="WAV")

    def _exists(self) -> bool:
        return self._fs.exists(self.filepath)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self.filepath, "subtype": self._subtype}
