"""``LogMelDataset``: the log-mel table as Parquet, read through a derived ``.npy`` cache.

The catalog format stays Parquet (``file_id``, ``log_mel`` as a ``fixed_size_list<float32>``
of frames x mels, docs/data_contracts.md), so any Parquet reader gets the table. Loading
returns a :class:`~subcluster_adacos_asd.feature_store.LogMelStore` instead of a DataFrame:
the raw values in a plain ``.npy`` file next to the table (``<name>.cache/values.npy``),
read piece by piece, so that no stage holds the whole table (about 9 GB on DCASE 2021).

* Saving streams: the data is written block by block into both the Parquet file (row groups
  of ``row_group_size`` files) and the cache, so the table is never in memory whole. The data
  can be a :class:`~subcluster_adacos_asd.feature_store.LogMelBlocks` (the extraction, run as
  it is written), any log-mel source, or a ``file_id``/``log_mel`` DataFrame.
* Both files are written under temporary names and renamed into place (``atomic_write``): an
  interrupted save leaves the previous table and cache as they were.
* The cache records the size and modification time of the Parquet file it was made from;
  a load that finds it missing or made from another file (a table copied in by hand, or one
  written by an older version of the project) rebuilds it from the Parquet row groups first.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import get_protocol_and_path

from subcluster_adacos_asd.datasets.atomic import atomic_write
from subcluster_adacos_asd.feature_store import (
    BLOCK_ROWS,
    LogMelBlocks,
    LogMelStore,
    log_mel_source,
)
from subcluster_adacos_asd.log_mel import AudioError

logger = logging.getLogger(__name__)

#: Parquet schema metadata key with the per-file ``[frames, mels]`` shape.
SHAPE_KEY = b"subcluster_adacos_asd.log_mel_shape"
VALUES_NAME = "values.npy"
SOURCE_NAME = "source.json"


def _parquet_stamp(path: Path) -> dict:
    stat = path.stat()
    return {"parquet_bytes": int(stat.st_size), "parquet_mtime_ns": int(stat.st_mtime_ns)}


def _npy_header(handle, shape: tuple[int, int, int]) -> None:
    np.lib.format.write_array_header_1_0(
        handle, {"descr": "<f4", "fortran_order": False, "shape": tuple(int(n) for n in shape)}
    )


class LogMelDataset(AbstractDataset[Any, LogMelStore]):
    """The ``log_mel`` table: Parquet on disk, a piece-wise readable cache beside it.

    ``filepath``: the Parquet file. ``cache_folder``: where the ``.npy`` cache lives (default:
    the Parquet path with ``.cache`` for its suffix). ``row_group_size``: files per Parquet row
    group. ``n_mels``: the mel bins of a table whose Parquet metadata does not say (written
    before the shape was recorded, or by another tool); tables written here record it.
    """

    def __init__(
        self,
        filepath: str,
        cache_folder: str | None = None,
        row_group_size: int = BLOCK_ROWS,
        n_mels: int = 128,
        metadata: dict | None = None,
    ):
        protocol, path = get_protocol_and_path(filepath)
        if protocol != "file":
            raise ValueError(f"LogMelDataset supports local paths only, got {filepath}")
        self._filepath = Path(path)
        self._cache = Path(cache_folder) if cache_folder else self._filepath.with_suffix(".cache")
        self._row_group_size = int(row_group_size)
        self._n_mels = int(n_mels)
        self.metadata = metadata

    # --- saving -------------------------------------------------------------------------------

    def save(self, data: Any) -> None:
        if isinstance(data, LogMelBlocks):
            file_ids, shape, blocks = list(data.file_ids), data.shape, data.blocks()
        else:
            shape = getattr(data, "attrs", {}).get("shape") if hasattr(data, "columns") else None
            source = log_mel_source(data, int(shape[-1]) if shape else self._n_mels)
            file_ids, shape = list(source.file_ids), source.shape
            blocks = source.blocks(self._row_group_size)
        try:
            self._write(file_ids, shape, blocks)
        except AudioError as exc:
            raise ExtractionAudioError(str(exc)) from None

    def _write(self, file_ids: list[str], shape: tuple[int, int, int], blocks) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        n_files, n_frames, n_mels = shape
        width = n_frames * n_mels
        schema = pa.schema(
            [("file_id", pa.string()), ("log_mel", pa.list_(pa.float32(), width))],
            metadata={SHAPE_KEY: json.dumps([n_frames, n_mels]).encode()},
        )
        with atomic_write(self._filepath) as parquet, atomic_write(self._cache) as cache:
            cache.mkdir()
            written = 0
            with pq.ParquetWriter(parquet, schema, use_dictionary=False) as writer, open(
                    cache / VALUES_NAME, "wb") as values:
                _npy_header(values, shape)
                pending: list[np.ndarray] = []
                pending_rows = 0

                def write_rows(block: np.ndarray) -> None:
                    nonlocal written
                    ids = file_ids[written : written + len(block)]
                    flat = pa.array(np.ascontiguousarray(block).reshape(-1))
                    writer.write_table(pa.Table.from_arrays(
                        [pa.array(ids, pa.string()), pa.FixedSizeListArray.from_arrays(flat, width)],
                        schema=schema), row_group_size=self._row_group_size)
                    written += len(block)

                for start, block in blocks:
                    block = np.asarray(block, dtype=np.float32)
                    if block.shape[1:] != (n_frames, n_mels):
                        raise ValueError(f"a log-mel block of shape {block.shape[1:]}, expected "
                                         f"({n_frames}, {n_mels})")
                    if start != written + pending_rows:
                        raise ValueError(f"log-mel blocks out of order: row {start} after "
                                         f"{written + pending_rows}")
                    np.ascontiguousarray(block).tofile(values)
                    pending.append(block)
                    pending_rows += len(block)
                    if pending_rows >= self._row_group_size:
                        # whole row groups now, the rest waits for the next block
                        rows = np.concatenate(pending) if len(pending) > 1 else pending[0]
                        full = len(rows) - len(rows) % self._row_group_size
                        write_rows(rows[:full])
                        pending = [rows[full:]] if full < len(rows) else []
                        pending_rows = len(rows) - full
                if pending:
                    write_rows(np.concatenate(pending))
            if written != n_files:
                raise ValueError(f"{written} log-mel rows written for {n_files} file ids")
            (cache / SOURCE_NAME).write_text(json.dumps(
                {**_parquet_stamp(parquet), "shape": list(shape)}))

    # --- loading ------------------------------------------------------------------------------

    def load(self) -> LogMelStore:
        if not self._filepath.exists():
            raise DatasetError(f"{self._filepath} does not exist: run the features pipeline")
        file_ids = self._file_ids()
        if not self._cache_is_fresh(len(file_ids)):
            self._rebuild_cache()
        return LogMelStore(self._cache / VALUES_NAME, file_ids)

    def _file_ids(self) -> list[str]:
        import pyarrow.parquet as pq

        return pq.read_table(self._filepath, columns=["file_id"]).column(0).to_pylist()

    def _cache_is_fresh(self, n_files: int) -> bool:
        try:
            source = json.loads((self._cache / SOURCE_NAME).read_text())
            values = self._cache / VALUES_NAME
            if not values.is_file():
                return False
        except (OSError, ValueError):
            return False
        stamp = _parquet_stamp(self._filepath)
        return all(source.get(k) == v for k, v in stamp.items()) and (
            source.get("shape", [None])[0] == n_files)

    def _parquet_shape(self, parquet_file) -> tuple[int, int, int]:
        n_files = parquet_file.metadata.num_rows
        schema = parquet_file.schema_arrow
        recorded = (schema.metadata or {}).get(SHAPE_KEY)
        if recorded:
            n_frames, n_mels = json.loads(recorded)
            return n_files, int(n_frames), int(n_mels)
        width = schema.field("log_mel").type.list_size
        if width <= 0 or width % self._n_mels:
            raise DatasetError(
                f"{self._filepath}: log_mel rows of {width} values do not split into "
                f"{self._n_mels} mel bins; set the dataset's n_mels or rerun the features pipeline"
            )
        return n_files, width // self._n_mels, self._n_mels

    def _rebuild_cache(self) -> None:
        """The cache from the Parquet row groups, one row group in memory at a time."""
        import pyarrow.parquet as pq

        parquet_file = pq.ParquetFile(self._filepath)
        shape = self._parquet_shape(parquet_file)
        logger.info("Building the log-mel cache %s from %s (%d files)", self._cache,
                    self._filepath, shape[0])
        stamp = _parquet_stamp(self._filepath)
        with atomic_write(self._cache) as cache:
            cache.mkdir()
            rows = 0
            with open(cache / VALUES_NAME, "wb") as values:
                _npy_header(values, shape)
                for batch in parquet_file.iter_batches(columns=["log_mel"]):
                    flat = batch.column(0).flatten().to_numpy(zero_copy_only=False)
                    flat.astype(np.float32, copy=False).tofile(values)
                    rows += batch.num_rows
            if rows != shape[0]:
                raise DatasetError(f"{self._filepath}: read {rows} rows of {shape[0]}")
            (cache / SOURCE_NAME).write_text(json.dumps({**stamp, "shape": list(shape)}))

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(PurePosixPath(self._filepath)), "cache_folder": str(self._cache),
                "row_group_size": self._row_group_size}



class ExtractionAudioError(AudioError, DatasetError):
    """A recording that failed while its log-mel was extracted during the save: still an
    :class:`AudioError` naming the file (Kedro would otherwise wrap it in a ``DatasetError``
    whose first line names only the dataset)."""
