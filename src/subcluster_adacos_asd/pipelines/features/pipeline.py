"""The `features` pipeline: raw_audio (+ recordings_manifest) -> file_index, log_mel,
feature_stats, level_reference, tmax_features; auxiliary_index and auxiliary_log_mel (the
auxiliary classes' clips, empty unless ``auxiliary.source`` names some).

The index (``audio_files``, from the file names, the manifest or the folders) stays in memory:
``extract_log_mel`` saves it as ``file_index`` together with ``log_mel`` (log_mel first), so a
run that fails on a bad recording leaves the previous, matching ``file_index`` and ``log_mel``
as they were.
"""

from kedro.pipeline import Pipeline, node

from subcluster_adacos_asd.pipelines.features.nodes import (
    build_file_index,
    compute_feature_stats,
    compute_level_reference,
    compute_tmax_features,
    extract_auxiliary_log_mel,
    extract_log_mel,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                build_file_index,
                inputs=["raw_audio", "recordings_manifest", "params:features"],
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
                extract_auxiliary_log_mel,
                inputs=["audio_files", "params:auxiliary", "params:synthetic", "params:features"],
                outputs=["auxiliary_log_mel", "auxiliary_index"],
                name="extract_auxiliary_log_mel",
            ),
            node(
                compute_feature_stats,
                inputs=["log_mel", "file_index", "params:features"],
                outputs="feature_stats",
                name="compute_feature_stats",
            ),
            node(
                compute_level_reference,
                inputs=["log_mel", "file_index", "params:features"],
                outputs="level_reference",
                name="compute_level_reference",
            ),
            node(
                compute_tmax_features,
                inputs=["log_mel", "feature_stats", "params:features"],
                outputs="tmax_features",
                name="compute_tmax_features",
            ),
        ]
    )
