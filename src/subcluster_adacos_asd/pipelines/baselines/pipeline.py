"""The `baselines` pipeline: the official DCASE 2021 task 2 autoencoder and MobileNetV2 baselines,
and the non-learned reference systems.

Both baselines train one model per machine type on the project's file index and raw log-mel
features; the references (nearest neighbours and a Gaussian on log-mel statistics) only store
the normal training clips. All write their scores and decisions into ``baseline_scores`` (the
``system_scores`` contract), which the ``evaluate`` pipeline scores like the proposed system.
"""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from subcluster_adacos_asd.baselines import SYSTEMS
from subcluster_adacos_asd.pipelines.baselines.nodes import (
    combine_baseline_tables,
    score_baseline,
    score_references,
    train_baseline,
)

FEATURES = ["file_index", "log_mel", "feature_stats"]


def _bound(func, **kwargs):
    """``partial(func, **kwargs)`` that keeps ``func``'s name, module and annotations: Kedro's
    parameter type check reads a node function's type hints, and a bare ``partial`` has none
    (it logged "Could not extract type hints" for every such node of every pipeline)."""
    return update_wrapper(partial(func, **kwargs), func)


def system_pipeline(system: str) -> Pipeline:
    """Train the models of one baseline, then score every file with them."""
    settings = [f"params:baselines.{system}", "params:baselines.section_groups"]
    calibration = "params:baselines.calibration"
    return Pipeline(
        [
            Node(
                _bound(train_baseline, system=system),
                [*FEATURES, *settings, calibration],
                f"{system}_baseline_models",
                name=f"train_{system}_baseline",
            ),
            Node(
                _bound(score_baseline, system=system),
                [
                    f"{system}_baseline_models",
                    *FEATURES,
                    *settings,
                    "params:baselines.decision_quantile",
                    calibration,
                ],
                [f"{system}_baseline_scores", f"{system}_baseline_thresholds"],
                name=f"score_{system}_baseline",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    combined = Pipeline(
        [
            Node(
                score_references,
                [*FEATURES, "params:baselines.references", "params:score.calibration"],
                ["reference_scores", "reference_thresholds"],
                name="score_references",
            ),
            Node(
                combine_baseline_tables,
                [*[f"{system}_baseline_scores" for system in SYSTEMS], "reference_scores"],
                "baseline_scores",
                name="combine_baseline_scores",
            ),
            Node(
                combine_baseline_tables,
                [*[f"{system}_baseline_thresholds" for system in SYSTEMS],
                 "reference_thresholds"],
                "baseline_thresholds",
                name="combine_baseline_thresholds",
            ),
        ]
    )
    return sum((system_pipeline(system) for system in SYSTEMS), Pipeline([])) + combined
