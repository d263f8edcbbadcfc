"""Project pipelines, each registered by name.

``train``, ``embed``, ``score`` and ``inference`` hold one namespace per training
configuration of ``params:grid`` (e.g. ``sc04_both``; configurations.py), so
``--namespaces=sc04_both`` reruns one.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from subcluster_adacos_asd.configurations import registered_grid
from subcluster_adacos_asd.pipelines.baselines import pipeline as baselines
from subcluster_adacos_asd.pipelines.embed import pipeline as embed
from subcluster_adacos_asd.pipelines.evaluate import pipeline as evaluate
from subcluster_adacos_asd.pipelines.features import pipeline as features
from subcluster_adacos_asd.pipelines.inference import pipeline as inference
from subcluster_adacos_asd.pipelines.score import pipeline as score
from subcluster_adacos_asd.pipelines.synthetic import pipeline as synthetic
from subcluster_adacos_asd.pipelines.train import pipeline as train


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``asd`` is the whole system on whatever data ``raw_audio`` points at; ``__default__`` is
    ``synthetic`` + ``asd``, where ``synthetic`` writes the synthetic data set only where
    ``data_source.synthetic`` is true (conf/base) and leaves real recordings alone elsewhere
    (conf/dcase2021, conf/toycar2023). ``inference`` scores new recordings with an already
    trained system and is never part of the default.
    """
    configurations = registered_grid()
    pipelines = {
        "synthetic": synthetic.create_pipeline(),
        "features": features.create_pipeline(),
        "train": train.create_pipeline(configurations),
        "embed": embed.create_pipeline(configurations),
        "score": score.create_pipeline(configurations),
        "baselines": baselines.create_pipeline(),
        "evaluate": evaluate.create_pipeline(configurations),
        "inference": inference.create_pipeline(configurations),
    }
    pipelines["asd"] = (
        pipelines["features"]
        + pipelines["train"]
        + pipelines["embed"]
        + pipelines["score"]
        + pipelines["baselines"]
        + pipelines["evaluate"]
    )
    pipelines["__default__"] = pipelines["synthetic"] + pipelines["asd"]
    return pipelines
