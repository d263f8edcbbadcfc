"""attribute_classes.py: data without attributes and attribute classes too small for a GMM."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from subcluster_adacos_asd.attribute_classes import assign_attribute_classes


def _index(rows) -> pd.DataFrame:
    """rows: (section, domain, split, attributes) -> a file index of machine type fan."""
    records = []
    for i, (section, domain, split, attributes) in enumerate(rows):
        section_class = f"fan_section_{section:02d}"
        records.append({
            "file_id": f"fan/{split}/{i:03d}", "path": f"/data/fan/{split}/{i:03d}.wav",
            "machine_type": "fan", "section": section, "domain": domain, "split": split,
            "label": "normal" if split == "train" else "unknown", "attributes": attributes,
            "section_class": section_class,
            "attribute_class": f"{section_class}_{attributes}" if attributes else "",
        })
    return pd.DataFrame(records)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_data_with_enough_clips_per_attribute_is_left_as_the_names_say(caplog):
    index = _index([(0, "source", "train", "a_1")] * 3 + [(0, "source", "train", "a_2")] * 2
                   + [(0, "target", "train", "a_9")] + [(0, "source", "test", "a_1")])
    with caplog.at_level(logging.WARNING):
        result = assign_attribute_classes(index, 2)
    pd.testing.assert_frame_equal(result, index)
    assert _warnings(caplog) == []  # the target-only class (one clip) gets no GMM: untouched


def test_files_without_attributes_take_their_section_class_with_one_warning(caplog):
    index = _index([(0, "source", "train", "")] * 3 + [(1, "source", "train", "")] * 2
                   + [(0, "target", "train", "")] + [(0, "source", "test", "")])
    with caplog.at_level(logging.WARNING):
        result = assign_attribute_classes(index, 2)
    assert result["attribute_class"].tolist() == result["section_class"].tolist()
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert "no training file carries attributes" in warnings[0]
    assert "fan_section_00, fan_section_01" in warnings[0]


def test_rare_attribute_classes_are_merged_and_named(caplog):
    index = _index([(0, "source", "train", "a_1")] * 4 + [(0, "source", "train", "a_7")]
                   + [(0, "source", "train", "a_8")] + [(0, "source", "test", "a_7")]
                   # section 1: one rare clip alone joins the smallest class with enough
                   + [(1, "source", "train", "b_1")] * 5 + [(1, "source", "train", "b_2")] * 2
                   + [(1, "source", "train", "b_3")])
    with caplog.at_level(logging.WARNING):
        result = assign_attribute_classes(index, 2)
    classes = result["attribute_class"].tolist()
    assert classes[:4] == ["fan_section_00_a_1"] * 4
    assert classes[4:7] == ["fan_section_00_other"] * 3  # the test file of a_7 goes along
    assert classes[7:12] == ["fan_section_01_b_1"] * 5
    assert classes[12:] == ["fan_section_01_b_2"] * 3
    (warning,) = _warnings(caplog)
    assert "fewer than 2 normal source-domain training clips" in warning
    assert ("fan_section_00_a_7 (1 clip), fan_section_00_a_8 (1 clip) -> fan_section_00_other"
            in warning)
    assert "fan_section_01_b_3 (1 clip) -> fan_section_01_b_2" in warning
    # every class the backends fit now has enough clips
    fitted = result[(result["split"] == "train") & (result["domain"] == "source")]
    assert fitted.groupby("attribute_class").size().min() >= 2


def test_a_larger_minimum_merges_more():
    index = _index([(0, "source", "train", "a_1")] * 5 + [(0, "source", "train", "a_2")] * 3
                   + [(0, "source", "train", "a_3")] * 3)
    result = assign_attribute_classes(index, 4)
    assert result["attribute_class"].value_counts().to_dict() == {
        "fan_section_00_other": 6, "fan_section_00_a_1": 5}


def test_a_section_with_a_single_training_clip_stops_before_training():
    index = _index([(0, "source", "train", "a_1")] * 3 + [(1, "source", "train", "")])
    with pytest.raises(ValueError, match=r"fewer than 2 normal source-domain training clips.*\n"
                                         r"  fan_section_01: 1 \(e\.g\. /data/fan/train/003\.wav\)"):
        assign_attribute_classes(index, 2)
