"""Nodes of the `baselines` pipeline: thin wrappers over :mod:`subcluster_adacos_asd.baselines`."""

from __future__ import annotations

import pandas as pd

from subcluster_adacos_asd import baselines, calibration, references
from subcluster_adacos_asd.calibration import CalibrationSettings, HoldoutSettings


def _calibration(parameters: dict | None) -> HoldoutSettings:
    return HoldoutSettings.from_parameters(parameters, "params:baselines.calibration")


def train_baseline(
    file_index: pd.DataFrame,
    log_mel: pd.DataFrame,
    feature_stats: pd.DataFrame,
    settings: dict,
    section_groups: list | None,
    calibration_parameters: dict | None = None,
    *,
    system: str,
) -> dict:
    """One model of ``system`` per machine type (or section group): ``{model name: keras.Model}``.

    ``system`` is a name in ``baselines.SYSTEMS`` (``autoencoder``, ``mobilenetv2``); the
    pipeline binds it by keyword (see ``pipeline._bound``). ``settings``:
    ``params:baselines.<system>``, where an unknown key is an error. With
    ``baselines.calibration.method: holdout`` the held-out clips are not trained on.
    """
    baseline = baselines.baseline(system)
    held_out = _calibration(calibration_parameters).clips(file_index)
    return baseline.fit(
        calibration.without_clips(file_index, held_out),
        log_mel,
        baselines.n_mels_of(feature_stats),
        baseline.settings(settings, f"params:baselines.{system}"),
        section_groups,
    )


def score_baseline(
    models: dict,
    file_index: pd.DataFrame,
    log_mel: pd.DataFrame,
    feature_stats: pd.DataFrame,
    settings: dict,
    section_groups: list | None,
    decision_quantile: float,
    calibration_parameters: dict | None = None,
    *,
    system: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and decisions of every file, and the thresholds, of one baseline (gamma per model
    in-sample as the official code, or per section and domain from held-out clips).

    ``system`` is a name in ``baselines.SYSTEMS``: ``autoencoder`` (reconstruction error) or
    ``mobilenetv2`` (negative logit of the clip's own section); the pipeline binds it by keyword
    (see ``pipeline._bound``).
    """
    baseline = baselines.baseline(system)
    settings_of_calibration = _calibration(calibration_parameters)
    held_out = settings_of_calibration.clips(file_index)
    return baseline.score(
        models,
        calibration.without_clips(file_index, held_out),
        log_mel,
        baselines.n_mels_of(feature_stats),
        baseline.settings(settings, f"params:baselines.{system}"),
        section_groups,
        decision_quantile,
        settings_of_calibration,
    )


def combine_baseline_tables(*tables: pd.DataFrame) -> pd.DataFrame:
    """One long table from the per-system tables (scores or thresholds), systems in order."""
    return pd.concat(tables, ignore_index=True)


def score_references(
    file_index: pd.DataFrame, log_mel: pd.DataFrame, feature_stats: pd.DataFrame, settings: dict,
    calibration_parameters: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores, decisions and thresholds of the non-learned reference systems (references.py),
    thresholds set with the proposed system's target rule and distribution
    (``params:score.calibration``) on leave-one-out training scores."""
    values = baselines.log_mel_of_files(
        log_mel, file_index["file_id"].astype(str).tolist(), baselines.n_mels_of(feature_stats))
    return references.reference_scores(
        file_index, values,
        references.ReferenceSettings.from_parameters(settings, "params:baselines.references"),
        calibration=CalibrationSettings.from_parameters(calibration_parameters,
                                                        "params:score.calibration"))
