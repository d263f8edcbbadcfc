"""The `synthetic` pipeline: writes the embedded default data set into ``raw_audio``."""

from kedro.pipeline import Pipeline, node

from subcluster_adacos_asd.pipelines.synthetic.nodes import generate_synthetic_audio


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                generate_synthetic_audio,
                inputs=["params:synthetic", "params:data_source"],
                outputs=["raw_audio", "synthetic_manifest"],
                name="generate_synthetic_audio",
            )
        ]
    )
