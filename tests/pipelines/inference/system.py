"""A tiny trained system for the inference tests (and benchmarks/inference.py).

Writes a small DCASE 2021-layout WAV data set, runs the project's own ``features``, ``train``,
``embed`` and ``score`` pipelines on it through the project's catalog entries (every path moved
into a temporary folder), and returns the catalog configuration, so a fresh catalog made from it
loads the trained system exactly as ``kedro run --pipelines=inference`` would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from subcluster_adacos_asd.configurations import TrainingConfiguration
from subcluster_adacos_asd.pipelines.embed.pipeline import create_pipeline as create_embed
from subcluster_adacos_asd.pipelines.features.pipeline import create_pipeline as create_features
from subcluster_adacos_asd.pipelines.score.pipeline import create_pipeline as create_score
from subcluster_adacos_asd.pipelines.train.pipeline import create_pipeline as create_train
from tests import support

PROJECT = support.PROJECT
SAMPLE_RATE = 16000
CATALOGS = ("raw", "features", "train", "embed", "score", "inference")
#: One configuration per loss variant, so both variants and the ensemble sum are exercised.
CONFIGURATIONS = [TrainingConfiguration(2, "both"), TrainingConfiguration(1, "sections")]
#: (machine type, section): valve exercises the temporal-max term of eq. 4.
SECTIONS = (("fan", 0), ("fan", 1), ("valve", 0))
SOURCE_TRAIN, TARGET_TRAIN, TEST = 6, 3, 2


conf = support.conf


def clip(machine: str, section: int, attribute: int, anomalous: bool, seed: int,
         seconds: float) -> np.ndarray:
    """A tone whose pitch says machine, section and attribute, in noise; anomalies add a
    second, off-pattern tone and louder noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 300.0 * (1 + section) * (1.7 if machine == "valve" else 1.0) + 60.0 * attribute
    y = 0.2 * np.sin(2 * np.pi * f0 * t) + 0.1 * np.sin(2 * np.pi * 2 * f0 * t)
    y += 0.02 * rng.standard_normal(len(t))
    if anomalous:
        y += 0.15 * np.sin(2 * np.pi * 3.3 * f0 * t) + 0.05 * rng.standard_normal(len(t))
    return (0.5 * y).astype(np.float32)


def write_dataset(root: Path, seconds: float = 1.0, sections=SECTIONS,
                  test_clips: int = TEST) -> list[Path]:
    """The WAV files of a small 2021-layout data set below ``root``; returns their paths."""
    paths, seed = [], 0
    for machine, section in sections:
        names = []
        for i in range(SOURCE_TRAIN):
            names.append(("train", f"source_train_normal_{i:04d}_a_{1 + i % 2}", 1 + i % 2, False))
        for i in range(TARGET_TRAIN):
            names.append(("train", f"target_train_normal_{i:04d}_a_9", 9, False))
        for domain, attribute in (("source", 1), ("target", 9)):
            for i in range(test_clips):
                label = "normal" if i % 2 == 0 else "anomaly"
                names.append((f"{domain}_test", f"{domain}_test_{label}_{i:04d}_a_{attribute}",
                              attribute, label == "anomaly"))
        for folder, name, attribute, anomalous in names:
            path = root / machine / folder / f"section_{section:02d}_{name}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            seed += 1
            soundfile.write(path, clip(machine, section, attribute, anomalous, seed, seconds),
                            SAMPLE_RATE, subtype="PCM_16")
            paths.append(path)
    return paths


def parameters(n_frames: int = 32, n_mels: int = 32, epochs: int = 2,
               embedding_dim: int = 16) -> dict:
    """The run's parameters: the project's, made tiny (1 s clips, small network input)."""
    score = conf("parameters_score.yml")["score"]
    score["variant_choice"] = {"method": "fixed", "default": "both",
                               "fixed": {"fan": "both", "valve": "sections"}}
    return {
        "features": {**conf("parameters_features.yml")["features"], "n_frames": n_frames,
                     "n_mels": n_mels, "n_jobs": 1},
        "training": {**conf("parameters_train.yml")["training"], "epochs": epochs,
                     "snapshot_epochs": list(range(1, epochs + 1)), "batch_size": 16,
                     "embedding_dim": embedding_dim, "embed_batch_size": 32, "seed": 0,
                     # whole 1 s clips as "crops": the any-length network still embeds them
                     "crop_frames": n_frames},
        "score": score,
        "auxiliary": conf("parameters_auxiliary.yml")["auxiliary"],
        "synthetic": conf("parameters_synthetic.yml")["synthetic"],
        "inference": {**conf("parameters_inference.yml")["inference"], "n_jobs": 1},
    }


def catalog_config(data: Path, raw: Path) -> dict:
    """The project's catalog entries with every data path moved below ``data``."""
    config = support.catalog_config(*CATALOGS, data_root=data)
    config["raw_audio"]["path"] = str(raw)
    return config


def make_catalog(config: dict, params: dict, inference: dict | None = None) -> DataCatalog:
    """A fresh catalog (loads the latest versions) with the parameters as ``params:*``."""
    catalog = DataCatalog.from_config(config)
    for name, value in params.items():
        if name == "inference" and inference is not None:
            value = {**value, **inference}
        support.add_parameters(catalog, name, value)
    return catalog


def train_system(root: Path, configurations=CONFIGURATIONS, **parameter_sizes):
    """Data set, parameters and catalog configuration of a trained tiny system below ``root``."""
    raw = root / "raw"
    write_dataset(raw, seconds=parameter_sizes.pop("seconds", 1.0))
    params = parameters(**parameter_sizes)
    config = catalog_config(root / "data", raw)
    pipeline = (create_features() + create_train(configurations) + create_embed(configurations)
                + create_score(configurations))
    SequentialRunner().run(pipeline, make_catalog(config, params))
    return raw, params, config
