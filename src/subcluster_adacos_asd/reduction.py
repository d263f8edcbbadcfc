"""Ensemble reduction (the paper's section 4, future work): the fewest members that keep 99 %.

The proposed ensemble sums, per machine type, the scores of every member of its loss variant:
one member per configuration (sub-cluster count) and snapshot, 5 x 4 = 20 in the paper. Many
add little. :func:`reduce_ensemble` adds members one at a time, each time the one that raises
the machine type's harmonic-mean AUC most (greedy forward selection), records the curve, and
keeps the shortest prefix whose AUC reaches ``fraction`` (0.99) of the full ensemble's.

**Selection uses test labels**: run it on labelled development data only, and apply the chosen
members unchanged to evaluation data and to new recordings (as ``variant_choice: dev_auc``).
Configurations that no machine type keeps need not be trained next time: the curve's table says
which, and :func:`saved_training` how much training time that is.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from subcluster_adacos_asd.configurations import parse_configuration_name
from subcluster_adacos_asd.ensemble import normalise_terms
from subcluster_adacos_asd.metrics import LABELLED, harmonic_mean, roc_auc

CURVE_COLUMNS = ["machine_type", "step", "member", "auc", "source_auc", "target_auc",
                 "full_auc", "kept"]


def member_name(configuration: str, snapshot: str) -> str:
    """One ensemble member: ``sc04_both/epoch_0016``."""
    return f"{configuration}/{snapshot}"


def member_scores(
    terms_by_configuration: Mapping[str, pd.DataFrame],
    tmax_terms: pd.DataFrame | None,
    file_index: pd.DataFrame,
    statistics: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``file_id, member, variant, score``: each member's own score of every file, the same sum
    of terms the ensemble adds up (section + attribute or target term + the tmax term)."""
    domains = file_index.set_index("file_id")["domain"]
    tmax = None
    if tmax_terms is not None and len(tmax_terms):
        tmax = tmax_terms
        if statistics is not None and len(statistics):
            tmax = normalise_terms(tmax_terms, statistics, "", file_index, ["tmax_term"])
        tmax = tmax.set_index("file_id")["tmax_term"]
    frames = []
    for name, terms in terms_by_configuration.items():
        if statistics is not None and len(statistics):
            terms = normalise_terms(terms, statistics, name, file_index)
        source = terms["file_id"].map(domains).to_numpy() == "source"
        second = np.where(source, terms["attribute_term"], terms["target_term"])
        score = terms["section_term"].to_numpy() + np.nan_to_num(second.astype(float))
        if tmax is not None:
            score = score + terms["file_id"].map(tmax).fillna(0.0).to_numpy()
        frames.append(pd.DataFrame({
            "file_id": terms["file_id"].to_numpy(),
            "member": [member_name(name, s) for s in terms["snapshot"]],
            "variant": parse_configuration_name(name).variant,
            "score": score,
        }))
    return pd.concat(frames, ignore_index=True)


def _labelled_groups(file_index: pd.DataFrame, machine_type: str) -> list[tuple[str, np.ndarray]]:
    rows = file_index[(file_index["machine_type"] == machine_type)
                      & (file_index["split"] == "test") & file_index["label"].isin(LABELLED)]
    groups = []
    for (_, domain), group in rows.groupby(["section", "domain"], sort=True):
        labels = (group["label"] == "anomaly").to_numpy(int)
        if 0 < labels.sum() < len(labels):
            groups.append((domain, group["file_id"].to_numpy(), labels))
    return groups


def _aucs(total: pd.Series, groups) -> dict[str, float]:
    by_domain: dict[str, list[float]] = {"source": [], "target": []}
    for domain, files, labels in groups:
        by_domain.setdefault(domain, []).append(roc_auc(labels, total.loc[files].to_numpy()))
    every = [a for values in by_domain.values() for a in values]
    return {"auc": harmonic_mean(every), "source_auc": harmonic_mean(by_domain["source"]),
            "target_auc": harmonic_mean(by_domain["target"])}


def members_aucs(scores: pd.DataFrame, file_index: pd.DataFrame, machine_type: str,
                 members: list[str]) -> dict[str, float]:
    """hmean AUC (``auc``, ``source_auc``, ``target_auc``) of one machine type's labelled test
    files under the sum of ``members``' scores: how a choice made elsewhere does here."""
    rows = scores[scores["member"].isin(members)]
    return _aucs(rows.groupby("file_id")["score"].sum(), _labelled_groups(file_index, machine_type))


def reduce_ensemble(
    scores: pd.DataFrame,
    file_index: pd.DataFrame,
    variant_choice: Mapping[str, str],
    fraction: float = 0.99,
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The greedy curve per machine type (``CURVE_COLUMNS``) and the kept members
    ``{machine_type: [member, ...]}``, from :func:`member_scores` of labelled development
    files. A machine type without labelled test files keeps every member of its variant."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    wide = scores.pivot_table(index="file_id", columns="member", values="score", aggfunc="first")
    variant_of = scores.drop_duplicates("member").set_index("member")["variant"]
    curves, kept = [], {}
    for machine_type in sorted(pd.unique(file_index["machine_type"])):
        members = sorted(m for m in wide.columns if variant_of[m] == variant_choice[machine_type])
        groups = _labelled_groups(file_index, machine_type)
        if not groups or not members:
            kept[machine_type] = members
            continue
        full = _aucs(wide[members].sum(axis=1), groups)["auc"]
        chosen, total, rows = [], pd.Series(0.0, index=wide.index), []
        remaining = list(members)
        while remaining:
            trials = {m: _aucs(total + wide[m], groups) for m in remaining}
            best = max(remaining, key=lambda m: (trials[m]["auc"], -remaining.index(m)))
            chosen.append(best)
            remaining.remove(best)
            total = total + wide[best]
            rows.append({"machine_type": machine_type, "step": len(chosen), "member": best,
                         **trials[best], "full_auc": full})
        curve = pd.DataFrame(rows)
        enough = curve.index[curve["auc"] >= fraction * full]
        size = int(enough[0]) + 1 if len(enough) else len(curve)
        curve["kept"] = curve["step"] <= size
        kept[machine_type] = chosen[:size]
        curves.append(curve)
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    return curve[CURVE_COLUMNS], kept


def configurations_kept(kept: Mapping[str, list[str]]) -> list[str]:
    """The configurations any machine type keeps a member of: the ones worth training."""
    return sorted({m.split("/")[0] for members in kept.values() for m in members})


def saved_training(histories: Mapping[str, pd.DataFrame], kept: Mapping[str, list[str]]
                   ) -> dict[str, float]:
    """Seconds of training of all configurations, of the kept ones, and their ratio, from the
    ``<configuration>.training_history`` tables (column ``seconds`` per epoch)."""
    total = {name: float(history["seconds"].sum()) for name, history in histories.items()}
    needed = set(configurations_kept(kept))
    full, reduced = sum(total.values()), sum(v for k, v in total.items() if k in needed)
    return {"all_seconds": full, "kept_seconds": reduced,
            "kept_share": reduced / full if full else float("nan")}


def reduction_figure(curve: pd.DataFrame):
    """hmean AUC (all, source, target) against the number of members kept, per machine type."""
    from matplotlib.figure import Figure

    types = list(pd.unique(curve["machine_type"]))
    figure = Figure(figsize=(4 * max(1, len(types)), 3.2))
    for k, machine_type in enumerate(types, start=1):
        ax = figure.add_subplot(1, len(types), k)
        rows = curve[curve["machine_type"] == machine_type]
        for column, style in (("auc", "-"), ("source_auc", "--"), ("target_auc", ":")):
            ax.plot(rows["step"], 100 * rows[column], style, label=column.replace("_", " "))
        size = int(rows["kept"].sum())
        ax.axvline(size, color="grey", linewidth=0.8)
        ax.axhline(99 * rows["full_auc"].iloc[0], color="grey", linewidth=0.5, linestyle="-.")
        ax.set_title(f"{machine_type}: {size} of {len(rows)} members", fontsize=9)
        ax.set_xlabel("members kept (greedy order)", fontsize=8)
        ax.set_ylabel("hmean AUC (%)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    figure.tight_layout()
    return figure


def apply_members(scores: pd.DataFrame, file_index: pd.DataFrame,
                  kept: Mapping[str, list[str]]) -> pd.Series:
    """The reduced ensemble's score of every file: the sum over its machine type's kept members
    (how the choice made on development data applies unchanged to other data)."""
    machine = file_index.set_index("file_id")["machine_type"]
    rows = scores[[m in set(kept.get(machine[f], ())) for f, m in
                   zip(scores["file_id"], scores["member"], strict=True)]]
    return rows.groupby("file_id")["score"].sum()


def reduced_rows(scores: pd.DataFrame, file_index: pd.DataFrame,
                 kept: Mapping[str, list[str]]) -> pd.DataFrame:
    """The ``file_index`` rows of the scored files with the reduced ensemble's ``score`` (also
    as ``threshold_score``, the column :func:`ensemble.decide` compares)."""
    total = apply_members(scores, file_index, kept)
    rows = file_index.merge(total.rename("score"), left_on="file_id", right_index=True)
    return rows.assign(threshold_score=rows["score"])


def reduced_system_scores(
    scores: pd.DataFrame, file_index: pd.DataFrame, kept: Mapping[str, list[str]],
    percentile: float = 90.0, calibration: pd.DataFrame | None = None, settings=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``file_id, system, score, decision`` of the reduced ensemble (system ``reduced``), with
    decisions by the paper's rule on its calibration scores (``calibration``: the members'
    cross-fitted scores of the normal training files, :func:`member_scores` of the
    calibration terms; else its own in-sample training scores), and those thresholds
    (``machine_type, section, domain, threshold``: what inference decides new files with)."""
    from subcluster_adacos_asd.contracts import normal_training
    from subcluster_adacos_asd.ensemble import decide, thresholds

    rows = reduced_rows(scores, file_index, kept)
    if calibration is None or calibration.empty:
        calibrated = rows
    else:
        calibrated = reduced_rows(calibration, file_index[normal_training(file_index)], kept)
    threshold_table = thresholds(calibrated, percentile, settings=settings)
    decided = decide(rows, threshold_table)
    return pd.DataFrame({"file_id": decided["file_id"], "system": "reduced",
                         "score": decided["score"].astype(float),
                         "decision": decided["decision"].astype("Int64")}), threshold_table


def kept_snapshots(kept: Mapping[str, list[str]], configuration: str) -> dict[str, set[str]]:
    """``{machine_type: {snapshot, ...}}`` of one configuration's kept members (only machine
    types that keep at least one): what a reduced inference embeds, and for which files."""
    result = {}
    for machine_type, members in kept.items():
        snapshots = {m.split("/", 1)[1] for m in members if m.split("/", 1)[0] == configuration}
        if snapshots:
            result[machine_type] = snapshots
    return result


__all__ = ["CURVE_COLUMNS", "apply_members", "configurations_kept", "kept_snapshots",
           "member_name", "member_scores", "members_aucs", "reduce_ensemble", "reduced_rows",
           "reduced_system_scores", "reduction_figure", "saved_training"]
