"""The `evaluate` pipeline: DCASE metrics of every system, the paper's tables, figures and the
DCASE submission files of the proposed system."""

from kedro.pipeline import Pipeline, node

from subcluster_adacos_asd.metrics import section_metrics
from subcluster_adacos_asd.protocols import apply_ground_truth
from subcluster_adacos_asd.reporting import (
    harmonic_mean_figure,
    roc_curve_figures,
    score_histogram_figures,
    submission_files,
)

from .nodes import build_tables, combine_system_scores, summarise_metrics


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                combine_system_scores,
                ["system_scores", "baseline_scores"],
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
                ["anomaly_scores", "params:evaluate.histogram_bins"],
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
