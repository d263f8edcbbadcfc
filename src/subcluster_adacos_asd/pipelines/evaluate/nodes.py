"""Nodes of the `evaluate` pipeline: thin wrappers over metrics.py and reporting.py."""

from __future__ import annotations

import pandas as pd

from subcluster_adacos_asd import metrics, reporting

PAUC_NOTE = (
    "pAUC as the official DCASE 2021 evaluator computes it: sklearn roc_auc_score with "
    "max_fpr={max_fpr}, i.e. the McClish-standardised partial AUC."
)


def combine_system_scores(system_scores: pd.DataFrame, baseline_scores: pd.DataFrame,
                          reduced_scores: pd.DataFrame) -> pd.DataFrame:
    """All systems in one long frame; a system name in two inputs is an error."""
    columns = ["file_id", "system", "score", "decision"]
    inputs = {"system_scores": system_scores, "baseline_scores": baseline_scores,
              "reduced_scores": reduced_scores}
    for name, frame in inputs.items():
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} lacks columns {missing}")
    seen: dict[str, str] = {}
    for name, frame in inputs.items():
        for system in pd.unique(frame["system"]):
            if system in seen:
                raise ValueError(f"systems ['{system}'] appear in {seen[system]} and {name}")
            seen[system] = name
    combined = pd.concat([frame[columns] for frame in inputs.values()], ignore_index=True)
    combined["decision"] = combined["decision"].astype("Int64")
    return combined


def summarise_metrics(per_section: pd.DataFrame, parameters: dict
                      ) -> tuple[dict, pd.DataFrame]:
    """``metrics`` (JSON: per system the official score and harmonic means at every level,
    and the per-section values) and the long summary table (CSV)."""
    summary = metrics.summary(per_section)
    official = metrics.official_scores(per_section)
    report = {
        "max_fpr": parameters["max_fpr"],
        "pauc": PAUC_NOTE.format(max_fpr=parameters["max_fpr"]),
        "official_score": "harmonic mean of all AUCs and pAUCs of a system together",
        "systems": {},
    }
    for system in sorted(per_section["system"].unique()):
        rows = summary[summary["system"] == system]
        level = {}
        for record in rows.to_dict("records"):
            values = {m: record[m] for m in metrics.METRIC_COLUMNS}
            level.setdefault(record["machine_type"], {})[record["domain"]] = values
        report["systems"][system] = {
            "official_score": float(
                official.loc[official["system"] == system, "official_score"].iloc[0]),
            "harmonic_means": level,
            "sections": per_section[per_section["system"] == system]
            .drop(columns="system").to_dict("records"),
        }
    return reporting.nan_to_none(report), summary


def build_tables(per_section: pd.DataFrame, summary: pd.DataFrame, parameters: dict
                 ) -> tuple[str, pd.DataFrame, str, pd.DataFrame, str, pd.DataFrame, str,
                            pd.DataFrame]:
    """Overview, Table 2 (systems per section), 3 (distributions) and 4 (losses): Markdown
    and CSV each."""
    official = metrics.official_scores(per_section)
    note = PAUC_NOTE.format(max_fpr=parameters["max_fpr"])
    overview = reporting.table_overview(summary, official)
    systems_table2 = reporting.comparison_systems(per_section["system"].unique())
    table2 = reporting.table_per_section(per_section, summary, systems_table2)
    table3_systems = ["dist_section", "dist_attribute", "dist_target", "proposed"]
    table3 = reporting.table_per_type_and_domain(summary, table3_systems)
    table4_systems = ["loss_sections", "loss_both", "proposed"]
    table4 = reporting.table_per_type_and_domain(summary, table4_systems)

    def caption(systems):
        return note + "\n\n" + reporting.describe_systems(systems)

    chance = reporting.chance_note(per_section, overview)
    return (
        reporting.markdown_table(
            overview, "Overview: harmonic means and official score per system",
            caption(overview["system"]) + "\n\nofficial score: harmonic mean of all AUCs and "
            "pAUCs over machine types, sections and domains." + (f"\n\n{chance}" if chance
                                                                 else "")),
        overview,
        reporting.markdown_table(
            table2, "AUC and pAUC per section and domain (paper Table 2)",
            caption(systems_table2) + (f"\n\n{chance}" if chance else "")),
        table2,
        reporting.markdown_table(
            table3, "Harmonic means per distribution (paper Table 3)", caption(table3_systems)),
        table3,
        reporting.markdown_table(
            table4, "Harmonic means per loss variant (paper Table 4)", caption(table4_systems)),
        table4,
    )


DECISIONS_NOTE = (
    "false alarms: the share of normal test clips flagged (a threshold at the {percentile}th "
    "percentile promises about {share}% on recordings the system has not seen); detections: "
    "the share of anomalous test clips flagged; F1: the decisions' F1; all means over sections. "
    "oracle F1: the best F1 a single threshold chosen on "
    "the test labels reaches on the same scores (a reference, not reachable in use)."
)


def build_decisions_table(summary: pd.DataFrame, percentile: float) -> tuple[str, pd.DataFrame]:
    """What the decisions are worth, per system, machine type and domain (Markdown and CSV)."""
    table = reporting.table_decisions(summary)
    note = DECISIONS_NOTE.format(percentile=f"{percentile:g}", share=f"{100 - percentile:g}")
    return reporting.markdown_table(
        table, "Decisions: false alarms, detections, F1", note + "\n\n"
        + reporting.describe_systems(pd.unique(table["system"]))), table


def summarise_reduction(curve: pd.DataFrame, kept: dict[str, list[str]],
                        **training_histories: pd.DataFrame) -> dict:
    """The reduction in numbers: members kept per machine type, their AUC against the full
    ensemble's, the configurations still worth training and the share of training time."""
    from subcluster_adacos_asd import reduction

    per_type = {}
    for machine_type, rows in curve.groupby("machine_type"):
        last = rows[rows["kept"]].iloc[-1]
        per_type[machine_type] = {"members": int(rows["kept"].sum()), "of": len(rows),
                                  "auc": float(last["auc"]), "full_auc": float(last["full_auc"])}
    return {"machine_types": per_type, "kept": kept,
            "configurations_to_train": reduction.configurations_kept(kept),
            "training": reduction.saved_training(training_histories, kept)}
