"""Log-mel feature sets that are read piece by piece instead of held in memory whole.

Why: the log-mel of DCASE 2021 (about 55 000 clips x 313 frames x 128 mels, float32) is about
9 GB. Reading the Parquet table whole, and then standardising it into a second array, held it
twice in every stage that needs it (training, embedding, the baselines). Here every stage reads
only the rows it needs at that moment:

* :class:`LogMelStore`: the raw log-mel in a ``.npy`` file (the memory-mapped cache that
  ``datasets.LogMelDataset`` derives from the Parquet table), read with ``os.preadv`` straight
  into the array of the rows asked for. Explicit reads, not ``numpy.memmap``: pages of a
  mapped file count into the process's resident memory once touched, so an epoch over a 9 GB
  mapping would look (and be accounted) like a 9 GB process; read pages stay in the kernel's
  page cache, where they cost nothing that another process cannot reclaim.
* :class:`LogMelArray`: the same interface over an in-memory array (small tables, tests,
  inference on a few new recordings).
* :class:`LogMelBlocks`: a table produced block by block (the feature extraction), so that it
  can be written to disk while it is computed; :func:`log_mel_source` materialises it when a
  consumer gets it directly (an in-memory Kedro catalog).
* :class:`StandardisedFeatures`: the array-like view the networks read, standardising each
  gathered piece with the training statistics (same float32 operations as standardising the
  whole array, so the values are bit for bit those of the in-memory path).

Every source has ``file_ids``, ``shape`` (files, frames, mels), ``len()``, indexing by an int,
a slice or an array of rows (returning a fresh float32 array) and ``blocks()``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Rows per block when a whole table is streamed (256 clips of 313 x 128 are 41 MB).
BLOCK_ROWS = 256


def _row_indices(index: Any, n_rows: int) -> np.ndarray | slice | int:
    """``index`` as an int, a step-1 slice or an int64 array of rows (negatives resolved)."""
    if isinstance(index, (int, np.integer)):
        row = int(index)
        if not -n_rows <= row < n_rows:
            raise IndexError(f"row {row} out of range for {n_rows} rows")
        return row % n_rows
    if isinstance(index, slice):
        start, stop, step = index.indices(n_rows)
        if step == 1:
            return slice(start, max(start, stop))
        return np.arange(start, stop, step, dtype=np.int64)
    rows = np.asarray(index)
    if rows.dtype == bool:
        if rows.shape != (n_rows,):
            raise IndexError(f"boolean index of shape {rows.shape} for {n_rows} rows")
        return np.flatnonzero(rows)
    if rows.ndim != 1 or not (rows.size == 0 or np.issubdtype(rows.dtype, np.integer)):
        raise IndexError(f"rows must be an int, a slice or a 1-d array of ints, got {index!r}")
    rows = rows.astype(np.int64)
    if rows.size and (rows.min() < -n_rows or rows.max() >= n_rows):
        raise IndexError(f"rows out of range for {n_rows} rows")
    return np.where(rows < 0, rows + n_rows, rows)


class _Source:
    """What every log-mel source shares: shape helpers, ``blocks`` and ``__getitem__``."""

    file_ids: np.ndarray
    shape: tuple[int, int, int]

    ndim = 3
    dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def n_frames(self) -> int:
        return self.shape[1]

    @property
    def n_mels(self) -> int:
        return self.shape[2]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * 4

    def __getitem__(self, index) -> np.ndarray:
        rows = _row_indices(index, len(self))
        if isinstance(rows, int):
            return self._read_slice(rows, rows + 1)[0]
        if isinstance(rows, slice):
            return self._read_slice(rows.start, rows.stop)
        return self._read_rows(rows)

    def blocks(self, rows_per_block: int = BLOCK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
        """``(first_row, (rows, frames, mels) array)`` in row order, one block in memory."""
        for start in range(0, len(self), rows_per_block):
            yield start, self._read_slice(start, min(start + rows_per_block, len(self)))

    def __array__(self, dtype=None, copy=None):
        values = self._read_slice(0, len(self))
        return values if dtype is None else values.astype(dtype, copy=False)

    def _read_slice(self, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class LogMelArray(_Source):
    """A log-mel source over an in-memory (files, frames, mels) array."""

    def __init__(self, file_ids: Sequence[str], values: np.ndarray):
        values = np.asarray(values)
        if values.ndim != 3:
            raise ValueError(f"log-mel values must be (files, frames, mels), got {values.shape}")
        self.values = values
        self.file_ids = np.asarray([str(f) for f in file_ids], dtype=object)
        if len(self.file_ids) != len(values):
            raise ValueError(f"{len(self.file_ids)} file ids for {len(values)} log-mel rows")
        self.shape = tuple(int(n) for n in values.shape)

    def _read_slice(self, start: int, stop: int) -> np.ndarray:
        return np.array(self.values[start:stop], dtype=np.float32)

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.values[rows], dtype=np.float32)


@dataclass(frozen=True)
class NpyLayout:
    """Where the values of a ``.npy`` file start and what they are."""

    offset: int
    shape: tuple[int, ...]

    @classmethod
    def read(cls, path: Path) -> NpyLayout:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(handle)
            offset = handle.tell()
        if fortran or dtype != np.dtype("<f4") or len(shape) != 3:
            raise ValueError(
                f"{path}: expected a C-ordered little-endian float32 (files, frames, mels) "
                f"array, found dtype {dtype}, shape {shape}, fortran_order {fortran}"
            )
        expected = offset + int(np.prod(shape)) * 4
        size = path.stat().st_size
        if size < expected:
            raise ValueError(f"{path}: {size} bytes, the header promises {expected} (truncated)")
        return cls(offset, tuple(int(n) for n in shape))


class LogMelStore(_Source):
    """Raw log-mel rows of a ``.npy`` file, read on demand (see the module docstring).

    The file stays closed between reads in a process that never reads; the descriptor is
    opened on the first read and re-opened after a fork (a Dask or loky worker).
    """

    def __init__(self, path: str | os.PathLike, file_ids: Sequence[str]):
        self.path = Path(path)
        self.layout = NpyLayout.read(self.path)
        self.shape = self.layout.shape
        self.file_ids = np.asarray([str(f) for f in file_ids], dtype=object)
        if len(self.file_ids) != self.shape[0]:
            raise ValueError(
                f"{self.path}: {self.shape[0]} rows of log-mel for {len(self.file_ids)} file ids"
            )
        self._row_bytes = self.shape[1] * self.shape[2] * 4
        self._fd: int | None = None
        self._pid: int | None = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fd"], state["_pid"] = None, None
        return state

    def __del__(self):
        self.close()

    def close(self) -> None:
        if getattr(self, "_fd", None) is not None and self._pid == os.getpid():
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDONLY)
            self._pid = os.getpid()
        return self._fd

    def _read_into(self, out: np.ndarray, first_row: int) -> None:
        """Fill ``out`` (consecutive rows from ``first_row``) with one or more reads."""
        view = memoryview(out.reshape(-1).view(np.uint8))
        offset = self.layout.offset + first_row * self._row_bytes
        fd = self._descriptor()
        done = 0
        while done < len(view):
            count = os.preadv(fd, [view[done:]], offset + done)
            if count <= 0:
                raise OSError(f"{self.path}: unexpected end of file at byte {offset + done}")
            done += count

    def _read_slice(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((max(0, stop - start), *self.shape[1:]), dtype=np.float32)
        if len(out):
            self._read_into(out, start)
        return out

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows in the order asked; runs of consecutive rows are read in one call each."""
        out = np.empty((len(rows), *self.shape[1:]), dtype=np.float32)
        if not len(rows):
            return out
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        # Contiguous runs of the sorted rows (a repeated row starts a run of its own).
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
        if np.array_equal(order, np.arange(len(rows))):
            for run in np.split(np.arange(len(rows)), breaks):
                self._read_into(out[run[0] : run[-1] + 1], int(ordered[run[0]]))
            return out
        gathered = np.empty_like(out)
        for run in np.split(np.arange(len(rows)), breaks):
            self._read_into(gathered[run[0] : run[-1] + 1], int(ordered[run[0]]))
        out[order] = gathered
        return out


class RowSelection(_Source):
    """The rows ``rows`` of another source, in that order (nothing is copied until read)."""

    def __init__(self, source: _Source, rows: np.ndarray):
        self.source = source
        self.rows = np.asarray(rows, dtype=np.int64)
        self.file_ids = np.asarray(source.file_ids)[self.rows]
        self.shape = (len(self.rows), source.n_frames, source.n_mels)

    def _read_slice(self, start: int, stop: int) -> np.ndarray:
        return self.source[self.rows[start:stop]]

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.source[self.rows[rows]]


def select_rows(source: _Source, rows: np.ndarray) -> _Source:
    """``source`` itself when ``rows`` is every row in order, else a :class:`RowSelection`."""
    rows = np.asarray(rows, dtype=np.int64)
    if np.array_equal(rows, np.arange(len(source))):
        return source
    return RowSelection(source, rows)


@dataclass(frozen=True)
class LogMelBlocks:
    """A log-mel table produced block by block, e.g. while the extraction runs.

    ``blocks()`` yields ``(first_row, (rows, n_frames, n_mels) float32)`` in row order; it is
    called once by whoever consumes the table (``LogMelDataset.save`` writes each block as it
    comes, so the whole table is never in memory).
    """

    file_ids: Sequence[str]
    n_frames: int
    n_mels: int
    blocks: Callable[[], Iterator[tuple[int, np.ndarray]]] = field(repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.file_ids), int(self.n_frames), int(self.n_mels))

    def __len__(self) -> int:
        return len(self.file_ids)

    def materialise(self) -> LogMelArray:
        """The whole table in memory (for in-memory catalogs and small data)."""
        values = np.empty(self.shape, dtype=np.float32)
        for start, block in self.blocks():
            values[start : start + len(block)] = block
        return LogMelArray(self.file_ids, values)


def log_mel_source(log_mel, n_mels: int | None = None) -> _Source:
    """Any log-mel table the project passes around as a source with the interface above.

    ``log_mel``: a :class:`LogMelStore` or :class:`LogMelArray` (returned as they are), a
    :class:`LogMelBlocks` (materialised), or a ``file_id``/``log_mel`` DataFrame as
    ``feature_table.array_to_frame`` makes it (``n_mels`` splits its flat rows).
    """
    if isinstance(log_mel, _Source):
        return log_mel
    if isinstance(log_mel, LogMelBlocks):
        return log_mel.materialise()
    import pandas as pd

    if isinstance(log_mel, pd.DataFrame):
        from subcluster_adacos_asd.feature_table import frame_to_array

        if n_mels is None:
            shape = log_mel.attrs.get("shape")
            if not shape:
                raise ValueError("n_mels is needed to split a log_mel DataFrame's flat rows")
            n_mels = int(shape[-1])
        return LogMelArray(log_mel["file_id"].astype(str).to_numpy(),
                           frame_to_array(log_mel, n_mels))
    raise TypeError(f"Not a log-mel table: {type(log_mel).__name__}")


class StandardisedFeatures:
    """The standardised log-mel of ``rows`` of a source, gathered and standardised per read.

    Array-like for what training and embedding need (``shape``, ``ndim``, ``len()``,
    indexing by a slice or an array of positions): ``view[i]`` is
    ``(source[rows[i]] - mean) / std`` in float32, computed as ``standardised_features``
    computes the whole array, so both give identical values. ``rows`` (default: every row)
    selects and orders the rows without copying anything.
    """

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, source: _Source, mean: np.ndarray, std: np.ndarray,
                 rows: np.ndarray | None = None):
        self.source = source
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        if self.mean.shape != (source.n_mels,) or self.std.shape != (source.n_mels,):
            raise ValueError(f"statistics of {self.mean.shape[0]} mel bins for log-mel of "
                             f"{source.n_mels}")
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        if self.rows is not None and np.array_equal(self.rows, np.arange(len(source))):
            self.rows = None
        n = len(source) if self.rows is None else len(self.rows)
        self.shape = (n, source.n_frames, source.n_mels)

    def __len__(self) -> int:
        return self.shape[0]

    def standardise(self, raw: np.ndarray) -> np.ndarray:
        """In place on a fresh raw float32 array: the same operations as the whole-array path."""
        raw -= self.mean
        raw /= self.std
        return raw

    def __getitem__(self, index) -> np.ndarray:
        if self.rows is None:
            return self.standardise(self.source[index])
        positions = _row_indices(index, len(self))
        return self.standardise(self.source[self.rows[positions]])

    def __array__(self, dtype=None, copy=None):
        values = self[0 : len(self)]
        return values if dtype is None else values.astype(dtype, copy=False)


class ConcatenatedFeatures:
    """Standardised views stacked one after the other, as one array-like (rows of the first,
    then of the second, ...): what training reads when auxiliary clips join the user's.

    Indexing gathers each part's rows from that part alone and puts them back in the order
    asked for, so ``view[rows]`` equals ``np.concatenate(parts)[rows]`` without ever holding
    the parts together.
    """

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, parts: Sequence[Any]):
        parts = [part for part in parts if len(part)]
        if not parts:
            raise ValueError("ConcatenatedFeatures needs at least one non-empty part")
        shapes = {tuple(part.shape[1:]) for part in parts}
        if len(shapes) != 1:
            raise ValueError(f"parts of different clip shapes {sorted(shapes)}: every part "
                             "needs the same features settings (n_frames, n_mels)")
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(part) for part in parts])
        self.shape = (int(self.offsets[-1]), *shapes.pop())

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        rows = _row_indices(index, len(self))
        if isinstance(rows, (int, np.integer)):
            return self[np.array([rows])][0]
        if isinstance(rows, slice):
            rows = np.arange(rows.start, rows.stop, dtype=np.int64)
        values = np.empty((len(rows), *self.shape[1:]), dtype=np.float32)
        part_of = np.searchsorted(self.offsets, rows, side="right") - 1
        for number, part in enumerate(self.parts):
            chosen = np.flatnonzero(part_of == number)
            if len(chosen):
                values[chosen] = part[rows[chosen] - self.offsets[number]]
        return values

    def __array__(self, dtype=None, copy=None):
        values = self[0 : len(self)]
        return values if dtype is None else values.astype(dtype, copy=False)
