"""The `score` pipeline: GMM backends per configuration, then the ensemble (paper 2.4-2.6).

One namespaced instance per training configuration (``sc04_both`` ...) fits the GMMs of each
snapshot, computes the score terms of every file and, with ``calibration.method: cross_fit``,
the out-of-fold terms of the normal training clips; global nodes fit the temporal-max
Gaussians, normalise (optionally) and sum all configurations' terms per loss variant, choose a
variant per machine type, set thresholds on the calibration scores and decide.
"""

import warnings

from kedro.pipeline import Pipeline, node

from subcluster_adacos_asd.backends import configuration_score_terms, tmax_terms
from subcluster_adacos_asd.configurations import TrainingConfiguration
from subcluster_adacos_asd.ensemble import anomaly_scores, system_scores

from .nodes import (
    assign_calibration_folds,
    calibration_member_scores,
    choose_variants,
    compute_calibration_terms,
    compute_tmax_calibration_terms,
    ensemble_calibration_scores,
    ensemble_variant_scores,
    fit_configuration_backends,
    fit_tmax_backend,
    reduce_ensemble,
)


def configuration_pipeline(configuration: TrainingConfiguration) -> Pipeline:
    """``<name>.embeddings`` + ``<name>.centres`` -> ``<name>.backends``, ``<name>.score_terms``."""
    return Pipeline(
        [
            node(
                fit_configuration_backends,
                ["embeddings", "centres", "file_index", "params:score.backends"],
                "backends",
                name="fit_backends",
            ),
            node(
                configuration_score_terms,
                ["backends", "embeddings", "file_index"],
                "score_terms",
                name="compute_score_terms",
            ),
            node(
                compute_calibration_terms,
                ["embeddings", "centres", "file_index", "calibration_folds",
                 "params:score.backends", "params:score.calibration"],
                "calibration_terms",
                name="compute_calibration_terms",
            ),
        ],
        namespace=configuration.name,
        inputs={"file_index", "calibration_folds"},
        parameters={"params:score.backends", "params:score.calibration"},
    )


def create_pipeline(configurations: list[TrainingConfiguration], **kwargs) -> Pipeline:
    names = [c.name for c in configurations]
    if not names:
        return Pipeline([])
    per_configuration = sum(
        (configuration_pipeline(c) for c in configurations), Pipeline([])
    )
    with warnings.catch_warnings():
        # The inputs are the namespaced outputs of the per-configuration pipelines; Kedro warns
        # about '.' in names given to a node directly, yet these are namespaces on purpose.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        ensemble_node = node(
            ensemble_variant_scores,
            {
                "file_index": "file_index",
                "tmax_terms": "tmax_terms",
                "normalisation": "params:score.normalisation",
                **{name: f"{name}.score_terms" for name in names},
            },
            ["variant_scores", "score_normalisation", "ensemble_configurations"],
            name="ensemble_variant_scores",
        )
        calibration_node = node(
            ensemble_calibration_scores,
            {
                "variant_scores": "variant_scores",
                "file_index": "file_index",
                "tmax_terms": "tmax_calibration_terms",
                "statistics": "score_normalisation",
                **{name: f"{name}.calibration_terms" for name in names},
            },
            "calibration_scores",
            name="ensemble_calibration_scores",
        )
        calibration_members_node = node(
            calibration_member_scores,
            {
                "file_index": "file_index",
                "tmax_terms": "tmax_calibration_terms",
                "statistics": "score_normalisation",
                **{name: f"{name}.calibration_terms" for name in names},
            },
            "calibration_member_scores",
            name="calibration_member_scores",
        )
        reduction_node = node(
            reduce_ensemble,
            {
                "file_index": "file_index",
                "tmax_terms": "tmax_terms",
                "statistics": "score_normalisation",
                "variant_choice": "variant_choice",
                "calibration_members": "calibration_member_scores",
                "fraction": "params:score.reduction.fraction",
                "percentile": "params:score.threshold_percentile",
                "calibration_parameters": "params:score.calibration",
                **{name: f"{name}.score_terms" for name in names},
            },
            ["ensemble_reduction", "reduced_members", "reduced_scores", "reduced_thresholds"],
            name="reduce_ensemble",
        )
    folds = Pipeline([
        node(
            assign_calibration_folds,
            ["file_index", "params:score.calibration"],
            "calibration_folds",
            name="assign_calibration_folds",
        )
    ])
    ensemble = Pipeline(
        [
            node(
                compute_tmax_calibration_terms,
                ["tmax_features", "file_index", "calibration_folds", "params:score.tmax",
                 "params:score.backends"],
                "tmax_calibration_terms",
                name="compute_tmax_calibration_terms",
            ),
            node(
                fit_tmax_backend,
                ["tmax_features", "file_index", "params:score.tmax", "params:score.backends"],
                "tmax_backend",
                name="fit_tmax_backend",
            ),
            node(
                tmax_terms,
                ["tmax_backend", "tmax_features", "file_index"],
                "tmax_terms",
                name="compute_tmax_terms",
            ),
            ensemble_node,
            node(
                choose_variants,
                ["variant_scores", "params:score.variant_choice"],
                "variant_choice",
                name="choose_variants",
            ),
            calibration_node,
            node(
                anomaly_scores,
                ["variant_scores", "calibration_scores", "variant_choice",
                 "params:score.threshold_percentile", "params:score.calibration"],
                ["anomaly_scores", "thresholds"],
                name="decide_anomalies",
            ),
            node(
                system_scores,
                ["variant_scores", "calibration_scores", "variant_choice",
                 "params:score.threshold_percentile", "params:score.calibration"],
                "system_scores",
                name="collect_system_scores",
            ),
            calibration_members_node,
            reduction_node,
        ]
    )
    return folds + per_configuration + ensemble
