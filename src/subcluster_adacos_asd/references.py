"""Non-learned reference scorers: does deep learning pay on this data?

Three detectors with no training beyond storing (or averaging) the normal training clips of a
section, run beside the baselines so a user sees what the learned systems add:

* ``knn_statistics``: each clip as the per-mel-bin temporal mean and standard deviation of its
  log-mel (2 x 128 values), standardised per section by the training clips' spread; the score is
  the Euclidean distance to the nearest normal training clip of the section (source and target).
* ``knn_frames``: every frame of a clip against the frames of the section's normal training
  clips (standardised log-mel, every ``frame_step``-th training frame); the score is the mean
  over the clip's frames of the distance to the nearest training frame.
* ``gaussian_statistics``: a Gaussian (Ledoit-Wolf covariance) on the temporal mean log-mel of
  the section's normal training clips; the score is the Mahalanobis distance. The strongest of
  the three on the synthetic data (docs/quality.md).

A training clip's own score leaves that clip out (it would be at distance 0 from itself), so the
decision thresholds, the 90th percentile of the normal training clips' scores of each section
and domain as in the paper (2.6), describe how a new normal clip scores.

No Kedro here: the ``baselines`` pipeline's nodes call :func:`reference_scores`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.covariance import LedoitWolf
from threadpoolctl import threadpool_limits

from subcluster_adacos_asd.calibration import CalibrationSettings, section_thresholds
from subcluster_adacos_asd.settings_base import Settings

SYSTEMS = ("knn_statistics", "knn_frames", "gaussian_statistics")
#: Bounds the (query frames x training frames) distance matrix of one block (float32 values).
BLOCK_VALUES = 32 * 2**20


@dataclass(frozen=True)
class ReferenceSettings(Settings):
    """``params:baselines.references``: which reference systems run, and their sizes."""

    systems: tuple[str, ...] = SYSTEMS
    frame_step: int = 2
    threshold_percentile: float = 90.0

    def __post_init__(self):
        unknown = [s for s in self.systems if s not in SYSTEMS]
        if unknown:
            raise ValueError(f"Unknown reference systems {unknown}; known: {list(SYSTEMS)}")
        if self.frame_step < 1:
            raise ValueError(f"frame_step must be >= 1, got {self.frame_step}")


def clip_statistics(log_mel: np.ndarray) -> np.ndarray:
    """(files, 2 * mels): each mel bin's temporal mean, then its temporal standard deviation."""
    return np.concatenate([log_mel.mean(axis=1), log_mel.std(axis=1)], axis=1).astype(np.float64)


def standardise(train: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` standardised per dimension by the mean and std of ``train`` (a constant
    dimension keeps its scale)."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    return (values - mean) / np.where(std > 0, std, 1.0)


def nearest_distances(train: np.ndarray, queries: np.ndarray, exclude: np.ndarray | None = None
                      ) -> np.ndarray:
    """Euclidean distance of each query row to its nearest ``train`` row; ``exclude[i]`` (an
    index into ``train``, or -1) is left out for query i: a training clip's own row."""
    squared = (
        np.sum(queries**2, axis=1)[:, None] + np.sum(train**2, axis=1)[None, :]
        - 2.0 * queries @ train.T
    )
    if exclude is not None:
        rows = np.flatnonzero(exclude >= 0)
        squared[rows, exclude[rows]] = np.inf
    return np.sqrt(np.maximum(squared.min(axis=1), 0.0))


def knn_statistics_scores(train: np.ndarray, queries: np.ndarray, own: np.ndarray) -> np.ndarray:
    """``knn_statistics`` of (files, frames, mels) log-mel ``queries`` against ``train``."""
    train_stats = clip_statistics(train)
    return nearest_distances(standardise(train_stats, train_stats),
                             standardise(train_stats, clip_statistics(queries)), own)


def knn_frames_scores(train: np.ndarray, queries: np.ndarray, own: np.ndarray, frame_step: int
                      ) -> np.ndarray:
    """``knn_frames``: mean over each query clip's frames of the distance to the nearest frame
    of the other training clips (every ``frame_step``-th frame), on standardised log-mel."""
    kept = train[:, ::frame_step]
    per_clip = kept.shape[1]
    frames = kept.reshape(-1, train.shape[2]).astype(np.float64)
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    reference = ((frames - mean) / std).astype(np.float32)
    squares = np.sum(reference**2, axis=1)
    length = queries.shape[1]
    per_block = max(1, BLOCK_VALUES // (length * len(reference)))
    scores = np.empty(len(queries))
    for start in range(0, len(queries), per_block):
        block = queries[start : start + per_block]
        q = ((block.reshape(-1, block.shape[2]) - mean) / std).astype(np.float32)
        squared = np.sum(q**2, axis=1)[:, None] + squares[None, :] - 2.0 * q @ reference.T
        for k, clip in enumerate(own[start : start + len(block)]):
            if clip >= 0:  # a training clip: leave its own frames out
                squared[k * length : (k + 1) * length,
                        clip * per_clip : (clip + 1) * per_clip] = np.inf
        nearest = np.sqrt(np.maximum(squared.min(axis=1), 0.0)).reshape(len(block), length)
        scores[start : start + len(block)] = nearest.mean(axis=1)
    return scores


def gaussian_statistics_scores(train: np.ndarray, queries: np.ndarray, own: np.ndarray
                               ) -> np.ndarray:
    """``gaussian_statistics``: Mahalanobis distance of each clip's temporal mean log-mel under
    a Ledoit-Wolf Gaussian of the training clips' means (refitted without a training clip for
    its own score)."""
    means, query_means = train.mean(axis=1), queries.mean(axis=1)
    scores = np.sqrt(LedoitWolf().fit(means).mahalanobis(query_means))
    for i in np.flatnonzero(own >= 0):
        others = np.delete(means, own[i], axis=0)
        scores[i] = np.sqrt(LedoitWolf().fit(others).mahalanobis(query_means[i : i + 1])[0])
    return scores


SCORERS = {
    "knn_statistics": lambda train, queries, own, settings: knn_statistics_scores(
        train, queries, own),
    "knn_frames": lambda train, queries, own, settings: knn_frames_scores(
        train, queries, own, settings.frame_step),
    "gaussian_statistics": lambda train, queries, own, settings: gaussian_statistics_scores(
        train, queries, own),
}


def reference_scores(
    file_index: pd.DataFrame, log_mel: np.ndarray, settings: ReferenceSettings,
    systems: Sequence[str] | None = None, calibration: CalibrationSettings | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and decisions of every reference system for every file of ``file_index``
    (``log_mel`` in its row order, raw dB), and the thresholds: the percentile of the
    leave-one-out training scores per section and domain, the target domain's by
    ``calibration.target`` and the quantile by ``calibration.distribution`` (calibration.py).

    Returns (``file_id, system, score, decision``; ``system, machine_type, section, domain,
    threshold``). Every section with normal training clips is scored against them.
    """
    systems = list(settings.systems if systems is None else systems)
    normal_train = ((file_index["split"] == "train") & (file_index["label"] == "normal")).to_numpy()
    parts, thresholds = [], []
    with threadpool_limits(limits=1):
        for section_class, positions in file_index.groupby("section_class", sort=True).indices.items():
            train_rows = positions[normal_train[positions]]
            if len(train_rows) < 2:
                continue
            own = np.full(len(positions), -1)
            own[normal_train[positions]] = np.arange(len(train_rows))
            for system in systems:
                score = SCORERS[system](log_mel[train_rows], log_mel[positions], own, settings)
                rows = file_index.iloc[positions]
                decided, table = _decide(rows, score, normal_train[positions],
                                         settings.threshold_percentile, calibration)
                parts.append(pd.DataFrame({"file_id": rows["file_id"].to_numpy(),
                                           "system": system, "score": score,
                                           "decision": decided}))
                thresholds.append(table.assign(system=system))
    columns = ["file_id", "system", "score", "decision"]
    scores = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    # file-index order within each system, systems in the order asked for
    position = scores["file_id"].map({f: i for i, f in enumerate(file_index["file_id"])})
    rank = scores["system"].map({s: i for i, s in enumerate(systems)})
    scores = scores.assign(_r=rank, _p=position).sort_values(["_r", "_p"], kind="stable")
    scores = scores[columns].reset_index(drop=True)
    scores["decision"] = scores["decision"].astype("Int64")
    columns = ["system", "machine_type", "section", "domain", "threshold"]
    table = pd.concat(thresholds, ignore_index=True)[columns] if thresholds else pd.DataFrame(
        columns=columns)
    return scores, table


def _decide(rows: pd.DataFrame, score: np.ndarray, training: np.ndarray, percentile: float,
            calibration: CalibrationSettings | None = None):
    """Decisions of one section's clips against its thresholds (calibration.section_thresholds
    of the leave-one-out training scores of each domain)."""
    calibration = calibration or CalibrationSettings()
    decision = pd.array([pd.NA] * len(rows), dtype="Int64")
    domains = rows["domain"].to_numpy()
    by_domain = section_thresholds(
        score[(domains == "source") & training], score[(domains == "target") & training],
        percentile, calibration.target, calibration.distribution)
    records = []
    for domain, threshold in by_domain.items():
        in_domain = domains == domain
        decision[in_domain] = (score[in_domain] > threshold).astype(int)
        records.append({"machine_type": rows["machine_type"].iloc[0],
                        "section": int(rows["section"].iloc[0]), "domain": domain,
                        "threshold": threshold})
    return decision, pd.DataFrame(records)
