"""The `features` pipeline: raw_audio -> file_index, log_mel, feature_stats, tmax_features.

The index built from the file names (``audio_files``) stays in memory: ``extract_log_mel``
saves it as ``file_index`` together with ``log_mel`` (log_mel first), so a run that fails on a
bad recording leaves the previous, matching ``file_index`` and ``log_mel`` as they were.
"""

from kedro.pipeline import Pipeline, node

from subcluster_adacos_asd.pipelines.features.nodes import (
    build_file_index,
    compute_feature_stats,
    compute_tmax_features,
    extract_log_mel,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                build_file_index,
                inputs=["raw_audio", "params:features"],
                outputs="audio_files",
                name="build_file_index",
            ),
            node(
                extract_log_mel,
                inputs=["raw_audio", "audio_files", "params:features"],
                outputs=["log_mel", "file_index"],
                name="extract_log_mel",
            ),
            node(
                compute_feature_stats,
                inputs=["log_mel", "file_index", "params:features"],
                outputs="feature_stats",
                name="compute_feature_stats",
            ),
            node(
                compute_tmax_features,
                inputs=["log_mel", "feature_stats", "params:features"],
                outputs="tmax_features",
                name="compute_tmax_features",
            ),
        ]
    )
