"""File-name grammar of the DCASE 2021-2023 task 2 data sets (dcase_names.py)."""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import pytest

from subcluster_adacos_asd.dcase_names import (
    FILE_INDEX_COLUMNS,
    FILE_NAME_PATTERN,
    FileNameError,
    check_training_coverage,
    index_files,
    parse_file_name,
)

REAL = Path("/work/shared/data/real")
TOYCAR_2023 = REAL / "dcase2023_t2_dev" / "ToyCar"
DCASE2020 = REAL / "dcase2020_t2_dev_samples"


@pytest.mark.parametrize(
    "file_id, expected",
    [
        # 2021 development set: train/, source_test/, target_test/
        (
            "fan/train/section_00_source_train_normal_0000_strength_1_ambient",
            ("fan", 0, "source", "train", "normal", 0, "strength_1_ambient"),
        ),
        (
            "dev_data/fan/source_test/section_01_source_test_anomaly_0012",
            ("fan", 1, "source", "test", "anomaly", 12, ""),
        ),
        (
            "fan/target_test/section_02_target_test_normal_0099_strength_2_ambient",
            ("fan", 2, "target", "test", "normal", 99, "strength_2_ambient"),
        ),
        # attribute strings with dots and digits right after the number
        (
            "gearbox/train/section_00_target_train_normal_0001_volt_1.0_wt_30",
            ("gearbox", 0, "target", "train", "normal", 1, "volt_1.0_wt_30"),
        ),
        # 2022/2023 development sets: one test/ folder
        (
            "ToyCar/test/section_00_target_test_anomaly_0005_car_B1_spd_31V_mic_1",
            ("ToyCar", 0, "target", "test", "anomaly", 5, "car_B1_spd_31V_mic_1"),
        ),
        # evaluation set: test files have no label
        (
            "eval_data/valve/test/section_03_source_test_0000",
            ("valve", 3, "source", "test", "unknown", 0, ""),
        ),
        (
            "eval_data/valve/train/section_05_target_train_normal_0002_pat_00",
            ("valve", 5, "target", "train", "normal", 2, "pat_00"),
        ),
    ],
)
def test_parse_every_layout(file_id, expected):
    parsed = parse_file_name(file_id, "/data/" + file_id + ".wav")
    got = (
        parsed.machine_type,
        parsed.section,
        parsed.domain,
        parsed.split,
        parsed.label,
        parsed.file_number,
        parsed.attributes,
    )
    assert got == expected
    assert parsed.file_id == file_id
    assert parsed.filename == file_id.rsplit("/", 1)[1] + ".wav"
    machine, section, *_, attributes = expected
    assert parsed.section_class == f"{machine}_section_{section:02d}"
    assert parsed.attribute_class == (
        f"{machine}_section_{section:02d}_{attributes}" if attributes else ""
    )


def test_row_has_the_contract_columns():
    row = parse_file_name(
        "fan/train/section_00_source_train_normal_0007_speed_1", "/x/fan.wav"
    ).as_row()
    assert tuple(row) == FILE_INDEX_COLUMNS
    assert row["section_class"] == "fan_section_00"
    assert row["attribute_class"] == "fan_section_00_speed_1"
    assert row["path"] == "/x/fan.wav"


@pytest.mark.parametrize(
    "name",
    [
        "section_00_source_train_normal",  # no number
        "section_00_middle_train_normal_0000",  # no such domain
        "section_00_source_validation_normal_0000",  # no such split
        "section_00_source_train_broken_0000",  # no such label
        "section_00_source_train_0000",  # only test files may lack a label
        "sec_00_source_train_normal_0000",
        "recording",
    ],
)
def test_bad_names_are_errors_naming_file_and_pattern(name):
    with pytest.raises(FileNameError) as error:
        parse_file_name(f"fan/train/{name}", f"/data/fan/train/{name}.wav")
    message = str(error.value)
    assert f"/data/fan/train/{name}.wav" in message
    assert FILE_NAME_PATTERN in message


def test_machine_type_needs_the_split_folder():
    with pytest.raises(FileNameError, match="machine type"):
        parse_file_name("train/section_00_source_train_normal_0000")


def test_dcase2020_names_say_not_supported():
    with pytest.raises(FileNameError) as error:
        parse_file_name("fan/test/normal_id_00_00000000")
    assert "DCASE 2020" in str(error.value)
    assert "not supported" in str(error.value)


@pytest.mark.skipif(not DCASE2020.is_dir(), reason="real DCASE 2020 samples absent")
def test_real_dcase2020_folder_is_rejected_as_2020_naming():
    paths = {
        str(p.relative_to(DCASE2020).with_suffix("")).replace(os.sep, "/"): str(p)
        for p in DCASE2020.rglob("*.wav")
    }
    assert paths
    with pytest.raises(FileNameError) as error:
        index_files(paths)
    message = str(error.value)
    assert f"{len(paths)} of {len(paths)} files do not fit" in message
    assert "DCASE 2020" in message and "not supported" in message


def _files(names):
    return {f"fan/train/{n}": f"/d/fan/train/{n}.wav" for n in names}


def test_index_is_sorted_and_typed():
    frame = index_files(
        _files(
            [
                "section_01_source_train_normal_0001_a",
                "section_00_target_train_normal_0002",
                "section_00_source_train_normal_0000_b",
            ]
        )
    )
    assert list(frame.columns) == list(FILE_INDEX_COLUMNS)
    assert frame["file_id"].tolist() == sorted(frame["file_id"])
    assert frame["section"].tolist() == [0, 0, 1]
    assert str(frame["section"].dtype) == "int64"
    assert str(frame["file_number"].dtype) == "int64"
    assert frame["attribute_class"].tolist() == ["fan_section_00_b", "", "fan_section_01_a"]


def test_invalid_names_error_lists_them_or_are_skipped(caplog):
    files = _files(["section_00_source_train_normal_0000", "noise_1", "noise_2"])
    with pytest.raises(FileNameError) as error:
        index_files(files)
    assert "2 of 3 files do not fit" in str(error.value)
    assert "noise_1.wav" in str(error.value) and "noise_2.wav" in str(error.value)
    assert "invalid_file_names: skip" in str(error.value)

    with caplog.at_level(logging.WARNING):
        frame = index_files(files, invalid_file_names="skip")
    assert frame["file_id"].tolist() == ["fan/train/section_00_source_train_normal_0000"]
    assert "noise_1.wav" in caplog.text


def test_nothing_left_is_an_error_even_when_skipping():
    with pytest.raises(FileNameError, match="No file fits"):
        index_files(_files(["noise"]), invalid_file_names="skip")
    with pytest.raises(ValueError, match="invalid_file_names"):
        index_files(_files(["noise"]), invalid_file_names="ignore")


@pytest.mark.skipif(not TOYCAR_2023.is_dir(), reason="real DCASE 2023 ToyCar clips absent")
def test_real_dcase2023_toycar_indexes():
    root = TOYCAR_2023.parent
    paths = {
        str(p.relative_to(root).with_suffix("")).replace(os.sep, "/"): str(p)
        for p in TOYCAR_2023.rglob("*.wav")
    }
    frame = index_files(paths)
    assert frame["split"].value_counts().to_dict() == {"train": 170, "test": 100}
    assert set(frame["machine_type"]) == {"ToyCar"}
    assert set(frame["section_class"]) == {"ToyCar_section_00"}
    test = frame[frame["split"] == "test"]
    assert test["label"].value_counts().to_dict() == {"normal": 50, "anomaly": 50}
    assert (frame.loc[frame["split"] == "train", "label"] == "normal").all()
    # The attribute strings agree with the data set's own attribute table.
    with open(TOYCAR_2023 / "attributes_00.csv", newline="") as f:
        table = {row[0]: "_".join(row[1:]) for row in list(csv.reader(f))[1:]}
    for file_id, attributes in zip(frame["file_id"], frame["attributes"]):
        assert table[file_id + ".wav"] == attributes


def _index(ids):
    return index_files({i: f"/d/{i}.wav" for i in ids})


def test_a_section_with_test_but_no_training_files_is_an_error_naming_a_file():
    index = _index([
        "fan/train/section_00_source_train_normal_0000_a",
        "fan/source_test/section_00_source_test_anomaly_0000_a",
        "fan/source_test/section_03_source_test_0000_a",  # evaluation file, no training data
        "fan/target_test/section_03_target_test_0001_a",
    ])
    with pytest.raises(ValueError) as error:
        check_training_coverage(index)
    message = str(error.value)
    assert ("fan section 03: 2 test files (e.g. /d/fan/source_test/section_03_source_test_0000_a"
            ".wav) but no training files") in message
    assert "section 00" not in message


def test_missing_normal_domain_training_files_are_warned_about(caplog):
    index = _index([
        "fan/train/section_01_target_train_normal_0000_a",
        "fan/target_test/section_01_target_test_normal_0000_a",
        "pump/train/section_00_source_train_normal_0000_a",
        "pump/target_test/section_00_target_test_normal_0000_a",
        "valve/train/section_00_source_train_normal_0000_a",
        "valve/train/section_00_target_train_normal_0000_a",
        "valve/target_test/section_00_target_test_normal_0000_a",
    ])
    with caplog.at_level(logging.WARNING, logger="subcluster_adacos_asd.dcase_names"):
        check_training_coverage(index)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert warnings[0].startswith("fan section 01: test files (e.g. /d/fan/target_test/")
    assert "no normal source-domain training files" in warnings[0]
    assert warnings[1].startswith("pump section 00: target-domain test files (e.g. /d/pump/")
    assert "no normal target-domain training files" in warnings[1]
