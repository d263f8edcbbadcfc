"""The ``inference`` pipeline: score new recordings with the trained system in the catalog.

``kedro run --pipelines=inference --params=inference.input_path=<folder>`` lists the WAV files,
checks them, extracts their log-mel, embeds them with every snapshot of the configurations of
each machine type's chosen loss variant (one namespace per configuration, as in ``score``), adds
the saved GMMs' terms and decides with the saved thresholds. Nothing is refitted. The scored
files join the score history (one row per machine type, section and recording time) and its
figures (score_history.py).
"""

from __future__ import annotations

import warnings
from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from subcluster_adacos_asd.configurations import TrainingConfiguration
from subcluster_adacos_asd.inference import temporal_max_terms
from subcluster_adacos_asd.pipelines.inference.nodes import (
    compute_inference_terms,
    extract_inference_log_mel,
    list_inference_files,
    plot_score_history,
    score_inference_files,
    update_score_history,
)

#: Datasets every configuration's namespace reads from outside it.
SHARED_INPUTS = {"inference_log_mel", "feature_stats", "inference_checked_files", "variant_choice",
                 "reduced_members"}
SHARED_PARAMETERS = {"params:inference.ensemble", "params:training.embed_batch_size"}


def _bound(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def configuration_pipeline(configuration: TrainingConfiguration) -> Pipeline:
    """``<name>.model_snapshots`` + ``<name>.backends`` -> ``<name>.inference_terms``."""
    return Pipeline(
        [
            node(
                _bound(compute_inference_terms, configuration=configuration.name),
                ["model_snapshots", "backends", "inference_log_mel", "feature_stats",
                 "inference_checked_files", "variant_choice", "reduced_members",
                 "params:inference.ensemble", "params:training.embed_batch_size"],
                "inference_terms",
                name="compute_inference_terms",
            )
        ],
        namespace=configuration.name,
        inputs=SHARED_INPUTS,
        parameters=SHARED_PARAMETERS,
    )


def create_pipeline(configurations: list[TrainingConfiguration], **kwargs) -> Pipeline:
    names = [c.name for c in configurations]
    if not names:
        return Pipeline([])
    with warnings.catch_warnings():
        # The inputs are the namespaced outputs of the per-configuration pipelines; Kedro warns
        # about '.' in names given to a node directly, yet these are namespaces on purpose.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        score_node = node(
            score_inference_files,
            {
                "files": "inference_checked_files",
                "tmax_terms": "inference_tmax_terms",
                "variant_choice": "variant_choice",
                "thresholds": "thresholds",
                "normalisation": "score_normalisation",
                "reduced_members": "reduced_members",
                "reduced_thresholds": "reduced_thresholds",
                "parameters": "params:inference",
                **{name: f"{name}.inference_terms" for name in names},
            },
            ["inference_scores", "inference_scores_csv", "inference_summary"],
            name="score_inference_files",
        )
    return (
        Pipeline(
            [
                node(
                    _bound(list_inference_files, configurations=names),
                    ["params:inference", "variant_choice", "thresholds",
                     "ensemble_configurations"],
                    "inference_files",
                    name="list_inference_files",
                ),
                node(
                    extract_inference_log_mel,
                    ["inference_files", "params:features", "params:inference",
                     "level_reference"],
                    ["inference_checked_files", "inference_log_mel"],
                    name="extract_inference_log_mel",
                ),
                node(
                    temporal_max_terms,
                    ["tmax_backend", "inference_log_mel", "feature_stats",
                     "inference_checked_files"],
                    "inference_tmax_terms",
                    name="compute_inference_tmax_terms",
                ),
            ]
        )
        + sum((configuration_pipeline(c) for c in configurations), Pipeline([]))
        + Pipeline([
            score_node,
            node(
                update_score_history,
                ["score_history_previous", "inference_scores"],
                "score_history",
                name="update_score_history",
            ),
            node(
                plot_score_history,
                "score_history",
                ["score_history_figures", "score_history_overview"],
                name="plot_score_history",
            ),
        ])
    )
