"""The feature tables: fixed-size arrays per file <-> Parquet-friendly frames, standardisation.

Log-mel spectrograms (files x frames x mels) are stored as one row per file with a
``fixed_size_list<float32>`` column. The pipelines get the stored table as a source read piece
by piece (:mod:`feature_store`); small in-memory tables (inference, tests) are DataFrames.
Training and embedding read through :func:`standardised_view`, inference standardises its few
files at once with :func:`standardised_features`; both find a file's row through
:func:`feature_rows`; the temporal maxima of eq. 4 are one table function for the features
pipeline and inference alike (:func:`tmax_table`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from subcluster_adacos_asd.feature_store import StandardisedFeatures, log_mel_source


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
    Arrow list buffer) and, more slowly, for object columns of per-file arrays; the stored
    table as the catalog loads it (a ``feature_store`` source) gives its whole array.
    """
    if not isinstance(frame, pd.DataFrame):
        return np.asarray(log_mel_source(frame, n_mels))
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


def standardised_features(log_mel: pd.DataFrame, feature_stats: pd.DataFrame) -> np.ndarray:
    """The (files, frames, mels) float32 array of ``log_mel``, standardised per mel bin.

    The number of mel bins is that of ``feature_stats``. The array is standardised in place
    when ``frame_to_array`` returned a fresh (writable) array, otherwise into one new array, so
    at most one copy of the data set is made here.
    """
    mean, std = (values.astype(np.float32) for values in statistics_arrays(feature_stats))
    n_mels = len(mean)
    if not np.all(np.isfinite(std)) or np.any(std <= 0):
        raise ValueError("feature_stats has non-positive or non-finite std values")
    features = frame_to_array(log_mel, n_mels)
    if features.flags.writeable:
        # A fresh array (Arrow buffers converted without copying come back read-only).
        features -= mean
        features /= std
        return features
    standardised = np.subtract(features, mean, dtype=np.float32)
    standardised /= std
    return standardised


def standardised_view(log_mel, feature_stats: pd.DataFrame, rows: np.ndarray | None = None
                      ) -> StandardisedFeatures:
    """The standardised log-mel of ``rows`` (default: all) of any log-mel table, as a view that
    reads and standardises only the rows asked for (:class:`StandardisedFeatures`).

    What training and embedding read: with the stored table (``LogMelDataset``) the data set is
    never in memory whole; the values equal :func:`standardised_features`' bit for bit.
    """
    mean, std = statistics_arrays(feature_stats)
    if not np.all(np.isfinite(std)) or np.any(std <= 0):
        raise ValueError("feature_stats has non-positive or non-finite std values")
    source = log_mel_source(log_mel, len(mean))
    if source.n_mels != len(mean):
        raise ValueError(f"feature_stats has {len(mean)} mel bins, log_mel {source.n_mels}")
    return StandardisedFeatures(source, mean.astype(np.float32), std.astype(np.float32), rows)


def log_mel_file_ids(log_mel) -> np.ndarray:
    """The ``file_id`` of each row of a log-mel table (a DataFrame or a feature_store source)."""
    if isinstance(log_mel, pd.DataFrame):
        return log_mel["file_id"].astype(str).to_numpy()
    return np.asarray(log_mel.file_ids, dtype=object).astype(str)


def feature_rows(file_index: pd.DataFrame, log_mel) -> np.ndarray:
    """For each file_index row, its row in ``log_mel`` (the contract keeps the same order)."""
    log_mel_ids = pd.Index(log_mel_file_ids(log_mel))
    if not log_mel_ids.is_unique:
        raise ValueError("log_mel has duplicate file_id values")
    positions = log_mel_ids.get_indexer(file_index["file_id"].astype(str))
    missing = file_index["file_id"][positions < 0]
    if len(missing):
        raise ValueError(
            f"{len(missing)} files of file_index have no log_mel row, e.g. {missing.iloc[0]}"
        )
    return positions


def tmax_table(log_mel, feature_stats: pd.DataFrame) -> pd.DataFrame:
    """``file_id``, ``tmax_000`` ..: each file's temporal maximum of the standardised log-mel
    (the valve term, eq. 4), from the raw log-mel table and the training statistics."""
    from subcluster_adacos_asd.contracts import TMAX_PREFIX, numbered_columns
    from subcluster_adacos_asd.log_mel import iter_feature_blocks, temporal_maxima

    mean, std = statistics_arrays(feature_stats)
    maxima = temporal_maxima(iter_feature_blocks(log_mel, len(mean)), len(log_mel), mean, std)
    table = pd.DataFrame(maxima, columns=numbered_columns(TMAX_PREFIX, len(mean)))
    table.insert(0, "file_id", log_mel_file_ids(log_mel))
    return table


def statistics_arrays(feature_stats: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The per-mel-bin mean and std (float64) of a ``feature_stats`` table, in bin order."""
    stats = feature_stats.sort_values("mel")
    n_mels = len(stats)
    if n_mels == 0 or not np.array_equal(stats["mel"].to_numpy(), np.arange(n_mels)):
        raise ValueError(f"feature_stats must have one row per mel bin 0..n-1, got {n_mels} rows")
    return stats["mean"].to_numpy(np.float64), stats["std"].to_numpy(np.float64)
