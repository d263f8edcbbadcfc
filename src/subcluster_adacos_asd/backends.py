"""GMM backends of the sub-cluster AdaCos system: fitting and score terms (paper 2.4, eqs. 2-4).

Everything here works on plain pandas frames laid out as in docs/data_contracts.md and holds no
Kedro, so the ``score`` pipeline fits backends once and a later ``inference`` pipeline can load
the fitted objects and score new files without refitting:

>>> fitted = fit_backends(embeddings_of_snapshot, centres_of_snapshot, file_index)
>>> terms = score_terms(fitted, embeddings_of_new_files, index_of_new_files)

Per snapshot of one trained network (all on length-normalised embeddings, sklearn
``GaussianMixture`` with full covariances, ``reg_covar`` 1e-3, means initialised with learned
AdaCos centres):

* section GMM, one per ``section_class``: all normal source-domain training files of the
  section; one component per sub-cluster, means = the section head's centres of that class.
  **Decision** (DESIGN.md): the same GMM gives the first term in both domains.
* attribute GMMs, one per ``attribute_class``: the normal source-domain training files with
  that attribute string; means = the attribute head's centres of that class (``both`` variant).
  The ``sections`` variant has no attribute head: **Decision**: its attribute GMMs start from
  the section head's centres of the attribute's section (still "the learned mean values", EM
  then moves them onto the attribute's data); ``attribute_means: kmeans`` uses sklearn's
  k-means initialisation instead.
* target GMM, one per section: one component per normal target-domain training file of the
  section (3 in DCASE 2021), means = those embeddings, i.e. a likelihood that falls with the
  distance to the closest target sample.

Score terms are negative log-likelihoods of the best weighted component (eqs. 2 and 3):
``section_term = -max_k log w_k N(x|s,k)``, ``attribute_term = -max_{a in a(s)} max_k log w_k
N(x|a,k)`` (source domain), ``target_term = -max_k log w_k N(x|X_target(s),k)`` (target domain).
The valve term of eq. 4 uses :class:`TmaxBackend` on the temporal-max features.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

logger = logging.getLogger(__name__)

EMBEDDING_PREFIX = "emb_"
CENTRE_PREFIX = "c_"
TMAX_PREFIX = "tmax_"
TERM_COLUMNS = ("section_term", "attribute_term", "target_term")
ATTRIBUTE_MEANS = ("section_centres", "kmeans")


@dataclass(frozen=True)
class GmmSettings:
    """How every backend GMM is fitted (paper: full covariance, 1e-3 added to the diagonal)."""

    reg_covar: float = 1e-3
    covariance_type: str = "full"
    max_iter: int = 100
    tol: float = 1e-3
    seed: int = 0
    # Where the attribute GMMs of a network without attribute head (the `sections` variant)
    # take their initial means: the section head's centres, or sklearn's k-means.
    attribute_means: str = "section_centres"

    def __post_init__(self):
        if self.attribute_means not in ATTRIBUTE_MEANS:
            raise ValueError(
                f"attribute_means must be one of {ATTRIBUTE_MEANS}, got {self.attribute_means!r}"
            )
        if self.reg_covar <= 0:
            raise ValueError(f"reg_covar must be positive, got {self.reg_covar}")

    @classmethod
    def from_parameters(cls, parameters: Mapping | None) -> GmmSettings:
        """Settings from a parameter mapping; unknown keys are an error (typos must not pass)."""
        parameters = dict(parameters or {})
        known = set(cls.__dataclass_fields__)
        unknown = set(parameters) - known
        if unknown:
            raise ValueError(f"Unknown GMM settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**parameters)


@dataclass
class SnapshotBackends:
    """The fitted GMMs of one snapshot of one trained network (everything eqs. 2-3 need)."""

    embedding_columns: tuple[str, ...]
    section_gmms: dict[str, GaussianMixture]
    attribute_gmms: dict[str, GaussianMixture]
    attributes_of_section: dict[str, tuple[str, ...]]
    target_gmms: dict[str, GaussianMixture]


@dataclass
class TmaxBackend:
    """One Gaussian per attribute class on temporal-max log-mel features (eq. 4)."""

    feature_columns: tuple[str, ...]
    machine_types: tuple[str, ...]
    gaussians: dict[str, GaussianMixture] = field(default_factory=dict)
    attributes_of_section: dict[str, tuple[str, ...]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# small helpers


def single_threaded(function):
    """Run ``function`` with BLAS and OpenMP limited to one thread.

    The backend GMMs are many small problems (128 x 128 covariances, tens to thousands of
    rows); multi-threaded BLAS spends more time synchronising than computing on them: a
    128 x 128 Cholesky took 15 ms with 2 OpenBLAS threads on a busy 2-core machine and 0.2 ms
    with one. Parallelism pays at the level of configurations, not inside one GMM.
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1):
            return function(*args, **kwargs)

    return wrapper


def l2_normalise(values: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; the AdaCos geometry is angular, so the GMMs live on the sphere."""
    values = np.asarray(values, dtype=np.float64)
    norms = np.linalg.norm(values, axis=-1, keepdims=True)
    return values / np.maximum(norms, np.finfo(np.float64).tiny)


def prefixed_columns(frame: pd.DataFrame, prefix: str, what: str) -> tuple[str, ...]:
    """The ``<prefix>NNN`` columns of a frame in order; an error names the frame if none."""
    columns = tuple(sorted(c for c in frame.columns if str(c).startswith(prefix)))
    if not columns:
        raise ValueError(f"{what} has no '{prefix}*' columns (columns: {list(frame.columns)[:8]})")
    return columns


def weighted_component_log_likelihoods(gmm: GaussianMixture, values: np.ndarray) -> np.ndarray:
    """``log(w_k N(x|mu_k, Sigma_k))`` for every row and component, via sklearn's public API.

    ``score_samples`` is ``log sum_k w_k N_k`` and ``predict_proba`` the responsibilities
    ``w_k N_k / sum_j w_j N_j``, so their logs add up to the weighted component log-likelihood.
    A responsibility that underflows to 0 gives ``-inf`` for that component; the largest one is
    at least ``1/K`` and therefore always exact, which is all the score terms use.
    """
    values = np.asarray(values, dtype=np.float64)
    total = gmm.score_samples(values)
    with np.errstate(divide="ignore"):
        log_responsibilities = np.log(gmm.predict_proba(values))
    return total[:, None] + log_responsibilities


def max_weighted_log_likelihood(gmm: GaussianMixture, values: np.ndarray) -> np.ndarray:
    """``max_k log(w_k N(x|k))`` per row: the best-matching component's weighted likelihood."""
    return weighted_component_log_likelihoods(gmm, values).max(axis=1)


def fit_gmm(
    values: np.ndarray,
    means_init: np.ndarray | None,
    settings: GmmSettings,
    what: str,
    n_components: int | None = None,
) -> GaussianMixture:
    """A full-covariance GMM on ``values`` whose means start at ``means_init``.

    With fewer samples than initial means (tiny data, many sub-clusters), EM cannot fit every
    component; the means that are the nearest centre of most samples are kept (ties: lower
    index), rather than failing the whole ensemble (:func:`fit_backends` warns once).
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        raise ValueError(f"No training embeddings for {what}")
    if means_init is not None:
        means_init = np.asarray(means_init, dtype=np.float64)
        if len(values) < len(means_init):
            nearest = np.argmax(l2_normalise(values) @ l2_normalise(means_init).T, axis=1)
            counts = np.bincount(nearest, minlength=len(means_init))
            keep = np.sort(np.argsort(-counts, kind="stable")[: len(values)])
            logger.debug(
                "%s: %d training files for %d initial means; keeping the %d most used means",
                what, len(values), len(means_init), len(keep),
            )
            means_init = means_init[keep]
        n_components = len(means_init)
    elif n_components is None:
        raise ValueError(f"{what}: give means_init or n_components")
    else:
        n_components = min(int(n_components), len(values))
    gmm = GaussianMixture(
        n_components=n_components,
        covariance_type=settings.covariance_type,
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
    return gmm


# --------------------------------------------------------------------------------------------
# joining frames


def _single_snapshot(frame: pd.DataFrame, what: str) -> str | None:
    if "snapshot" not in frame.columns:
        return None
    snapshots = pd.unique(frame["snapshot"])
    if len(snapshots) > 1:
        raise ValueError(f"{what} holds several snapshots {list(snapshots)}; pass one snapshot")
    return str(snapshots[0]) if len(snapshots) else None


def _indexed_rows(frame: pd.DataFrame, file_index: pd.DataFrame, what: str) -> pd.DataFrame:
    """``frame`` joined with the file index columns the backends need, in ``frame``'s order."""
    if frame["file_id"].duplicated().any():
        dup = frame.loc[frame["file_id"].duplicated(), "file_id"].iloc[0]
        raise ValueError(f"{what}: file {dup!r} appears more than once")
    needed = ["file_id", "machine_type", "domain", "split", "label", "section_class",
              "attribute_class"]
    missing_columns = [c for c in needed if c not in file_index.columns]
    if missing_columns:
        raise ValueError(f"file index lacks columns {missing_columns}")
    index = file_index[needed].drop_duplicates("file_id")
    joined = frame[["file_id"]].merge(index, on="file_id", how="left", validate="one_to_one")
    unknown = joined["section_class"].isna()
    if unknown.any():
        raise ValueError(
            f"{what}: {int(unknown.sum())} files are not in the file index, "
            f"e.g. {joined.loc[unknown, 'file_id'].iloc[0]!r}"
        )
    return joined


def _normal_training(rows: pd.DataFrame, domain: str) -> np.ndarray:
    return (
        (rows["split"] == "train").to_numpy()
        & (rows["label"] == "normal").to_numpy()
        & (rows["domain"] == domain).to_numpy()
    )


def _centres_of(centres: pd.DataFrame, head: str, class_name: str, columns) -> np.ndarray:
    rows = centres[(centres["head"] == head) & (centres["class_name"] == class_name)]
    if "sub_cluster" in rows.columns:
        rows = rows.sort_values("sub_cluster", kind="stable")
    return rows[list(columns)].to_numpy(dtype=np.float64)


# --------------------------------------------------------------------------------------------
# embedding backends


@single_threaded
def fit_backends(
    embeddings: pd.DataFrame,
    centres: pd.DataFrame,
    file_index: pd.DataFrame,
    settings: GmmSettings | None = None,
) -> SnapshotBackends:
    """Fit the section, attribute and target GMMs of one snapshot (see module docstring).

    ``embeddings``: ``file_id`` + ``emb_*`` (one snapshot; the training files are taken from it);
    ``centres``: the ``<configuration>.centres`` rows of the same snapshot;
    ``file_index``: the ``file_index`` dataset (domain, split, label, classes of every file).
    """
    settings = settings or GmmSettings()
    snapshot = _single_snapshot(embeddings, "embeddings")
    centre_snapshot = _single_snapshot(centres, "centres")
    if snapshot is not None and centre_snapshot is not None and snapshot != centre_snapshot:
        raise ValueError(f"embeddings of snapshot {snapshot!r} with centres of {centre_snapshot!r}")
    label = f"snapshot {snapshot!r}" if snapshot else "embeddings"
    columns = prefixed_columns(embeddings, EMBEDDING_PREFIX, f"embeddings of {label}")
    centre_columns = prefixed_columns(centres, CENTRE_PREFIX, f"centres of {label}")
    if len(columns) != len(centre_columns):
        raise ValueError(
            f"{label}: {len(columns)} embedding dimensions but {len(centre_columns)} centre ones"
        )
    rows = _indexed_rows(embeddings, file_index, f"embeddings of {label}")
    values = l2_normalise(embeddings[list(columns)].to_numpy(dtype=np.float64))
    has_attribute_head = bool((centres["head"] == "attribute").any())

    source = _normal_training(rows, "source")
    target = _normal_training(rows, "target")
    if not source.any():
        raise ValueError(f"{label}: no normal source-domain training files to fit GMMs on")

    reduced = []  # GMMs with fewer training files than initial means

    def fit(x, means, what, n_components=None):
        gmm = fit_gmm(x, means, settings, what, n_components=n_components)
        if gmm.n_components < (len(means) if means is not None else n_components):
            reduced.append(what)
        return gmm

    section_gmms, attribute_gmms, attributes_of_section, target_gmms = {}, {}, {}, {}
    for section_class in sorted(pd.unique(rows.loc[source, "section_class"])):
        in_section = source & (rows["section_class"] == section_class).to_numpy()
        section_means = l2_normalise(
            _centres_of(centres, "section", section_class, centre_columns)
        )
        if len(section_means) == 0:
            raise ValueError(f"{label}: no section-head centres for {section_class!r}")
        section_gmms[section_class] = fit(
            values[in_section], section_means, f"{label} section {section_class}"
        )
        attributes = sorted(a for a in pd.unique(rows.loc[in_section, "attribute_class"]) if a)
        attributes_of_section[section_class] = tuple(attributes)
        for attribute_class in attributes:
            mask = in_section & (rows["attribute_class"] == attribute_class).to_numpy()
            what = f"{label} attribute {attribute_class}"
            if has_attribute_head:
                means = _centres_of(centres, "attribute", attribute_class, centre_columns)
                if len(means) == 0:
                    raise ValueError(f"{what}: no attribute-head centres for this class")
                attribute_gmms[attribute_class] = fit(values[mask], l2_normalise(means), what)
            elif settings.attribute_means == "section_centres":
                attribute_gmms[attribute_class] = fit(values[mask], section_means, what)
            else:
                attribute_gmms[attribute_class] = fit(
                    values[mask], None, what, n_components=len(section_means)
                )
    for section_class in sorted(pd.unique(rows.loc[target, "section_class"])):
        mask = target & (rows["section_class"] == section_class).to_numpy()
        target_gmms[section_class] = fit(
            values[mask], values[mask], f"{label} target samples of {section_class}"
        )
    if reduced:
        logger.warning(
            "%s: %d GMMs have fewer training files than sub-clusters and keep only the most "
            "used centres as components, e.g. %s", label, len(reduced), reduced[0],
        )
    return SnapshotBackends(
        embedding_columns=columns,
        section_gmms=section_gmms,
        attribute_gmms=attribute_gmms,
        attributes_of_section=attributes_of_section,
        target_gmms=target_gmms,
    )


@single_threaded
def score_terms(
    fitted: SnapshotBackends, embeddings: pd.DataFrame, file_index: pd.DataFrame
) -> pd.DataFrame:
    """``file_id, section_term, attribute_term, target_term`` for every row of ``embeddings``.

    ``attribute_term`` is NaN in the target domain and for sections without attribute classes;
    ``target_term`` is NaN in the source domain. A file whose section has no fitted GMM (no
    normal training data) is an error naming the file.
    """
    label = "embeddings to score"
    _single_snapshot(embeddings, label)
    missing = [c for c in fitted.embedding_columns if c not in embeddings.columns]
    if missing:
        raise ValueError(f"{label} lack columns {missing[:4]} the backends were fitted on")
    rows = _indexed_rows(embeddings, file_index, label)
    values = l2_normalise(embeddings[list(fitted.embedding_columns)].to_numpy(dtype=np.float64))
    terms = {name: np.full(len(rows), np.nan) for name in TERM_COLUMNS}
    is_source = (rows["domain"] == "source").to_numpy()
    is_target = (rows["domain"] == "target").to_numpy()
    for section_class, positions in rows.groupby("section_class", sort=True).indices.items():
        example = rows["file_id"].iloc[positions[0]]
        if section_class not in fitted.section_gmms:
            raise ValueError(
                f"No section GMM for {section_class!r} (file {example!r}): the section has no "
                "normal source-domain training files"
            )
        x = values[positions]
        terms["section_term"][positions] = -max_weighted_log_likelihood(
            fitted.section_gmms[section_class], x
        )
        src = positions[is_source[positions]]
        attributes = fitted.attributes_of_section.get(section_class, ())
        if len(src) and attributes:
            best = np.max(
                [max_weighted_log_likelihood(fitted.attribute_gmms[a], values[src])
                 for a in attributes],
                axis=0,
            )
            terms["attribute_term"][src] = -best
        tgt = positions[is_target[positions]]
        if len(tgt):
            if section_class not in fitted.target_gmms:
                raise ValueError(
                    f"No target GMM for {section_class!r} (file "
                    f"{rows['file_id'].iloc[tgt[0]]!r}): the section has no normal "
                    "target-domain training files"
                )
            terms["target_term"][tgt] = -max_weighted_log_likelihood(
                fitted.target_gmms[section_class], values[tgt]
            )
    return pd.DataFrame({"file_id": rows["file_id"].to_numpy(), **terms})


def fit_configuration_backends(
    embeddings: pd.DataFrame,
    centres: pd.DataFrame,
    file_index: pd.DataFrame,
    settings: GmmSettings | None = None,
) -> dict[str, SnapshotBackends]:
    """:func:`fit_backends` for every snapshot of one configuration, keyed by snapshot name."""
    snapshots = _snapshots(embeddings, "embeddings")
    centre_snapshots = set(_snapshots(centres, "centres"))
    lacking = [s for s in snapshots if s not in centre_snapshots]
    if lacking:
        raise ValueError(f"centres lack snapshots {lacking} that the embeddings have")
    by_snapshot = dict(tuple(embeddings.groupby("snapshot", sort=False)))
    centres_by_snapshot = dict(tuple(centres.groupby("snapshot", sort=False)))
    return {
        s: fit_backends(by_snapshot[s], centres_by_snapshot[s], file_index, settings)
        for s in snapshots
    }


def configuration_score_terms(
    backends: Mapping[str, SnapshotBackends],
    embeddings: pd.DataFrame,
    file_index: pd.DataFrame,
) -> pd.DataFrame:
    """``<configuration>.score_terms``: :func:`score_terms` of every snapshot, long format."""
    frames = []
    by_snapshot = dict(tuple(embeddings.groupby("snapshot", sort=False)))
    for snapshot in _snapshots(embeddings, "embeddings"):
        if snapshot not in backends:
            raise ValueError(f"No fitted backends for snapshot {snapshot!r}")
        terms = score_terms(backends[snapshot], by_snapshot[snapshot], file_index)
        terms.insert(1, "snapshot", snapshot)
        frames.append(terms)
    return pd.concat(frames, ignore_index=True)


def _snapshots(frame: pd.DataFrame, what: str) -> list[str]:
    if "snapshot" not in frame.columns:
        raise ValueError(f"{what} has no 'snapshot' column")
    snapshots = [str(s) for s in pd.unique(frame["snapshot"])]
    if not snapshots:
        raise ValueError(f"{what} is empty")
    return sorted(snapshots)


# --------------------------------------------------------------------------------------------
# temporal-max backend (eq. 4)


@single_threaded
def fit_tmax_backend(
    tmax_features: pd.DataFrame,
    file_index: pd.DataFrame,
    machine_types: Iterable[str],
    settings: GmmSettings | None = None,
) -> TmaxBackend:
    """One single-component Gaussian per attribute class of the listed machine types.

    Fitted on the temporal maxima of the standardised log-mel of the normal source-domain
    training files of each attribute class (paper: valve only).
    """
    settings = settings or GmmSettings()
    machine_types = tuple(str(m) for m in machine_types)
    columns = prefixed_columns(tmax_features, TMAX_PREFIX, "tmax_features")
    backend = TmaxBackend(feature_columns=columns, machine_types=machine_types)
    if not machine_types:
        return backend
    rows = _indexed_rows(tmax_features, file_index, "tmax_features")
    values = tmax_features[list(columns)].to_numpy(dtype=np.float64)
    use = _normal_training(rows, "source") & rows["machine_type"].isin(machine_types).to_numpy()
    for section_class, positions in rows[use].groupby("section_class", sort=True).indices.items():
        section_rows = rows[use].iloc[positions]
        attributes = sorted(a for a in pd.unique(section_rows["attribute_class"]) if a)
        backend.attributes_of_section[section_class] = tuple(attributes)
        for attribute_class in attributes:
            mask = use & (rows["attribute_class"] == attribute_class).to_numpy()
            backend.gaussians[attribute_class] = fit_gmm(
                values[mask], None, settings, f"tmax Gaussian of {attribute_class}", n_components=1
            )
    return backend


@single_threaded
def tmax_terms(
    backend: TmaxBackend, tmax_features: pd.DataFrame, file_index: pd.DataFrame
) -> pd.DataFrame:
    """``file_id, tmax_term``: ``-max_{a in a(s)} log N(t_max(x)|a)`` for source-domain files of
    the backend's machine types, NaN for every other file."""
    columns = list(backend.feature_columns)
    missing = [c for c in columns if c not in tmax_features.columns]
    if missing:
        raise ValueError(f"tmax_features lack columns {missing[:4]} the backend was fitted on")
    rows = _indexed_rows(tmax_features, file_index, "tmax_features")
    term = np.full(len(rows), np.nan)
    use = (rows["domain"] == "source").to_numpy() & rows["machine_type"].isin(
        backend.machine_types
    ).to_numpy()
    if use.any():
        values = tmax_features[columns].to_numpy(dtype=np.float64)
        for section_class, positions in rows[use].groupby("section_class").indices.items():
            positions = np.flatnonzero(use)[positions]
            attributes = backend.attributes_of_section.get(section_class, ())
            if not attributes:
                raise ValueError(
                    f"No tmax Gaussians for {section_class!r} (file "
                    f"{rows['file_id'].iloc[positions[0]]!r}): no attributes in its training data"
                )
            best = np.max(
                [backend.gaussians[a].score_samples(values[positions]) for a in attributes],
                axis=0,
            )
            term[positions] = -best
    return pd.DataFrame({"file_id": rows["file_id"].to_numpy(), "tmax_term": term})
