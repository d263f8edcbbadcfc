"""Nodes of the `score` pipeline: thin wrappers over backends.py and ensemble.py."""

from __future__ import annotations

import pandas as pd

from subcluster_adacos_asd import backends, ensemble, reduction
from subcluster_adacos_asd.backends import BackendSettings
from subcluster_adacos_asd.mixtures import MixtureSettings


def fit_configuration_backends(
    embeddings: pd.DataFrame, centres: pd.DataFrame, file_index: pd.DataFrame, parameters: dict
) -> dict[str, backends.SnapshotBackends]:
    """The fitted GMMs of every snapshot of one configuration (saved for inference)."""
    settings = BackendSettings.from_parameters(parameters, "params:score.backends")
    return backends.fit_configuration_backends(embeddings, centres, file_index, settings)


def fit_tmax_backend(
    tmax_features: pd.DataFrame, file_index: pd.DataFrame, tmax: dict, backend_parameters: dict
) -> backends.TmaxBackend:
    """Single Gaussians per attribute class on temporal-max features (eq. 4); their mixture
    settings are those of the embedding GMMs with ``tmax.gmm`` overriding single keys."""
    gmm = {**backend_parameters.get("gmm", {}), **(tmax.get("gmm") or {})}
    settings = MixtureSettings.from_parameters(gmm, "params:score.tmax.gmm")
    return backends.fit_tmax_backend(
        tmax_features, file_index, tmax.get("machine_types", []), settings
    )


def ensemble_variant_scores(
    file_index: pd.DataFrame, tmax_terms: pd.DataFrame, normalisation: str,
    **score_terms: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per file and loss variant: terms (normalised, see ensemble.py) summed over snapshots and
    sub-cluster counts, and the scores; also the normalisation statistics (for inference).

    ``score_terms`` are keyed by configuration name (the node's dict inputs).
    """
    statistics = ensemble.normalisation_statistics(score_terms, tmax_terms, file_index,
                                                   normalisation)
    sums = ensemble.sum_members(score_terms, statistics, file_index)
    return ensemble.variant_scores(sums, file_index, tmax_terms, statistics), statistics


def choose_variants(variant_scores: pd.DataFrame, parameters: dict) -> dict[str, str]:
    """``variant_choice``: machine type -> loss variant (fixed map or dev-set AUC)."""
    return ensemble.choose_variants(
        variant_scores,
        method=parameters.get("method", "fixed"),
        fixed=parameters.get("fixed"),
        default=parameters.get("default", "both"),
    )


def reduce_ensemble(
    file_index: pd.DataFrame, tmax_terms: pd.DataFrame, statistics: pd.DataFrame,
    variant_choice: dict[str, str], fraction: float, percentile: float,
    **score_terms: pd.DataFrame,
) -> tuple[pd.DataFrame, dict[str, list[str]], pd.DataFrame, pd.DataFrame]:
    """The greedy reduction curve, the members each machine type keeps (chosen on the labelled
    test files: development data only, see reduction.py), the reduced system's scores and its
    thresholds (for ``inference.ensemble: reduced``)."""
    scores = reduction.member_scores(score_terms, tmax_terms, file_index, statistics)
    curve, kept = reduction.reduce_ensemble(scores, file_index, variant_choice, fraction)
    reduced, thresholds = reduction.reduced_system_scores(scores, file_index, kept, percentile)
    return curve, kept, reduced, thresholds
