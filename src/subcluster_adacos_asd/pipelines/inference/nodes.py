"""Nodes of the ``inference`` pipeline: thin wrappers over :mod:`subcluster_adacos_asd.inference`.

Inputs come from paths in ``params:inference`` (new recordings live anywhere, not in
``raw_audio``); the trained system comes from the catalog as the ``score`` pipeline left it.
"""

from __future__ import annotations

import logging

import pandas as pd
from matplotlib.figure import Figure

from subcluster_adacos_asd import inference, score_history
from subcluster_adacos_asd.configurations import check_scored_with
from subcluster_adacos_asd.manifest import read_manifest

logger = logging.getLogger(__name__)


def list_inference_files(
    parameters: dict, variant_choice: dict[str, str], thresholds: pd.DataFrame,
    ensemble_configurations: list[str], *, configurations: list[str],
) -> pd.DataFrame:
    """Every input file with what its name, the manifest or the parameters say it is, and error
    rows for names that say nothing and for machine types, sections or domains the system
    never saw. First of all: this run's grid (``configurations``) must be the ensemble the
    saved thresholds were set on."""
    check_scored_with(ensemble_configurations, configurations)
    settings = inference.InferenceSettings.from_parameters(parameters)
    if settings.manifest:
        files = inference.describe_manifest(read_manifest(settings.manifest))
        logger.info("Inference: %d files from the manifest %s", len(files), settings.manifest)
    else:
        paths = inference.list_input_files(settings.input_path)
        logger.info("Inference: %d files from %s", len(paths), settings.input_path)
        files = inference.describe_files(paths, settings)
    return inference.check_trained(files, variant_choice, thresholds)


def extract_inference_log_mel(
    files: pd.DataFrame, feature_parameters: dict, parameters: dict,
    level_reference: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw log-mel of the usable files, with the trained system's feature settings, and the
    file table with error rows for audio that cannot be used (rate, channels, length, reading)
    or cannot be right (digital silence, a level far from the training clips')."""
    settings = inference.InferenceSettings.from_parameters(parameters)
    log_mel_settings = settings.log_mel_settings(feature_parameters)
    files, log_mel = inference.extract_log_mel(
        files, log_mel_settings, settings.n_jobs, settings.chunk_size
    )
    return inference.check_levels(files, log_mel, level_reference, log_mel_settings.n_mels)


def update_score_history(
    previous: pd.DataFrame | None, inference_scores: pd.DataFrame
) -> pd.DataFrame:
    """The score history with this run's scored files (score_history.py): one row per machine
    type, section and recording time, a rescored recording replacing its earlier row."""
    return score_history.update_history(previous, inference_scores)


def plot_score_history(history: pd.DataFrame) -> tuple[dict[str, Figure], Figure]:
    """One figure per machine type and section (score against recording time, thresholds,
    alarms), and all of them in one overview figure."""
    for name, counts in score_history.summary_of(history).items():
        logger.info("Score history %s: %d recordings from %s to %s, %d alarms", name,
                    counts["recordings"], counts["first"], counts["last"], counts["alarms"])
    return score_history.history_figures(history), score_history.history_overview(history)


def compute_inference_terms(
    model_snapshots: dict,
    fitted_backends: dict,
    log_mel: pd.DataFrame,
    feature_stats: pd.DataFrame,
    files: pd.DataFrame,
    variant_choice: dict[str, str],
    reduced_members: dict[str, list[str]],
    ensemble: str,
    batch_size: int,
    *,
    configuration: str,
) -> pd.DataFrame:
    """One configuration's score terms of the files whose machine type uses its loss variant
    (``ensemble: reduced``: only the kept snapshots, for the machine types that keep them)."""
    return inference.configuration_terms(
        configuration, model_snapshots, fitted_backends, log_mel, feature_stats, files,
        variant_choice, int(batch_size),
        members=reduced_members if ensemble == "reduced" else None,
    )


def score_inference_files(
    files: pd.DataFrame,
    tmax_terms: pd.DataFrame,
    variant_choice: dict[str, str],
    thresholds: pd.DataFrame,
    normalisation: pd.DataFrame,
    reduced_members: dict[str, list[str]],
    reduced_thresholds: pd.DataFrame,
    parameters: dict,
    **terms_by_configuration: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """``inference_scores`` (saved as Parquet and CSV) and ``inference_summary``; logs the
    summary, with every error's reason, as the run's last word."""
    if inference.InferenceSettings.from_parameters(parameters).ensemble == "reduced":
        used = reduced_thresholds
        table = inference.score_table(files, terms_by_configuration, tmax_terms, variant_choice,
                                      reduced_thresholds, normalisation, reduced_members)
    else:
        used = thresholds
        table = inference.score_table(files, terms_by_configuration, tmax_terms, variant_choice,
                                      thresholds, normalisation)
    result = inference.summary(table, parameters.get("input_path"), used)
    inference.log_summary(result)
    return table, table, result
