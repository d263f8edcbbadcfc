"""The ``embed`` pipeline: embeddings and learned centres, one namespace per configuration."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from subcluster_adacos_asd.configurations import TrainingConfiguration
from subcluster_adacos_asd.embedding import centres_table
from subcluster_adacos_asd.pipelines.embed.nodes import embed_files

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
                                "params:training.embed_batch_size"],
                        outputs="embeddings",
                        name="embed_files",
                    ),
                    Node(
                        centres_table,
                        inputs="model_snapshots",
                        outputs="centres",
                        name="extract_centres",
                    ),
                ],
                namespace=configuration.name,
                inputs=SHARED_INPUTS,
                parameters={"params:training.embed_batch_size"},
            )
        )
    return sum(pipelines, Pipeline([]))
