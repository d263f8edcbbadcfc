"""Nodes of the `score` pipeline: thin wrappers over backends.py and ensemble.py."""

from __future__ import annotations

import pandas as pd

from subcluster_adacos_asd import backends, ensemble
from subcluster_adacos_asd.backends import GmmSettings


def fit_configuration_backends(
    embeddings: pd.DataFrame, centres: pd.DataFrame, file_index: pd.DataFrame, parameters: dict
) -> dict[str, backends.SnapshotBackends]:
    """The fitted GMMs of every snapshot of one configuration (saved for inference)."""
    return backends.fit_configuration_backends(
        embeddings, centres, file_index, GmmSettings.from_parameters(parameters["gmm"])
    )


def compute_score_terms(
    fitted: dict[str, backends.SnapshotBackends],
    embeddings: pd.DataFrame,
    file_index: pd.DataFrame,
) -> pd.DataFrame:
    """``<configuration>.score_terms`` of every file and snapshot."""
    return backends.configuration_score_terms(fitted, embeddings, file_index)


def fit_tmax_backend(
    tmax_features: pd.DataFrame, file_index: pd.DataFrame, parameters: dict
) -> backends.TmaxBackend:
    """Single Gaussians per attribute class on temporal-max features (eq. 4)."""
    tmax = parameters["tmax"]
    settings = GmmSettings.from_parameters({**parameters["gmm"], **tmax.get("gmm", {})})
    return backends.fit_tmax_backend(
        tmax_features, file_index, tmax.get("machine_types", []), settings
    )


def compute_tmax_terms(
    backend: backends.TmaxBackend, tmax_features: pd.DataFrame, file_index: pd.DataFrame
) -> pd.DataFrame:
    """``file_id, tmax_term`` (NaN where the term is not used)."""
    return backends.tmax_terms(backend, tmax_features, file_index)


def ensemble_variant_scores(
    file_index: pd.DataFrame, tmax_terms: pd.DataFrame, **score_terms: pd.DataFrame
) -> pd.DataFrame:
    """Per file and loss variant: terms summed over snapshots and sub-cluster counts, scores.

    ``score_terms`` are keyed by configuration name (the node's dict inputs).
    """
    sums = ensemble.sum_members(score_terms)
    return ensemble.variant_scores(sums, file_index, tmax_terms)


def choose_variants(variant_scores: pd.DataFrame, parameters: dict) -> dict[str, str]:
    """``variant_choice``: machine type -> loss variant (fixed map or dev-set AUC)."""
    choice = parameters["variant_choice"]
    return ensemble.choose_variants(
        variant_scores,
        method=choice.get("method", "fixed"),
        fixed=choice.get("fixed"),
        default=choice.get("default", "both"),
    )


def decide_anomalies(
    variant_scores: pd.DataFrame, variant_choice: dict[str, str], parameters: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``anomaly_scores`` and ``thresholds`` of the proposed system."""
    return ensemble.anomaly_scores(
        variant_scores, variant_choice, parameters["threshold_percentile"]
    )


def collect_system_scores(
    variant_scores: pd.DataFrame, variant_choice: dict[str, str], parameters: dict
) -> pd.DataFrame:
    """``system_scores``: the proposed system and its parts, long format."""
    return ensemble.system_scores(
        variant_scores, variant_choice, parameters["threshold_percentile"]
    )
