"""`train` + `embed` on a tiny data set through the project's catalog entries (real versioned
snapshot, Parquet and CSV files in a temporary folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from subcluster_adacos_asd.auxiliary import AuxiliarySettings, auxiliary_clips
from subcluster_adacos_asd.configurations import TrainingConfiguration
from subcluster_adacos_asd.embedding import snapshot_fingerprint
from subcluster_adacos_asd.feature_table import array_to_frame
from subcluster_adacos_asd.pipelines.embed.pipeline import create_pipeline as create_embed
from subcluster_adacos_asd.pipelines.train.pipeline import create_pipeline as create_train
from tests.support import add_parameters, catalog_config

FRAMES, MELS = 64, 64
CONFIGURATIONS = [TrainingConfiguration(2, "both"), TrainingConfiguration(1, "sections")]


def _tiny_data():
    """Two machine types x two sections; each attribute class has its own spectral pattern."""
    rng = np.random.default_rng(0)
    rows, clips = [], []
    for machine in ("fan", "pump"):
        for section in (0, 1):
            for number in range(10):
                split = "train" if number < 8 else "test"
                label = "normal" if split == "train" or number == 8 else "anomaly"
                attributes = f"speed_{number % 2}"
                section_class = f"{machine}_section_{section:02d}"
                rows.append({
                    "file_id": f"{machine}/{split}/section_{section:02d}_{number:04d}",
                    "machine_type": machine, "section": section, "domain": "source",
                    "split": split, "label": label, "file_number": number,
                    "attributes": attributes, "section_class": section_class,
                    "attribute_class": f"{section_class}_{attributes}",
                })
                pattern = np.sin(np.arange(MELS) * (1 + section + 2 * (machine == "pump"))
                                 + number % 2)
                clips.append(20 * pattern + rng.normal(size=(FRAMES, MELS)) - 40)
    index = pd.DataFrame(rows)
    clips = np.array(clips, dtype=np.float32)
    log_mel = array_to_frame(index["file_id"], clips)
    train = clips[(index["split"] == "train").to_numpy()]
    stats = pd.DataFrame({"mel": np.arange(MELS), "mean": train.mean(axis=(0, 1)),
                          "std": train.std(axis=(0, 1))})
    return index, log_mel, stats


def _catalog(tmp_path: Path) -> DataCatalog:
    catalog = DataCatalog.from_config(catalog_config("train", "embed", data_root=tmp_path))
    index, log_mel, stats = _tiny_data()
    catalog["file_index"] = MemoryDataset(index)
    catalog["log_mel"] = MemoryDataset(log_mel)
    catalog["feature_stats"] = MemoryDataset(stats)
    # no auxiliary classes (what features writes where auxiliary.source is none)
    auxiliary_index, _ = auxiliary_clips(AuxiliarySettings(), {}, index)
    catalog["auxiliary_index"] = MemoryDataset(auxiliary_index)
    catalog["auxiliary_log_mel"] = MemoryDataset(log_mel.iloc[:0])
    add_parameters(catalog, "training", {
        "epochs": 2, "snapshot_epochs": [1, 2], "batch_size": 16, "learning_rate": 0.001,
        "seed": 0, "embedding_dim": 16, "l2_weight_decay": 1.0e-5, "embed_batch_size": 32})
    return catalog


def test_train_then_embed_writes_contract_tables_for_every_configuration(tmp_path):
    catalog = _catalog(tmp_path)
    pipeline = create_train(CONFIGURATIONS) + create_embed(CONFIGURATIONS)
    assert {n.name for n in create_embed(CONFIGURATIONS).nodes} == {
        "sc02_both.embed_files", "sc02_both.extract_centres",
        "sc01_sections.embed_files", "sc01_sections.extract_centres"}
    SequentialRunner().run(pipeline, catalog)
    index = catalog.load("file_index")
    for configuration in CONFIGURATIONS:
        name = configuration.name
        snapshots = catalog.load(f"{name}.model_snapshots")
        assert sorted(snapshots) == ["epoch_0001", "epoch_0002"]
        history = catalog.load(f"{name}.training_history")
        assert history["epoch"].tolist() == [1, 2]

        embeddings = catalog.load(f"{name}.embeddings")
        assert list(embeddings.columns) == (
            ["file_id", "snapshot"] + [f"emb_{i:03d}" for i in range(16)])
        assert len(embeddings) == 2 * len(index)
        latest = embeddings[embeddings["snapshot"] == "epoch_0002"]
        assert latest["file_id"].tolist() == index["file_id"].tolist()
        assert np.isfinite(latest.iloc[:, 2:].to_numpy()).all()

        centres = catalog.load(f"{name}.centres")
        assert list(centres.columns) == (
            ["snapshot", "fingerprint", "head", "class_name", "sub_cluster"]
            + [f"c_{i:03d}" for i in range(16)])
        # one fingerprint per snapshot, that of the saved network
        fingerprints = centres.groupby("snapshot")["fingerprint"].unique()
        assert fingerprints.map(len).tolist() == [1, 1]
        assert fingerprints["epoch_0002"][0] == snapshot_fingerprint(snapshots["epoch_0002"])
        assert fingerprints["epoch_0001"][0] != fingerprints["epoch_0002"][0]
        heads = {"both": {"section", "attribute"}, "sections": {"section"}}[configuration.variant]
        assert set(centres["head"]) == heads
        section = centres[(centres["head"] == "section") & (centres["snapshot"] == "epoch_0002")]
        assert section["class_name"].tolist() == [
            c for c in sorted(index["section_class"].unique())
            for _ in range(configuration.sub_clusters)]
        if "attribute" in heads:
            attribute = centres[(centres["head"] == "attribute")
                                & (centres["snapshot"] == "epoch_0001")]
            assert set(attribute["class_name"]) == set(index["attribute_class"])
        # Embedding a file again with the reloaded snapshot gives the stored row.
        model = snapshots["epoch_0002"]
        first = catalog.load("log_mel").iloc[:1]
        stats = catalog.load("feature_stats")
        x = (np.asarray(first["log_mel"].iloc[0], dtype=np.float32).reshape(FRAMES, MELS)
             - stats["mean"].to_numpy()) / stats["std"].to_numpy()
        again = model.predict(x[None, ..., None].astype(np.float32), verbose=0)[0]
        np.testing.assert_allclose(latest.iloc[0, 2:].to_numpy(dtype=np.float32), again,
                                   rtol=1e-4, atol=1e-4)
