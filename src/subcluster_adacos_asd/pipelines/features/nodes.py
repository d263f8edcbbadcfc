"""Nodes of the `features` pipeline: thin wrappers over dcase_names, manifest, attribute_classes,
levels, auxiliary and log_mel.

``raw_audio`` arrives as ``{partition_key: load}`` (a PartitionedDataset); nothing is loaded
before ``extract_log_mel``, which returns the file index together with the log-mel to be
extracted (run by worker processes while ``log_mel`` is saved): Kedro saves ``log_mel`` first,
so a failed extraction never leaves a new ``file_index`` that the features do not match.
``log_mel`` reaches the later nodes as a table read piece by piece (``feature_store``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd

from subcluster_adacos_asd import levels
from subcluster_adacos_asd.attribute_classes import assign_attribute_classes
from subcluster_adacos_asd.auxiliary import AuxiliarySettings, auxiliary_clips
from subcluster_adacos_asd.dcase_names import check_training_coverage, index_files
from subcluster_adacos_asd.feature_store import LogMelBlocks
from subcluster_adacos_asd.feature_table import log_mel_file_ids, tmax_table
from subcluster_adacos_asd.log_mel import (
    LogMelSettings,
    iter_feature_blocks,
    iter_log_mel_chunks,
    standardisation_statistics,
)
from subcluster_adacos_asd.manifest import IndexSettings, folder_file_index, manifest_file_index

logger = logging.getLogger(__name__)


def _partition_path(load: Callable) -> str:
    """Absolute path of a partition, read from the dataset its bound ``load`` belongs to."""
    dataset = getattr(load, "__self__", None)
    path = getattr(dataset, "filepath", None) or getattr(dataset, "_filepath", None)
    if not path:
        return ""
    path = str(path)
    return path if "://" in path else os.path.abspath(path)


def build_file_index(
    raw_audio: dict[str, Callable], recordings_manifest: pd.DataFrame | None, parameters: dict
) -> pd.DataFrame:
    """One row per recording of ``raw_audio`` with what it is (docs/data_contracts.md).

    What a recording is comes from the manifest where the environment configures one
    (``recordings_manifest``), else from the folders (``features.layout: folders``), else from
    the DCASE file names. Files without attributes and attribute classes too small for their
    GMM are resolved here, with a warning each (attribute_classes.py). Stops at a section with
    test files but no training files (naming a file of it) before any audio is read, rather
    than at the ``score`` pipeline.
    """
    settings = IndexSettings.from_feature_parameters(parameters)
    paths = {file_id: _partition_path(load) for file_id, load in raw_audio.items()}
    if recordings_manifest is not None:
        logger.info("File index from the manifest %s (%d rows)",
                    recordings_manifest.attrs.get("source", ""), len(recordings_manifest))
        index = manifest_file_index(recordings_manifest, paths)
    elif settings.layout == "folders":
        index = folder_file_index(paths, settings.invalid_file_names)
    else:
        index = index_files(paths, settings.invalid_file_names)
    check_training_coverage(index)
    return assign_attribute_classes(index, settings.min_attribute_clips)


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
    extraction = _extraction(audio_files, raw_audio, settings, parameters)
    tolerance = IndexSettings.from_feature_parameters(parameters).level_tolerance_db
    log_mel = LogMelBlocks(
        file_ids, settings.n_frames, settings.n_mels,
        partial(_level_checked_blocks, extraction, audio_files, tolerance),
    )
    return log_mel, audio_files


def extract_auxiliary_log_mel(
    audio_files: pd.DataFrame, auxiliary_parameters: dict, synthetic_parameters: dict,
    parameters: dict,
) -> tuple[LogMelBlocks, pd.DataFrame]:
    """``(auxiliary_log_mel, auxiliary_index)``: the raw log-mel of the auxiliary clips
    (auxiliary.py: other machines whose classes only teach the network), extracted with the
    user's features settings while it is saved, and their index. Both are empty where
    ``auxiliary.source`` is none, so every run has them."""
    settings = LogMelSettings.from_parameters(parameters)
    # synthetic auxiliary clips at the user's rate and at least the user's clip length
    rendering = {**dict(synthetic_parameters or {}), "sample_rate": settings.sample_rate,
                 "duration_s": max(float((synthetic_parameters or {}).get("duration_s", 10.0)),
                                   settings.n_frames * settings.hop_length / settings.sample_rate)}
    index, loads = auxiliary_clips(AuxiliarySettings.from_parameters(auxiliary_parameters),
                                   rendering, audio_files)
    log_mel = LogMelBlocks(index["file_id"].tolist(), settings.n_frames, settings.n_mels,
                           _extraction(index, loads, settings, parameters))
    return log_mel, index


def _extraction(index: pd.DataFrame, loads: dict[str, Callable], settings: LogMelSettings,
                parameters: dict) -> Callable:
    """The chunked extraction of the log-mels of ``index``'s files, in its order, on
    ``features.n_jobs`` processes; each file named by its path where it has one, so that an
    error names the file."""
    names = index["path"].where(index["path"] != "", index["file_id"]).tolist()
    items = [(name, loads[file_id]) for name, file_id in zip(names, index["file_id"])]
    n_jobs, chunk_size = int(parameters.get("n_jobs", -1)), int(parameters.get("chunk_size", 64))
    return partial(iter_log_mel_chunks, items, settings, n_jobs, chunk_size)


def _level_checked_blocks(extraction: Callable, file_index: pd.DataFrame,
                          tolerance_db: float | None):
    """The extraction's blocks, passed on as they come, then the levels check (levels.py):
    digital silence and levels far from the training clips' raise after the last block, naming
    every such training clip, so the ``log_mel`` save that consumes the blocks is never
    completed and nothing is saved; test clips get a warning."""
    file_ids = file_index["file_id"].astype(str).tolist()
    frames = []
    for start, block in extraction():
        frames.append(levels.levels_table(file_ids[start:start + len(block)], block))
        yield start, block
    table = pd.concat(frames, ignore_index=True) if frames else levels.levels_table(
        [], np.zeros((0, 1, 1), dtype=np.float32))
    levels.check_training_recordings(file_index, table, tolerance_db)


def compute_level_reference(log_mel, file_index: pd.DataFrame, parameters: dict
                            ) -> pd.DataFrame:
    """Per machine type, section and domain, the levels of the normal training clips and the
    band a new clip's level must lie in (levels.py): ``inference`` checks new files with it.
    The log-mel is read block by block."""
    n_mels = int(parameters["n_mels"])
    file_ids = log_mel_file_ids(log_mel)
    frames = [levels.levels_table(file_ids[start:start + len(block)], block)
              for start, block in iter_feature_blocks(log_mel, n_mels)]
    table = pd.concat(frames, ignore_index=True) if frames else levels.levels_table(
        [], np.zeros((0, 1, n_mels), dtype=np.float32))
    tolerance = IndexSettings.from_feature_parameters(parameters).level_tolerance_db
    return levels.level_reference(table, file_index, tolerance)


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
