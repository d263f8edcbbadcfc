"""The ``embed`` pipeline: embeddings and learned centres, one namespace per configuration."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from subcluster_adacos_asd.configurations import TrainingConfiguration
from subcluster_adacos_asd.pipelines.embed.nodes import embed_files, extract_centres

SHARED_INPUTS = {"file_index", "log_mel", "feature_stats"}


def create_pipeline(configurations: list[TrainingConfiguration], **kwargs) -> Pipeline:
    pipelines = []
    for configuration in configurations:
        pipelines.append(
            Pipeline(
                [
                    Node(
                        embed_files,
                        inputs=["model_snapshots", "file_index", "log_mel", "feature_stats",
                                "params:training"],
                        outputs="embeddings",
                        name="embed_files",
                    ),
                    Node(
                        extract_centres,
                        inputs="model_snapshots",
                        outputs="centres",
                        name="extract_centres",
                    ),
                ],
                namespace=configuration.name,
                inputs=SHARED_INPUTS,
                parameters={"params:training"},
            )
        )
    return sum(pipelines, Pipeline([]))
