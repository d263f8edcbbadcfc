"""The `inference` pipeline on a tiny system trained by the project's own features / train /
embed / score pipelines (real catalog entries in a temporary folder): its scores equal the
`score` pipeline's, bad files become error rows, and it reads nothing but the trained system."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from scipy.signal import resample_poly

from subcluster_adacos_asd.configurations import TrainingConfiguration
from subcluster_adacos_asd.pipelines.inference.pipeline import create_pipeline
from tests.pipelines.inference.system import (
    CONFIGURATIONS,
    make_catalog,
    train_system,
)
from tests.support import KeptDataset, catalog_config

TERMS = ["section_term", "attribute_term", "target_term", "tmax_term"]


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """``(raw folder, parameters, catalog configuration)`` of the trained tiny system."""
    return train_system(tmp_path_factory.mktemp("system"))


def run_inference(system, **inference):
    raw, params, config = system
    catalog = make_catalog(config, params, inference)
    SequentialRunner().run(create_pipeline(CONFIGURATIONS), catalog)
    return catalog


def score_pipeline_rows(config, params) -> pd.DataFrame:
    """``anomaly_scores`` of the score pipeline, keyed by each file's absolute path."""
    catalog = make_catalog(config, params)
    scores = catalog.load("anomaly_scores")
    index = catalog.load("file_index")
    paths = index.set_index("file_id")["path"].map(lambda p: str(Path(p).resolve()))
    return scores.assign(file=scores["file_id"].map(paths)).set_index("file")


def test_inference_scores_equal_the_score_pipeline(system):
    raw, params, config = system
    folders = [str(raw / m / f) for m in ("fan", "valve") for f in ("source_test", "target_test")]
    catalog = run_inference(system, input_path=folders)
    table = catalog.load("inference_scores")
    expected = score_pipeline_rows(config, params)

    assert len(table) == 12 and (table["status"] == "scored").all()
    assert (table["reason"] == "").all()
    reference = expected.loc[table["file"]]
    for column in ["score", "threshold_score", *TERMS]:
        np.testing.assert_allclose(
            table[column].to_numpy(dtype=float), reference[column].to_numpy(dtype=float),
            rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=column)  # measured: bit-equal
    for column in ["machine_type", "domain", "variant", "label"]:
        assert table[column].tolist() == reference[column].tolist(), column
    assert table["section"].tolist() == reference["section"].tolist()
    assert table["decision"].tolist() == reference["decision"].astype(int).tolist()
    np.testing.assert_allclose(table["threshold"], reference["threshold"].astype(float))
    # Both variants and the valve term are exercised: fan uses `both`, valve `sections`.
    assert set(zip(table["machine_type"], table["variant"])) == {
        ("fan", "both"), ("valve", "sections")}
    assert table.loc[(table["machine_type"] == "valve") & (table["domain"] == "source"),
                     "tmax_term"].notna().all()
    assert table.loc[table["machine_type"] == "fan", "tmax_term"].isna().all()

    csv = catalog.load("inference_scores_csv")
    assert csv.columns.tolist() == table.columns.tolist()
    np.testing.assert_allclose(csv["score"], table["score"])
    summary = catalog.load("inference_summary")
    assert (summary["files"], summary["scored"], summary["errors"]) == (12, 12, 0)
    assert summary["anomalous"] + summary["normal"] == 12
    assert summary["anomalous"] == int(reference["decision"].sum())
    # what the thresholds promise: the default percentile and calibration of the score pipeline
    percentile = params["score"]["threshold_percentile"]
    assert summary["thresholds"]["expected_false_alarm_rate"] == pytest.approx(
        1 - percentile / 100)
    assert summary["thresholds"]["calibration"] == params["score"]["calibration"]["method"]


def test_the_reduced_ensemble_scores_as_the_score_pipeline_and_embeds_only_its_members(system):
    raw, params, config = system
    folders = [str(raw / m / f) for m in ("fan", "valve") for f in ("source_test", "target_test")]
    catalog = make_catalog(config, params, {"input_path": folders, "ensemble": "reduced"})
    for configuration in CONFIGURATIONS:
        catalog[f"{configuration.name}.inference_terms"] = KeptDataset()
    SequentialRunner().run(create_pipeline(CONFIGURATIONS), catalog)
    table = catalog.load("inference_scores").set_index("file")
    trained = make_catalog(config, params)
    kept = trained.load("reduced_members")
    reduced = trained.load("reduced_scores").set_index("file_id")
    paths = trained.load("file_index").set_index("file_id")["path"].map(
        lambda p: str(Path(p).resolve()))
    reference = reduced.assign(file=paths.loc[reduced.index]).set_index("file").loc[table.index]

    assert (table["status"] == "scored").all() and len(table) == 12
    np.testing.assert_allclose(table["score"], reference["score"], rtol=1e-6, atol=1e-6)
    assert table["decision"].tolist() == reference["decision"].astype(int).tolist()
    assert table["section_term"].isna().all()  # a sum over other members: not one term
    # only the kept snapshots ran: a configuration's terms hold no other snapshot
    for configuration in CONFIGURATIONS:
        terms = catalog.load(f"{configuration.name}.inference_terms")
        members = {f"{configuration.name}/{s}" for s in terms["snapshot"]}
        assert members <= {m for ms in kept.values() for m in ms}, configuration.name
    with pytest.raises(Exception, match="inference.ensemble must be one of"):
        run_inference(system, input_path=folders, ensemble="smallest")


def _write_bad_folder(raw: Path, folder: Path) -> dict[str, Path]:
    """A folder of new recordings: one good clip, the same clip in several broken forms (among
    them a float WAV scaled by 1e30, finite samples that overflow the power spectrum), a clip of
    an untrained section, a clip under a plain name, garbage, and a note that is no WAV."""
    original = raw / "fan" / "target_test" / "section_00_target_test_normal_0000_a_9.wav"
    samples, rate = soundfile.read(original, dtype="float32")
    target = folder / "fan" / "target_test"
    target.mkdir(parents=True)
    files = {
        "good": target / original.name,
        "stereo": target / "section_00_target_test_0101.wav",
        "8khz": target / "section_00_target_test_0102.wav",
        "short": target / "section_00_target_test_0103.wav",
        "garbage": target / "section_00_target_test_0104.wav",
        "section": target / "section_05_target_test_0105.wav",
        "plain": target / "monday_morning_line_3.wav",
        "loud": target / "section_00_target_test_0106.wav",
    }
    shutil.copy(original, files["good"])
    shutil.copy(original, files["section"])
    shutil.copy(original, files["plain"])
    soundfile.write(files["stereo"], np.stack([samples, samples], axis=1), rate, subtype="PCM_16")
    soundfile.write(files["8khz"], resample_poly(samples, 1, 2), 8000, subtype="PCM_16")
    soundfile.write(files["short"], samples[: rate // 4], rate, subtype="PCM_16")
    files["garbage"].write_bytes(np.random.default_rng(0).bytes(3000))
    soundfile.write(files["loud"], samples * np.float32(1e30), rate, subtype="FLOAT")
    (target / "notes.txt").write_text("recorded on Monday")
    return files


def test_bad_files_get_error_rows_and_the_others_are_scored(system, tmp_path, caplog):
    raw, params, config = system
    files = _write_bad_folder(raw, tmp_path / "new")
    catalog = run_inference(system, input_path=str(tmp_path / "new"))
    table = catalog.load("inference_scores").set_index("file")
    rows = {kind: table.loc[str(path.resolve())] for kind, path in files.items()}

    assert len(table) == 8  # notes.txt is not a recording
    assert rows["good"]["status"] == "scored" and np.isfinite(rows["good"]["score"])
    expected = {
        "stereo": r"2 channels, expected mono",
        "8khz": r"sample rate 8000 Hz, expected 16000 Hz",
        "short": r"too short: 4000 samples",
        "garbage": r"cannot read the audio",
        "section": r"section 05 of fan was not trained \(trained sections of fan: 00, 01\)",
        "plain": r"does not follow the DCASE grammar.*inference.section, inference.domain",
        "loud": r"log-mel spectrogram has NaN or infinite values .*far outside \[-1, 1\]",
    }
    for kind, pattern in expected.items():
        row = rows[kind]
        assert row["status"] == "error", kind
        assert str(files[kind].resolve()) in row["reason"], kind
        assert pd.Series([row["reason"]]).str.contains(pattern).item(), (kind, row["reason"])
        assert np.isnan(row["score"]) and pd.isna(row["decision"]), kind

    summary = catalog.load("inference_summary")
    assert (summary["files"], summary["scored"], summary["errors"]) == (8, 1, 7)
    assert {e["file"] for e in summary["error_files"]} == {
        str(files[k].resolve()) for k in expected}
    assert "7 of 8 files were NOT scored" in caplog.text
    assert rows["plain"]["label"] == "unknown"

    # Allowing conversions and saying what plain names are: stereo (two equal channels) and the
    # plain-named copy now score exactly as the original; what cannot be fixed stays an error.
    catalog = run_inference(system, input_path=str(tmp_path / "new"), resample=True,
                            downmix=True, machine_type="fan", section=0, domain="target")
    again = catalog.load("inference_scores").set_index("file")
    rows = {kind: again.loc[str(path.resolve())] for kind, path in files.items()}
    for kind in ("stereo", "plain"):
        assert rows[kind]["status"] == "scored", rows[kind]["reason"]
        assert rows[kind]["score"] == pytest.approx(rows["good"]["score"], rel=1e-5)
    assert rows["8khz"]["status"] == "scored" and np.isfinite(rows["8khz"]["score"])
    assert rows["good"]["score"] == pytest.approx(table.loc[str(files["good"].resolve()), "score"])
    assert [k for k, r in rows.items() if r["status"] == "error"] == [
        "short", "garbage", "section", "loud"]


def test_pipeline_reads_the_trained_system_and_parameters_only():
    configurations = [TrainingConfiguration(1, "both"), TrainingConfiguration(4, "sections")]
    pipeline = create_pipeline(configurations)
    assert pipeline.inputs() == {
        "params:inference", "params:features", "params:training.embed_batch_size",
        "params:inference.ensemble", "feature_stats",
        "tmax_backend", "variant_choice", "thresholds", "score_normalisation",
        "ensemble_configurations", "reduced_members", "reduced_thresholds", "level_reference",
        "score_history_previous",
        "sc01_both.model_snapshots", "sc01_both.backends",
        "sc04_sections.model_snapshots", "sc04_sections.backends"}
    assert pipeline.outputs() == {"inference_scores_csv", "inference_summary",
                                  "score_history_figures", "score_history_overview"}
    assert {"inference_scores", "score_history"} <= pipeline.all_outputs()
    assert sorted(n.name for n in pipeline.only_nodes_with_namespaces(["sc04_sections"]).nodes) \
        == ["sc04_sections.compute_inference_terms"]
    assert create_pipeline([]).nodes == []


def test_everything_inference_loads_and_writes_is_in_the_catalog():
    config = {}
    for name in ("features", "train", "score", "inference"):
        config.update(catalog_config(name))
    catalog = DataCatalog.from_config(config)
    versioned = ["sc04_both.model_snapshots", "sc04_both.backends", "tmax_backend",
                 "variant_choice", "thresholds", "ensemble_configurations",
                 "reduced_members", "reduced_thresholds",
                 "inference_scores", "inference_scores_csv", "inference_summary",
                 "score_history", "level_reference"]
    for name in versioned:
        assert catalog.get(name)._describe().get("version") is not None, name
    assert "feature_stats" in catalog  # persisted and versioned (README.md)


def test_another_grid_than_the_scored_one_stops_before_any_file_is_read(system):
    """A params:grid changed after `score` (here one configuration of the two) would sum
    another ensemble than the thresholds were set on: a clear error, nothing scored."""
    raw, params, config = system
    data = raw.parent / "data"
    before = sorted(data.rglob("*"))
    catalog = make_catalog(config, params, {"input_path": str(raw / "fan" / "source_test")})
    with pytest.raises(Exception, match="thresholds were set on the ensemble of") as error:
        SequentialRunner().run(create_pipeline(CONFIGURATIONS[:1]), catalog)
    assert "['sc01_sections', 'sc02_both']" in str(error.value)
    assert "train,embed,score" in str(error.value)
    assert sorted(data.rglob("*")) == before  # nothing written


def test_missing_input_path_names_the_parameter(system):
    with pytest.raises(Exception, match="inference.input_path is not set"):
        run_inference(system)
    with pytest.raises(Exception, match="does not exist"):
        run_inference(system, input_path="/no/such/folder")


# --- own recordings: silence and levels, a manifest, the score history ------------------------


def test_silent_and_far_off_recordings_get_error_rows_naming_the_file(system, tmp_path):
    raw, params, config = system
    original = raw / "fan" / "source_test" / "section_00_source_test_normal_0000_a_1.wav"
    samples, rate = soundfile.read(original, dtype="float32")
    folder = tmp_path / "new" / "fan" / "source_test"
    folder.mkdir(parents=True)
    files = {"good": folder / original.name,
             "silent": folder / "section_00_source_test_0100.wav",
             "quiet": folder / "section_00_source_test_0101.wav"}
    shutil.copy(original, files["good"])
    soundfile.write(files["silent"], np.zeros_like(samples), rate, subtype="PCM_16")
    soundfile.write(files["quiet"], samples * np.float32(0.001), rate, subtype="FLOAT")  # -60 dB
    table = run_inference(system, input_path=str(tmp_path / "new")).load(
        "inference_scores").set_index("file")
    rows = {kind: table.loc[str(path.resolve())] for kind, path in files.items()}
    assert rows["good"]["status"] == "scored" and np.isfinite(rows["good"]["score"])
    assert rows["silent"]["status"] == "error" and rows["quiet"]["status"] == "error"
    assert rows["silent"]["reason"].startswith(f"{files['silent'].resolve()}: digital silence")
    assert rows["quiet"]["reason"].startswith(f"{files['quiet'].resolve()}: level ")
    assert pd.Series([rows["quiet"]["reason"]]).str.contains(
        r"lies -(?:59|60)\.\d dB from the median").item()
    assert "source-domain training clips of fan section 00" in rows["quiet"]["reason"]
    assert np.isnan(rows["silent"]["score"]) and np.isnan(rows["quiet"]["score"])


def _history_files(config) -> tuple[Path, Path]:
    return (Path(config["score_history_figures"]["filepath"]),
            Path(config["score_history_overview"]["filepath"]))


def test_a_manifest_of_new_files_and_a_score_history_without_duplicates(system, tmp_path):
    raw, params, config = system
    originals = [raw / "fan" / "source_test" / "section_00_source_test_anomaly_0001_a_1.wav",
                 raw / "fan" / "target_test" / "section_01_target_test_normal_0000_a_9.wav",
                 raw / "fan" / "source_test" / "section_01_source_test_normal_0000_a_1.wav"]
    day = tmp_path / "line3"
    day.mkdir()
    rows = []
    for i, (original, domain, section) in enumerate(
            zip(originals, ["source", "target", "source"], [0, 1, 1])):
        copy = day / f"recording {i}.wav"
        shutil.copy(original, copy)
        rows.append({"path": copy.name, "machine": "fan", "unit": section, "domain": domain,
                     "timestamp": f"2024-05-0{i + 1} 06:00"})
    manifest = day / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)

    catalog = run_inference(system, manifest=str(manifest))
    table = catalog.load("inference_scores").set_index("file")
    assert (table["status"] == "scored").all() and len(table) == 3
    expected = score_pipeline_rows(config, params).loc[[str(p.resolve()) for p in originals]]
    np.testing.assert_allclose(table["score"], expected["score"], rtol=1e-6, atol=1e-6)
    assert table["recorded_at"].tolist() == [pd.Timestamp(f"2024-05-0{i} 06:00")
                                             for i in (1, 2, 3)]
    # (the module's other tests score into the same history: only this folder's rows count)
    def mine(history):
        return history[history["file"].str.startswith(str(day.resolve()))]

    history = catalog.load("score_history")
    assert len(mine(history)) == 3
    np.testing.assert_allclose(history.set_index("file").loc[table.index, "score"],
                               table["score"])

    # the same files again: no new rows; one more recording: one more row
    again = run_inference(system, manifest=str(manifest)).load("score_history")
    assert len(again) == len(history)
    extra = day / "later.csv"
    pd.DataFrame([{**rows[0], "timestamp": "2024-05-04 06:00"}]).to_csv(extra, index=False)
    grown = run_inference(system, manifest=str(extra)).load("score_history")
    assert len(grown) == len(history) + 1 and len(mine(grown)) == 4
    assert not grown.duplicated(["machine_type", "section", "recorded_at"]).any()
    figures, overview = _history_files(config)
    assert {"fan_section_00.png", "fan_section_01.png"} <= {p.name for p in figures.iterdir()}
    assert overview.is_file()
    with pytest.raises(Exception, match="set inference.input_path or inference.manifest, not both"):
        run_inference(system, manifest=str(manifest), input_path=str(day))
