"""GMM backends of the sub-cluster AdaCos system: fitting and score terms (paper 2.4, eqs. 2-4).

Everything here works on plain pandas frames laid out as in docs/data_contracts.md and holds no
Kedro, so the ``score`` pipeline fits backends once and the ``inference`` pipeline loads the
fitted mixtures and scores new files without refitting:

>>> fitted = fit_backends(embeddings_of_snapshot, centres_of_snapshot, file_index, settings)
>>> terms = score_terms(fitted, embeddings_of_new_files, index_of_new_files)

Per snapshot of one trained network, on length-normalised embeddings (mixtures.py; paper:
full covariances, ``reg_covar`` 1e-3, means initialised with the learned AdaCos centres):

* section GMM, one per ``section_class``: the normal training files of the section in
  ``section_domains`` (paper: the source domain; ``[source, target]`` adds the target clips, as
  the author's 2022 code does); one component per sub-cluster, means = the section head's
  centres of that class. **Decision** (DESIGN.md): the same GMM gives the first term in both
  domains.
* attribute GMMs, one per ``attribute_class``: the normal source-domain training files with
  that attribute string; means = the attribute head's centres of that class (``both`` variant).
  The ``sections`` variant has no attribute head: **Decision**: its attribute GMMs start from
  the section head's centres of the attribute's section (still "the learned mean values", EM
  then moves them onto the attribute's data); ``attribute_means: kmeans`` uses sklearn's
  k-means initialisation instead.
* target GMM, one per section: one component per normal target-domain training file of the
  section (3 in DCASE 2021), means = those embeddings, i.e. a likelihood that falls with the
  distance to the closest target sample. With ``covariance: shrunk`` every component takes the
  section GMM clips' Ledoit-Wolf covariance instead of EM's collapse onto one point (whose
  spread is ``reg_covar`` alone, which then sets the term's scale).

Score terms are negative log-likelihoods of the best weighted component, one function each:
:func:`section_term` and :func:`attribute_term` (eq. 2), :func:`target_term` (eq. 3) and
:func:`tmax_term` (eq. 4, Gaussians on the temporal maxima of the standardised log-mel).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from subcluster_adacos_asd.contracts import (
    CENTRE_PREFIX,
    EMBEDDING_PREFIX,
    TERM_COLUMNS,
    TMAX_PREFIX,
    prefixed_columns,
)
from subcluster_adacos_asd.mixtures import (
    GaussianMixtureModel,
    MixtureSettings,
    fit_mixture,
    mixture_at_points,
    shrunk_covariance,
)
from subcluster_adacos_asd.settings_base import Settings

logger = logging.getLogger(__name__)

ATTRIBUTE_MEANS = ("section_centres", "kmeans")
DOMAINS = ("source", "target")

__all__ = [
    "ATTRIBUTE_MEANS", "BackendSettings", "EMBEDDING_PREFIX", "CENTRE_PREFIX", "SnapshotBackends",
    "TERM_COLUMNS", "TMAX_PREFIX", "TmaxBackend", "attribute_term", "configuration_score_terms",
    "fit_backends", "fit_configuration_backends", "fit_tmax_backend", "score_terms",
    "section_term", "target_term", "tmax_term", "tmax_terms",
]


@dataclass(frozen=True)
class BackendSettings(Settings):
    """How the embedding backends are fitted (``params:score.backends``).

    ``gmm``: the mixture settings (:class:`MixtureSettings`); ``section_domains``: the domains
    whose normal training clips the section GMM is fitted on (paper: source only);
    ``attribute_means``: initial means of the ``sections`` variant's attribute GMMs.
    """

    gmm: MixtureSettings = field(default_factory=MixtureSettings)
    section_domains: tuple[str, ...] = ("source",)
    attribute_means: str = "section_centres"

    def __post_init__(self):
        if isinstance(self.gmm, Mapping):
            object.__setattr__(self, "gmm", MixtureSettings.from_parameters(
                self.gmm, "params:score.backends.gmm"))
        domains = tuple(self.section_domains)
        object.__setattr__(self, "section_domains", domains)
        if not domains or any(d not in DOMAINS for d in domains):
            raise ValueError(f"section_domains must be a non-empty subset of {DOMAINS}, "
                             f"got {list(domains)}")
        if self.attribute_means not in ATTRIBUTE_MEANS:
            raise ValueError(
                f"attribute_means must be one of {ATTRIBUTE_MEANS}, got {self.attribute_means!r}"
            )


@dataclass
class SnapshotBackends:
    """The fitted mixtures of one snapshot of one trained network (all eqs. 2-3 need).

    ``snapshot_fingerprint``: the fingerprint of the network whose embeddings they were fitted
    on (``embedding.snapshot_fingerprint``), so inference can refuse a retrained snapshot.
    """

    embedding_columns: tuple[str, ...]
    section_models: dict[str, GaussianMixtureModel]
    attribute_models: dict[str, GaussianMixtureModel]
    attributes_of_section: dict[str, tuple[str, ...]]
    target_models: dict[str, GaussianMixtureModel]
    snapshot_fingerprint: str = ""

    @property
    def nbytes(self) -> int:
        models = [*self.section_models.values(), *self.attribute_models.values(),
                  *self.target_models.values()]
        return sum(m.nbytes for m in models)


@dataclass
class TmaxBackend:
    """One Gaussian per attribute class on temporal-max log-mel features (eq. 4)."""

    feature_columns: tuple[str, ...]
    machine_types: tuple[str, ...]
    gaussians: dict[str, GaussianMixtureModel] = field(default_factory=dict)
    attributes_of_section: dict[str, tuple[str, ...]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# the paper's terms, on arrays


def section_term(section_model: GaussianMixtureModel, x: np.ndarray) -> np.ndarray:
    """Eqs. 2 and 3, first term: ``-max_k log P(x | s(x), k)``."""
    return -section_model.best_log_likelihood(x)


def attribute_term(attribute_models: Sequence[GaussianMixtureModel], x: np.ndarray) -> np.ndarray:
    """Eq. 2, second term: ``-max_{a in a(s(x))} max_k log P(x | a, k)``."""
    return -np.max([m.best_log_likelihood(x) for m in attribute_models], axis=0)


def target_term(target_model: GaussianMixtureModel, x: np.ndarray) -> np.ndarray:
    """Eq. 3, second term: ``-max_{k=1..3} log P(x | X_target(s(x)), k)``."""
    return -target_model.best_log_likelihood(x)


def tmax_term(tmax_models: Sequence[GaussianMixtureModel], t: np.ndarray) -> np.ndarray:
    """Eq. 4, the valve term: ``-max_{a in a(s(x))} log P_tmax(t_max(x) | a)``."""
    return -np.max([m.best_log_likelihood(t) for m in tmax_models], axis=0)


# --------------------------------------------------------------------------------------------
# small helpers


def l2_normalise(values: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; the AdaCos geometry is angular, so the GMMs live on the sphere."""
    values = np.asarray(values, dtype=np.float64)
    norms = np.linalg.norm(values, axis=-1, keepdims=True)
    return values / np.maximum(norms, np.finfo(np.float64).tiny)


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


def _normal_training(rows: pd.DataFrame, domains: Iterable[str]) -> np.ndarray:
    return (
        (rows["split"] == "train").to_numpy()
        & (rows["label"] == "normal").to_numpy()
        & rows["domain"].isin(list(domains)).to_numpy()
    )


def _centres_of(centres: pd.DataFrame, head: str, class_name: str, columns) -> np.ndarray:
    rows = centres[(centres["head"] == head) & (centres["class_name"] == class_name)]
    if "sub_cluster" in rows.columns:
        rows = rows.sort_values("sub_cluster", kind="stable")
    return rows[list(columns)].to_numpy(dtype=np.float64)


def _fingerprint_of(centres: pd.DataFrame) -> str:
    if "fingerprint" not in centres.columns or centres.empty:
        return ""
    values = pd.unique(centres["fingerprint"].astype(str))
    if len(values) != 1:
        raise ValueError(f"centres of one snapshot carry several fingerprints {list(values)}")
    return str(values[0])


# --------------------------------------------------------------------------------------------
# embedding backends


def fit_backends(
    embeddings: pd.DataFrame,
    centres: pd.DataFrame,
    file_index: pd.DataFrame,
    settings: BackendSettings | None = None,
) -> SnapshotBackends:
    """Fit the section, attribute and target GMMs of one snapshot (see module docstring).

    ``embeddings``: ``file_id`` + ``emb_*`` (one snapshot; the training files are taken from it);
    ``centres``: the ``<configuration>.centres`` rows of the same snapshot;
    ``file_index``: the ``file_index`` dataset (domain, split, label, classes of every file).

    BLAS runs single-threaded: these are many small problems (128 x 128 covariances, tens to
    thousands of rows), on which threads spend more time synchronising than computing
    (a 128 x 128 Cholesky: 15 ms with 2 OpenBLAS threads on a busy 2-core machine, 0.2 ms
    with one). Parallelism pays at the level of configurations, not inside one GMM.
    """
    with threadpool_limits(limits=1):
        return _fit_backends(embeddings, centres, file_index, settings or BackendSettings())


def _fit_backends(embeddings, centres, file_index, settings: BackendSettings) -> SnapshotBackends:
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

    source = _normal_training(rows, ["source"])
    target = _normal_training(rows, ["target"])
    for_section = _normal_training(rows, settings.section_domains)
    if not source.any():
        raise ValueError(f"{label}: no normal source-domain training files to fit GMMs on")

    reduced = []  # mixtures with fewer components than initial means

    def fit(x, means, what, n_components=None):
        model = fit_mixture(x, settings.gmm, means, n_components, what)
        if model.n_components < (len(means) if means is not None else n_components):
            reduced.append(what)
        return model

    section_models, attribute_models, attributes_of_section, target_models = {}, {}, {}, {}
    for section_class in sorted(pd.unique(rows.loc[source, "section_class"])):
        in_section = source & (rows["section_class"] == section_class).to_numpy()
        section_means = l2_normalise(
            _centres_of(centres, "section", section_class, centre_columns)
        )
        if len(section_means) == 0:
            raise ValueError(f"{label}: no section-head centres for {section_class!r}")
        section_rows = for_section & (rows["section_class"] == section_class).to_numpy()
        section_models[section_class] = fit(
            values[section_rows], section_means, f"{label} section {section_class}"
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
                attribute_models[attribute_class] = fit(values[mask], l2_normalise(means), what)
            elif settings.attribute_means == "section_centres":
                attribute_models[attribute_class] = fit(values[mask], section_means, what)
            else:
                attribute_models[attribute_class] = fit(
                    values[mask], None, what, n_components=len(section_means)
                )
    for section_class in sorted(pd.unique(rows.loc[target, "section_class"])):
        mask = target & (rows["section_class"] == section_class).to_numpy()
        if settings.gmm.covariance == "shrunk":
            in_section = for_section & (rows["section_class"] == section_class).to_numpy()
            target_models[section_class] = mixture_at_points(
                values[mask], shrunk_covariance(values[in_section], settings.gmm.reg_covar))
        else:
            target_models[section_class] = fit(
                values[mask], values[mask], f"{label} target samples of {section_class}"
            )
    if reduced:
        logger.warning(
            "%s: %d GMMs have fewer training files than sub-clusters and keep only the most "
            "used centres as components, e.g. %s", label, len(reduced), reduced[0],
        )
    return SnapshotBackends(
        embedding_columns=columns,
        section_models=section_models,
        attribute_models=attribute_models,
        attributes_of_section=attributes_of_section,
        target_models=target_models,
        snapshot_fingerprint=_fingerprint_of(centres),
    )


def score_terms(
    fitted: SnapshotBackends, embeddings: pd.DataFrame, file_index: pd.DataFrame
) -> pd.DataFrame:
    """``file_id, section_term, attribute_term, target_term`` for every row of ``embeddings``.

    ``attribute_term`` is NaN in the target domain and for sections without attribute classes;
    ``target_term`` is NaN in the source domain. A file whose section has no fitted GMM (no
    normal training data) is an error naming the file.
    """
    with threadpool_limits(limits=1):
        return _score_terms(fitted, embeddings, file_index)


def _score_terms(fitted: SnapshotBackends, embeddings, file_index, lacking: str = "raise"
                 ) -> pd.DataFrame:
    """``lacking``: ``raise`` for a file whose section has no fitted GMM, ``nan`` to leave its
    terms NaN (a cross-fitting fold that left out a section's only target clip)."""
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
        if section_class not in fitted.section_models:
            if lacking == "nan":
                continue
            raise ValueError(
                f"No section GMM for {section_class!r} (file {example!r}): the section has no "
                "normal source-domain training files"
            )
        terms["section_term"][positions] = section_term(
            fitted.section_models[section_class], values[positions])
        src = positions[is_source[positions]]
        attributes = fitted.attributes_of_section.get(section_class, ())
        if len(src) and attributes:
            terms["attribute_term"][src] = attribute_term(
                [fitted.attribute_models[a] for a in attributes], values[src])
        tgt = positions[is_target[positions]]
        if len(tgt):
            if section_class not in fitted.target_models:
                if lacking == "nan":
                    continue
                raise ValueError(
                    f"No target GMM for {section_class!r} (file "
                    f"{rows['file_id'].iloc[tgt[0]]!r}): the section has no normal "
                    "target-domain training files"
                )
            terms["target_term"][tgt] = target_term(
                fitted.target_models[section_class], values[tgt])
    return pd.DataFrame({"file_id": rows["file_id"].to_numpy(), **terms})


def _without_fold(file_index: pd.DataFrame, held_out: set[str]) -> pd.DataFrame:
    """``file_index`` with the held-out clips no longer training clips (what a fold's fit sees)."""
    index = file_index.copy()
    index.loc[index["file_id"].astype(str).isin(held_out), "split"] = "held_out"
    return index


def _fold_terms(embeddings, centres, file_index, held: np.ndarray, settings) -> pd.DataFrame:
    """The held-out clips' terms from backends fitted without them (one fold)."""
    with threadpool_limits(limits=1):
        index = _without_fold(file_index, set(embeddings.loc[held, "file_id"].astype(str)))
        fitted = _fit_backends(embeddings, centres, index, settings)
        return _score_terms(fitted, embeddings[held], file_index, lacking="nan")


def cross_fitted_terms(
    embeddings: pd.DataFrame,
    centres: pd.DataFrame,
    file_index: pd.DataFrame,
    folds: pd.DataFrame,
    settings: BackendSettings | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """``file_id`` + the terms of each clip of ``folds`` (``file_id, fold``) from backends fitted
    on the other folds' clips (calibration.py): out-of-sample scores of normal training clips.

    One snapshot, as :func:`fit_backends`. A clip whose section has no GMM without its fold (a
    section's only clip) gets NaN terms. ``n_jobs``: worker processes for the folds (joblib;
    1: none), each fit single-threaded as in :func:`fit_backends`.
    """
    from joblib import Parallel, delayed

    settings = settings or BackendSettings()
    fold_of = embeddings["file_id"].astype(str).map(folds.set_index("file_id")["fold"])
    held_out = [(fold_of == fold).to_numpy() for fold in sorted(pd.unique(fold_of.dropna()))]
    frames = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(_fold_terms)(embeddings, centres, file_index, held, settings)
        for held in held_out)
    columns = ["file_id", *TERM_COLUMNS]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(
        columns=columns)


def fit_configuration_backends(
    embeddings: pd.DataFrame,
    centres: pd.DataFrame,
    file_index: pd.DataFrame,
    settings: BackendSettings | None = None,
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


def configuration_calibration_terms(
    embeddings: pd.DataFrame,
    centres: pd.DataFrame,
    file_index: pd.DataFrame,
    folds: pd.DataFrame,
    settings: BackendSettings | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """``<configuration>.calibration_terms``: :func:`cross_fitted_terms` of every snapshot,
    ``file_id, snapshot`` + the terms (empty without folds: ``calibration.method: in_sample``)."""
    columns = ["file_id", "snapshot", *TERM_COLUMNS]
    if folds is None or folds.empty:
        return pd.DataFrame(columns=columns).astype({c: float for c in TERM_COLUMNS})
    by_snapshot = dict(tuple(embeddings.groupby("snapshot", sort=False)))
    centres_by_snapshot = dict(tuple(centres.groupby("snapshot", sort=False)))
    frames = []
    for snapshot in _snapshots(embeddings, "embeddings"):
        terms = cross_fitted_terms(by_snapshot[snapshot], centres_by_snapshot[snapshot],
                                   file_index, folds, settings, n_jobs)
        terms.insert(1, "snapshot", snapshot)
        frames.append(terms)
    return pd.concat(frames, ignore_index=True)[columns]


def _snapshots(frame: pd.DataFrame, what: str) -> list[str]:
    if "snapshot" not in frame.columns:
        raise ValueError(f"{what} has no 'snapshot' column")
    snapshots = [str(s) for s in pd.unique(frame["snapshot"])]
    if not snapshots:
        raise ValueError(f"{what} is empty")
    return sorted(snapshots)


# --------------------------------------------------------------------------------------------
# temporal-max backend (eq. 4)


def fit_tmax_backend(
    tmax_features: pd.DataFrame,
    file_index: pd.DataFrame,
    machine_types: Iterable[str],
    settings: MixtureSettings | None = None,
) -> TmaxBackend:
    """One single-component Gaussian per attribute class of the listed machine types.

    Fitted on the temporal maxima of the standardised log-mel of the normal source-domain
    training files of each attribute class (paper: valve only).
    """
    settings = settings or MixtureSettings()
    machine_types = tuple(str(m) for m in machine_types)
    columns = prefixed_columns(tmax_features, TMAX_PREFIX, "tmax_features")
    backend = TmaxBackend(feature_columns=columns, machine_types=machine_types)
    if not machine_types:
        return backend
    rows = _indexed_rows(tmax_features, file_index, "tmax_features")
    values = tmax_features[list(columns)].to_numpy(dtype=np.float64)
    use = _normal_training(rows, ["source"]) & rows["machine_type"].isin(machine_types).to_numpy()
    with threadpool_limits(limits=1):
        for section_class, positions in rows[use].groupby("section_class", sort=True).indices.items():
            section_rows = rows[use].iloc[positions]
            attributes = sorted(a for a in pd.unique(section_rows["attribute_class"]) if a)
            backend.attributes_of_section[section_class] = tuple(attributes)
            for attribute_class in attributes:
                mask = use & (rows["attribute_class"] == attribute_class).to_numpy()
                backend.gaussians[attribute_class] = fit_mixture(
                    values[mask], settings, n_components=1,
                    what=f"tmax Gaussian of {attribute_class}",
                )
    return backend


def tmax_terms(
    backend: TmaxBackend, tmax_features: pd.DataFrame, file_index: pd.DataFrame
) -> pd.DataFrame:
    """``file_id, tmax_term``: :func:`tmax_term` for source-domain files of the backend's
    machine types, NaN for every other file."""
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
            with threadpool_limits(limits=1):
                term[positions] = tmax_term(
                    [backend.gaussians[a] for a in attributes], values[positions])
    return pd.DataFrame({"file_id": rows["file_id"].to_numpy(), "tmax_term": term})


def cross_fitted_tmax_terms(
    tmax_features: pd.DataFrame,
    file_index: pd.DataFrame,
    machine_types: Iterable[str],
    folds: pd.DataFrame,
    settings: MixtureSettings | None = None,
) -> pd.DataFrame:
    """``file_id, tmax_term`` of the clips of ``folds`` (``file_id, fold``), each from the
    Gaussians fitted without its fold (the calibration counterpart of :func:`tmax_terms`); NaN
    where the term does not apply or its attribute class had no other clip."""
    machine_types = tuple(machine_types)
    columns = ["file_id", "tmax_term"]
    if folds is None or folds.empty or not machine_types:
        return pd.DataFrame(columns=columns).astype({"tmax_term": float})
    fold_of = tmax_features["file_id"].astype(str).map(folds.set_index("file_id")["fold"])
    frames = []
    for fold in sorted(pd.unique(fold_of.dropna())):
        held = (fold_of == fold).to_numpy()
        index = _without_fold(file_index, set(tmax_features.loc[held, "file_id"].astype(str)))
        backend = fit_tmax_backend(tmax_features, index, machine_types, settings)
        rows = _indexed_rows(tmax_features[held], file_index, "tmax_features")
        fitted = rows["section_class"].isin(list(backend.attributes_of_section)).to_numpy()
        term = np.full(len(rows), np.nan)
        if fitted.any():
            term[fitted] = tmax_terms(backend, tmax_features[held][fitted], file_index)[
                "tmax_term"].to_numpy()
        frames.append(pd.DataFrame({"file_id": rows["file_id"].to_numpy(), "tmax_term": term}))
    return pd.concat(frames, ignore_index=True)[columns]
