"""inference.py: listing and describing new recordings, trained-system checks, per-file audio
errors, the score table and the summary (no trained network needed)."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile

from subcluster_adacos_asd import inference
from subcluster_adacos_asd.feature_table import frame_to_array
from subcluster_adacos_asd.inference import InferenceSettings
from subcluster_adacos_asd.log_mel import LogMelSettings

RATE = 16000
LOG_MEL = LogMelSettings(n_frames=32, n_mels=32)


def _settings(**overrides) -> InferenceSettings:
    return InferenceSettings.from_parameters({"input_path": "x", **overrides})


def _tone(seconds: float = 1.0, rate: int = RATE, f0: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(int(f0)).standard_normal(len(t))
    return (0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * noise).astype(np.float32)


# --- settings -------------------------------------------------------------------------------


def test_settings_name_what_is_missing_or_wrong():
    with pytest.raises(ValueError, match="inference.input_path is not set.*--params"):
        InferenceSettings.from_parameters({"input_path": None})
    with pytest.raises(ValueError, match=r"params:inference has unknown keys \['inputpath'\]"):
        InferenceSettings.from_parameters({"inputpath": "x"})
    with pytest.raises(ValueError, match="inference.domain must be one of"):
        _settings(domain="tagret")
    settings = _settings(input_path=["a", "b"], section="3", resample=True)
    assert settings.input_path == ("a", "b") and settings.section == 3
    log_mel = settings.log_mel_settings({"n_frames": 64, "n_mels": 32, "n_jobs": 2,
                                         "resample": False, "downmix": True})
    # This run's permissions replace training's; everything that shapes the numbers is training's.
    assert (log_mel.resample, log_mel.downmix, log_mel.n_frames, log_mel.n_mels) == (
        True, False, 64, 32)


# --- listing and describing -----------------------------------------------------------------


def test_listing_takes_wavs_below_folders_and_files_as_given(tmp_path):
    (tmp_path / "fan" / "test").mkdir(parents=True)
    a = tmp_path / "fan" / "test" / "a.wav"
    b = tmp_path / "fan" / "B.WAV"
    note = tmp_path / "fan" / "notes.txt"
    for path in (a, b, note):
        path.write_bytes(b"")
    assert inference.list_input_files(tmp_path) == sorted([str(a), str(b)])
    # A listed file is kept whatever it is (it becomes an error row later); so is a missing one
    # in a list, and a file listed twice is scored once.
    listed = inference.list_input_files([str(note), str(a), str(tmp_path / "fan"),
                                         str(tmp_path / "gone.wav")])
    assert listed == sorted({str(note), str(a), str(b), str(tmp_path / "gone.wav")})
    with pytest.raises(FileNotFoundError, match="gone.wav' does not exist"):
        inference.list_input_files(str(tmp_path / "gone.wav"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No \\*.wav files"):
        inference.list_input_files(tmp_path / "empty")


def test_names_say_what_a_file_is_and_parameters_fill_in_plain_names():
    paths = [
        "/in/fan/target_test/section_01_target_test_anomaly_0003_speed_4.wav",
        "/in/valve/section_02_source_test_0007.wav",  # no split folder: the folder is the type
        "/in/fan/monday_0001.wav",
    ]
    files = inference.describe_files(paths, _settings()).set_index("file_id")
    first = files.loc[paths[0]]
    assert (first["machine_type"], first["section"], first["domain"], first["label"]) == (
        "fan", 1, "target", "anomaly")
    assert (first["section_class"], first["attribute_class"]) == (
        "fan_section_01", "fan_section_01_speed_4")
    second = files.loc[paths[1]]
    assert (second["machine_type"], second["section"], second["domain"], second["label"]) == (
        "valve", 2, "source", "unknown")
    plain = files.loc[paths[2]]
    assert plain["status"] == "error" and plain["reason"].startswith(paths[2])
    assert plain["label"] == "unknown"  # README: `unknown` where the name states no label
    assert "inference.machine_type, inference.section, inference.domain" in plain["reason"]

    described = inference.describe_files(
        paths, _settings(machine_type="pump", section=4, domain="target")).set_index("file_id")
    # machine_type applies to every file; section and domain only to names without them.
    assert described["machine_type"].tolist() == ["pump"] * 3
    assert described["section"].tolist() == [1, 2, 4]
    assert described["domain"].tolist() == ["target", "source", "target"]
    assert (described["status"] == "scored").all()
    assert described.loc[paths[2], "section_class"] == "pump_section_04"
    assert described.loc[paths[2], "attribute_class"] == ""


def test_files_outside_the_trained_system_are_named():
    thresholds = pd.DataFrame({"machine_type": ["fan", "fan", "fan"], "section": [0, 0, 1],
                               "domain": ["source", "target", "source"],
                               "threshold": [1.0, 2.0, 3.0]})
    paths = [f"/in/{m}/test/section_{s:02d}_{d}_test_{i:04d}.wav"
             for i, (m, s, d) in enumerate([("fan", 0, "target"), ("pump", 0, "source"),
                                            ("fan", 3, "source"), ("fan", 1, "target")])]
    files = inference.describe_files(paths, _settings())
    checked = inference.check_trained(files, {"fan": "both"}, thresholds)
    assert checked["status"].tolist() == ["scored", "error", "error", "error"]
    reasons = checked["reason"].tolist()
    assert reasons[0] == ""
    assert reasons[1].startswith(paths[1])
    assert "machine type 'pump' was not trained (trained machine types: fan)" in reasons[1]
    assert "section 03 of fan was not trained (trained sections of fan: 00, 01)" in reasons[2]
    assert "fan section 01 has no trained target domain" in reasons[3]


# --- audio ----------------------------------------------------------------------------------


def _audio_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True)
    y = _tone()
    files = {kind: folder / f"section_00_source_test_{i:04d}.wav"
             for i, kind in enumerate(["good", "stereo", "8khz", "short", "garbage", "missing",
                                       "empty", "loud"])}
    soundfile.write(files["good"], y, RATE, subtype="FLOAT")
    soundfile.write(files["stereo"], np.stack([y, y], axis=1), RATE, subtype="FLOAT")
    soundfile.write(files["8khz"], _tone(rate=8000), 8000, subtype="FLOAT")
    soundfile.write(files["short"], y[:8000], RATE, subtype="FLOAT")
    files["garbage"].write_text("this is not audio")
    files["empty"].write_bytes(b"")
    soundfile.write(files["loud"], y * np.float32(1e30), RATE, subtype="FLOAT")
    return files


def _reference_log_mel(path: Path) -> np.ndarray:
    """The paper's feature straight from librosa (not through log_mel.py)."""
    y, rate = soundfile.read(path, dtype="float32")
    mel = librosa.feature.melspectrogram(y=y, sr=rate, n_fft=1024, hop_length=512, n_mels=32,
                                         window="hann", center=True, pad_mode="constant",
                                         power=2.0)
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)[:, :32].T


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_each_bad_recording_gets_its_own_error_row(tmp_path, n_jobs):
    files = _audio_files(tmp_path / "fan" / "source_test")
    table = inference.describe_files([str(p) for p in files.values()], _settings())
    checked, log_mel = inference.extract_log_mel(table, LOG_MEL, n_jobs=n_jobs, chunk_size=2)
    status = dict(zip(files, checked["status"]))
    assert status == {"good": "scored", "stereo": "error", "8khz": "error", "short": "error",
                      "garbage": "error", "missing": "error", "empty": "error", "loud": "error"}
    reasons = dict(zip(files, checked["reason"]))
    for kind, expected in {"stereo": "2 channels, expected mono (set inference.downmix",
                           "8khz": "expected 16000 Hz (set inference.resample: true",
                           "short": "too short: 8000 samples",
                           "garbage": "cannot read the audio",
                           "missing": "no such file",
                           "empty": "cannot read the audio: the file is empty (0 bytes)",
                           "loud": "the log-mel spectrogram has NaN or infinite values (the "
                                   "samples reach"}.items():
        assert reasons[kind].startswith(str(files[kind])), reasons[kind]
        assert expected in reasons[kind], reasons[kind]
    assert reasons["short"].endswith("n_frames = 32 needs at least 15872 samples (0.992 s at "
                                     "16000 Hz). The trained system needs this many frames.")
    assert log_mel["file_id"].tolist() == [str(files["good"])]
    np.testing.assert_allclose(frame_to_array(log_mel, 32)[0], _reference_log_mel(files["good"]),
                               rtol=1e-5, atol=1e-3)


def test_downmix_and_resample_only_when_allowed(tmp_path):
    files = _audio_files(tmp_path / "fan" / "source_test")
    table = inference.describe_files([str(p) for p in files.values()], _settings())
    allowed = _settings(resample=True, downmix=True).log_mel_settings(
        {"n_frames": 32, "n_mels": 32})
    checked, log_mel = inference.extract_log_mel(table, allowed, n_jobs=1)
    assert checked.loc[checked["status"] == "scored", "file_id"].tolist() == [
        str(files[k]) for k in ("good", "stereo", "8khz")]
    values = frame_to_array(log_mel, 32)
    np.testing.assert_array_equal(values[0], values[1])  # equal channels average to the clip
    assert np.isfinite(values[2]).all()


# --- table and summary ----------------------------------------------------------------------


def test_score_table_sums_members_and_decides_with_the_saved_thresholds():
    paths = ["/in/fan/test/section_00_source_test_0000.wav",
             "/in/fan/test/section_00_target_test_0001.wav",
             "/in/fan/test/section_00_source_test_0002.wav"]
    files = inference.describe_files(paths, _settings())
    files.loc[2, ["status", "reason"]] = ["error", f"{paths[2]}: too short"]

    def terms(section, attribute, target):
        return pd.DataFrame({"file_id": paths[:2] * 2, "snapshot": ["e1", "e1", "e2", "e2"],
                             "section_term": section, "attribute_term": attribute,
                             "target_term": target})

    nan = np.nan
    by_configuration = {
        "sc01_both": terms([1.0, 2.0, 3.0, 4.0], [10.0, nan, 20.0, nan], [nan, 5.0, nan, 6.0]),
        "sc02_both": terms([0.5, 0.5, 0.5, 0.5], [1.0, nan, 1.0, nan], [nan, 1.0, nan, 1.0]),
        "sc01_sections": terms([99.0] * 4, [99.0, nan, 99.0, nan], [nan, 99.0, nan, 99.0]),
    }
    tmax = pd.DataFrame({"file_id": paths[:2], "tmax_term": [nan, nan]})
    thresholds = pd.DataFrame({"machine_type": ["fan", "fan"], "section": [0, 0],
                               "domain": ["source", "target"], "threshold": [40.0, 8.0]})
    table = inference.score_table(files, by_configuration, tmax, {"fan": "both"}, thresholds)

    assert table.columns.tolist() == list(inference.OUTPUT_COLUMNS)
    source, target, error = (table.iloc[i] for i in range(3))
    # source: section (1 + 3 + 0.5 + 0.5) + attribute (10 + 20 + 1 + 1) = 37 <= 40 -> normal
    assert (source["section_term"], source["attribute_term"], source["score"]) == (5.0, 32.0, 37.0)
    assert (source["threshold"], source["decision"], source["variant"]) == (40.0, 0, "both")
    # target: section (2 + 4 + 0.5 + 0.5) = 7 + target (5 + 6 + 1 + 1) = 13 -> 20; the decision
    # compares the section term alone (7 <= 8) -> normal
    assert (target["score"], target["threshold_score"], target["decision"]) == (20.0, 7.0, 0)
    assert error["status"] == "error" and np.isnan(error["score"]) and pd.isna(error["decision"])
    assert error["reason"] == f"{paths[2]}: too short"

    result = inference.summary(table, "/in")
    assert {k: result[k] for k in ("files", "scored", "errors", "anomalous", "normal")} == {
        "files": 3, "scored": 2, "errors": 1, "anomalous": 0, "normal": 2}
    assert result["error_files"] == [{"file": paths[2], "reason": f"{paths[2]}: too short"}]

    lower = thresholds.assign(threshold=[36.0, 6.0])
    decided = inference.score_table(files, by_configuration, tmax, {"fan": "both"}, lower)
    assert decided["decision"].tolist()[:2] == [1, 1]


def test_term_columns_are_those_of_the_backends():
    from subcluster_adacos_asd.backends import TERM_COLUMNS

    assert inference.TERM_COLUMNS == TERM_COLUMNS


def test_a_run_where_every_file_is_bad_still_writes_its_table():
    paths = ["/in/fan/test/plain.wav"]
    files = inference.describe_files(paths, _settings())
    table = inference.score_table(files, {}, pd.DataFrame(columns=["file_id", "tmax_term"]),
                                  {"fan": "both"}, pd.DataFrame(
                                      columns=["machine_type", "section", "domain", "threshold"]))
    assert table["status"].tolist() == ["error"] and np.isnan(table["score"].iloc[0])
    assert inference.summary(table)["errors"] == 1


def test_snapshots_and_backends_of_different_runs_are_refused():
    inference.check_snapshots("sc01_both", {"epoch_0003": 0, "epoch_0006": 0},
                              {"epoch_0006": 0, "epoch_0003": 0})
    with pytest.raises(ValueError, match=r"sc01_both: the model snapshots \['epoch_0100'\] and "
                                         r"the fitted backends \['epoch_0003'\] do not match"):
        inference.check_snapshots("sc01_both", {"epoch_0100": 0}, {"epoch_0003": 0})


def test_a_retrained_snapshot_is_refused_by_its_fingerprint():
    from subcluster_adacos_asd.backends import SnapshotBackends
    from subcluster_adacos_asd.embedding import snapshot_fingerprint

    class Network:
        def __init__(self, value):
            self.value = value

        def get_weights(self):
            return [np.full((2, 3), self.value, np.float32), np.zeros(3, np.float32)]

    old, new = Network(1.0), Network(2.0)
    fitted = {"epoch_0006": SnapshotBackends((), {}, {}, {}, {}, snapshot_fingerprint(old))}
    inference.check_snapshots("sc04_both", {"epoch_0006": old}, fitted)
    assert snapshot_fingerprint(Network(1.0)) == snapshot_fingerprint(old)
    with pytest.raises(ValueError, match=r"sc04_both: snapshot epoch_0006 is not the network its "
                                         r"backends were fitted on.*--namespaces=sc04_both"):
        inference.check_snapshots("sc04_both", {"epoch_0006": new}, fitted)


def test_the_summary_says_what_the_thresholds_promise():
    table = pd.DataFrame({"machine_type": ["fan"], "section": [0], "domain": ["source"],
                          "threshold": [1.0], "percentile": [95.0], "calibration": ["cross_fit"]})
    promise = inference.expected_false_alarms(table)
    assert promise["expected_false_alarm_rate"] == pytest.approx(0.05)
    assert promise["calibration"] == "cross_fit" and "5%" in promise["note"]
    paper = inference.expected_false_alarms(table.assign(calibration="in_sample"))
    assert "well over 5%" in paper["note"] and "cross_fit" in paper["note"]
    old = inference.expected_false_alarms(table[["machine_type", "threshold"]])
    assert old["expected_false_alarm_rate"] is None and "rerun" in old["note"]
