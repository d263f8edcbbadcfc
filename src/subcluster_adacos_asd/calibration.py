"""Decision thresholds that keep their false-alarm rate on recordings the system has not seen.

The paper (2.6) sets each section's and domain's threshold at the 90th percentile of the scores
of its normal training clips. Those clips are the ones the GMMs were fitted on (and the network
trained on), so their scores are lower than a new normal clip's: in-sample thresholds flag far
more than 10 % of new normal recordings (nearly all of them with small data and well-fitted
Gaussians). The share a user is promised, ``score.threshold_percentile`` = "100 - the share of
normal recordings expected to raise an alarm", holds only for scores of clips the models did
not see. This module provides such *calibration scores* and turns them into thresholds:

* **folds** (:func:`assign_folds`): every normal training clip gets one of ``folds`` folds,
  stratified by section, domain and attribute class (each fold leaves out about 1/folds of every
  class, so no class loses all its clips in one fold unless it has one clip);
* **cross-fitting** (``method: cross_fit``): the backends are fitted ``folds`` times more, each
  time without one fold, and each training clip's terms come from the fit that did not see it
  (``backends.cross_fitted_terms``). The network still saw the clip; measured on unseen data,
  that bias is small next to the GMMs' (docs/scoring.md);
* **the target domain** has 3 (DCASE 2021) or 10 normal training clips per section: no
  percentile of three values is a 90th percentile (its expected false-alarm rate is about
  30 %). ``target: own`` takes it anyway (the paper's rule); ``shifted`` borrows the shape of
  the section's source-domain calibration scores and moves it by the difference of the
  domains' medians; ``prediction`` takes the upper Student-t prediction bound of the target
  clips' calibration scores (exact for normal scores whatever their mean and spread), with the
  larger of the two domains' spreads (:func:`target_threshold`);
* **the distribution** of the calibration scores: ``empirical`` (numpy's percentile) or
  ``gamma`` (the quantile of a gamma distribution fitted to them, as the DCASE baselines do).

``method: in_sample`` with ``target: own`` and ``distribution: empirical`` is the paper's
procedure exactly (``conf/dcase2021``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from subcluster_adacos_asd.contracts import normal_training
from subcluster_adacos_asd.settings_base import Settings

logger = logging.getLogger(__name__)

METHODS = ("in_sample", "cross_fit")
TARGET_RULES = ("own", "shifted", "prediction")
DISTRIBUTIONS = ("empirical", "gamma")
THRESHOLD_KEYS = ["machine_type", "section", "domain"]
#: ``calibration_folds``: one row per normal training clip.
FOLD_COLUMNS = ["file_id", "fold"]


@dataclass(frozen=True)
class CalibrationSettings(Settings):
    """``params:score.calibration`` (module docstring): how calibration scores are obtained and
    turned into thresholds."""

    method: str = "in_sample"
    folds: int = 10
    seed: int = 0
    target: str = "own"
    distribution: str = "empirical"
    n_jobs: int = 1

    def __post_init__(self):
        if isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, int) or self.n_jobs == 0:
            raise ValueError(f"score.calibration.n_jobs must be a non-zero integer (-1: every "
                             f"core), got {self.n_jobs!r}")
        for name, value, allowed in (("method", self.method, METHODS),
                                     ("target", self.target, TARGET_RULES),
                                     ("distribution", self.distribution, DISTRIBUTIONS)):
            if value not in allowed:
                raise ValueError(f"score.calibration.{name} must be one of {allowed}, "
                                 f"got {value!r}")
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2:
            raise ValueError(f"score.calibration.folds must be an integer >= 2, got "
                             f"{self.folds!r}")

    @property
    def cross_fitted(self) -> bool:
        return self.method == "cross_fit"


# --------------------------------------------------------------------------------------------
# folds


def assign_folds(file_index: pd.DataFrame, folds: int, seed: int = 0) -> pd.DataFrame:
    """``file_id, fold``: each normal training clip's fold, ``0 .. folds - 1``.

    Stratified: within each (section, domain, attribute class) the clips are shuffled and dealt
    out in turn from a random first fold, so every fold leaves out about ``1 / folds`` of each
    class, and small classes (three target clips) spread over different folds.
    """
    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {folds}")
    rng = np.random.default_rng(seed)
    rows = file_index.loc[normal_training(file_index)]
    attribute = rows["attribute_class"].fillna("") if "attribute_class" in rows else ""
    strata = rows.assign(_attribute=attribute).groupby(
        ["section_class", "domain", "_attribute"], sort=True).indices
    fold = np.empty(len(rows), dtype=np.int64)
    for positions in strata.values():
        order = rng.permutation(len(positions))
        fold[positions[order]] = (rng.integers(folds) + np.arange(len(positions))) % folds
    return pd.DataFrame({"file_id": rows["file_id"].astype(str).to_numpy(), "fold": fold})


# --------------------------------------------------------------------------------------------
# thresholds


def quantile_of(values: np.ndarray, percentile: float, distribution: str = "empirical") -> float:
    """The ``percentile`` of calibration scores: numpy's (linear interpolation) or the quantile
    of a gamma distribution fitted to them (location free, as the DCASE baselines fit it)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan")
    if distribution == "empirical" or len(values) < 3 or np.ptp(values) == 0:
        return float(np.percentile(values, percentile))
    shape, loc, scale = scipy.stats.gamma.fit(values)
    return float(scipy.stats.gamma.ppf(percentile / 100.0, shape, loc=loc, scale=scale))


def target_threshold(
    target: np.ndarray, reference: np.ndarray, percentile: float, rule: str = "own",
    distribution: str = "empirical",
) -> float:
    """The target domain's threshold from its few calibration scores (module docstring).

    ``target``: the target clips' out-of-sample scores; ``reference``: the section's source
    clips' out-of-sample values of the same quantity. ``own``: the percentile of ``target``;
    ``shifted``: the percentile of ``reference`` moved by the difference of the medians;
    ``prediction``: the upper Student-t prediction bound ``mean + t(p, n - 1) * s * sqrt(1 +
    1/n)`` of ``target``, with ``s`` the larger of the target and the reference standard
    deviations (three clips may sit close together by chance; the domain shift rarely makes the
    target's spread smaller than the source's).
    """
    target = np.asarray(target, dtype=np.float64)
    target = target[np.isfinite(target)]
    reference = np.asarray(reference, dtype=np.float64)
    reference = reference[np.isfinite(reference)]
    if len(target) == 0:
        return float("nan")
    if rule == "shifted" and len(reference):
        shift = float(np.median(target) - np.median(reference))
        return quantile_of(reference, percentile, distribution) + shift
    if rule == "prediction":
        spreads = [np.std(v, ddof=1) for v in (target, reference) if len(v) > 1]
        if spreads:
            n = len(target)
            factor = scipy.stats.t.ppf(percentile / 100.0, max(n - 1, 1)) * np.sqrt(1 + 1 / n)
            return float(np.mean(target) + factor * max(spreads))
    return quantile_of(target, percentile, distribution)


def section_thresholds(
    source: np.ndarray,
    target: np.ndarray,
    percentile: float,
    target_rule: str = "own",
    distribution: str = "empirical",
    source_of_target: np.ndarray | None = None,
) -> dict[str, float]:
    """``{domain: threshold}`` of one section from its calibration scores.

    ``source``/``target``: the score each domain's decision compares; ``source_of_target``: the
    source clips' values of the quantity the target domain compares (the paper's target decision
    compares the section term alone), ``source`` where they are the same; the target rule
    (:func:`target_threshold`) borrows from them.
    """
    if not 0 <= percentile <= 100:
        raise ValueError(f"threshold percentile must be within [0, 100], got {percentile}")
    source = np.asarray(source, dtype=np.float64)
    reference = source if source_of_target is None else source_of_target
    result = {}
    if np.isfinite(source).any():
        result["source"] = quantile_of(source, percentile, distribution)
    target = target_threshold(target, reference, percentile, target_rule, distribution)
    if np.isfinite(target):
        result["target"] = target
    return result


def thresholds_table(
    calibration: pd.DataFrame,
    percentile: float,
    column: str,
    target_column: str | None = None,
    target_rule: str = "own",
    distribution: str = "empirical",
) -> pd.DataFrame:
    """``machine_type, section, domain, threshold`` from calibration scores.

    ``calibration``: rows with ``machine_type, section, domain, split, label`` and ``column``
    (the score each decision compares); only normal training rows count. ``target_column``: the
    column the target domain's decision compares, if not ``column`` (its source-domain values
    feed ``target_rule: shifted``).
    """
    if not 0 <= percentile <= 100:
        raise ValueError(f"threshold percentile must be within [0, 100], got {percentile}")
    target_column = target_column or column
    rows = calibration.loc[normal_training(calibration)]
    records = []
    for (machine_type, section), group in rows.groupby(["machine_type", "section"], sort=True):
        is_source = (group["domain"] == "source").to_numpy()
        by_domain = section_thresholds(
            group.loc[is_source, column].to_numpy(dtype=float),
            group.loc[~is_source, target_column].to_numpy(dtype=float),
            percentile, target_rule, distribution,
            source_of_target=group.loc[is_source, target_column].to_numpy(dtype=float),
        )
        for domain, value in by_domain.items():
            if np.isfinite(value):
                records.append({"machine_type": machine_type, "section": section,
                                "domain": domain, "threshold": value})
    return pd.DataFrame(records, columns=[*THRESHOLD_KEYS, "threshold"])


# --------------------------------------------------------------------------------------------
# held-out calibration clips (for models that cannot be refitted k times: the baselines)

HOLDOUT_METHODS = ("in_sample", "holdout")


@dataclass(frozen=True)
class HoldoutSettings(Settings):
    """``params:baselines.calibration``: ``in_sample`` (the official baselines: a gamma
    distribution fitted to each model's training scores, one threshold per model) or
    ``holdout`` (``share`` of the normal source training clips held out of training; per
    section and domain thresholds from their scores, :func:`holdout_thresholds`)."""

    method: str = "in_sample"
    share: float = 0.2
    seed: int = 0
    target: str = "prediction"
    distribution: str = "empirical"

    def __post_init__(self):
        for name, value, allowed in (("method", self.method, HOLDOUT_METHODS),
                                     ("target", self.target, TARGET_RULES),
                                     ("distribution", self.distribution, DISTRIBUTIONS)):
            if value not in allowed:
                raise ValueError(f"baselines.calibration.{name} must be one of {allowed}, "
                                 f"got {value!r}")
        if not isinstance(self.share, (int, float)) or not 0 < self.share < 1:
            raise ValueError(f"baselines.calibration.share must be within (0, 1), got "
                             f"{self.share!r}")

    @property
    def held_out(self) -> bool:
        return self.method == "holdout"

    def clips(self, file_index: pd.DataFrame) -> list[str]:
        """The held-out clips of ``file_index`` (none in-sample)."""
        return holdout_clips(file_index, self.share, self.seed) if self.held_out else []

#: The ``split`` of a held-out calibration clip in the file index a model is trained with.
HELD_OUT = "held_out"


def holdout_clips(file_index: pd.DataFrame, share: float, seed: int = 0) -> list[str]:
    """File ids of about ``share`` of the normal source-domain training clips of every section
    and attribute class (``round(share * n)`` of each class, at least one clip left to train
    on), held out of a model's training to calibrate its thresholds. Target-domain clips (3 per
    section) all stay in training: their domain's threshold moves with their median."""
    if not 0 < share < 1:
        raise ValueError(f"the held-out share must be within (0, 1), got {share}")
    rng = np.random.default_rng(seed)
    rows = file_index.loc[normal_training(file_index) & (file_index["domain"] == "source")
                          .to_numpy()]
    attribute = rows["attribute_class"].fillna("") if "attribute_class" in rows else ""
    held = []
    for _, stratum in rows.assign(_attribute=attribute).groupby(
            ["section_class", "_attribute"], sort=True):
        count = min(int(round(share * len(stratum))), len(stratum) - 1)
        if count > 0:
            held += list(rng.choice(stratum["file_id"].astype(str).to_numpy(), count,
                                    replace=False))
    return sorted(held)


def without_clips(file_index: pd.DataFrame, held_out: list[str] | set[str]) -> pd.DataFrame:
    """``file_index`` with the ``held_out`` clips' split set to ``held_out``: no longer training
    clips for anything that trains or fits on ``split == "train"``."""
    index = file_index.copy()
    index.loc[index["file_id"].astype(str).isin(set(held_out)), "split"] = HELD_OUT
    return index


def holdout_thresholds(
    scored: pd.DataFrame, percentile: float, target_rule: str = "prediction",
    distribution: str = "empirical",
) -> pd.DataFrame:
    """``machine_type, section, domain, threshold`` from held-out clips' scores.

    ``scored``: rows with ``machine_type, section, domain, split, label, score`` of a model's
    normal training clips, ``split`` ``held_out`` (calibration) or ``train`` (in-sample). The
    source threshold is the percentile of the held-out source clips. The target clips all
    trained the model: their in-sample scores, raised by the source domain's in-sample bias
    (the held-out minus the in-sample median of the source clips), stand for out-of-sample
    ones in :func:`target_threshold` (``shifted`` then moves the source threshold by the
    difference of the in-sample medians, in which the bias cancels).
    """
    rows = scored[scored["label"] == "normal"]
    records = []
    for (machine_type, section), group in rows.groupby(["machine_type", "section"], sort=True):
        held = group.loc[(group["split"] == HELD_OUT) & (group["domain"] == "source"),
                         "score"].to_numpy(float)
        trained = group[group["split"] == "train"]
        source_in, target_in = (trained.loc[trained["domain"] == d, "score"].to_numpy(float)
                                for d in ("source", "target"))
        if len(held):
            records.append((machine_type, section, "source",
                            quantile_of(held, percentile, distribution)))
        bias = float(np.median(held) - np.median(source_in)) if len(held) and len(
            source_in) else 0.0
        reference = held if len(held) else source_in
        threshold = target_threshold(target_in + bias, reference, percentile, target_rule,
                                     distribution)
        if np.isfinite(threshold):
            records.append((machine_type, section, "target", threshold))
    return pd.DataFrame(records, columns=[*THRESHOLD_KEYS, "threshold"])
