"""Auxiliary classes: which clips, which class names, and how they join the training clips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile

from subcluster_adacos_asd import training
from subcluster_adacos_asd.auxiliary import (
    AuxiliarySettings,
    auxiliary_clips,
)
from subcluster_adacos_asd.feature_store import ConcatenatedFeatures
from tests.support import conf

SYNTHETIC = conf("parameters_synthetic.yml")["synthetic"]


def _user_index(machine_types=("fan",)) -> pd.DataFrame:
    return pd.DataFrame({"machine_type": list(machine_types)})


def test_synthetic_auxiliary_clips_are_other_machines_normal_training_clips_with_own_classes():
    settings = AuxiliarySettings(source="synthetic", machine_types=("fan", "pump", "slider"),
                                 sections=(0, 1), clips_per_section=4, seed=3)
    index, loads = auxiliary_clips(settings, SYNTHETIC, _user_index(("fan", "valve")))
    # the user's fan is left out: 2 types x 2 sections x 4 clips
    assert len(index) == 16 and set(loads) == set(index["file_id"])
    assert sorted(index["machine_type"].unique()) == ["pump", "slider"]
    assert index["file_id"].str.startswith("aux:").all()
    assert (index.groupby(["machine_type", "section"]).size() == 4).all()
    assert sorted(index["section_class"].unique()) == [
        "aux:pump_section_00", "aux:pump_section_01", "aux:slider_section_00",
        "aux:slider_section_01"]
    assert index["attribute_class"].str.startswith("aux:pump_section_0").sum() == 8
    audio = loads[index["file_id"].iloc[0]]()
    assert audio.sample_rate == SYNTHETIC["sample_rate"]
    assert len(audio.samples) == int(SYNTHETIC["sample_rate"] * SYNTHETIC["duration_s"])


def test_no_auxiliary_source_gives_an_empty_index():
    index, loads = auxiliary_clips(AuxiliarySettings(), SYNTHETIC, _user_index())
    assert index.empty and loads == {}
    assert list(index.columns) == ["file_id", "machine_type", "section", "path",
                                   "section_class", "attribute_class"]


def test_only_the_users_machine_types_left_is_an_error_naming_the_parameter():
    settings = AuxiliarySettings(source="synthetic", machine_types=("fan",))
    with pytest.raises(ValueError, match=r"params:auxiliary.machine_types are all machine "
                                         r"types of the data \(\['fan'\]\)"):
        auxiliary_clips(settings, SYNTHETIC, _user_index())


def _write(path, seconds=0.1, rate=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(len(str(path))).normal(0, 0.1, int(seconds * rate))
    soundfile.write(path, noise, rate, subtype="PCM_16")


def test_a_folders_normal_training_clips_at_most_n_per_section(tmp_path):
    root = tmp_path / "other"
    for i in range(5):
        _write(root / "pump" / "train" / f"section_00_source_train_normal_{i:04d}_p_1.wav")
    _write(root / "pump" / "train" / "section_01_source_train_normal_0000.wav")
    _write(root / "pump" / "test" / "section_00_source_test_anomaly_0000_p_1.wav")
    _write(root / "pump" / "test" / "section_00_source_test_normal_0000_p_1.wav")
    _write(root / "pump" / "notes.wav")  # no DCASE name: skipped with a warning
    settings = AuxiliarySettings(source="folder", path=str(root), clips_per_section=3)
    index, loads = auxiliary_clips(settings, SYNTHETIC, _user_index(("pump",)))
    assert index.groupby("section").size().to_dict() == {0: 3, 1: 1}
    assert index["file_id"].str.contains("_train_normal_").all()
    # a clip without attributes: its section is its attribute class
    assert set(index["attribute_class"]) == {"aux:pump_section_00_p_1", "aux:pump_section_01"}
    assert index["path"].str.endswith(".wav").all()
    assert loads[index["file_id"].iloc[0]]().sample_rate == 16000
    again, _ = auxiliary_clips(settings, SYNTHETIC, _user_index(("pump",)))
    pd.testing.assert_frame_equal(index, again)  # the draw is seeded


def test_a_missing_or_empty_folder_and_bad_settings_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="params:auxiliary.path .*nowhere: no such"):
        auxiliary_clips(AuxiliarySettings(source="folder", path=str(tmp_path / "nowhere")),
                        SYNTHETIC, _user_index())
    with pytest.raises(ValueError, match="no normal training clips with DCASE names"):
        auxiliary_clips(AuxiliarySettings(source="folder", path=str(tmp_path)), SYNTHETIC,
                        _user_index())
    with pytest.raises(ValueError, match="params:auxiliary.path is empty"):
        AuxiliarySettings(source="folder")
    with pytest.raises(ValueError, match=r"params:auxiliary.source must be one of \['none', "
                                         r"'synthetic', 'folder'\], got 'web'"):
        AuxiliarySettings(source="web")


def test_auxiliary_clips_join_training_as_extra_classes_after_the_users():
    rng = np.random.default_rng(0)
    user, auxiliary = (rng.normal(size=(n, 8, 4)).astype(np.float32) for n in (6, 3))
    files = pd.DataFrame({"file_id": list("abcd"),
                          "section_class": ["fan_section_00"] * 2 + ["fan_section_01"] * 2,
                          "attribute_class": ["fan_section_00_a"] * 4})
    aux_index = pd.DataFrame({"file_id": ["aux:x", "aux:y"],
                              "section_class": ["aux:pump_section_00"] * 2,
                              "attribute_class": ["aux:pump_section_00"] * 2})
    features, rows, training_files = training.with_auxiliary(
        user, np.array([5, 1, 2, 3]), files, auxiliary, np.array([2, 0]), aux_index)
    np.testing.assert_array_equal(rows, [5, 1, 2, 3, 8, 6])
    np.testing.assert_array_equal(features[rows], np.concatenate([user, auxiliary])[rows])
    labels = training.head_labels(training_files, "both")
    names, codes = labels["section"]
    assert names == ["aux:pump_section_00", "fan_section_00", "fan_section_01"]
    np.testing.assert_array_equal(codes, [1, 1, 2, 2, 0, 0])
    assert labels["attribute"][0] == ["aux:pump_section_00", "fan_section_00_a"]


def test_concatenated_features_index_like_one_array():
    rng = np.random.default_rng(1)
    parts = [rng.normal(size=(n, 5, 3)).astype(np.float32) for n in (4, 0, 3, 2)]
    whole = np.concatenate(parts)
    view = ConcatenatedFeatures(parts)
    assert view.shape == whole.shape and len(view) == 9
    for index in ([8, 0, 4, 4, 6], slice(2, 7), 5, -1, np.arange(9) % 2 == 0):
        np.testing.assert_array_equal(view[index], whole[index])
    np.testing.assert_array_equal(np.asarray(view), whole)
    with pytest.raises(ValueError, match="different clip shapes"):
        ConcatenatedFeatures([parts[0], np.zeros((2, 6, 3), np.float32)])
