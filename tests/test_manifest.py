"""manifest.py: a manifest table or the folder convention in place of DCASE names."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from subcluster_adacos_asd.dcase_names import FILE_INDEX_COLUMNS, FileNameError
from subcluster_adacos_asd.manifest import (
    IndexSettings,
    ManifestError,
    checked_manifest,
    folder_file_index,
    manifest_file_index,
    read_manifest,
)


def _write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_csv_manifest_is_read_with_paths_relative_to_its_folder(tmp_path):
    manifest = _write(tmp_path / "recordings" / "manifest.csv", (
        "path,machine,unit,split,domain,label,attributes,timestamp\n"
        "pump_a/2024-05-01.wav,pump,03,train,,,speed_3,2024-05-01 06:00\n"
        "/elsewhere/x.wav,pump,3,test,target,anomaly,,2024-05-02T06:00:00+02:00\n"
        "pump_a/2024-05-03.wav,pump,3,test,,,,\n"))
    table = checked_manifest(read_manifest(manifest))
    assert table["path"].tolist() == [str(tmp_path / "recordings/pump_a/2024-05-01.wav"),
                                      "/elsewhere/x.wav",
                                      str(tmp_path / "recordings/pump_a/2024-05-03.wav")]
    assert table["section"].tolist() == [3, 3, 3]  # "03" and "3" are the same unit
    assert table["domain"].tolist() == ["source", "target", "source"]
    # defaults: training files are normal, test files unlabelled
    assert table["label"].tolist() == ["normal", "anomaly", "unknown"]
    assert table["attributes"].tolist() == ["speed_3", "", ""]
    assert table["timestamp"].tolist()[:2] == [pd.Timestamp("2024-05-01 06:00"),
                                               pd.Timestamp("2024-05-02 04:00")]  # UTC
    assert pd.isna(table["timestamp"].iloc[2])


def test_every_bad_row_is_named_with_its_row_number_and_what_is_wrong(tmp_path):
    manifest = _write(tmp_path / "m.csv", (
        "path,machine,section,split,label\n"
        "a.wav,pump,0,train,\n"
        "b.wav,pump,unit_a,train,\n"
        "c.wav,pump a,0,train,\n"
        "d.wav,pump,0,training,\n"
        "e.wav,pump,0,test,broken\n"
        "a.wav,pump,0,train,\n"))
    with pytest.raises(ManifestError) as error:
        checked_manifest(read_manifest(manifest))
    message = str(error.value)
    assert f"{manifest} row 3: section 'unit_a' must be a whole number" in message
    assert f"{manifest} row 4: machine 'pump a' must be a name of letters" in message
    assert f"{manifest} row 5: split 'training' must be one of train, test" in message
    assert f"{manifest} row 6: label 'broken' must be one of normal, anomaly, unknown" in message
    with pytest.raises(ManifestError, match=r"a\.wav is listed 2 times \(rows 2, 3\)"):
        checked_manifest(read_manifest(_write(tmp_path / "n.csv", (
            "path,machine,section,split\na.wav,pump,0,train\na.wav,pump,0,test\n"))))


def test_missing_and_unknown_columns_are_named(tmp_path):
    with pytest.raises(ManifestError, match=r"lacks the column\(s\) \['split'\] and has unknown "
                                            r"column\(s\) \['lable'\]"):
        checked_manifest(read_manifest(_write(tmp_path / "m.csv",
                                              "path,machine,section,lable\na.wav,p,0,normal\n")))
    with pytest.raises(ManifestError, match="expected a .csv or .parquet file"):
        read_manifest(_write(tmp_path / "m.txt", "path\n"))
    with pytest.raises(ManifestError, match="no such file"):
        read_manifest(tmp_path / "absent.csv")


def test_a_parquet_manifest_reads_as_the_csv(tmp_path):
    frame = pd.DataFrame({"path": ["a.wav"], "machine": ["fan"], "section": [1],
                          "split": ["train"], "timestamp": [pd.Timestamp("2024-01-02 03:04")]})
    frame.to_parquet(tmp_path / "m.parquet")
    table = checked_manifest(read_manifest(tmp_path / "m.parquet"))
    assert table.loc[0, ["path", "machine_type", "section", "label"]].tolist() == [
        str(tmp_path / "a.wav"), "fan", 1, "normal"]
    assert table.loc[0, "timestamp"] == pd.Timestamp("2024-01-02 03:04")


def test_the_file_index_follows_the_manifest_and_names_files_outside_raw_audio(tmp_path, caplog):
    root = tmp_path / "rec"
    paths = {key: str(root / f"{key}.wav") for key in ("day1/x", "day2/x", "day2/y", "extra")}
    manifest = _write(root / "manifest.csv", (
        "path,machine,section,split,attributes\n"
        "day2/y.wav,fan,1,train,load_2\n"
        "day1/x.wav,fan,1,train,\n"
        "day2/x.wav,fan,1,test,\n"))
    with caplog.at_level(logging.WARNING):
        index = manifest_file_index(read_manifest(manifest), paths)
    assert list(index.columns) == list(FILE_INDEX_COLUMNS)
    assert index["file_id"].tolist() == ["day2/y", "day1/x", "day2/x"]  # manifest order
    # two recordings named x.wav: the file name says which folder it is in
    assert index["filename"].tolist() == ["day2/y.wav", "day1/x.wav", "day2/x.wav"]
    assert index["section_class"].tolist() == ["fan_section_01"] * 3
    assert index["attribute_class"].tolist() == ["fan_section_01_load_2", "", ""]
    assert "1 WAV files below raw_audio are not in" in caplog.text and "extra.wav" in caplog.text

    _write(root / "bad.csv", "path,machine,section,split\nday1/x.wav,fan,1,train\nnope.wav,fan,1,test\n")
    with pytest.raises(ManifestError, match=r"1 of 2 recordings are not WAV files below "
                                            r"raw_audio's folder.*\n  row 3: .*nope\.wav"):
        manifest_file_index(read_manifest(root / "bad.csv"), paths)


def test_the_folder_convention(tmp_path):
    keys = ["pump/unit_03/train/a", "pump/03/test/anomaly/b", "pump/03/test/c",
            "pump/unit_03/test/normal/d", "fan/0/train/e"]
    index = folder_file_index({k: f"/r/{k}.wav" for k in keys})
    rows = index.set_index("file_id")
    assert rows.loc["pump/unit_03/train/a", ["machine_type", "section", "split", "label"]
                    ].tolist() == ["pump", 3, "train", "normal"]
    assert rows.loc["pump/03/test/anomaly/b", "label"] == "anomaly"
    assert rows.loc["pump/03/test/c", "label"] == "unknown"
    assert rows.loc["pump/unit_03/test/normal/d", "label"] == "normal"
    assert set(index["domain"]) == {"source"} and set(index["attributes"]) == {""}
    with pytest.raises(FileNameError, match=r"/r/pump/train/x\.wav: not in <machine>/<unit>/"):
        folder_file_index({"pump/train/x": "/r/pump/train/x.wav", **{k: "" for k in keys}})
    skipped = folder_file_index({"pump/train/x": "/r/pump/train/x.wav", "fan/0/train/e": ""},
                                "skip")
    assert skipped["file_id"].tolist() == ["fan/0/train/e"]


def test_index_settings_name_the_parameter():
    assert IndexSettings.from_feature_parameters({"n_mels": 64, "layout": "folders"}).layout \
        == "folders"
    with pytest.raises(ValueError, match=r"params:features.layout must be one of"):
        IndexSettings.from_feature_parameters({"layout": "names"})
    with pytest.raises(ValueError, match=r"params:features.min_attribute_clips must be >= 2"):
        IndexSettings.from_feature_parameters({"min_attribute_clips": 1})
    with pytest.raises(ValueError, match=r"params:features.level_tolerance_db must be a number, "
                                         r"got 'loud'"):
        IndexSettings.from_feature_parameters({"level_tolerance_db": "loud"})
