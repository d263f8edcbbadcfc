"""The `baselines` pipeline: the official DCASE 2021 task 2 autoencoder and MobileNetV2 baselines.

Both train one model per machine type on the project's file index and raw log-mel features and
write their scores and decisions into ``baseline_scores`` (the ``system_scores`` contract), which
the ``evaluate`` pipeline scores like the proposed system.
"""

from functools import partial

from kedro.pipeline import Node, Pipeline

from subcluster_adacos_asd.pipelines.baselines.nodes import (
    combine_baseline_tables,
    score_baseline,
    train_autoencoder_baseline,
    train_mobilenetv2_baseline,
)

FEATURES = ["file_index", "log_mel", "feature_stats"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_autoencoder_baseline,
                [*FEATURES, "params:baselines.autoencoder", "params:baselines.section_groups"],
                "autoencoder_baseline_models",
                name="train_autoencoder_baseline",
            ),
            Node(
                partial(score_baseline, "autoencoder"),
                [
                    "autoencoder_baseline_models",
                    *FEATURES,
                    "params:baselines.autoencoder",
                    "params:baselines.section_groups",
                    "params:baselines.decision_quantile",
                ],
                ["autoencoder_baseline_scores", "autoencoder_baseline_thresholds"],
                name="score_autoencoder_baseline",
            ),
            Node(
                train_mobilenetv2_baseline,
                [*FEATURES, "params:baselines.mobilenetv2", "params:baselines.section_groups"],
                "mobilenetv2_baseline_models",
                name="train_mobilenetv2_baseline",
            ),
            Node(
                partial(score_baseline, "mobilenetv2"),
                [
                    "mobilenetv2_baseline_models",
                    *FEATURES,
                    "params:baselines.mobilenetv2",
                    "params:baselines.section_groups",
                    "params:baselines.decision_quantile",
                ],
                ["mobilenetv2_baseline_scores", "mobilenetv2_baseline_thresholds"],
                name="score_mobilenetv2_baseline",
            ),
            Node(
                combine_baseline_tables,
                ["autoencoder_baseline_scores", "mobilenetv2_baseline_scores"],
                "baseline_scores",
                name="combine_baseline_scores",
            ),
            Node(
                combine_baseline_tables,
                ["autoencoder_baseline_thresholds", "mobilenetv2_baseline_thresholds"],
                "baseline_thresholds",
                name="combine_baseline_thresholds",
            ),
        ]
    )
