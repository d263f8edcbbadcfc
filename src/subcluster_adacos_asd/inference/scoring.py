"""The trained system applied to the new files' features: terms, scores, decisions, summary.

Everything is computed by the functions the ``score`` pipeline uses (embedding.py,
backends.py, ensemble.py), so a file scored here gets the score that pipeline gave it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd

# imported at run time (not only for type checking): Kedro reads the type hints of
# temporal_max_terms, a node of the inference pipeline
from subcluster_adacos_asd.backends import SnapshotBackends, TmaxBackend  # noqa: E402
from subcluster_adacos_asd.configurations import parse_configuration_name
from subcluster_adacos_asd.contracts import TERM_COLUMNS
from subcluster_adacos_asd.inference.files import (
    OUTPUT_COLUMNS,
    STATUS_ERROR,
    STATUS_SCORED,
    scored_files,
)

logger = logging.getLogger(__name__)


def check_snapshots(configuration: str, snapshots: Mapping, fitted: Mapping) -> None:
    """Snapshots and fitted backends must be of the same training run: the same snapshot
    names, and each snapshot the very network the GMMs were fitted on (its fingerprint), so a
    configuration retrained after ``score`` cannot be paired with the old backends."""
    from subcluster_adacos_asd.embedding import snapshot_fingerprint

    fix = (f"rerun embed and score after training (kedro run --pipelines=embed,score "
           f"--namespaces={configuration}), or load matching versions with --load-versions.")
    if set(snapshots) != set(fitted):
        raise ValueError(
            f"{configuration}: the model snapshots {sorted(snapshots)} and the fitted backends "
            f"{sorted(fitted)} do not match; {fix}"
        )
    for name in sorted(snapshots):
        recorded = getattr(fitted[name], "snapshot_fingerprint", "")
        if recorded and recorded != snapshot_fingerprint(snapshots[name]):
            raise ValueError(
                f"{configuration}: snapshot {name} is not the network its backends were fitted "
                f"on (fingerprint {snapshot_fingerprint(snapshots[name])}, backends fitted on "
                f"{recorded}): it was retrained after the score pipeline ran; {fix}"
            )


def configuration_terms(
    configuration: str,
    snapshots: Mapping,
    fitted: Mapping[str, SnapshotBackends],
    log_mel: pd.DataFrame,
    feature_stats: pd.DataFrame,
    files: pd.DataFrame,
    variant_choice: Mapping[str, str],
    batch_size: int = 128,
    members: Mapping[str, list[str]] | None = None,
) -> pd.DataFrame:
    """``file_id, snapshot, section_term, attribute_term, target_term`` of one configuration.

    Only files whose machine type uses this configuration's loss variant are embedded: the
    other variant's configurations do not enter their score. With ``members`` (the reduced
    ensemble, ``{machine_type: [configuration/snapshot, ...]}``), only the kept snapshots embed,
    and only the files of machine types that keep one. Rows follow ``log_mel``'s order.
    """
    from subcluster_adacos_asd import backends, embedding, feature_table, reduction

    check_snapshots(configuration, snapshots, fitted)
    variant = parse_configuration_name(configuration).variant
    rows = scored_files(files)
    chosen = {m for m, v in variant_choice.items() if v == variant}
    if members is not None:
        kept = reduction.kept_snapshots(members, configuration)
        chosen &= set(kept)
        needed = set().union(*(kept[m] for m in chosen))
        snapshots = {name: model for name, model in snapshots.items() if name in needed}
    wanted = log_mel["file_id"].isin(rows.loc[rows["machine_type"].isin(chosen), "file_id"])
    columns = ["file_id", "snapshot", *TERM_COLUMNS]
    if not wanted.any():
        return pd.DataFrame({c: pd.Series(dtype=str if c in columns[:2] else float)
                             for c in columns})
    selected = log_mel[wanted.to_numpy()].reset_index(drop=True)
    features = feature_table.standardised_features(selected, feature_stats)
    table = embedding.embeddings_table(snapshots, features, selected["file_id"], batch_size)
    terms = backends.configuration_score_terms(fitted, table, rows)
    return terms[columns]


def temporal_max_terms(
    backend: TmaxBackend,
    log_mel: pd.DataFrame,
    feature_stats: pd.DataFrame,
    files: pd.DataFrame,
) -> pd.DataFrame:
    """``file_id, tmax_term`` (eq. 4; NaN where not used) from the raw log-mel of the files,
    through the features pipeline's own table (``feature_table.tmax_table``)."""
    from subcluster_adacos_asd import backends
    from subcluster_adacos_asd.feature_table import tmax_table

    if len(log_mel) == 0:
        return pd.DataFrame({"file_id": pd.Series(dtype=str), "tmax_term": pd.Series(dtype=float)})
    return backends.tmax_terms(backend, tmax_table(log_mel, feature_stats), scored_files(files))


def score_table(
    files: pd.DataFrame,
    terms_by_configuration: Mapping[str, pd.DataFrame],
    tmax_terms: pd.DataFrame,
    variant_choice: Mapping[str, str],
    thresholds: pd.DataFrame,
    normalisation: pd.DataFrame | None = None,
    members: Mapping[str, list[str]] | None = None,
) -> pd.DataFrame:
    """``inference_scores``: one row per input file (:data:`OUTPUT_COLUMNS`), error rows included.

    The scored files get the ``anomaly_scores`` computation of the ``score`` pipeline: terms
    normalised with the saved ``score_normalisation`` statistics and summed over the snapshots
    and configurations of each machine type's chosen loss variant (:func:`ensemble.sum_members`),
    the score (:func:`ensemble.variant_scores`) and the decision against the saved thresholds
    (:func:`ensemble.apply_thresholds`). With ``members``, the reduced ensemble's computation
    instead (the ``reduced`` system: the kept members' scores summed, decided with
    ``thresholds`` = the saved ``reduced_thresholds``); its term columns stay empty, since the
    kept members of a machine type need not sum the same terms.
    """
    from subcluster_adacos_asd import ensemble

    rows = scored_files(files)
    decided = pd.DataFrame(columns=ensemble.ANOMALY_SCORE_COLUMNS)
    if len(rows) and members is not None:
        decided = _reduced_scores(rows, terms_by_configuration, tmax_terms, variant_choice,
                                  thresholds, normalisation, members)
    elif len(rows):
        by_variant: dict[str, dict[str, pd.DataFrame]] = {}
        for name, terms in terms_by_configuration.items():
            if len(terms):
                by_variant.setdefault(parse_configuration_name(name).variant, {})[name] = terms
        sums = pd.concat([ensemble.sum_members(group, normalisation, rows)
                          for group in by_variant.values()],
                         ignore_index=True) if by_variant else None
        if sums is None:
            raise ValueError("No configuration scored any file: the trained configurations do "
                             f"not include the chosen variants {dict(variant_choice)}")
        scores = ensemble.variant_scores(sums, rows, tmax_terms, normalisation)
        decided = ensemble.apply_thresholds(scores, variant_choice, thresholds)
    result = files.merge(
        decided.drop(columns=["machine_type", "section", "domain", "split", "label"]),
        on="file_id", how="left", validate="one_to_one",
    )
    result = result.rename(columns={"path": "file"})
    result["decision"] = result["decision"].astype("Int64")
    for column in ("score", "threshold", "threshold_score", *TERM_COLUMNS, "tmax_term"):
        result[column] = result[column].astype(float)
    result["reason"] = result["reason"].fillna("")
    return result[list(OUTPUT_COLUMNS)].reset_index(drop=True)


def _reduced_scores(rows, terms_by_configuration, tmax_terms, variant_choice, thresholds,
                    normalisation, members) -> pd.DataFrame:
    """``anomaly_scores`` rows of the reduced ensemble (score, threshold, decision)."""
    from subcluster_adacos_asd import ensemble, reduction

    terms = {name: table for name, table in terms_by_configuration.items() if len(table)}
    if not terms:
        raise ValueError("No configuration scored any file: the reduced ensemble's members "
                         f"{dict(members)} do not cover these machine types")
    scores = reduction.member_scores(terms, tmax_terms, rows, normalisation)
    decided = ensemble.decide(reduction.reduced_rows(scores, rows, members), thresholds)
    decided = decided.assign(variant=decided["machine_type"].map(variant_choice))
    for column in ensemble.ANOMALY_SCORE_COLUMNS:
        if column not in decided.columns:
            decided[column] = float("nan")
    return decided[ensemble.ANOMALY_SCORE_COLUMNS].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# the summary


def expected_false_alarms(thresholds: pd.DataFrame | None) -> dict:
    """What the thresholds promise: the share of normal recordings expected to raise an alarm
    (``1 - percentile / 100``) and how they were calibrated. In-sample thresholds (the paper's,
    ``calibration: in_sample``) were set on the clips the models were fitted on and flag more
    than that; thresholds saved before the percentile was recorded say ``unknown``."""
    if thresholds is None or "percentile" not in thresholds or thresholds.empty:
        return {"expected_false_alarm_rate": None, "calibration": "unknown",
                "note": "the thresholds do not record their percentile: rerun `score`"}
    percentile = float(thresholds["percentile"].iloc[0])
    method = str(thresholds["calibration"].iloc[0])
    note = (f"about {100 - percentile:g}% of normal recordings are expected to raise an alarm "
            "(threshold: the {:g}th percentile of normal training clips' out-of-sample scores)"
            .format(percentile))
    if method == "in_sample":
        note = (f"thresholds at the {percentile:g}th percentile of in-sample training scores "
                f"(the paper's rule): expect well over {100 - percentile:g}% false alarms on new "
                "normal recordings; set score.calibration.method: cross_fit")
    return {"threshold_percentile": percentile,
            "expected_false_alarm_rate": round(1 - percentile / 100, 6),
            "calibration": method, "note": note}


def summary(table: pd.DataFrame, input_path=None, thresholds: pd.DataFrame | None = None
            ) -> dict:
    """Counts of the run (files, scored, errors, anomalous, normal), every error's reason and
    the false-alarm rate the thresholds used promise (:func:`expected_false_alarms`)."""
    scored = table[table["status"] == STATUS_SCORED]
    errors = table[table["status"] == STATUS_ERROR]
    result = {
        "input_path": list(input_path) if isinstance(input_path, tuple) else input_path,
        "files": int(len(table)),
        "scored": int(len(scored)),
        "errors": int(len(errors)),
        "anomalous": int((scored["decision"] == 1).sum()),
        "normal": int((scored["decision"] == 0).sum()),
        "thresholds": expected_false_alarms(thresholds),
        "per_machine_type": {
            str(machine): {"scored": int((group["status"] == STATUS_SCORED).sum()),
                           "anomalous": int((group["decision"] == 1).sum())}
            for machine, group in table.dropna(subset=["machine_type"]).groupby("machine_type")
        },
        "error_files": [
            {"file": str(f), "reason": str(r)} for f, r in zip(errors["file"], errors["reason"])
        ],
    }
    return result


def log_summary(result: Mapping, shown: int = 20) -> None:
    """The run's last word: counts, and each error's reason (a warning when there are errors)."""
    logger.info(
        "Inference: %d files, %d scored (%d anomalous, %d normal), %d errors",
        result["files"], result["scored"], result["anomalous"], result["normal"],
        result["errors"],
    )
    if "thresholds" in result:
        logger.info("Thresholds: %s", result["thresholds"]["note"])
    if result["errors"]:
        listed = result["error_files"][:shown]
        more = len(result["error_files"]) - len(listed)
        lines = "\n  ".join(e["reason"] for e in listed)
        logger.warning(
            "%d of %d files were NOT scored (status = error in inference_scores):\n  %s%s",
            result["errors"], result["files"], lines, f"\n  ... and {more} more" if more else "",
        )
