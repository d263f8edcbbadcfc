"""Decision thresholds: a gamma distribution fitted to each model's normal training scores.

The threshold is the ``quantile`` (0.9 officially) of a gamma distribution fitted (shape, loc,
scale) to the scores of the model group's training clips; a clip is anomalous when its score
exceeds it. Both baselines decide this way, whatever their score.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.stats

logger = logging.getLogger(__name__)


def gamma_threshold(
    scores: np.ndarray, quantile: float = 0.9, name: str = "the model"
) -> tuple[float, tuple[float, float, float]]:
    """The ``quantile`` of a gamma distribution fitted to normal training scores.

    Returns the threshold and the fitted (shape, loc, scale), as ``scipy.stats.gamma.fit`` gives
    them (location free, as in the official code). Scores that are all equal (a model whose
    output does not depend on its input, e.g. a barely trained MobileNetV2 whose batch
    normalisation statistics are still the initial ones) have no gamma fit: the threshold is
    then that score, with a warning, so that no clip scoring the same is flagged.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or len(scores) < 2 or not np.isfinite(scores).all():
        raise ValueError(
            f"A gamma threshold for {name} needs at least two finite training scores, got "
            f"{scores!r}"
        )
    if np.ptp(scores) == 0:
        logger.warning(
            "All %d training scores of %s equal %g: no gamma fit, the threshold is that score",
            len(scores),
            name,
            scores[0],
        )
        return float(scores[0]), (float("nan"), float(scores[0]), 0.0)
    try:
        shape, loc, scale = scipy.stats.gamma.fit(scores)
    except Exception as exc:  # scipy raises FitError and others for degenerate samples
        raise ValueError(
            f"Cannot fit a gamma distribution to the training scores of {name}: {exc}"
        ) from exc
    threshold = float(scipy.stats.gamma.ppf(quantile, shape, loc=loc, scale=scale))
    return threshold, (float(shape), float(loc), float(scale))


def decide(scores: np.ndarray, threshold: float) -> np.ndarray:
    """1 (anomalous) where the score exceeds the threshold, else 0, as the official code."""
    return (np.asarray(scores) > threshold).astype(np.int64)
