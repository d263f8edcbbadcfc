"""The `train` pipeline: one namespace per configuration, shared inputs, catalog entries."""

from __future__ import annotations

import yaml
from kedro.io import DataCatalog

from subcluster_adacos_asd.configurations import TrainingConfiguration
from subcluster_adacos_asd.datasets import KerasSnapshotsDataset
from subcluster_adacos_asd.pipelines.train.pipeline import create_pipeline
from tests.support import PROJECT, catalog_config

CONFIGURATIONS = [TrainingConfiguration(1, "both"), TrainingConfiguration(4, "sections")]


def test_one_namespaced_training_node_per_configuration_with_shared_inputs():
    pipeline = create_pipeline(CONFIGURATIONS)
    assert sorted(n.name for n in pipeline.nodes) == [
        "sc01_both.train_model", "sc04_sections.train_model"]
    assert pipeline.inputs() == {"file_index", "log_mel", "feature_stats", "params:training"}
    assert pipeline.outputs() == {
        "sc01_both.model_snapshots", "sc01_both.training_history",
        "sc04_sections.model_snapshots", "sc04_sections.training_history"}
    # What `kedro run --pipelines=train --namespaces=sc04_sections` runs:
    alone = pipeline.only_nodes_with_namespaces(["sc04_sections"])
    assert [n.name for n in alone.nodes] == ["sc04_sections.train_model"]
    bound = alone.nodes[0].func.keywords
    assert bound == {"sub_clusters": 4, "variant": "sections", "configuration": "sc04_sections"}


def test_catalog_saves_versioned_snapshots_per_configuration():
    catalog = DataCatalog.from_config(catalog_config("train"))
    dataset = catalog.get("sc04_sections.model_snapshots")
    assert isinstance(dataset, KerasSnapshotsDataset)
    described = dataset._describe()
    assert described["filepath"].endswith("data/06_models/sc04_sections/model_snapshots")
    assert described["version"] is not None  # versioned
    assert "sc01_both" in str(catalog.get("sc01_both.training_history")._describe()["filepath"])


def test_paper_settings_override_only_epochs_and_snapshots():
    base = yaml.safe_load((PROJECT / "conf/base/parameters_train.yml").read_text())["training"]
    paper = yaml.safe_load((PROJECT / "conf/dcase2021/parameters_train.yml").read_text())["training"]
    assert paper == {"epochs": 400, "snapshot_epochs": [100, 200, 300, 400]}
    assert base["batch_size"] == 64 and base["embedding_dim"] == 128
    assert base["snapshot_epochs"][-1] == base["epochs"]
