"""The ``train`` pipeline: one namespace per training configuration (e.g. ``sc04_both``).

``kedro run --pipelines=train --namespaces=sc04_both`` retrains that configuration alone.
"""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from subcluster_adacos_asd.configurations import TrainingConfiguration
from subcluster_adacos_asd.pipelines.train.nodes import train_model

SHARED_INPUTS = {"file_index", "log_mel", "feature_stats", "auxiliary_index",
                 "auxiliary_log_mel"}


def _bound(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def create_pipeline(configurations: list[TrainingConfiguration], **kwargs) -> Pipeline:
    pipelines = []
    for configuration in configurations:
        node = Node(
            _bound(
                train_model,
                sub_clusters=configuration.sub_clusters,
                variant=configuration.variant,
                configuration=configuration.name,
            ),
            inputs=["file_index", "log_mel", "feature_stats", "auxiliary_index",
                    "auxiliary_log_mel", "params:training"],
            outputs=["model_snapshots", "training_history"],
            name="train_model",
            tags=["training"],
        )
        pipelines.append(
            Pipeline(
                [node],
                namespace=configuration.name,
                inputs=SHARED_INPUTS,
                parameters={"params:training"},
            )
        )
    return sum(pipelines, Pipeline([]))
