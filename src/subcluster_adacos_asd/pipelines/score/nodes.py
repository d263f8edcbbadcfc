"""Nodes of the `score` pipeline: thin wrappers over backends.py and ensemble.py."""

from __future__ import annotations

import pandas as pd

from subcluster_adacos_asd import backends, calibration, ensemble, reduction
from subcluster_adacos_asd.backends import BackendSettings
from subcluster_adacos_asd.calibration import CalibrationSettings
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
    return backends.fit_tmax_backend(
        tmax_features, file_index, tmax.get("machine_types", []),
        _tmax_settings(tmax, backend_parameters))


def _tmax_settings(tmax: dict, backend_parameters: dict) -> MixtureSettings:
    gmm = {**backend_parameters.get("gmm", {}), **(tmax.get("gmm") or {})}
    return MixtureSettings.from_parameters(gmm, "params:score.tmax.gmm")


def assign_calibration_folds(file_index: pd.DataFrame, parameters: dict) -> pd.DataFrame:
    """``calibration_folds``: each normal training clip's cross-fitting fold (empty unless
    ``calibration.method`` is ``cross_fit``)."""
    settings = CalibrationSettings.from_parameters(parameters, "params:score.calibration")
    if not settings.cross_fitted:
        return pd.DataFrame({"file_id": pd.Series(dtype=str), "fold": pd.Series(dtype="int64")})
    return calibration.assign_folds(file_index, settings.folds, settings.seed)


def compute_calibration_terms(
    embeddings: pd.DataFrame, centres: pd.DataFrame, file_index: pd.DataFrame,
    folds: pd.DataFrame, parameters: dict, calibration_parameters: dict,
) -> pd.DataFrame:
    """One configuration's cross-fitted terms of its normal training clips (every snapshot)."""
    settings = BackendSettings.from_parameters(parameters, "params:score.backends")
    calibration_settings = CalibrationSettings.from_parameters(calibration_parameters,
                                                               "params:score.calibration")
    return backends.configuration_calibration_terms(embeddings, centres, file_index, folds,
                                                    settings, calibration_settings.n_jobs)


def compute_tmax_calibration_terms(
    tmax_features: pd.DataFrame, file_index: pd.DataFrame, folds: pd.DataFrame, tmax: dict,
    backend_parameters: dict,
) -> pd.DataFrame:
    """The cross-fitted eq. 4 terms of the normal training clips (empty without folds)."""
    return backends.cross_fitted_tmax_terms(
        tmax_features, file_index, tmax.get("machine_types", []), folds,
        _tmax_settings(tmax, backend_parameters))


def ensemble_calibration_scores(
    variant_scores: pd.DataFrame, file_index: pd.DataFrame, tmax_terms: pd.DataFrame,
    statistics: pd.DataFrame, **calibration_terms: pd.DataFrame,
) -> pd.DataFrame:
    """``calibration_scores``: the variant scores of the normal training clips that thresholds
    are set on (cross-fitted, or in-sample for ``calibration.method: in_sample``)."""
    return ensemble.calibration_scores(variant_scores, file_index, tmax_terms, statistics,
                                       calibration_terms)


def calibration_member_scores(
    file_index: pd.DataFrame, tmax_terms: pd.DataFrame, statistics: pd.DataFrame,
    **calibration_terms: pd.DataFrame,
) -> pd.DataFrame:
    """Every member's cross-fitted score of the normal training clips (empty in-sample): what
    the reduced system's thresholds are set on."""
    if all(t.empty for t in calibration_terms.values()):
        return pd.DataFrame(columns=["file_id", "member", "variant", "score"])
    return reduction.member_scores(calibration_terms, tmax_terms, file_index, statistics)


def ensemble_variant_scores(
    file_index: pd.DataFrame, tmax_terms: pd.DataFrame, normalisation: str,
    **score_terms: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Per file and loss variant: terms (normalised, see ensemble.py) summed over snapshots and
    sub-cluster counts, and the scores; also the normalisation statistics and the names of the
    configurations summed (both for inference, which must sum the same ensemble).

    ``score_terms`` are keyed by configuration name (the node's dict inputs).
    """
    statistics = ensemble.normalisation_statistics(score_terms, tmax_terms, file_index,
                                                   normalisation)
    sums = ensemble.sum_members(score_terms, statistics, file_index)
    return (ensemble.variant_scores(sums, file_index, tmax_terms, statistics), statistics,
            sorted(score_terms))


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
    variant_choice: dict[str, str], calibration_members: pd.DataFrame, fraction: float,
    percentile: float, calibration_parameters: dict, **score_terms: pd.DataFrame,
) -> tuple[pd.DataFrame, dict[str, list[str]], pd.DataFrame, pd.DataFrame]:
    """The greedy reduction curve, the members each machine type keeps (chosen on the labelled
    test files: development data only, see reduction.py), the reduced system's scores and its
    thresholds (for ``inference.ensemble: reduced``), calibrated on ``calibration_members``."""
    scores = reduction.member_scores(score_terms, tmax_terms, file_index, statistics)
    curve, kept = reduction.reduce_ensemble(scores, file_index, variant_choice, fraction)
    settings = CalibrationSettings.from_parameters(calibration_parameters,
                                                   "params:score.calibration")
    reduced, thresholds = reduction.reduced_system_scores(
        scores, file_index, kept, percentile, calibration_members, settings)
    return curve, kept, reduced, thresholds
