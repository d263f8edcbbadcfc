"""DCASE 2021 task 2 metrics, computed exactly as the official evaluator computes them. No Kedro.

The official ``dcase2021_task2_evaluator.py`` (github.com/y-kawagu/dcase2021_task2_evaluator)
computes, per machine type, section and domain:

* ``AUC  = sklearn.metrics.roc_auc_score(y_true, y_pred)``
* ``pAUC = sklearn.metrics.roc_auc_score(y_true, y_pred, max_fpr=0.1)`` -- note that sklearn
  returns the McClish-standardised partial AUC, ``0.5 * (1 + (A - A_min) / (A_max - A_min))``
  with the raw area ``A = int_0^0.1 TPR dFPR``, ``A_min = 0.1**2 / 2`` (the chance diagonal)
  and ``A_max = 0.1``. So the official pAUC is that standardised value, not ``A / 0.1`` as the
  task description's formula reads; :func:`partial_roc_auc` returns the official value and
  :func:`partial_roc_auc_unstandardised` the ``A / max_fpr`` variant for comparison.
* precision, recall, F1 of the decisions from ``confusion_matrix``, each denominator floored
  at ``sys.float_info.epsilon``;
* harmonic means (``scipy.stats.hmean``) of AUC and pAUC over sections and domains per machine
  type, and over everything, each value floored at epsilon.

Beyond the evaluator, what a decision is worth to a monitoring user: the false-alarm rate
(normal test clips flagged) and the detection rate (anomalous ones flagged), and the best F1
any single threshold reaches on the same scores (``oracle_F1``, a reference that peeks at the
test labels). The decision metrics are averaged over sections with the arithmetic mean (the
evaluator prints both means; one section whose threshold flags no anomaly has F1 0, which
makes the harmonic mean 0, and a rate of 0 is a good value, not a missing one).

The challenge's official score (ranking) is the harmonic mean of all AUCs and pAUCs together
over every machine type, section and domain.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable

import numpy as np
import pandas as pd
import scipy.stats
from sklearn import metrics as sk_metrics

MAX_FPR = 0.1
EPSILON = sys.float_info.epsilon
#: Per section and domain; harmonic means over sections except for :data:`MEAN_COLUMNS`.
METRIC_COLUMNS = ("AUC", "pAUC", "precision", "recall", "F1", "false_alarm_rate",
                  "detection_rate", "oracle_F1")
#: What decisions are worth: arithmetic means over sections (the evaluator prints both means;
#: one section whose threshold flagged no anomaly, F1 0, makes the harmonic mean 0, and a
#: harmonic mean of false-alarm rates near 0 says nothing useful).
MEAN_COLUMNS = ("precision", "recall", "F1", "false_alarm_rate", "detection_rate", "oracle_F1")
#: What the decisions are worth: computed only where a system decides.
DECISION_COLUMNS = ("precision", "recall", "F1", "false_alarm_rate", "detection_rate")
LABELLED = ("normal", "anomaly")


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve (higher score = more anomalous; label 1 = anomaly)."""
    return float(sk_metrics.roc_auc_score(y_true, scores))


def partial_roc_auc(y_true, scores, max_fpr: float = MAX_FPR) -> float:
    """The official DCASE pAUC: sklearn's McClish-standardised partial AUC up to ``max_fpr``."""
    return float(sk_metrics.roc_auc_score(y_true, scores, max_fpr=max_fpr))


def partial_roc_auc_unstandardised(y_true, scores, max_fpr: float = MAX_FPR) -> float:
    """``int_0^max_fpr TPR dFPR / max_fpr`` on the ROC curve interpolated linearly at ``max_fpr``.

    Not what the official evaluator reports; kept to show the difference (see module docstring).
    """
    fpr, tpr, _ = sk_metrics.roc_curve(y_true, scores)
    if not 0 < max_fpr <= 1:
        raise ValueError(f"max_fpr must be in (0, 1], got {max_fpr}")
    stop = int(np.searchsorted(fpr, max_fpr, side="right"))
    if stop == len(fpr):
        return float(sk_metrics.auc(fpr, tpr) / max_fpr)
    # the last point at or below max_fpr and the first above it: a strictly rising pair
    tpr_at_max = np.interp(max_fpr, fpr[stop - 1 : stop + 1], tpr[stop - 1 : stop + 1])
    x = np.concatenate([fpr[:stop], [max_fpr]])
    y = np.concatenate([tpr[:stop], [tpr_at_max]])
    return float(sk_metrics.auc(x, y) / max_fpr)


def decision_metrics(y_true, decisions) -> dict[str, float]:
    """Precision, recall and F1 of 0/1 decisions, with the official evaluator's epsilon guards,
    and what a monitoring user reads first: the false-alarm rate (normal clips flagged) and
    the detection rate (anomalous clips flagged, the recall)."""
    tn, fp, fn, tp = sk_metrics.confusion_matrix(
        np.asarray(y_true, dtype=int), np.asarray(decisions, dtype=int), labels=[0, 1]
    ).ravel()
    precision = tp / max(tp + fp, EPSILON)
    recall = tp / max(tp + fn, EPSILON)
    f1 = 2.0 * precision * recall / max(precision + recall, EPSILON)
    return {"precision": float(precision), "recall": float(recall), "F1": float(f1),
            "false_alarm_rate": float(fp / max(fp + tn, EPSILON)),
            "detection_rate": float(recall)}


def oracle_f1(y_true, scores) -> float:
    """The best F1 any single threshold reaches on ``scores``: a reference for the F1 of the
    decisions, which must set their threshold without the test labels."""
    precision, recall, _ = sk_metrics.precision_recall_curve(
        np.asarray(y_true, dtype=int), np.asarray(scores, dtype=float))
    f1 = 2.0 * precision * recall / np.maximum(precision + recall, EPSILON)
    return float(np.max(f1))


def chance_auc_standard_error(n_normal: int, n_anomaly: int) -> float:
    """The standard error of the AUC of scores that carry no information (the Mann-Whitney
    statistic under the null): ``sqrt((n + m + 1) / (12 n m))``. With 15 + 15 test clips it is
    10.7 points, with 50 + 50 5.8: what separates "learned" from "lucky" on small test sets."""
    n, m = int(n_normal), int(n_anomaly)
    if n < 1 or m < 1:
        return float("nan")
    return math.sqrt((n + m + 1) / (12.0 * n * m))


def chance_band(per_section: pd.DataFrame, system: str, z: float = 2.0) -> float:
    """The AUC below which ``system``'s mean over its sections and domains is within ``z``
    standard errors of chance: ``0.5 + z * sqrt(sum SE_i^2) / k`` over its k AUCs (the
    harmonic mean of AUCs near 0.5 is close to their mean)."""
    rows = per_section[(per_section["system"] == system) & per_section["AUC"].notna()]
    errors = [chance_auc_standard_error(n, m) for n, m in zip(rows["n_normal"], rows["n_anomaly"])]
    errors = [e for e in errors if np.isfinite(e)]
    if not errors:
        return float("nan")
    return 0.5 + z * math.sqrt(sum(e * e for e in errors)) / len(errors)


def harmonic_mean(values: Iterable[float]) -> float:
    """Harmonic mean as the evaluator takes it: NaNs dropped, each value floored at epsilon."""
    values = np.asarray(list(values), dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    return float(scipy.stats.hmean(np.maximum(values, EPSILON)))


def section_metrics(
    system_scores: pd.DataFrame, file_index: pd.DataFrame, max_fpr: float = MAX_FPR,
    protocol: str = "dcase2021",
) -> pd.DataFrame:
    """One row per system, machine type, section and domain of labelled test files.

    Columns ``system, machine_type, section, domain, n_normal, n_anomaly, AUC, pAUC,
    precision, recall, F1``; decision metrics are NaN where a system has no decisions.
    Sections whose test files are all of one label are left out (no ROC exists).

    ``protocol`` (protocols.py): ``dcase2021`` scores each domain on its own; ``dcase2022``
    (the 2022-2024 evaluators) gives each domain's row the AUC of its normal clips against all
    anomalous clips of the section (``n_anomaly`` counts them), and one more row per section,
    domain ``both``, with the pAUC over both domains (AUC there, and pAUC in the domain rows,
    NaN), so harmonic means and the official score pool exactly what the evaluator pools.
    """
    from subcluster_adacos_asd.protocols import protocol_of

    protocol = protocol_of(file_index, protocol)
    index = file_index[["file_id", "machine_type", "section", "domain", "split", "label"]]
    frame = system_scores.merge(index, on="file_id", how="inner")
    frame = frame[(frame["split"] == "test") & frame["label"].isin(LABELLED)]
    frame = frame[frame["score"].notna()]
    rows = []
    keys = ["system", "machine_type", "section", "domain"]
    if protocol == "dcase2021":
        for key, group in frame.groupby(keys, sort=True):
            row = _scored_row(dict(zip(keys, key, strict=True)), group, group, max_fpr)
            if row is not None:
                rows.append(row)
    else:
        for key, section in frame.groupby(keys[:3], sort=True):
            base = dict(zip(keys[:3], key, strict=True))
            anomalies = section[section["label"] == "anomaly"]
            for domain, in_domain in section.groupby("domain", sort=True):
                compared = pd.concat([in_domain[in_domain["label"] == "normal"], anomalies])
                row = _scored_row({**base, "domain": domain}, compared, in_domain, max_fpr)
                if row is not None:
                    rows.append({**row, "pAUC": np.nan})
            row = _scored_row({**base, "domain": "both"}, section, section, max_fpr)
            if row is not None:
                rows.append({**row, "AUC": np.nan, "oracle_F1": np.nan,
                             **dict.fromkeys(DECISION_COLUMNS, np.nan)})
    columns = [*keys, "n_normal", "n_anomaly", *METRIC_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def _scored_row(row: dict, compared: pd.DataFrame, decided: pd.DataFrame, max_fpr: float
                ) -> dict | None:
    """AUC and pAUC of the ``compared`` clips, decision metrics of the ``decided`` ones; None
    where the compared clips are all of one label."""
    y_true = (compared["label"] == "anomaly").to_numpy(dtype=int)
    n_anomaly = int(y_true.sum())
    if n_anomaly in (0, len(y_true)):
        return None
    y_score = compared["score"].to_numpy(dtype=float)
    row = {**row, "n_normal": len(y_true) - n_anomaly, "n_anomaly": n_anomaly,
           "AUC": roc_auc(y_true, y_score), "pAUC": partial_roc_auc(y_true, y_score, max_fpr)}
    decisions = decided["decision"] if "decision" in decided else pd.Series(dtype="Int64")
    labels = (decided["label"] == "anomaly").to_numpy(dtype=int)
    row.update(dict.fromkeys(DECISION_COLUMNS, np.nan), oracle_F1=np.nan)
    if 0 < labels.sum() < len(labels):
        row["oracle_F1"] = oracle_f1(labels, decided["score"].to_numpy(dtype=float))
        if len(decisions) and decisions.notna().all():
            row.update(decision_metrics(labels, decisions.to_numpy(dtype=int)))
    return row


def harmonic_means(per_section: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Harmonic mean of each metric over the rows of every ``by`` group (e.g. system, domain)."""
    if per_section.empty:
        return pd.DataFrame(columns=[*by, *METRIC_COLUMNS])
    grouped = per_section.groupby(by, sort=True)
    means = {c: grouped[c].agg(harmonic_mean if c not in MEAN_COLUMNS else "mean")
             for c in METRIC_COLUMNS if c in per_section.columns}
    return pd.DataFrame(means).reset_index()


def official_scores(per_section: pd.DataFrame) -> pd.DataFrame:
    """``system, official_score``: harmonic mean of all AUCs and pAUCs of a system together."""
    rows = [
        {"system": system, "official_score": harmonic_mean(
            np.concatenate([group["AUC"].to_numpy(), group["pAUC"].to_numpy()]))}
        for system, group in per_section.groupby("system", sort=True)
    ]
    return pd.DataFrame(rows, columns=["system", "official_score"])


def summary(per_section: pd.DataFrame) -> pd.DataFrame:
    """Harmonic means at every level the paper and the evaluator report, one long table.

    Columns ``system, machine_type, domain, AUC, pAUC, precision, recall, F1``, with ``all``
    where a level is pooled: (type, domain) as Tables 3-5, (type, all) as the evaluator and
    Table 2, (all, domain), and (all, all) as the evaluator's overall line.
    """
    levels = []
    for by, fill in (
        (["system", "machine_type", "domain"], {}),
        (["system", "machine_type"], {"domain": "all"}),
        (["system", "domain"], {"machine_type": "all"}),
        (["system"], {"machine_type": "all", "domain": "all"}),
    ):
        level = harmonic_means(per_section, by)
        for column, value in fill.items():
            level[column] = value
        levels.append(level)
    columns = ["system", "machine_type", "domain", *METRIC_COLUMNS]
    return pd.concat([level[columns] for level in levels], ignore_index=True)
