"""Result tables (Markdown and CSV), figures and DCASE submission files. No Kedro.

Tables are shaped like the paper's: Table 2 (AUC/pAUC per section and domain, a column pair
per system, harmonic mean per machine type), Table 3 (each distribution of the ensemble alone
vs the proposed ensemble) and Table 4 (each loss variant vs the proposed ensemble), both as
harmonic means per machine type and domain. CSV tables hold fractions (0..1) at full
precision; Markdown tables show percentages like the paper.

Figures use matplotlib's object API (``matplotlib.figure.Figure``), never pyplot state, so
nodes stay free of global side effects; Kedro's ``MatplotlibDataset`` saves them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from subcluster_adacos_asd.metrics import LABELLED

logger = logging.getLogger(__name__)

DOMAINS = ("source", "target")
# How the paper names what our systems compute (table captions).
SYSTEM_DESCRIPTIONS = {
    "proposed": "proposed ensemble (per machine type the chosen loss variant)",
    "loss_both": "ensemble of networks trained with both losses (sections and attributes)",
    "loss_sections": "ensemble of networks trained with the section loss only",
    "dist_section": "section GMM term alone, P(.|s,k)",
    "dist_attribute": "attribute GMM term alone, P(.|a,k) (source domain)",
    "dist_target": "target-sample GMM term alone, P(.|X_target(s),k) (target domain)",
    "reduced": "the fewest ensemble members per machine type keeping 99% of its AUC (chosen on "
               "the labelled test files, see docs/scoring.md)",
    "autoencoder": "DCASE 2021 autoencoder baseline",
    "mobilenetv2": "DCASE 2021 MobileNetV2 baseline",
    "knn_statistics": "non-learned: nearest normal training clip by per-bin log-mel mean and std",
    "knn_frames": "non-learned: mean distance of each frame to its nearest training frame",
    "gaussian_statistics": "non-learned: Ledoit-Wolf Gaussian on the temporal mean log-mel",
}
PROPOSED_COMPONENTS = {
    "proposed", "reduced", "loss_both", "loss_sections", "dist_section", "dist_attribute",
    "dist_target",
}


# --------------------------------------------------------------------------------------------
# tables


def _pair_columns(systems: Sequence[str]) -> list[str]:
    return [f"{system} {metric}" for system in systems for metric in ("AUC", "pAUC")]


def _present(systems: Iterable[str], available: Iterable[str]) -> list[str]:
    available = set(available)
    return [s for s in systems if s in available]


def comparison_systems(available: Iterable[str]) -> list[str]:
    """Table 2's columns: every system that is not a part of the proposed one, then proposed
    and its reduced ensemble."""
    available = list(dict.fromkeys(available))
    others = sorted(s for s in available if s not in PROPOSED_COMPONENTS)
    return others + _present(["proposed", "reduced"], available)


def table_per_section(per_section: pd.DataFrame, summary: pd.DataFrame,
                      systems: Sequence[str]) -> pd.DataFrame:
    """Table 2: one row per machine type, section and domain, then the type's harmonic mean."""
    systems = _present(systems, per_section["system"])
    columns = ["machine_type", "section", "domain", *_pair_columns(systems)]
    chosen = per_section[per_section["system"].isin(systems)]
    if chosen.empty:
        return pd.DataFrame(columns=columns)
    wide = chosen.pivot_table(index=["machine_type", "domain", "section"], columns="system",
                              values=["AUC", "pAUC"], aggfunc="first")
    rows = []
    for machine_type in sorted(chosen["machine_type"].unique(), key=str.lower):
        part = wide.loc[machine_type]
        for domain, section in part.index:
            row = {"machine_type": machine_type, "section": f"{int(section):02d}",
                   "domain": domain}
            for system in systems:
                for metric in ("AUC", "pAUC"):
                    row[f"{system} {metric}"] = part.get((metric, system), {}).get(
                        (domain, section), np.nan)
            rows.append(row)
        rows.append(_summary_row(summary, systems, machine_type, "all",
                                 {"section": "harmonic mean", "domain": ""}))
    rows.append(_summary_row(summary, systems, "all", "all",
                             {"section": "harmonic mean", "domain": "all"}))
    return pd.DataFrame(rows, columns=columns)


def _summary_row(summary, systems, machine_type, domain, extra) -> dict:
    row = {"machine_type": machine_type, **extra}
    for system in systems:
        match = summary[(summary["system"] == system) & (summary["machine_type"] == machine_type)
                        & (summary["domain"] == domain)]
        for metric in ("AUC", "pAUC"):
            row[f"{system} {metric}"] = float(match[metric].iloc[0]) if len(match) else np.nan
    return row


def table_per_type_and_domain(summary: pd.DataFrame, systems: Sequence[str]) -> pd.DataFrame:
    """Tables 3-5: harmonic means per machine type and domain, then over all machine types."""
    systems = _present(systems, summary["system"])
    columns = ["machine_type", "domain", *_pair_columns(systems)]
    chosen = summary[summary["system"].isin(systems) & summary["domain"].isin(DOMAINS)]
    types = sorted((t for t in chosen["machine_type"].unique() if t != "all"), key=str.lower)
    rows = []
    for machine_type in [*types, "all"]:
        for domain in DOMAINS:
            if ((chosen["machine_type"] == machine_type) & (chosen["domain"] == domain)).any():
                rows.append(_summary_row(chosen, systems, machine_type, domain,
                                         {"domain": domain}))
    return pd.DataFrame(rows, columns=columns)


#: The overview's columns after the system: (domain, metric, column name).
OVERVIEW_COLUMNS = (
    ("all", "AUC", "AUC"), ("all", "pAUC", "pAUC"),
    ("source", "AUC", "source AUC"), ("source", "pAUC", "source pAUC"),
    ("target", "AUC", "target AUC"), ("target", "pAUC", "target pAUC"),
    ("source", "false_alarm_rate", "source false alarms"),
    ("target", "false_alarm_rate", "target false alarms"),
    ("source", "detection_rate", "source detections"),
    ("target", "detection_rate", "target detections"),
    ("all", "F1", "F1"), ("all", "oracle_F1", "oracle F1"),
)


def table_overview(summary: pd.DataFrame, official: pd.DataFrame) -> pd.DataFrame:
    """One row per system: official score, overall and per-domain harmonic means of AUC and
    pAUC, then what its decisions are worth: the share of normal test clips flagged (false
    alarms) and of anomalous ones (detections) per domain, mean over sections, and the F1 of
    the decisions beside the best F1 a threshold chosen on the test labels would reach."""
    rows = []
    for system in sorted(summary["system"].unique(), key=_system_order):
        row = {"system": system}
        match = official[official["system"] == system]
        row["official score"] = float(match["official_score"].iloc[0]) if len(match) else np.nan
        for domain, metric, name in OVERVIEW_COLUMNS:
            level = summary[(summary["system"] == system) & (summary["machine_type"] == "all")
                            & (summary["domain"] == domain)]
            row[name] = float(level[metric].iloc[0]) if len(level) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def chance_note(per_section: pd.DataFrame, overview: pd.DataFrame, z: float = 2.0) -> str:
    """A line naming every system whose harmonic-mean AUC lies within ``z`` standard errors of
    chance on these test clips (metrics.chance_band): on this data it did not learn, or the
    test set is too small to tell. Empty when every system is clear of chance."""
    from subcluster_adacos_asd.metrics import chance_band

    at_chance = []
    for system, auc in zip(overview["system"], overview["AUC"]):
        band = chance_band(per_section, system, z)
        if np.isfinite(auc) and np.isfinite(band) and auc < band:
            at_chance.append(f"{system} ({100 * auc:.1f} % < {100 * band:.1f} %)")
    if not at_chance:
        return ""
    return ("At chance on these test clips (harmonic-mean AUC within "
            f"{z:g} standard errors of 50 %, from the test clips per section and domain): "
            + ", ".join(at_chance) + ". Such a system did not learn here, or the test set is "
            "too small to tell; its decisions carry no information.")


def table_decisions(summary: pd.DataFrame) -> pd.DataFrame:
    """What each system's decisions are worth per machine type and domain: false-alarm and
    detection rates, F1 and the oracle F1 (means over sections)."""
    columns = ["system", "machine_type", "domain", "false alarms", "detections", "F1",
               "oracle F1"]
    rows = summary[summary["domain"].isin(DOMAINS)]
    rows = rows[rows["false_alarm_rate"].notna()] if "false_alarm_rate" in rows else rows.iloc[:0]
    table = pd.DataFrame({
        "system": rows["system"], "machine_type": rows["machine_type"], "domain": rows["domain"],
        "false alarms": rows.get("false_alarm_rate"), "detections": rows.get("detection_rate"),
        "F1": rows.get("F1"), "oracle F1": rows.get("oracle_F1"),
    }, columns=columns)
    order = table["system"].map(_system_order)
    types = table["machine_type"].map(lambda t: (t == "all", str(t).lower()))
    return (table.assign(_s=order, _t=types).sort_values(["_s", "_t", "domain"], kind="stable")
            .drop(columns=["_s", "_t"]).reset_index(drop=True))


def _system_order(system: str) -> tuple:
    order = ["proposed", "loss_both", "loss_sections", "dist_section", "dist_attribute",
             "dist_target"]
    return (order.index(system), "") if system in order else (len(order), system)


def markdown_table(frame: pd.DataFrame, title: str = "", caption: str = "",
                   text_columns: Iterable[str] = ("machine_type", "section", "domain", "system"),
                   ) -> str:
    """A GitHub Markdown table; numbers as percentages with two decimals, NaN as ``-``."""
    text_columns = set(text_columns)

    def cell(column, value) -> str:
        if column in text_columns or isinstance(value, str):
            return str(value)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        return f"{100.0 * float(value):.2f}%"

    header = [str(c) for c in frame.columns]
    lines = []
    if title:
        lines += [f"# {title}", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" if c in text_columns else "---:" for c in frame.columns)
                 + "|")
    for record in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(c, v) for c, v in zip(frame.columns, record,
                                                                     strict=True)) + " |")
    if caption:
        lines += ["", caption]
    return "\n".join(lines) + "\n"


def describe_systems(systems: Iterable[str]) -> str:
    """A caption line per system, saying what each column is."""
    return "\n".join(f"- `{s}`: {SYSTEM_DESCRIPTIONS.get(s, 'system from baseline_scores')}"
                     for s in systems)


# --------------------------------------------------------------------------------------------
# figures


def _labelled_test(scores: pd.DataFrame, file_index: pd.DataFrame) -> pd.DataFrame:
    index = file_index[["file_id", "machine_type", "section", "domain", "split", "label"]]
    frame = scores.merge(index, on="file_id", how="inner")
    return frame[(frame["split"] == "test") & frame["label"].isin(LABELLED)
                 & frame["score"].notna()]


def roc_curve_figures(system_scores: pd.DataFrame, file_index: pd.DataFrame,
                      systems: Sequence[str]) -> dict[str, Figure]:
    """``roc_<machine_type>.png``: a grid of domains x sections, one ROC curve per system."""
    frame = _labelled_test(system_scores, file_index)
    systems = _present(systems, frame["system"])
    figures = {}
    for machine_type, rows in frame.groupby("machine_type", sort=True):
        sections = sorted(rows["section"].unique())
        domains = [d for d in DOMAINS if (rows["domain"] == d).any()]
        figure = Figure(figsize=(3.2 * len(sections), 3.0 * len(domains)), layout="constrained")
        axes = np.atleast_2d(figure.subplots(len(domains), len(sections), squeeze=False))
        for i, domain in enumerate(domains):
            for j, section in enumerate(sections):
                ax = axes[i, j]
                cell = rows[(rows["domain"] == domain) & (rows["section"] == section)]
                for system in systems:
                    part = cell[cell["system"] == system]
                    y_true = (part["label"] == "anomaly").to_numpy(dtype=int)
                    if len(part) == 0 or y_true.min() == y_true.max():
                        continue
                    fpr, tpr, _ = roc_curve(y_true, part["score"].to_numpy(dtype=float))
                    ax.plot(fpr, tpr, label=system, linewidth=1.2)
                ax.plot([0, 1], [0, 1], color="0.7", linestyle=":", linewidth=0.8)
                ax.axvline(0.1, color="0.8", linewidth=0.8)
                ax.set_title(f"section {int(section):02d}, {domain}", fontsize=9)
                ax.set_xlabel("false positive rate", fontsize=8)
                ax.set_ylabel("true positive rate", fontsize=8)
                ax.tick_params(labelsize=7)
                if ax.lines[:-1]:
                    ax.legend(fontsize=6, loc="lower right")
        figure.suptitle(f"{machine_type}: ROC curves (test files)")
        figures[f"roc_{machine_type}.png"] = figure
    return figures


def harmonic_mean_figure(summary: pd.DataFrame, systems: Sequence[str]) -> Figure:
    """One figure (kedro viz previews single images): harmonic-mean AUC and pAUC per machine
    type (over its sections and domains) and overall, a bar per system."""
    systems = _present(systems, summary["system"])
    rows = summary[(summary["domain"] == "all") & summary["system"].isin(systems)]
    types = sorted((t for t in rows["machine_type"].unique() if t != "all"), key=str.lower)
    types.append("all")
    figure = Figure(figsize=(max(6.0, 1.2 * len(types) + 2), 6.0), layout="constrained")
    axes = figure.subplots(2, 1, sharex=True)
    width = 0.8 / max(len(systems), 1)
    x = np.arange(len(types))
    for ax, metric in zip(axes, ("AUC", "pAUC"), strict=True):
        for k, system in enumerate(systems):
            values = [
                rows.loc[(rows["system"] == system) & (rows["machine_type"] == t), metric]
                for t in types
            ]
            heights = [100.0 * float(v.iloc[0]) if len(v) else np.nan for v in values]
            ax.bar(x + (k - (len(systems) - 1) / 2) * width, heights, width, label=system)
        ax.axhline(50.0, color="0.6", linestyle=":", linewidth=0.8)
        ax.set_ylabel(f"{metric} (%)")
        ax.set_ylim(0, 100)
    axes[-1].set_xticks(x, types)
    axes[0].legend(fontsize=7, ncols=min(len(systems), 4), loc="lower left")
    figure.suptitle("Harmonic means over sections and domains (test files)")
    return figure


def score_histogram_figures(anomaly_scores: pd.DataFrame, bins: int = 30,
                            calibration_scores: pd.DataFrame | None = None,
                            variant_choice: Mapping[str, str] | None = None,
                            ) -> dict[str, Figure]:
    """``scores_<machine_type>.png``: per domain and section, histograms of the score that the
    decision compares (``threshold_score``) for normal training (in-sample: the clips the
    backends were fitted on), the calibration scores the threshold was set on (the chosen
    variant's rows of ``calibration_scores``: out of sample when cross-fitted), normal and
    anomalous test and unlabelled test files, with the decision threshold as a vertical line.
    Values beyond the 2nd-98th percentile range (widened to the threshold) are drawn in the end
    bins."""
    groups = {
        "train, normal (in-sample)": lambda f: (f["split"] == "train") & (f["label"] == "normal"),
        "calibration": lambda f: f["split"] == "calibration",
        "test, normal": lambda f: (f["split"] == "test") & (f["label"] == "normal"),
        "test, anomaly": lambda f: (f["split"] == "test") & (f["label"] == "anomaly"),
        "test, unlabelled": lambda f: (f["split"] == "test") & (f["label"] == "unknown"),
    }
    figures = {}
    frame = anomaly_scores[anomaly_scores["threshold_score"].notna()]
    if calibration_scores is not None and len(calibration_scores) and variant_choice:
        wanted = calibration_scores["machine_type"].map(dict(variant_choice))
        calibrated = calibration_scores[calibration_scores["variant"] == wanted]
        frame = pd.concat([frame, calibrated[calibrated["threshold_score"].notna()].assign(
            split="calibration")[["machine_type", "section", "domain", "split", "label",
                                  "threshold_score"]]], ignore_index=True)
    for machine_type, rows in frame.groupby("machine_type", sort=True):
        sections = sorted(rows["section"].unique())
        domains = [d for d in DOMAINS if (rows["domain"] == d).any()]
        figure = Figure(figsize=(3.2 * len(sections), 2.8 * len(domains)), layout="constrained")
        axes = figure.subplots(len(domains), len(sections), squeeze=False)
        for i, domain in enumerate(domains):
            for j, section in enumerate(sections):
                ax = axes[i, j]
                cell = rows[(rows["domain"] == domain) & (rows["section"] == section)]
                values = cell["threshold_score"].to_numpy(dtype=float)
                if len(values) == 0:
                    ax.set_axis_off()
                    continue
                # a few far-out anomalies would squeeze every normal file into one bin: the
                # range ends at the 2nd/98th percentile and outliers pile up in the end bins
                low, high = np.percentile(values, [2, 98])
                threshold = cell["threshold"].dropna()
                if len(threshold):
                    low = min(low, float(threshold.iloc[0]))
                    high = max(high, float(threshold.iloc[0]))
                edges = np.histogram_bin_edges(values, bins=bins,
                                               range=(low, high) if high > low else None)
                for name, select in groups.items():
                    part = cell.loc[select(cell), "threshold_score"].to_numpy(dtype=float)
                    if len(part):
                        ax.hist(np.clip(part, edges[0], edges[-1]), bins=edges, alpha=0.5,
                                density=True, label=name)
                if len(threshold):
                    ax.axvline(float(threshold.iloc[0]), color="k", linestyle="--",
                               linewidth=1.0, label="threshold")
                what = "score" if domain == "source" else "section term"
                ax.set_title(f"section {int(section):02d}, {domain}", fontsize=9)
                ax.set_xlabel(what, fontsize=8)
                ax.tick_params(labelsize=7)
                ax.legend(fontsize=6)
        figure.suptitle(f"{machine_type}: scores compared with the decision threshold")
        figures[f"scores_{machine_type}.png"] = figure
    return figures


# --------------------------------------------------------------------------------------------
# submission files


def submission_name(kind: str, machine_type: str, section: int, domain: str | None) -> str:
    """``anomaly_score_<type>_section_<SS>_<domain>_test`` (DCASE 2021 naming, no suffix), or
    ``anomaly_score_<type>_section_<SS>_test`` (2022 on: both domains in one file)."""
    middle = f"_{domain}" if domain else ""
    return f"{kind}_{machine_type}_section_{int(section):02d}{middle}_test"


def submission_files(anomaly_scores: pd.DataFrame, file_index: pd.DataFrame,
                     protocol: str = "dcase2021") -> dict[str, pd.DataFrame]:
    """The DCASE submission: per machine type, section and domain of the test files (2022 on,
    ``protocol`` dcase2022 or detected by ``auto``: per section, both domains together), an
    ``anomaly_score_*`` and a ``decision_result_*`` table of ``filename, value`` rows (WAV
    basename), sorted by file name. Save without header and index.

    A group whose decisions are incomplete (no threshold) gets no decision file, with a
    warning; two test files with the same basename in one group are an error.
    """
    index = file_index[["file_id", "filename"]]
    frame = anomaly_scores[anomaly_scores["split"] == "test"].merge(index, on="file_id",
                                                                   how="left")
    if frame["filename"].isna().any():
        raise ValueError(f"anomaly scores hold files not in the file index, e.g. "
                         f"{frame.loc[frame['filename'].isna(), 'file_id'].iloc[0]!r}")
    from subcluster_adacos_asd.protocols import protocol_of

    per_domain = protocol_of(file_index, protocol) == "dcase2021"
    if not per_domain:
        frame = frame.assign(domain="")
    files = {}
    for (machine_type, section, domain), rows in frame.groupby(
            ["machine_type", "section", "domain"], sort=True):
        rows = rows.sort_values("filename", kind="stable")
        if rows["filename"].duplicated().any():
            raise ValueError(
                f"{machine_type} section {section} {domain}: file name "
                f"{rows.loc[rows['filename'].duplicated(), 'filename'].iloc[0]!r} twice"
            )
        files[submission_name("anomaly_score", machine_type, section, domain)] = pd.DataFrame(
            {"filename": rows["filename"].to_numpy(),
             "anomaly_score": rows["score"].to_numpy(dtype=float)})
        if rows["decision"].isna().any():
            logger.warning("%s section %s %s: no decision threshold, decision file left out",
                           machine_type, section, domain)
            continue
        files[submission_name("decision_result", machine_type, section, domain)] = pd.DataFrame(
            {"filename": rows["filename"].to_numpy(),
             "decision_result": rows["decision"].to_numpy(dtype=int)})
    return files


def nan_to_none(value):
    """JSON has no NaN: nested structures with ``None`` in place of NaN."""
    if isinstance(value, Mapping):
        return {str(k): nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nan_to_none(v) for v in value]
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
