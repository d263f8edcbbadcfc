"""Ensemble of score terms, loss-variant choice, decision thresholds (paper 2.4-2.6). No Kedro.

Every ensemble member (one configuration = sub-cluster count x loss variant, one snapshot)
contributes its score terms (backends.py). Per loss variant, the terms are summed over all
members of that variant (paper 2.5: plain sum over snapshots and sub-cluster counts), giving

* source domain: ``score = section_term + attribute_term (+ tmax_term)``  (eqs. 2 and 4)
* target domain: ``score = section_term + target_term``                   (eq. 3)

The valve term of eq. 4 belongs to every member's score, so the sum counts it once per
member: ``tmax_term`` below is that contribution (members x the single term), and the
columns add up to ``score``. Each machine type then takes one loss variant (a fixed map, the
paper's by default, or a data-driven choice). Decisions compare ``threshold_score`` (the score
in the source domain, only the section term in the target domain, paper 2.6) with the given
percentile of the same quantity over the normal training files of each section and domain.

Normalisation (``params:score.normalisation``): the paper sums raw negative log-likelihoods
(``none``), so a term with a wide spread (a badly conditioned GMM, the valve's 128-d tmax
Gaussian) outweighs the others. ``zscore`` standardises every term of every member before the
sum, per section, by the mean and standard deviation of that term over the section's normal
training files (both domains pooled: three target clips alone give no usable spread, and a
target training clip sits on its own component of the target GMM by construction). The statistics are a
dataset of their own (``score_normalisation``), so inference applies the same ones.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from subcluster_adacos_asd.calibration import CalibrationSettings, thresholds_table
from subcluster_adacos_asd.configurations import parse_configuration_name
from subcluster_adacos_asd.contracts import PROPOSED_SYSTEMS, TERM_COLUMNS, normal_training
from subcluster_adacos_asd.metrics import harmonic_mean, roc_auc

logger = logging.getLogger(__name__)

SYSTEMS = PROPOSED_SYSTEMS
NORMALISATIONS = ("none", "zscore")
STATISTICS_COLUMNS = ["configuration", "snapshot", "section_class", "term", "mean", "std"]
#: The configuration / snapshot of the tmax term's statistics (one term for all members).
SHARED = ""
# Paper 2.5: both losses for ToyCar, ToyTrain, pump, slide rail; the section loss for the rest.
PAPER_VARIANT_CHOICE = {
    "ToyCar": "both", "ToyTrain": "both", "pump": "both", "slider": "both",
    "fan": "sections", "gearbox": "sections", "valve": "sections",
}
INDEX_COLUMNS = ["file_id", "machine_type", "section", "domain", "split", "label"]
CHOICE_METHODS = ("fixed", "dev_auc")


# --------------------------------------------------------------------------------------------
# normalisation


def _training_rows(file_index: pd.DataFrame) -> pd.DataFrame:
    normal_train = (file_index["split"] == "train") & (file_index["label"] == "normal")
    return file_index.loc[normal_train, ["file_id", "section_class"]]


def _term_statistics(values: pd.DataFrame, columns, training: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of each term column over the normal training files of each section."""
    rows = values.merge(training, on="file_id", how="inner")
    keys = [k for k in ("snapshot",) if k in rows.columns] + ["section_class"]
    long = rows.melt(id_vars=keys, value_vars=list(columns), var_name="term").dropna()
    grouped = long.groupby([*keys, "term"])["value"]
    stats = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=0)}).reset_index()
    # one training file, or identical values: a zero spread would divide by zero; 1 keeps the
    # term's own scale
    stats["std"] = stats["std"].where(stats["std"] > 0, 1.0).fillna(1.0)
    return stats


def normalisation_statistics(
    terms_by_configuration: Mapping[str, pd.DataFrame],
    tmax_terms: pd.DataFrame | None,
    file_index: pd.DataFrame,
    method: str = "none",
) -> pd.DataFrame:
    """``score_normalisation``: per member, section and term the mean and std that
    :func:`normalise_terms` applies (empty for ``none``; see the module docstring)."""
    if method not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {method!r}")
    frames = [pd.DataFrame(columns=STATISTICS_COLUMNS)]
    if method == "zscore":
        training = _training_rows(file_index)
        for name, terms in terms_by_configuration.items():
            stats = _term_statistics(terms, TERM_COLUMNS, training)
            frames.append(stats.assign(configuration=name))
        if tmax_terms is not None and len(tmax_terms):
            stats = _term_statistics(tmax_terms, ["tmax_term"], training)
            frames.append(stats.assign(configuration=SHARED, snapshot=SHARED))
    result = pd.concat([f[STATISTICS_COLUMNS] for f in frames], ignore_index=True)
    return result.astype({"mean": float, "std": float})


def normalise_terms(
    terms: pd.DataFrame, statistics: pd.DataFrame, configuration: str,
    file_index: pd.DataFrame, columns=TERM_COLUMNS,
) -> pd.DataFrame:
    """``terms`` with each column standardised by its (member, section) statistics; unchanged
    where ``statistics`` has none (``normalisation: none``). A file of a section without
    statistics (no normal training file) is an error naming it."""
    own = statistics[statistics["configuration"] == configuration]
    if own.empty:
        return terms
    sections = file_index[["file_id", "section_class"]].drop_duplicates("file_id")
    rows = terms.merge(sections, on="file_id", how="left", validate="many_to_one")
    keys = ["snapshot", "section_class"] if "snapshot" in terms.columns else ["section_class"]
    out = terms.copy()
    for column in columns:
        stats = own[own["term"] == column].drop(columns=["term", "configuration"])
        if configuration == SHARED:
            stats = stats.drop(columns=["snapshot"])
        joined = rows[keys].merge(stats, on=keys, how="left")
        defined = rows[column].notna().to_numpy()
        lacking = defined & joined["mean"].isna().to_numpy()
        if lacking.any():
            example = rows.loc[lacking, "file_id"].iloc[0]
            raise ValueError(f"No {column} normalisation statistics for {configuration or 'tmax'} "
                             f"and file {example!r}: its section had no normal training files")
        out[column] = (rows[column].to_numpy() - joined["mean"].to_numpy()) / joined[
            "std"].to_numpy()
    return out


# --------------------------------------------------------------------------------------------
# the ensemble


def sum_members(
    terms_by_configuration: Mapping[str, pd.DataFrame],
    statistics: pd.DataFrame | None = None,
    file_index: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Score terms summed over snapshots and configurations of the same loss variant.

    ``terms_by_configuration`` maps configuration names (``sc04_both``) to their
    ``score_terms``. Returns ``file_id, variant, section_term, attribute_term, target_term,
    n_members``. Every configuration must score the same files with the same snapshots count
    per variant, or the sum would weigh files differently: that is an error naming the culprit.
    With ``statistics`` (and the ``file_index`` for the sections), each member's terms are
    normalised first.
    """
    if not terms_by_configuration:
        raise ValueError("No configuration score terms to ensemble")
    frames, reference = [], None
    for name, terms in terms_by_configuration.items():
        variant = parse_configuration_name(name).variant
        missing = [c for c in ("file_id", "snapshot", *TERM_COLUMNS) if c not in terms.columns]
        if missing:
            raise ValueError(f"score terms of {name} lack columns {missing}")
        files = set(terms["file_id"])
        if reference is None:
            reference = (name, files)
        elif files != reference[1]:
            only = sorted(files ^ reference[1])[:1]
            raise ValueError(
                f"score terms of {name} and {reference[0]} cover different files, e.g. {only}"
            )
        if terms.duplicated(["file_id", "snapshot"]).any():
            raise ValueError(f"score terms of {name} hold a file twice for one snapshot")
        if statistics is not None and len(statistics):
            terms = normalise_terms(terms, statistics, name, file_index)
        frames.append(terms[["file_id", *TERM_COLUMNS]].assign(variant=variant))
    members = pd.concat(frames, ignore_index=True)
    grouped = members.groupby(["variant", "file_id"], sort=False)
    sums = grouped[list(TERM_COLUMNS)].sum(min_count=1)
    sums["n_members"] = grouped.size()
    sums = sums.reset_index()
    for variant, counts in sums.groupby("variant")["n_members"]:
        if counts.nunique() != 1:
            raise ValueError(
                f"Variant {variant!r}: files have different numbers of ensemble members "
                f"{sorted(counts.unique())}; a snapshot is missing for some files"
            )
    return sums[["file_id", "variant", *TERM_COLUMNS, "n_members"]]


def variant_scores(
    member_sums: pd.DataFrame, file_index: pd.DataFrame, tmax_terms: pd.DataFrame | None = None,
    statistics: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per file and variant: the terms, the tmax contribution, ``score`` and ``threshold_score``.

    Rows follow ``file_index``'s order; files of the index without scores are an error.
    """
    index = file_index[INDEX_COLUMNS]
    frame = index.merge(member_sums, on="file_id", how="left", validate="one_to_many")
    unscored = frame["variant"].isna()
    if unscored.any():
        raise ValueError(
            f"{int(unscored.sum())} files of the file index have no score terms, e.g. "
            f"{frame.loc[unscored, 'file_id'].iloc[0]!r}"
        )
    if tmax_terms is not None and len(tmax_terms):
        if statistics is not None and len(statistics):
            tmax_terms = normalise_terms(tmax_terms, statistics, SHARED, file_index, ["tmax_term"])
        frame = frame.merge(tmax_terms[["file_id", "tmax_term"]], on="file_id", how="left")
        frame["tmax_term"] = frame["tmax_term"] * frame["n_members"]
    else:
        frame["tmax_term"] = np.nan
    source = (frame["domain"] == "source").to_numpy()
    second = np.where(source, frame["attribute_term"], frame["target_term"])
    frame["score"] = (
        frame["section_term"].to_numpy()
        + np.nan_to_num(second.astype(float), nan=0.0)
        + frame["tmax_term"].fillna(0.0).to_numpy()
    )
    frame["threshold_score"] = np.where(source, frame["score"], frame["section_term"])
    return frame.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# variant choice


def choose_variants(
    scores: pd.DataFrame,
    method: str = "fixed",
    fixed: Mapping[str, str] | None = None,
    default: str = "both",
) -> dict[str, str]:
    """The loss variant each machine type uses: ``{machine_type: variant}``.

    ``fixed``: the map (the paper's by default), ``default`` for types not in it. ``dev_auc``:
    the variant with the higher harmonic-mean AUC over the sections and domains of the machine
    type's labelled test files. **This uses test labels**: on the development set it is an
    oracle choice (as in the paper, whose choice came from development-set results); the
    evaluation set has no labels, so its machine types fall back to the fixed map. Where a
    chosen variant was not trained, the other one is used.
    """
    if method not in CHOICE_METHODS:
        raise ValueError(f"variant choice method must be one of {CHOICE_METHODS}, got {method!r}")
    fixed = dict(PAPER_VARIANT_CHOICE if fixed is None else fixed)
    available = sorted(pd.unique(scores["variant"]))
    choice = {}
    for machine_type in sorted(pd.unique(scores["machine_type"])):
        preferred = fixed.get(machine_type, default)
        if method == "dev_auc":
            measured = {
                v: _harmonic_mean_auc(
                    scores[(scores["machine_type"] == machine_type) & (scores["variant"] == v)]
                )
                for v in available
            }
            measured = {v: m for v, m in measured.items() if np.isfinite(m)}
            if measured:
                best = max(measured.values())
                winners = [v for v, m in measured.items() if m == best]
                preferred = preferred if preferred in winners else winners[0]
                logger.info("variant choice %s: %s -> %s", machine_type, measured, preferred)
        if preferred not in available:
            logger.warning(
                "%s: variant %r was not trained; using %r", machine_type, preferred, available[0]
            )
            preferred = available[0]
        choice[machine_type] = preferred
    return choice


def _harmonic_mean_auc(rows: pd.DataFrame) -> float:
    labelled = rows[(rows["split"] == "test") & rows["label"].isin(["normal", "anomaly"])]
    aucs = []
    for _, group in labelled.groupby(["section", "domain"]):
        y_true = (group["label"] == "anomaly").to_numpy(dtype=int)
        if 0 < y_true.sum() < len(y_true):
            aucs.append(roc_auc(y_true, group["score"].to_numpy()))
    return harmonic_mean(aucs) if aucs else float("nan")


# --------------------------------------------------------------------------------------------
# thresholds and decisions


#: The column each target-domain decision compares, per compared column (paper 2.6: the
#: proposed system's target decision uses only the section term).
TARGET_COLUMNS = {"threshold_score": "section_term"}


def thresholds(
    calibration: pd.DataFrame,
    percentile: float = 90.0,
    column: str = "threshold_score",
    settings: CalibrationSettings | None = None,
) -> pd.DataFrame:
    """``machine_type, section, domain, threshold``: the percentile of ``column`` over the
    normal training files of each section and domain (paper 2.6), as ``settings`` says
    (calibration.py; the target rule and the quantile's distribution). ``calibration``: the
    scores to calibrate on (in-sample or cross-fitted, see :func:`calibration_scores`). Rows
    with NaN ``column`` are skipped."""
    settings = settings or CalibrationSettings()
    target_column = TARGET_COLUMNS.get(column)
    if target_column not in calibration.columns:  # e.g. the reduced system's single score
        target_column = column
    table = thresholds_table(calibration, percentile, column, target_column,
                             settings.target, settings.distribution)
    # what the thresholds promise travels with them (inference reports it)
    return table.assign(percentile=float(percentile), calibration=settings.method)


def calibration_scores(
    scores: pd.DataFrame,
    file_index: pd.DataFrame,
    tmax_calibration_terms: pd.DataFrame | None,
    statistics: pd.DataFrame | None,
    calibration_terms: Mapping[str, pd.DataFrame],
) -> pd.DataFrame:
    """The :func:`variant_scores` rows of the normal training files that thresholds are set on.

    Out of sample where cross-fitted terms exist (``<configuration>.calibration_terms``, the
    same ensemble sum as the scores), else the in-sample rows of ``scores`` (the paper).
    """
    if not calibration_terms or all(t.empty for t in calibration_terms.values()):
        return scores[normal_training(scores)].reset_index(drop=True)
    training = file_index[normal_training(file_index)]
    sums = sum_members(calibration_terms, statistics, file_index)
    return variant_scores(sums, training, tmax_calibration_terms, statistics)


def decide(scores: pd.DataFrame, threshold_table: pd.DataFrame,
           column: str = "threshold_score") -> pd.DataFrame:
    """``scores`` with ``threshold`` and ``decision`` (1: ``column`` above the threshold of its
    section and domain, 0: not; <NA> where the section and domain had no normal training file)."""
    keys = ["machine_type", "section", "domain"]
    frame = scores.drop(columns=["threshold", "decision"], errors="ignore").merge(
        threshold_table[[*keys, "threshold"]], on=keys, how="left"
    )
    above = frame[column].to_numpy(dtype=float) > frame["threshold"].to_numpy(dtype=float)
    unknown = frame["threshold"].isna() | frame[column].isna()
    frame["decision"] = pd.array(np.where(unknown, pd.NA, above.astype(int)), dtype="Int64")
    if unknown.any():
        missing = frame.loc[frame["threshold"].isna(), keys].drop_duplicates()
        if len(missing):
            logger.warning("No threshold (no normal training files) for %s",
                           missing.to_dict("records")[:5])
    return frame


ANOMALY_SCORE_COLUMNS = [
    "file_id", "machine_type", "section", "domain", "split", "label", "variant", "score",
    "threshold_score", "threshold", "decision", "section_term", "attribute_term",
    "target_term", "tmax_term",
]


def anomaly_scores(
    scores: pd.DataFrame, calibration: pd.DataFrame, variant_choice: Mapping[str, str],
    percentile: float = 90.0, settings: CalibrationSettings | Mapping | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The proposed system: each machine type's chosen variant, thresholds (from the
    ``calibration`` scores) and decisions.

    Returns ``(anomaly_scores, thresholds)`` as in docs/data_contracts.md.
    """
    settings = _calibration_settings(settings)
    table = thresholds(_chosen_rows(calibration, variant_choice), percentile,
                       settings=settings)
    return apply_thresholds(scores, variant_choice, table), table


def _calibration_settings(settings) -> CalibrationSettings:
    if isinstance(settings, CalibrationSettings):
        return settings
    return CalibrationSettings.from_parameters(settings, "params:score.calibration")


def apply_thresholds(
    scores: pd.DataFrame, variant_choice: Mapping[str, str], threshold_table: pd.DataFrame
) -> pd.DataFrame:
    """``anomaly_scores`` rows of the chosen variants, decided with given thresholds.

    What inference needs for new files: their :func:`variant_scores` (from the saved
    backends), the saved ``variant_choice`` and the saved ``thresholds``.
    """
    decided = decide(_chosen_rows(scores, variant_choice), threshold_table)
    return decided[ANOMALY_SCORE_COLUMNS].reset_index(drop=True)


def _chosen_rows(scores: pd.DataFrame, variant_choice: Mapping[str, str]) -> pd.DataFrame:
    unchosen = sorted(set(pd.unique(scores["machine_type"])) - set(variant_choice))
    if unchosen:
        raise ValueError(f"No loss variant chosen for machine types {unchosen}")
    wanted = scores["machine_type"].map(dict(variant_choice))
    return scores[scores["variant"] == wanted].reset_index(drop=True)


def system_scores(
    scores: pd.DataFrame, calibration: pd.DataFrame, variant_choice: Mapping[str, str],
    percentile: float = 90.0, settings: CalibrationSettings | Mapping | None = None,
) -> pd.DataFrame:
    """Long ``file_id, system, score, decision`` of every system of the evaluation.

    ``proposed``: the chosen variant per machine type; ``loss_<variant>``: one variant for all
    machine types; ``dist_<term>``: one distribution's term alone, summed over the proposed
    ensemble (Table 3; files where the term does not apply are left out). Decisions follow
    the same percentile rule on each system's own training scores; ``dist_target`` has none,
    since its training files are the target GMM's means (paper 2.6). Every threshold comes from
    the same system's ``calibration`` scores (:func:`calibration_scores`).
    """
    settings = _calibration_settings(settings)
    parts = []

    def add(system: str, rows: pd.DataFrame, column: str, threshold_column: str | None,
            calibrated: pd.DataFrame):
        rows = rows[rows[column].notna()]
        if threshold_column is None:
            decision = pd.array([pd.NA] * len(rows), dtype="Int64")
        else:
            table = thresholds(calibrated, percentile, threshold_column, settings)
            decision = decide(rows, table, threshold_column)["decision"].array
        parts.append(pd.DataFrame({
            "file_id": rows["file_id"].to_numpy(),
            "system": system,
            "score": rows[column].to_numpy(dtype=float),
            "decision": decision,
        }))

    chosen = _chosen_rows(scores, variant_choice)
    chosen_calibration = _chosen_rows(calibration, variant_choice)
    add("proposed", chosen, "score", "threshold_score", chosen_calibration)
    for variant in sorted(pd.unique(scores["variant"])):
        add(f"loss_{variant}", scores[scores["variant"] == variant], "score", "threshold_score",
            calibration[calibration["variant"] == variant])
    add("dist_section", chosen, "section_term", "section_term", chosen_calibration)
    add("dist_attribute", chosen, "attribute_term", "attribute_term", chosen_calibration)
    add("dist_target", chosen, "target_term", None, chosen_calibration)
    result = pd.concat(parts, ignore_index=True)
    result["decision"] = result["decision"].astype("Int64")
    return result
