"""The `synthetic` pipeline through the project's catalog entries, into a temporary folder."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import soundfile
import yaml
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from subcluster_adacos_asd.pipelines.synthetic.nodes import generate_synthetic_audio
from subcluster_adacos_asd.pipelines.synthetic.pipeline import create_pipeline
from tests import support
from tests.support import parameters

PROJECT = Path(__file__).resolve().parents[3]

# DCASE 2021 development names, checked here with a regex of their own
NAME = re.compile(
    r"^section_(?P<section>\d{2})_(?P<domain>source|target)_(?P<split>train|test)_"
    r"(?P<label>normal|anomaly)_(?P<number>\d{4})_(?P<attributes>[a-z]+_\d+)\.wav$"
)

SMALL = {
    "machine_types": ["gearbox", "slider"],
    "sections": [0, 2],
    "duration_s": 0.5,
    "source_train_clips": 4,
    "test_clips": 2,
}


def _conf(name: str) -> dict:
    return yaml.safe_load((PROJECT / "conf" / "base" / name).read_text())


def _run(tmp_path: Path, folder: str) -> tuple[Path, Path]:
    """Run the pipeline with the project's catalog entries, their paths moved into tmp_path."""
    config = {**_conf("catalog_raw.yml"), **_conf("catalog_synthetic.yml")}
    config["raw_audio"]["path"] = str(tmp_path / folder / "audio")
    config["synthetic_manifest"]["filepath"] = str(tmp_path / folder / "manifest.csv")
    catalog = DataCatalog.from_config(config)
    parameters = {**_conf("parameters_synthetic.yml")["synthetic"], **SMALL}
    catalog["params:synthetic"] = parameters
    catalog["params:data_source"] = _conf("parameters.yml")["data_source"]
    SequentialRunner().run(create_pipeline(), catalog)
    return tmp_path / folder / "audio", tmp_path / folder / "manifest.csv"


def test_pipeline_writes_a_dcase_2021_development_layout(tmp_path):
    audio, manifest_path = _run(tmp_path, "a")
    files = sorted(audio.rglob("*.wav"))
    # 2 types x 2 sections x (4 source + 3 target train + 2 x 2 x 2 test)
    assert len(files) == 2 * 2 * (4 + 3 + 8)
    for path in files:
        machine, folder = path.relative_to(audio).parts[:2]
        match = NAME.match(path.name)
        assert match, path
        name = match.groupdict()
        assert machine in SMALL["machine_types"]
        assert int(name["section"]) in SMALL["sections"]
        assert folder == ("train" if name["split"] == "train" else f"{name['domain']}_test")
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (
            16000, 1, "PCM_16", 8000
        )
    manifest = pd.read_csv(manifest_path, keep_default_na=False)
    keys = {str(p.relative_to(audio).with_suffix("")) for p in files}
    assert set(manifest["file_id"]) == keys
    anomalies = manifest[manifest["label"] == "anomaly"]
    assert (anomalies["anomaly_kind"] != "").all() and (anomalies["anomaly_severity"] > 0).all()
    assert (manifest.loc[manifest["label"] == "normal", "anomaly_kind"] == "").all()
    # the attribute in the name is the one the manifest says generated the clip
    assert (manifest["attributes"] == manifest["attribute_name"] + "_"
            + manifest["attribute_level"].astype(str)).all()
    assert all(row.file_id.endswith(row.attributes) for row in manifest.itertuples())


def test_two_runs_write_identical_bytes_and_overwrite_an_old_set(tmp_path):
    first, _ = _run(tmp_path, "a")
    second, _ = _run(tmp_path, "b")
    stale = second / "fan" / "train" / "section_09_source_train_normal_0000_speed_1.wav"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    second, _ = _run(tmp_path, "b")  # overwrite: true removes the earlier data set first
    assert not stale.exists()
    names = sorted(p.relative_to(first) for p in first.rglob("*.wav"))
    assert names == sorted(p.relative_to(second) for p in second.rglob("*.wav"))
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_never_writes_where_raw_audio_is_real_data(tmp_path):
    """Environments on real recordings run the default pipeline too: the synthetic node gives
    no partition, and their raw_audio never removes files on save."""
    partitions, manifest = generate_synthetic_audio(SMALL, {"synthetic": False})
    assert partitions == {} and len(manifest) == 0
    for env in ("dcase2021", "toycar2023"):
        assert parameters(env=env)["data_source"]["synthetic"] is False
        assert support.conf("catalog_raw.yml", env)["raw_audio"]["overwrite"] is False
    # saving no partitions into a folder of recordings with that entry leaves them alone
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    (recordings / "kept.wav").write_bytes(b"RIFF")
    entry = {**support.conf("catalog_raw.yml", "dcase2021")["raw_audio"],
             "path": str(recordings)}
    DataCatalog.from_config({"raw_audio": entry}).save("raw_audio", partitions)
    assert (recordings / "kept.wav").read_bytes() == b"RIFF"


def test_partitions_are_lazy():
    partitions, manifest = generate_synthetic_audio(SMALL, {"synthetic": True})
    assert len(partitions) == len(manifest)
    key = manifest["file_id"].iloc[0]
    audio = partitions[key]()  # rendered only when called
    assert audio.sample_rate == 16000 and audio.samples.shape == (8000,)
