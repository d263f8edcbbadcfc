"""The `features` pipeline on a tiny DCASE 2021-layout data set, through the project catalog."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import yaml
from kedro.io import DataCatalog, DatasetError
from kedro.runner import SequentialRunner
from kedro_datasets.partitions import PartitionedDataset

from subcluster_adacos_asd.datasets import ManifestDataset
from subcluster_adacos_asd.feature_table import frame_to_array
from subcluster_adacos_asd.log_mel import AudioError, LogMelSettings, load_log_mel
from subcluster_adacos_asd.pipelines.features.nodes import build_file_index
from subcluster_adacos_asd.pipelines.features.pipeline import create_pipeline

PROJECT = Path(__file__).resolve().parents[3]
TOYCAR_2023 = Path("/work/shared/data/real/dcase2023_t2_dev")
N_FRAMES = 32  # 1 s clips keep the test quick


def _conf(name: str) -> dict:
    return yaml.safe_load((PROJECT / "conf" / "base" / name).read_text())


def _write_dataset(root: Path) -> dict[str, float]:
    """2021 layout, two machine types; test clips are loud so they would move the statistics."""
    rng = np.random.default_rng(0)
    loudness = {}
    for machine in ("fan", "valve"):
        names = [
            ("train", f"section_00_source_train_normal_{i:04d}_speed_{i % 2}") for i in range(3)
        ]
        names.append(("train", "section_01_target_train_normal_0000_speed_9"))
        names.append(("source_test", "section_00_source_test_normal_0000"))
        names.append(("source_test", "section_00_source_test_anomaly_0001"))
        names.append(("target_test", "section_01_target_test_anomaly_0000_speed_9"))
        for split, name in names:
            level = 0.01 if split == "train" else 0.9
            (root / machine / split).mkdir(parents=True, exist_ok=True)
            samples = level * rng.uniform(-1, 1, 16000)
            soundfile.write(
                root / machine / split / f"{name}.wav", samples, 16000, subtype="PCM_16"
            )
            loudness[f"{machine}/{split}/{name}"] = level
    return loudness


def _catalog(tmp_path: Path, raw: Path, parameters: dict, auxiliary: dict | None = None
             ) -> DataCatalog:
    """The project's raw_audio and features catalog entries, with paths moved into tmp_path."""
    config = {**_conf("catalog_raw.yml"), **_conf("catalog_features.yml")}
    config["raw_audio"]["path"] = str(raw)
    for name in ("file_index", "log_mel", "feature_stats", "tmax_features", "level_reference",
                 "auxiliary_index", "auxiliary_log_mel"):
        config[name]["filepath"] = str(tmp_path / "out" / f"{name}.parquet")
    catalog = DataCatalog.from_config(config)
    catalog["params:features"] = parameters
    catalog["params:auxiliary"] = auxiliary or _conf("parameters_auxiliary.yml")["auxiliary"]
    catalog["params:synthetic"] = _conf("parameters_synthetic.yml")["synthetic"]
    return catalog


def test_features_pipeline_on_a_tiny_data_set(tmp_path):
    raw = tmp_path / "raw"
    loudness = _write_dataset(raw)
    parameters = {**_conf("parameters_features.yml")["features"], "n_frames": N_FRAMES, "n_jobs": 2}
    catalog = _catalog(tmp_path, raw, parameters)

    SequentialRunner().run(create_pipeline(), catalog)

    index = catalog.load("file_index")
    assert sorted(index["file_id"]) == sorted(loudness) == index["file_id"].tolist()
    assert index["split"].value_counts().to_dict() == {"train": 8, "test": 6}
    assert set(index["section_class"]) == {
        "fan_section_00",
        "fan_section_01",
        "valve_section_00",
        "valve_section_01",
    }
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in index["path"])

    log_mel = catalog.load("log_mel")  # read piece by piece from the cache beside the Parquet
    assert list(log_mel.file_ids) == index["file_id"].tolist()
    values = np.asarray(log_mel)
    assert values.shape == (14, N_FRAMES, 128)
    # the Parquet table is the catalog format any reader gets, with the same values
    table = pd.read_parquet(tmp_path / "out" / "log_mel.parquet", dtype_backend="pyarrow")
    assert table["file_id"].tolist() == index["file_id"].tolist()
    np.testing.assert_array_equal(frame_to_array(table, 128), values)
    settings = LogMelSettings(n_frames=N_FRAMES)
    first = index.iloc[0]
    direct = load_log_mel(
        first["path"], lambda: soundfile.read(first["path"], dtype="float32"), settings
    )
    np.testing.assert_allclose(values[0], direct, atol=1e-3)  # float32 dB

    stats = catalog.load("feature_stats")
    train = values[(index["split"] == "train").to_numpy()].reshape(-1, 128).astype(np.float64)
    assert stats["mel"].tolist() == list(range(128))
    np.testing.assert_allclose(stats["mean"], train.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(stats["std"], train.std(axis=0), rtol=1e-9)
    # the loud test clips lie far above the training statistics
    every = values.reshape(-1, 128).mean(axis=0)
    assert (every - stats["mean"].to_numpy()).min() > 10.0

    tmax = catalog.load("tmax_features")
    assert tmax.columns.tolist() == ["file_id"] + [f"tmax_{m:03d}" for m in range(128)]
    reference = ((values - stats["mean"].to_numpy()) / stats["std"].to_numpy()).max(axis=1)
    np.testing.assert_allclose(tmax.drop(columns="file_id").to_numpy(), reference, rtol=1e-5,
                               atol=1e-6)


def _versions(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_a_loud_float_clip_stops_features_at_that_file_and_keeps_the_earlier_outputs(tmp_path):
    """Finite float32 samples of 1e30 overflow the power spectrum. The run must stop naming the
    file, and save no new file_index, log_mel or (NaN) feature_stats: the earlier, matching
    outputs stay the latest."""
    raw = tmp_path / "raw"
    _write_dataset(raw)
    parameters = {**_conf("parameters_features.yml")["features"], "n_frames": N_FRAMES, "n_jobs": 1}
    SequentialRunner().run(create_pipeline(), _catalog(tmp_path, raw, parameters))
    out = tmp_path / "out"
    before = {name: _versions(out / f"{name}.parquet") for name in
              ("file_index", "feature_stats", "tmax_features")}
    log_mel_before = (out / "log_mel.parquet").read_bytes()

    loud = raw / "fan" / "train" / "section_00_source_train_normal_0009_speed_1.wav"
    samples = np.random.default_rng(1).uniform(-1, 1, 16000).astype(np.float32) * np.float32(1e30)
    soundfile.write(loud, samples, 16000, subtype="FLOAT")
    # The extraction runs while log_mel is saved, so the catalog names the dataset first.
    with pytest.raises(DatasetError) as error:
        SequentialRunner().run(create_pipeline(), _catalog(tmp_path, raw, parameters))
    assert str(error.value).startswith(
        f"log_mel: {loud}: the log-mel spectrogram has NaN or infinite")
    assert isinstance(error.value.__cause__, AudioError)

    after = {name: _versions(out / f"{name}.parquet") for name in before}
    assert after == before and all(len(v) == 1 for v in after.values())
    assert (out / "log_mel.parquet").read_bytes() == log_mel_before
    catalog = _catalog(tmp_path, raw, parameters)
    assert loud.stem not in set(catalog.load("file_index")["file_id"].str.rsplit("/", n=1).str[-1])
    assert np.isfinite(catalog.load("feature_stats")[["mean", "std"]].to_numpy()).all()
    assert sorted(p.name for p in out.iterdir()) == [
        "auxiliary_index.parquet", "auxiliary_log_mel.cache", "auxiliary_log_mel.parquet",
        "feature_stats.parquet", "file_index.parquet", "level_reference.parquet",
        "log_mel.cache", "log_mel.parquet", "tmax_features.parquet"
    ]  # no temporary files left behind
    assert sorted(p.name for p in (out / "log_mel.cache").iterdir()) == ["source.json",
                                                                        "values.npy"]


def test_a_section_with_test_but_no_training_files_stops_at_the_file_index(tmp_path):
    raw = tmp_path / "raw"
    _write_dataset(raw)
    orphan = raw / "fan" / "source_test" / "section_02_source_test_normal_0000.wav"
    soundfile.write(orphan, np.zeros(16000), 16000)
    parameters = {**_conf("parameters_features.yml")["features"], "n_frames": N_FRAMES, "n_jobs": 1}
    catalog = _catalog(tmp_path, raw, parameters)
    expected = re.escape(f"fan section 02: 1 test files (e.g. {orphan}) but no training files")
    with pytest.raises(ValueError, match=expected):
        SequentialRunner().run(create_pipeline(), catalog)
    assert not (tmp_path / "out").exists()  # stopped before any audio was read


def test_pipeline_reports_the_bad_file_name(tmp_path):
    raw = tmp_path / "raw"
    (raw / "fan" / "train").mkdir(parents=True)
    soundfile.write(raw / "fan" / "train" / "normal_id_00_00000000.wav", np.zeros(16000), 16000)
    parameters = {**_conf("parameters_features.yml")["features"], "n_frames": N_FRAMES}
    catalog = _catalog(tmp_path, raw, parameters)
    with pytest.raises(ValueError, match=r"normal_id_00_00000000\.wav.*DCASE 2020"):
        SequentialRunner().run(create_pipeline(), catalog)


@pytest.mark.skipif(not TOYCAR_2023.is_dir(), reason="real DCASE 2023 ToyCar clips absent")
def test_real_dcase2023_toycar_file_index():
    partitions = PartitionedDataset(
        path=str(TOYCAR_2023),
        dataset="subcluster_adacos_asd.datasets.WavDataset",
        filename_suffix=".wav",
    ).load()
    index = build_file_index(partitions, None, {"invalid_file_names": "error"})
    assert index["split"].value_counts().to_dict() == {"train": 170, "test": 100}
    assert index["domain"].value_counts().to_dict() == {"source": 210, "target": 60}
    first = index.iloc[0]
    assert first["path"] == str(TOYCAR_2023 / (first["file_id"] + ".wav"))


# --- own recordings: a manifest, silence and levels ------------------------------------------


def _renamed_copy(raw: Path, copy: Path) -> Path:
    """The data set's WAVs under arbitrary names, with a manifest listing them in the order of
    their DCASE names; returns the manifest."""
    from subcluster_adacos_asd.dcase_names import parse_file_name

    rows = []
    for i, wav in enumerate(sorted(raw.rglob("*.wav"))):
        key = wav.relative_to(raw).with_suffix("").as_posix()
        parsed = parse_file_name(key)
        target = copy / ("day_a" if i % 2 else "day_b") / f"rec {i:03d}.wav"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(wav.read_bytes())
        rows.append({"path": target.relative_to(copy).as_posix(),
                     "machine": parsed.machine_type, "section": parsed.section,
                     "domain": parsed.domain, "split": parsed.split, "label": parsed.label,
                     "attributes": parsed.attributes, "original": key})
    manifest = copy / "manifest.csv"
    pd.DataFrame(rows).drop(columns="original").to_csv(manifest, index=False)
    return manifest


def test_a_manifest_gives_the_features_the_dcase_names_give(tmp_path):
    raw = tmp_path / "raw"
    _write_dataset(raw)
    parameters = {**_conf("parameters_features.yml")["features"], "n_frames": N_FRAMES, "n_jobs": 1}
    SequentialRunner().run(create_pipeline(), _catalog(tmp_path / "names", raw, parameters))
    manifest = _renamed_copy(raw, tmp_path / "copy")
    catalog = _catalog(tmp_path / "manifest", tmp_path / "copy", parameters)
    catalog["recordings_manifest"] = ManifestDataset(str(manifest))
    SequentialRunner().run(create_pipeline(), catalog)

    by_names = _catalog(tmp_path / "names", raw, parameters)
    names, renamed = by_names.load("file_index"), catalog.load("file_index")
    assert renamed["file_id"].str.startswith(("day_a/rec ", "day_b/rec ")).all()
    columns = ["machine_type", "section", "domain", "split", "label", "attributes",
               "section_class", "attribute_class"]
    pd.testing.assert_frame_equal(renamed[columns], names[columns])  # the same rows, in order
    for name in ("feature_stats", "tmax_features", "level_reference"):
        left, right = by_names.load(name), catalog.load(name)
        if "file_id" in left:
            left, right = left.drop(columns="file_id"), right.drop(columns="file_id")
        pd.testing.assert_frame_equal(left, right)


def test_a_silent_training_clip_stops_features_naming_the_file(tmp_path):
    raw = tmp_path / "raw"
    _write_dataset(raw)
    silent = raw / "fan" / "train" / "section_00_source_train_normal_0007_speed_1.wav"
    soundfile.write(silent, np.zeros(16000), 16000, subtype="PCM_16")
    parameters = {**_conf("parameters_features.yml")["features"], "n_frames": N_FRAMES, "n_jobs": 1}
    # the check runs as the extraction's last block is written: the log_mel save fails (the
    # catalog's DatasetError, naming the dataset and the file), so nothing is saved
    with pytest.raises(DatasetError) as error:
        SequentialRunner().run(create_pipeline(), _catalog(tmp_path, raw, parameters))
    assert isinstance(error.value.__cause__, AudioError)
    assert f"{silent}: digital silence" in str(error.value)
    assert not (tmp_path / "out" / "file_index.parquet").exists()  # nothing saved
    assert not (tmp_path / "out" / "log_mel.parquet").exists()


def test_synthetic_auxiliary_clips_take_the_users_rate_and_clip_length(tmp_path):
    """Clips of 12 s at 8 kHz (n_frames 190 at hop 512 is 12.2 s): the synthetic auxiliary
    clips are rendered at 8 kHz and long enough, so their log-mel has the user's shape."""
    from subcluster_adacos_asd.pipelines.features.nodes import extract_auxiliary_log_mel

    features = {**_conf("parameters_features.yml")["features"], "sample_rate": 8000,
                "n_frames": 190, "n_jobs": 1}
    auxiliary = {**_conf("parameters_auxiliary.yml")["auxiliary"], "source": "synthetic",
                 "machine_types": ["pump"], "sections": [0], "clips_per_section": 2}
    files = pd.DataFrame({"machine_type": ["line_3"]})
    log_mel, index = extract_auxiliary_log_mel(
        files, auxiliary, _conf("parameters_synthetic.yml")["synthetic"], features)
    assert list(index["machine_type"]) == ["pump", "pump"]
    values = log_mel.materialise().values
    assert values.shape == (2, 190, features["n_mels"])
    assert np.isfinite(values).all() and values.std() > 1.0  # sound over all 190 frames
    assert np.abs(values[:, -1].mean() - values[:, :10].mean()) < 20.0
