"""The baselines pipeline on tiny log-mel data (2 machine types x 2 sections, 1 epoch), with the
project's own parameters shrunk to the tiny clips, and its catalog entries."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from subcluster_adacos_asd import baselines
from subcluster_adacos_asd.datasets import KerasSnapshotsDataset
from subcluster_adacos_asd.feature_table import array_to_frame
from subcluster_adacos_asd.pipelines.baselines.pipeline import create_pipeline

PROJECT = Path(__file__).resolve().parents[3]
N_FRAMES, N_MELS = 40, 32
OUTPUTS = [
    "baseline_scores",
    "baseline_thresholds",
    "autoencoder_baseline_models",
    "mobilenetv2_baseline_models",
]


def tiny_parameters() -> dict:
    """conf/base's baselines parameters, with windows and epochs for 40-frame, 32-mel clips."""
    text = (PROJECT / "conf" / "base" / "parameters_baselines.yml").read_text()
    parameters = copy.deepcopy(yaml.safe_load(text)["baselines"])
    parameters["autoencoder"].update(epochs=1, batch_size=64)
    parameters["mobilenetv2"].update(
        n_frames=32, train_hop_frames=8, test_hop_frames=4, epochs=1, batch_size=8
    )
    return parameters


def tiny_features():
    """file_index, log_mel (sections differ in level and spectral slope), feature_stats."""
    rng = np.random.default_rng(0)
    rows, values = [], []
    for machine_type in ("fan", "pump"):
        for section in (0, 1):
            for split, domain, label, count in (
                ("train", "source", "normal", 4),
                ("train", "target", "normal", 1),
                ("test", "source", "normal", 2),
                ("test", "source", "anomaly", 2),
            ):
                for n in range(count):
                    name = f"section_{section:02d}_{domain}_{split}_{label}_{n:04d}"
                    folder = "train" if split == "train" else f"{domain}_test"
                    rows.append(
                        {
                            "file_id": f"{machine_type}/{folder}/{name}",
                            "machine_type": machine_type,
                            "section": section,
                            "domain": domain,
                            "split": split,
                            "label": label,
                            "section_class": f"{machine_type}_section_{section:02d}",
                        }
                    )
                    slope = np.linspace(0, 10 * section, N_MELS)
                    noise = rng.normal(
                        scale=3.0 if label == "anomaly" else 1.0, size=(N_FRAMES, N_MELS)
                    )
                    values.append(-40.0 + slope + noise)
    index = pd.DataFrame(rows)
    # log_mel in another row order than file_index: the baselines must join by file_id.
    order = rng.permutation(len(index))
    log_mel = array_to_frame(index["file_id"].to_numpy()[order], np.asarray(values)[order])
    stats = pd.DataFrame({"mel": range(N_MELS), "mean": -40.0, "std": 1.0})
    return index, log_mel, stats


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so the test can read intermediate outputs."""

    def _release(self) -> None:
        pass


@pytest.fixture(scope="module")
def run_outputs():
    index, log_mel, stats = tiny_features()
    parameters = tiny_parameters()
    inputs = {
        "file_index": index,
        "log_mel": log_mel,
        "feature_stats": stats,
        "params:baselines.autoencoder": parameters["autoencoder"],
        "params:baselines.mobilenetv2": parameters["mobilenetv2"],
        "params:baselines.section_groups": parameters["section_groups"],
        "params:baselines.decision_quantile": parameters["decision_quantile"],
        "params:baselines.references": parameters["references"],
        # the official code's thresholds: a gamma per model on its own training scores
        "params:baselines.calibration": {"method": "in_sample"},
        "params:score.calibration": {"target": "own"},
    }
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in inputs.items()})
    for name in OUTPUTS:
        catalog[name] = KeptDataset(copy_mode="assign")
    SequentialRunner().run(create_pipeline(), catalog)
    return inputs, {name: catalog.load(name) for name in OUTPUTS}


def test_pipeline_inputs_and_outputs():
    pipeline = create_pipeline()
    assert pipeline.inputs() == {
        "file_index",
        "log_mel",
        "feature_stats",
        "params:baselines.autoencoder",
        "params:baselines.mobilenetv2",
        "params:baselines.section_groups",
        "params:baselines.decision_quantile",
        "params:baselines.references",
        "params:baselines.calibration",
        "params:score.calibration",
    }
    assert {"baseline_scores", "baseline_thresholds"} == pipeline.outputs()


def test_baseline_scores_follow_the_system_scores_contract(run_outputs):
    inputs, out = run_outputs
    index, scores = inputs["file_index"], out["baseline_scores"]
    assert list(scores.columns) == ["file_id", "system", "score", "decision"]
    for system in ("autoencoder", "mobilenetv2", "knn_statistics", "knn_frames",
                   "gaussian_statistics"):
        rows = scores[scores["system"] == system]
        assert rows["file_id"].tolist() == index["file_id"].tolist()
        assert np.isfinite(rows["score"]).all()
        assert set(rows["decision"].astype(int)) <= {0, 1}
    assert str(scores["decision"].dtype) == "Int64"


def test_decisions_are_the_gamma_thresholds_per_machine_type(run_outputs):
    inputs, out = run_outputs
    index = inputs["file_index"].set_index("file_id")
    scores, thresholds = out["baseline_scores"], out["baseline_thresholds"]
    references = thresholds[thresholds["model"].isna()]
    assert set(references["system"]) == {"knn_statistics", "knn_frames", "gaussian_statistics"}
    assert len(references) == 3 * 2 * 2 * 2  # per system, machine type, section and domain
    thresholds = thresholds[thresholds["model"].notna()]
    assert sorted(zip(thresholds["system"], thresholds["model"])) == [
        ("autoencoder", "fan"),
        ("autoencoder", "pump"),
        ("mobilenetv2", "fan"),
        ("mobilenetv2", "pump"),
    ]
    for row in thresholds.itertuples():
        rows = scores[
            (scores["system"] == row.system)
            & (index.loc[scores["file_id"], "machine_type"] == row.machine_type).to_numpy()
        ]
        train = index.loc[rows["file_id"], "split"].to_numpy() == "train"
        assert row.n_training_files == train.sum() == 10
        expected, _ = baselines.gamma_threshold(rows["score"].to_numpy()[train], 0.9)
        np.testing.assert_allclose(row.threshold, expected)
        np.testing.assert_array_equal(
            rows["decision"].astype(int), (rows["score"] > row.threshold).astype(int)
        )


def test_autoencoder_scores_are_the_models_reconstruction_errors(run_outputs):
    inputs, out = run_outputs
    index, log_mel = inputs["file_index"], inputs["log_mel"]
    model = out["autoencoder_baseline_models"]["pump"]
    ids = index.loc[index["machine_type"] == "pump", "file_id"].tolist()
    vectors = baselines.consecutive_frame_vectors(baselines.log_mel_of_files(log_mel, ids, N_MELS))
    flat = vectors.reshape(-1, vectors.shape[-1])
    expected = np.square(flat - model.predict(flat, verbose=0)).reshape(len(ids), -1).mean(axis=1)
    scores = out["baseline_scores"].set_index(["system", "file_id"]).loc["autoencoder", "score"]
    np.testing.assert_allclose(scores.loc[ids], expected, rtol=1e-4)


def test_models_survive_the_catalogs_keras_dataset(run_outputs, tmp_path):
    """The catalog's dataset gives back every model with its architecture and trained weights."""
    _, out = run_outputs
    catalog = yaml.safe_load((PROJECT / "conf" / "base" / "catalog_baselines.yml").read_text())
    for system in ("autoencoder", "mobilenetv2"):
        entry = catalog[f"{system}_baseline_models"]
        assert entry["type"] == "subcluster_adacos_asd.datasets.KerasSnapshotsDataset"
        assert entry["versioned"] is True
        models = out[f"{system}_baseline_models"]
        dataset = KerasSnapshotsDataset(str(tmp_path / system))
        dataset.save(models)
        loaded = dataset.load()
        assert sorted(loaded) == ["fan", "pump"]
        for name, model in models.items():
            assert loaded[name].output_shape == model.output_shape
            for saved, trained in zip(loaded[name].get_weights(), model.get_weights(), strict=True):
                np.testing.assert_array_equal(saved, trained)
        # Trained models differ per machine type (each starts from the same seeded weights).
        assert not np.array_equal(models["fan"].get_weights()[0], models["pump"].get_weights()[0])


def test_baseline_scores_catalog_entry_is_versioned_parquet():
    catalog = yaml.safe_load((PROJECT / "conf" / "base" / "catalog_baselines.yml").read_text())
    for name in ("baseline_scores", "baseline_thresholds"):
        assert catalog[name]["type"] == "subcluster_adacos_asd.datasets.AtomicDataset"
        assert catalog[name]["dataset"] == "pandas.ParquetDataset"
        assert catalog[name]["versioned"] is True


def test_dcase2021_parameters_are_the_official_baseline_settings():
    """conf/dcase2021 merged over conf/base gives the official baseline.yaml values."""
    from kedro.config import OmegaConfigLoader

    loader = OmegaConfigLoader(
        conf_source=str(PROJECT / "conf"),
        base_env="base",
        default_run_env="local",
        env="dcase2021",
        merge_strategy={"parameters": "soft"},
    )
    parameters = loader["parameters"]["baselines"]
    assert parameters["decision_quantile"] == 0.9
    assert parameters["section_groups"] == [[0, 1, 2], [3, 4, 5]]
    ae, mnv2 = parameters["autoencoder"], parameters["mobilenetv2"]
    assert (ae["n_frames"], ae["hop_frames"], ae["epochs"], ae["batch_size"]) == (5, 1, 100, 512)
    assert (ae["learning_rate"], ae["validation_split"]) == (0.001, 0.1)
    assert (ae["hidden_units"], ae["hidden_layers"], ae["bottleneck_units"]) == (128, 4, 8)
    assert (mnv2["n_frames"], mnv2["train_hop_frames"], mnv2["test_hop_frames"]) == (64, 8, 1)
    assert (mnv2["epochs"], mnv2["batch_size"], mnv2["learning_rate"]) == (20, 32, 1e-5)
    assert (mnv2["alpha"], mnv2["validation_split"]) == (0.5, 0.1)


def test_mobilenetv2_skips_groups_of_one_section_and_scores_none_of_their_files(caplog):
    # Data with one section per model group (e.g. the DCASE 2023 ToyCar clips): a section
    # classifier has nothing to learn, so the baseline is left out there instead of failing.
    index, log_mel, _ = tiny_features()
    settings = tiny_parameters()["mobilenetv2"]
    one_section_groups = [[0], [1]]
    models = baselines.fit_mobilenetv2s(index, log_mel, N_MELS, settings, one_section_groups)
    assert models == {}
    assert "one section only" in caplog.text
    scores, thresholds = baselines.score_baseline(
        "mobilenetv2", models, index, log_mel, N_MELS, settings, one_section_groups
    )
    assert scores.empty and thresholds.empty
    assert list(scores.columns) == ["file_id", "system", "score", "decision"]


@pytest.mark.parametrize("env", [None, "dcase2021"])
def test_every_environments_baseline_parameters_are_known_settings(env):
    """conf/base and conf/dcase2021 name no key the baselines' settings do not know."""
    from tests.support import parameters

    section = parameters("baselines", env)
    for system, settings_type in (("autoencoder", baselines.AutoencoderSettings),
                                  ("mobilenetv2", baselines.MobileNetV2Settings)):
        settings = settings_type.from_parameters(section[system], f"params:baselines.{system}")
        assert settings.epochs == section[system]["epochs"]


def test_a_typo_in_a_baselines_parameter_stops_the_node_naming_the_known_keys():
    from subcluster_adacos_asd.pipelines.baselines.nodes import train_baseline

    index, log_mel, stats = tiny_features()
    settings = {**tiny_parameters()["autoencoder"], "epoch": 1}
    with pytest.raises(
        ValueError, match=r"params:baselines.autoencoder has unknown keys \['epoch'\]; known: "
    ):
        train_baseline(index, log_mel, stats, settings, None, system="autoencoder")


def test_holdout_calibration_trains_without_the_held_out_clips_and_decides_per_section():
    from subcluster_adacos_asd import calibration
    from subcluster_adacos_asd.pipelines.baselines.nodes import score_baseline, train_baseline

    index, log_mel, stats = tiny_features()
    settings = tiny_parameters()["autoencoder"]
    holdout = {"method": "holdout", "share": 0.25, "seed": 0, "target": "shifted",
               "distribution": "empirical"}
    held = calibration.holdout_clips(index, 0.25, 0)
    assert len(held) == 4  # one of the 4 source training clips of each of 4 sections
    models = train_baseline(index, log_mel, stats, settings, None, holdout, system="autoencoder")
    # the same seeded training on the index without the held-out clips: the same weights
    without = index[~index["file_id"].isin(held)]
    expected = baselines.fit_autoencoders(without, log_mel, N_MELS, settings)
    for name, model in models.items():
        for got, want in zip(model.get_weights(), expected[name].get_weights(), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    scores, thresholds = score_baseline(models, index, log_mel, stats, settings, None, 0.9,
                                        holdout, system="autoencoder")
    assert scores["file_id"].tolist() == index["file_id"].tolist()
    rows = scores.merge(index, on="file_id")
    table = thresholds.set_index(["machine_type", "sections", "domain"])
    assert len(table) == 2 * 2 * 2  # machine types x sections x domains
    assert (thresholds["calibration"] == "holdout").all()
    for (machine_type, section), group in rows.groupby(["machine_type", "section"]):
        source_held = group[group["file_id"].isin(held)]["score"]
        source_threshold = np.percentile(source_held, 90)
        assert table.loc[(machine_type, str(section), "source"), "threshold"] == pytest.approx(
            source_threshold)
        trained = group[(group["split"] == "train") & ~group["file_id"].isin(held)]
        shift = (trained.loc[trained["domain"] == "target", "score"].median()
                 - trained.loc[trained["domain"] == "source", "score"].median())
        assert table.loc[(machine_type, str(section), "target"), "threshold"] == pytest.approx(
            source_threshold + shift)
        source = group[group["domain"] == "source"]
        np.testing.assert_array_equal(source["decision"].astype(int),
                                      (source["score"] > source_threshold).astype(int))
