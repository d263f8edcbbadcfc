"""The `train` pipeline: one namespace per configuration, shared inputs, catalog entries."""

from __future__ import annotations

from kedro.io import DataCatalog

from subcluster_adacos_asd import training
from subcluster_adacos_asd.configurations import TrainingConfiguration
from subcluster_adacos_asd.datasets import KerasSnapshotsDataset
from subcluster_adacos_asd.pipelines.train.pipeline import create_pipeline
from tests.support import catalog_config, parameters

CONFIGURATIONS = [TrainingConfiguration(1, "both"), TrainingConfiguration(4, "sections")]


def test_one_namespaced_training_node_per_configuration_with_shared_inputs():
    pipeline = create_pipeline(CONFIGURATIONS)
    assert sorted(n.name for n in pipeline.nodes) == [
        "sc01_both.train_model", "sc04_sections.train_model"]
    assert pipeline.inputs() == {"file_index", "log_mel", "feature_stats", "auxiliary_index",
                                 "auxiliary_log_mel", "params:training"}
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


def test_dcase2021_is_the_papers_method_exactly():
    """Every option beyond the paper is off in conf/dcase2021 (merged over conf/base)."""
    paper = parameters(env="dcase2021")
    assert {k: paper["training"][k] for k in (
        "epochs", "snapshot_epochs", "batch_size", "embedding_dim", "learning_rate",
        "l2_weight_decay", "scale_update", "class_weights", "crop_frames", "frequency_shifts",
        "statistics_exchange", "time_pooling", "statistics_branch")} == {
        "epochs": 400, "snapshot_epochs": [100, 200, 300, 400], "batch_size": 64,
        "embedding_dim": 128, "learning_rate": 0.001, "l2_weight_decay": 1.0e-5,
        "scale_update": "subcluster_adacos", "class_weights": "none", "crop_frames": None,
        "frequency_shifts": [], "statistics_exchange": 0.0, "time_pooling": "max",
        "statistics_branch": False}
    score = paper["score"]
    assert score["backends"]["gmm"]["covariance"] == "full"
    assert score["backends"]["gmm"]["reg_covar"] == 1.0e-3
    assert score["backends"]["gmm"]["min_clips_per_component"] == 1
    assert score["backends"]["section_domains"] == ["source"]
    assert score["normalisation"] == "none" and score["threshold_percentile"] == 90
    assert score["tmax"]["machine_types"] == ["valve"]
    assert score["variant_choice"]["method"] == "fixed"
    # paper 2.6: thresholds from the in-sample training scores, the target domain's own
    # percentile; the official baselines' gamma per model on its training scores
    assert {k: score["calibration"][k] for k in ("method", "target", "distribution")} == {
        "method": "in_sample", "target": "own", "distribution": "empirical"}
    assert paper["baselines"]["calibration"]["method"] == "in_sample"
    assert paper["auxiliary"]["source"] == "none"  # the data set's own classes only
    assert paper["grid"] == {"sub_clusters": [1, 2, 4, 8, 16], "variants": ["both", "sections"]}
    assert training.TrainingSettings.from_parameters(paper["training"]).crop_frames is None
    base = parameters()["training"]
    assert base["snapshot_epochs"][-1] == base["epochs"]


def test_data_without_attributes_and_a_single_clip_class_train_and_score_every_variant(
        tmp_path, caplog):
    """Recordings named without attributes (DCASE 2021 test-clip style) in one section and an
    attribute class of a single clip in the other: features resolves both with one warning
    each, then both loss variants train, embed and fit their GMMs (before: the first `train`
    node stopped, or scikit-learn's GMM after all training)."""
    import logging

    import soundfile
    from kedro.runner import SequentialRunner

    from subcluster_adacos_asd.pipelines.embed.pipeline import create_pipeline as embed
    from subcluster_adacos_asd.pipelines.features.pipeline import create_pipeline as features
    from subcluster_adacos_asd.pipelines.score.pipeline import create_pipeline as score
    from tests.pipelines.inference import system

    raw, seed = tmp_path / "raw", 0
    for section, attribute_of in ((0, lambda i: ""), (1, lambda i: "_a_7" if i == 0 else "_a_1")):
        names = [("train", f"source_train_normal_{i:04d}{attribute_of(i)}", False)
                 for i in range(5)]
        names += [("train", f"target_train_normal_{i:04d}", False) for i in range(2)]
        names += [("test", f"{d}_test_{label}_{i:04d}", label == "anomaly")
                  for d in ("source", "target") for i, label in enumerate(("normal", "anomaly"))]
        for folder, name, anomalous in names:
            path = raw / "fan" / folder / f"section_{section:02d}_{name}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            seed += 1
            soundfile.write(path, system.clip("fan", section, 1, anomalous, seed, 1.0),
                            system.SAMPLE_RATE, subtype="PCM_16")
    params = system.parameters()
    params["score"]["variant_choice"]["fixed"] = {"fan": "both"}
    config = system.catalog_config(tmp_path / "data", raw)
    configurations = [TrainingConfiguration(2, "both"), TrainingConfiguration(1, "sections")]
    pipeline = (features() + create_pipeline(configurations) + embed(configurations)
                + score(configurations))
    with caplog.at_level(logging.WARNING):
        SequentialRunner().run(pipeline, system.make_catalog(config, params))

    catalog = system.make_catalog(config, params)
    index = catalog.load("file_index").set_index("file_id")
    assert index.loc["fan/train/section_00_source_train_normal_0000", "attribute_class"] \
        == "fan_section_00"
    # the single clip of a_7 joins the section's smallest class with enough clips (a_1)
    assert index.loc["fan/train/section_01_source_train_normal_0000_a_7", "attribute_class"] \
        == "fan_section_01_a_1"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("carry no attributes" in w for w in warnings) == 1
    assert sum("fan_section_01_a_7 (1 clip) -> fan_section_01_a_1" in w for w in warnings) == 1
    scores = catalog.load("anomaly_scores")
    assert len(scores) == len(index) and scores["score"].notna().all()
    centres = catalog.load("sc02_both.centres")
    learned = set(centres.loc[centres["head"] == "attribute", "class_name"])
    # (the target clips of section 01 have no attributes either; "|shift" classes are the
    # self-supervised frequency shifts of training.frequency_shifts)
    assert {c for c in learned if "|" not in c} == {
        "fan_section_00", "fan_section_01", "fan_section_01_a_1"}


def test_auxiliary_classes_teach_the_network_but_only_the_users_sections_are_scored(tmp_path):
    """Synthetic auxiliary machines (pump, slider) join training as classes of their own: the
    learned centres include them, the user's classes keep their names, and embed and score see
    the user's files only (embeddings, GMMs and scores of fan and valve alone)."""
    from kedro.runner import SequentialRunner

    from subcluster_adacos_asd.pipelines.embed.pipeline import create_pipeline as embed
    from subcluster_adacos_asd.pipelines.features.pipeline import create_pipeline as features
    from subcluster_adacos_asd.pipelines.score.pipeline import create_pipeline as score
    from tests.pipelines.inference import system

    raw = tmp_path / "raw"
    system.write_dataset(raw)
    params = system.parameters()
    params["synthetic"] = {**params["synthetic"], "duration_s": 1.0}
    params["auxiliary"] = {**params["auxiliary"], "source": "synthetic",
                           "machine_types": ["fan", "pump", "slider"], "sections": [0, 1],
                           "clips_per_section": 3}
    config = system.catalog_config(tmp_path / "data", raw)
    configurations = system.CONFIGURATIONS
    pipeline = (features() + create_pipeline(configurations) + embed(configurations)
                + score(configurations))
    SequentialRunner().run(pipeline, system.make_catalog(config, params))

    catalog = system.make_catalog(config, params)
    auxiliary = catalog.load("auxiliary_index")
    assert len(auxiliary) == 12 and set(auxiliary["machine_type"]) == {"pump", "slider"}
    assert catalog.load("auxiliary_log_mel").shape[0] == 12
    index = catalog.load("file_index")
    centres = catalog.load("sc02_both.centres")
    for head, column in (("section", "section_class"), ("attribute", "attribute_class")):
        learned = {c for c in centres.loc[centres["head"] == head, "class_name"] if "|" not in c}
        assert learned == set(index[column]) | set(auxiliary[column])
    assert set(centres.loc[centres["head"] == "section", "class_name"]) >= {
        "aux:pump_section_00", "aux:slider_section_01", "fan_section_00", "valve_section_00"}
    embeddings = catalog.load("sc02_both.embeddings")
    assert set(embeddings["file_id"]) == set(index["file_id"])
    scores = catalog.load("anomaly_scores")
    assert set(scores["file_id"]) == set(index["file_id"])
    assert set(scores["machine_type"]) == {"fan", "valve"}
    assert scores["score"].notna().all()
