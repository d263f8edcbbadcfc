"""Nodes of the `features` pipeline: thin wrappers over dcase_names and log_mel.

``raw_audio`` arrives as ``{partition_key: load}`` (a PartitionedDataset); nothing is loaded
before ``extract_log_mel``, which returns the file index together with the log-mel to be
extracted (run by worker processes while ``log_mel`` is saved): Kedro saves ``log_mel`` first,
so a failed extraction never leaves a new ``file_index`` that the features do not match.
``log_mel`` reaches the later nodes as a table read piece by piece (``feature_store``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd

from subcluster_adacos_asd.dcase_names import check_training_coverage, index_files
from subcluster_adacos_asd.feature_store import LogMelBlocks
from subcluster_adacos_asd.feature_table import log_mel_file_ids, tmax_table
from subcluster_adacos_asd.log_mel import (
    LogMelSettings,
    iter_feature_blocks,
    iter_log_mel_chunks,
    standardisation_statistics,
)


def _partition_path(load: Callable) -> str:
    """Absolute path of a partition, read from the dataset its bound ``load`` belongs to."""
    dataset = getattr(load, "__self__", None)
    path = getattr(dataset, "filepath", None) or getattr(dataset, "_filepath", None)
    if not path:
        return ""
    path = str(path)
    return path if "://" in path else os.path.abspath(path)


def build_file_index(raw_audio: dict[str, Callable], parameters: dict) -> pd.DataFrame:
    """One row per WAV of ``raw_audio`` with what its name says (docs/data_contracts.md).

    Stops at a section with test files but no training files (naming a file of it) before any
    audio is read, rather than at the ``score`` pipeline.
    """
    paths = {file_id: _partition_path(load) for file_id, load in raw_audio.items()}
    index = index_files(paths, parameters.get("invalid_file_names", "error"))
    check_training_coverage(index)
    return index


def extract_log_mel(
    raw_audio: dict[str, Callable], audio_files: pd.DataFrame, parameters: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(log_mel, file_index)``: the raw log-mel (dB) of every indexed file, in index order, on
    all cores, and the index itself, which becomes ``file_index`` only with its features.

    The log-mel is returned as :class:`LogMelBlocks`: the extraction runs while ``log_mel`` is
    saved (``LogMelDataset`` writes each chunk as it arrives), so the features of the whole data
    set are never in memory. Kedro saves ``log_mel`` before ``file_index``: an extraction that
    fails leaves both as they were.
    """
    settings = LogMelSettings.from_parameters(parameters)
    file_ids = audio_files["file_id"].tolist()
    missing = [f for f in file_ids if f not in raw_audio]
    if missing:
        raise KeyError(
            f"{len(missing)} indexed files are not in raw_audio, e.g. {missing[:3]}"
        )
    names = audio_files["path"].where(audio_files["path"] != "", audio_files["file_id"]).tolist()
    items = [(name, raw_audio[file_id]) for name, file_id in zip(names, file_ids)]
    n_jobs, chunk_size = int(parameters.get("n_jobs", -1)), int(parameters.get("chunk_size", 64))
    log_mel = LogMelBlocks(
        file_ids, settings.n_frames, settings.n_mels,
        partial(iter_log_mel_chunks, items, settings, n_jobs, chunk_size),
    )
    return log_mel, audio_files


def _training_mask(log_mel, file_index: pd.DataFrame) -> np.ndarray:
    split = file_index.set_index("file_id")["split"]
    aligned = split.reindex(log_mel_file_ids(log_mel))
    if aligned.isna().any():
        unknown = aligned.index[aligned.isna()][:3].tolist()
        raise KeyError(f"log_mel has files that file_index lacks, e.g. {unknown}")
    return (aligned == "train").to_numpy()


def compute_feature_stats(
    log_mel, file_index: pd.DataFrame, parameters: dict
) -> pd.DataFrame:
    """Per-mel-bin mean and std over all frames of the training files (split == train) only."""
    n_mels = int(parameters["n_mels"])
    mean, std = standardisation_statistics(
        lambda: iter_feature_blocks(log_mel, n_mels), _training_mask(log_mel, file_index)
    )
    return pd.DataFrame({"mel": np.arange(n_mels, dtype=np.int64), "mean": mean, "std": std})


def compute_tmax_features(
    log_mel, feature_stats: pd.DataFrame, parameters: dict
) -> pd.DataFrame:
    """Temporal maximum of the standardised log-mel of every file (the valve term, eq. 4)."""
    n_mels = int(parameters["n_mels"])
    if len(feature_stats) != n_mels:
        raise ValueError(f"feature_stats has {len(feature_stats)} mel bins, parameters say {n_mels}")
    return tmax_table(log_mel, feature_stats)
