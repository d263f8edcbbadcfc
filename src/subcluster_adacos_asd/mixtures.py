"""Gaussian mixtures as the backends fit, store and score them (paper 2.4).

Fitting uses scikit-learn's ``GaussianMixture`` (EM, full or diagonal covariances, ``reg_covar``
added to the diagonal, means initialised at given centres); what is kept is only what scoring
needs: the weights, the means and the Cholesky factors of the precisions
(:class:`GaussianMixtureModel`). A pickled sklearn estimator also carries its covariances,
precisions and initial means, three times the size of what is used, and ties saved systems to
one scikit-learn version; this value type is plain numpy.

``covariance: shrunk`` is for classes with fewer clips than embedding dimensions (DCASE target
data, attribute classes of a dozen clips, small plants): EM assigns the clips to components as
usual, then each component's covariance is the Ledoit-Wolf estimate of its clips
(``sklearn.covariance.LedoitWolf``), which stays well-conditioned where a sample covariance of
13 clips in 128 dimensions has 115 eigenvalues at ``reg_covar``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular
from sklearn.covariance import LedoitWolf
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from subcluster_adacos_asd.settings_base import Settings

COVARIANCES = ("full", "diag", "shrunk")
_LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class MixtureSettings(Settings):
    """How a backend mixture is fitted (``params:score.gmm``; paper: full, reg_covar 1e-3).

    ``min_clips_per_component``: at most one component per this many training clips (1 = as
    many components as clips, the paper's sklearn setting; EM cannot fit more).
    """

    covariance: str = "full"
    reg_covar: float = 1e-3
    max_iter: int = 100
    tol: float = 1e-3
    seed: int = 0
    min_clips_per_component: int = 1

    def __post_init__(self):
        if self.covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {COVARIANCES}, got {self.covariance!r}")
        if self.reg_covar <= 0:
            raise ValueError(f"reg_covar must be positive, got {self.reg_covar}")
        if self.min_clips_per_component < 1:
            raise ValueError(
                f"min_clips_per_component must be >= 1, got {self.min_clips_per_component}"
            )


@dataclass(frozen=True)
class GaussianMixtureModel:
    """A fitted mixture: ``weights`` (K,), ``means`` (K, D) and ``precisions_cholesky``:
    (K, D, D) upper-triangular factors ``U`` with precision ``U U^T`` (full), or (K, D) inverse
    standard deviations (diagonal), scikit-learn's convention."""

    weights: np.ndarray
    means: np.ndarray
    precisions_cholesky: np.ndarray

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    @property
    def diagonal(self) -> bool:
        return self.precisions_cholesky.ndim == 2

    def weighted_log_likelihoods(self, values: np.ndarray) -> np.ndarray:
        """``log(w_k N(x | mu_k, Sigma_k))`` for every row of ``values`` and component k."""
        x = np.asarray(values, dtype=np.float64)
        dim = self.means.shape[1]
        out = np.empty((x.shape[0], self.n_components))
        for k in range(self.n_components):
            factor = self.precisions_cholesky[k]
            if self.diagonal:
                whitened = (x - self.means[k]) * factor
                log_det = np.sum(np.log(factor))
            else:
                whitened = (x - self.means[k]) @ factor
                log_det = np.sum(np.log(np.diag(factor)))
            out[:, k] = -0.5 * (dim * _LOG_2PI + np.sum(whitened**2, axis=1)) + log_det
        return out + np.log(self.weights)

    def best_log_likelihood(self, values: np.ndarray) -> np.ndarray:
        """``max_k log(w_k N(x|k))`` per row: the best-matching component (eqs. 2-4)."""
        return self.weighted_log_likelihoods(values).max(axis=1)

    @property
    def nbytes(self) -> int:
        return int(self.weights.nbytes + self.means.nbytes + self.precisions_cholesky.nbytes)


def from_sklearn(gmm: GaussianMixture) -> GaussianMixtureModel:
    """The scoring parameters of a fitted sklearn ``GaussianMixture`` (full or diag)."""
    if gmm.covariance_type not in ("full", "diag"):
        raise ValueError(f"Unsupported covariance_type {gmm.covariance_type!r}")
    return GaussianMixtureModel(
        weights=np.asarray(gmm.weights_, dtype=np.float64),
        means=np.asarray(gmm.means_, dtype=np.float64),
        precisions_cholesky=np.asarray(gmm.precisions_cholesky_, dtype=np.float64),
    )


def component_count(n_clips: int, requested: int, settings: MixtureSettings) -> int:
    """How many components ``n_clips`` training clips can carry (at least one)."""
    return max(1, min(int(requested), n_clips // settings.min_clips_per_component))


def keep_most_used_means(values: np.ndarray, means: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` initial means that are the nearest (by cosine) of the most clips; ties go
    to the lower index. Used when a class has fewer clips than learned centres."""
    if count >= len(means):
        return means
    nearest = np.argmax(_unit(values) @ _unit(means).T, axis=1)
    counts = np.bincount(nearest, minlength=len(means))
    return means[np.sort(np.argsort(-counts, kind="stable")[:count])]


def fit_mixture(
    values: np.ndarray,
    settings: MixtureSettings,
    means_init: np.ndarray | None = None,
    n_components: int | None = None,
    what: str = "mixture",
) -> GaussianMixtureModel:
    """A mixture fitted to ``values``: one component per row of ``means_init`` (EM starts there)
    or ``n_components`` from sklearn's k-means start, at most what the clips can carry."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        raise ValueError(f"No training embeddings for {what}")
    if means_init is None and n_components is None:
        raise ValueError(f"{what}: give means_init or n_components")
    if len(values) == 1:
        return single_clip_mixture(values[0], settings)
    requested = len(means_init) if means_init is not None else int(n_components)
    count = component_count(len(values), requested, settings)
    if means_init is not None:
        means_init = keep_most_used_means(values, np.asarray(means_init, np.float64), count)
    gmm = GaussianMixture(
        n_components=count,
        covariance_type="diag" if settings.covariance == "diag" else "full",
        reg_covar=settings.reg_covar,
        max_iter=settings.max_iter,
        tol=settings.tol,
        means_init=means_init,
        random_state=settings.seed,
    )
    with warnings.catch_warnings():
        # EM on a handful of 128-d points often stops at max_iter without harm; the fitted
        # model is used either way, as the paper's sklearn defaults would.
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(values)
    if settings.covariance != "shrunk":
        return from_sklearn(gmm)
    return shrunk_components(values, gmm.predict(values), settings.reg_covar)


def single_clip_mixture(clip: np.ndarray, settings: MixtureSettings) -> GaussianMixtureModel:
    """One component at the clip with covariance ``reg_covar * I``: what EM gives a component
    of one clip (its own covariance is zero), for every covariance setting. scikit-learn
    refuses to fit one sample; a class keeps at least two clips (features.min_attribute_clips),
    but a cross-fitting fold that holds one of them out leaves one (docs/scoring.md)."""
    clip = np.asarray(clip, dtype=np.float64).reshape(1, -1)
    inverse_std = 1.0 / np.sqrt(settings.reg_covar)
    dim = clip.shape[1]
    factor = (np.full((1, dim), inverse_std) if settings.covariance == "diag"
              else (np.eye(dim) * inverse_std)[np.newaxis])
    return GaussianMixtureModel(np.ones(1), clip, factor)


def shrunk_covariance(values: np.ndarray, reg_covar: float) -> np.ndarray:
    """The Ledoit-Wolf covariance of ``values`` plus ``reg_covar`` on the diagonal (zero for a
    single row: a Ledoit-Wolf estimate of one point has no spread)."""
    dim = values.shape[1]
    spread = LedoitWolf().fit(values).covariance_ if len(values) > 1 else np.zeros((dim, dim))
    return spread + reg_covar * np.eye(dim)


def mixture_at_points(points: np.ndarray, covariance: np.ndarray) -> GaussianMixtureModel:
    """Equal-weight components centred on ``points``, all with ``covariance``: the target
    samples' mixture of ``covariance: shrunk`` (three clips say where the target domain is, not
    how it spreads; their section's covariance does)."""
    points = np.asarray(points, dtype=np.float64)
    factor = precision_cholesky(covariance)
    return GaussianMixtureModel(
        weights=np.full(len(points), 1.0 / len(points)),
        means=points,
        precisions_cholesky=np.repeat(factor[np.newaxis], len(points), axis=0),
    )


def shrunk_components(values: np.ndarray, assignment: np.ndarray, reg_covar: float
                      ) -> GaussianMixtureModel:
    """One component per assigned group of rows: its mean, its Ledoit-Wolf covariance plus
    ``reg_covar`` on the diagonal, and its share of the rows as weight. A component of one row
    has covariance ``reg_covar * I`` (a Ledoit-Wolf estimate of one point is zero)."""
    groups = [np.flatnonzero(assignment == k) for k in np.unique(assignment)]
    weights, means, factors = [], [], []
    for rows in groups:
        points = values[rows]
        weights.append(len(rows) / len(values))
        means.append(points.mean(axis=0))
        factors.append(precision_cholesky(shrunk_covariance(points, reg_covar)))
    return GaussianMixtureModel(np.asarray(weights), np.asarray(means), np.asarray(factors))


def precision_cholesky(covariance: np.ndarray) -> np.ndarray:
    """The upper-triangular ``U`` with ``U U^T = covariance^-1`` (sklearn's convention)."""
    lower = np.linalg.cholesky(covariance)
    return solve_triangular(lower, np.eye(len(covariance)), lower=True).T


def _unit(values: np.ndarray) -> np.ndarray:
    return values / np.maximum(np.linalg.norm(values, axis=-1, keepdims=True), 1e-300)
