"""The `evaluate` pipeline: DCASE metrics of every system, the paper's tables, figures and the
DCASE submission files of the proposed system."""

from kedro.pipeline import Pipeline, node

from .nodes import (
    build_tables,
    combine_system_scores,
    compute_section_metrics,
    plot_harmonic_means,
    plot_roc_curves,
    plot_score_histograms,
    summarise_metrics,
    write_submission,
)


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
                compute_section_metrics,
                ["all_system_scores", "file_index", "params:evaluate"],
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
                plot_roc_curves,
                ["all_system_scores", "file_index", "params:evaluate"],
                "roc_curves",
                name="plot_roc_curves",
            ),
            node(
                plot_harmonic_means,
                ["metrics_summary", "params:evaluate"],
                "harmonic_means_figure",
                name="plot_harmonic_means",
            ),
            node(
                plot_score_histograms,
                ["anomaly_scores", "params:evaluate"],
                "score_histograms",
                name="plot_score_histograms",
            ),
            node(
                write_submission,
                ["anomaly_scores", "file_index"],
                "submission",
                name="write_submission",
            ),
        ]
    )
