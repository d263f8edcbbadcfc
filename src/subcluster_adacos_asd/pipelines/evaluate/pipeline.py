"""The `evaluate` pipeline: DCASE metrics of every system, the paper's tables, figures and the
DCASE submission files of the proposed system."""

import warnings

from kedro.pipeline import Pipeline, node

from subcluster_adacos_asd.configurations import TrainingConfiguration
from subcluster_adacos_asd.metrics import section_metrics
from subcluster_adacos_asd.protocols import apply_ground_truth
from subcluster_adacos_asd.reduction import reduction_figure
from subcluster_adacos_asd.reporting import (
    harmonic_mean_figure,
    roc_curve_figures,
    score_histogram_figures,
    submission_files,
)

from .nodes import (
    build_decisions_table,
    build_tables,
    combine_system_scores,
    summarise_metrics,
    summarise_reduction,
)


def create_pipeline(configurations: list[TrainingConfiguration] | None = None,
                    **kwargs) -> Pipeline:
    """The evaluation; with ``configurations``, also the ensemble reduction's summary, which
    reads every configuration's training history (the time the reduction saves)."""
    pipeline = Pipeline(
        [
            node(
                combine_system_scores,
                ["system_scores", "baseline_scores", "reduced_scores"],
                "all_system_scores",
                name="combine_system_scores",
            ),
            node(
                apply_ground_truth,
                ["file_index", "params:evaluate.ground_truth"],
                "evaluated_file_index",
                name="apply_ground_truth",
            ),
            node(
                section_metrics,
                ["all_system_scores", "evaluated_file_index", "params:evaluate.max_fpr",
                 "params:evaluate.protocol"],
                "metrics_per_section",
                name="compute_section_metrics",
            ),
            node(
                summarise_metrics,
                ["metrics_per_section", "params:evaluate"],
                ["metrics", "metrics_summary"],
                name="summarise_metrics",
            ),
            node(
                build_tables,
                ["metrics_per_section", "metrics_summary", "params:evaluate"],
                [
                    "table_overview_md", "table_overview_csv",
                    "table_2_systems_md", "table_2_systems_csv",
                    "table_3_distributions_md", "table_3_distributions_csv",
                    "table_4_losses_md", "table_4_losses_csv",
                ],
                name="build_tables",
            ),
            node(
                build_decisions_table,
                ["metrics_summary", "params:score.threshold_percentile"],
                ["table_decisions_md", "table_decisions_csv"],
                name="build_decisions_table",
            ),
            node(
                roc_curve_figures,
                ["all_system_scores", "evaluated_file_index", "params:evaluate.roc_systems"],
                "roc_curves",
                name="plot_roc_curves",
            ),
            node(
                harmonic_mean_figure,
                ["metrics_summary", "params:evaluate.summary_systems"],
                "harmonic_means_figure",
                name="plot_harmonic_means",
            ),
            node(
                score_histogram_figures,
                ["anomaly_scores", "params:evaluate.histogram_bins", "calibration_scores",
                 "variant_choice"],
                "score_histograms",
                name="plot_score_histograms",
            ),
            node(
                submission_files,
                ["anomaly_scores", "file_index", "params:evaluate.protocol"],
                "submission",
                name="write_submission",
            ),
        ]
    )
    reduction = Pipeline([
        node(
            reduction_figure,
            "ensemble_reduction",
            "ensemble_reduction_figure",
            name="plot_ensemble_reduction",
        )
    ])
    if not configurations:
        return pipeline + reduction
    with warnings.catch_warnings():
        # namespaced inputs on purpose (see the score pipeline)
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        summary = node(
            summarise_reduction,
            {"curve": "ensemble_reduction", "kept": "reduced_members",
             **{c.name: f"{c.name}.training_history" for c in configurations}},
            "ensemble_reduction_summary",
            name="summarise_ensemble_reduction",
        )
    return pipeline + reduction + Pipeline([summary])
