"""Fixed-size arrays per file <-> a Parquet-friendly DataFrame, without a Python loop per file.

Log-mel spectrograms (files x frames x mels) are stored as one row per file with a
``fixed_size_list<float32>`` column; reading back flattens the Arrow buffer once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa


def array_to_frame(file_ids, values: np.ndarray, column: str = "log_mel") -> pd.DataFrame:
    """DataFrame with ``file_id`` and one fixed-size list column holding ``values[i].ravel()``.

    The per-file shape is kept in ``DataFrame.attrs`` for in-memory use and can always be
    recovered from the list length and the known number of mel bins.
    """
    values = np.ascontiguousarray(values, dtype=np.float32)
    n = values.shape[0]
    width = int(np.prod(values.shape[1:])) if values.ndim > 1 else 1
    flat = pa.array(values.reshape(-1))
    table = pa.table(
        {
            "file_id": pa.array(list(file_ids), type=pa.string()),
            column: pa.FixedSizeListArray.from_arrays(flat, width),
        }
    )
    if table.num_rows != n:
        raise ValueError(f"{len(file_ids)} file ids for {n} arrays")
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    frame.attrs["shape"] = list(values.shape[1:])
    return frame


def frame_to_array(frame: pd.DataFrame, n_mels: int, column: str = "log_mel") -> np.ndarray:
    """The (files, frames, n_mels) float32 array of a frame made by :func:`array_to_frame`.

    Works for frames read back from Parquet with ``dtype_backend: pyarrow`` (one flatten of the
    Arrow list buffer) and, more slowly, for object columns of per-file arrays.
    """
    series = frame[column]
    if isinstance(series.dtype, pd.ArrowDtype):
        flat = series.list.flatten().to_numpy(dtype=np.float32)
    else:
        flat = np.concatenate([np.asarray(v, dtype=np.float32).ravel() for v in series])
    n = len(frame)
    if n == 0:
        return np.zeros((0, 0, n_mels), dtype=np.float32)
    if flat.size % (n * n_mels):
        raise ValueError(f"Column {column!r} of {n} rows does not split into {n_mels} mel bins")
    return flat.reshape(n, -1, n_mels)
