"""Ensemble reduction: greedy forward selection on members whose answer is known, the 99 % rule,
the member scores against the ensemble's own sum, training time saved."""

import numpy as np
import pandas as pd
import pytest

from subcluster_adacos_asd import ensemble, reduction


def _index(n=20):
    rows = []
    for machine_type in ("fan", "valve"):
        for domain in ("source", "target"):
            for label in ("normal", "anomaly"):
                for i in range(n):
                    rows.append(dict(file_id=f"{machine_type}/{domain}/{label}/{i}",
                                     machine_type=machine_type, section=0, domain=domain,
                                     split="test", label=label,
                                     section_class=f"{machine_type}_section_00"))
    return pd.DataFrame(rows)


def _member_scores(index, quality):
    """One member per entry of ``quality``: anomalies shifted by that much, plus noise."""
    rng = np.random.default_rng(0)
    frames = []
    anomalous = (index["label"] == "anomaly").to_numpy()
    for member, shift in quality.items():
        variant = member.split("_")[1].split("/")[0]
        frames.append(pd.DataFrame({"file_id": index["file_id"], "member": member,
                                    "variant": variant,
                                    "score": rng.normal(size=len(index)) + shift * anomalous}))
    return pd.concat(frames, ignore_index=True)


def test_greedy_selection_keeps_the_informative_member_first_and_stops_at_99_percent():
    index = _index()
    scores = _member_scores(index, {"sc01_both/e1": 0.0, "sc02_both/e1": 4.0,
                                    "sc04_both/e1": 0.1, "sc01_sections/e1": 3.0})
    curve, kept = reduction.reduce_ensemble(scores, index, {"fan": "both", "valve": "sections"})
    fan = curve[curve["machine_type"] == "fan"]
    assert fan["member"].iloc[0] == "sc02_both/e1" and fan["step"].tolist() == [1, 2, 3]
    assert fan["auc"].iloc[0] >= 0.99 * fan["full_auc"].iloc[0]
    assert kept["fan"] == ["sc02_both/e1"]
    assert kept["valve"] == ["sc01_sections/e1"]  # the only member of its variant
    assert reduction.configurations_kept(kept) == ["sc01_sections", "sc02_both"]
    # the kept members' sum, applied to the same (or other) data
    total = reduction.apply_members(scores, index, kept)
    member = scores[scores["member"] == "sc02_both/e1"].set_index("file_id")["score"]
    fan_files = index.loc[index["machine_type"] == "fan", "file_id"]
    np.testing.assert_allclose(total.loc[fan_files], member.loc[fan_files])
    with pytest.raises(ValueError, match="fraction"):
        reduction.reduce_ensemble(scores, index, {"fan": "both", "valve": "both"}, 1.5)


def test_member_scores_sum_to_the_ensemble_score():
    index = _index(4).assign(split="test")
    rng = np.random.default_rng(1)
    terms = {}
    for name in ("sc01_both", "sc04_both"):
        frames = []
        for snapshot in ("epoch_0001", "epoch_0002"):
            source = (index["domain"] == "source").to_numpy()
            frames.append(pd.DataFrame({
                "file_id": index["file_id"], "snapshot": snapshot,
                "section_term": rng.normal(size=len(index)),
                "attribute_term": np.where(source, rng.normal(size=len(index)), np.nan),
                "target_term": np.where(source, np.nan, rng.normal(size=len(index)))}))
        terms[name] = pd.concat(frames, ignore_index=True)
    tmax = pd.DataFrame({"file_id": index["file_id"], "tmax_term": np.where(
        (index["machine_type"] == "valve") & (index["domain"] == "source"), 2.0, np.nan)})
    scores = reduction.member_scores(terms, tmax, index)
    assert scores["member"].nunique() == 4
    summed = scores.groupby("file_id")["score"].sum()
    expected = ensemble.variant_scores(ensemble.sum_members(terms), index, tmax)
    np.testing.assert_allclose(summed.loc[expected["file_id"]], expected["score"], atol=1e-9)


def test_saved_training_time():
    histories = {"sc01_both": pd.DataFrame({"seconds": [1.0, 2.0]}),
                 "sc02_both": pd.DataFrame({"seconds": [3.0, 4.0]})}
    saved = reduction.saved_training(histories, {"fan": ["sc01_both/epoch_0002"]})
    assert saved == {"all_seconds": 10.0, "kept_seconds": 3.0, "kept_share": 0.3}
