"""The `inference` pipeline (placeholder until implemented)."""

from kedro.pipeline import Pipeline

from subcluster_adacos_asd.configurations import TrainingConfiguration


def create_pipeline(configurations: list[TrainingConfiguration], **kwargs) -> Pipeline:
    return Pipeline([])
