"""The score pipeline on small fake embeddings of two configurations, with the project's own
parameters, and the catalog entries of its outputs."""


import numpy as np
import pytest
import scipy.stats
from kedro.io import DataCatalog

from subcluster_adacos_asd import ensemble
from subcluster_adacos_asd.backends import SnapshotBackends, TmaxBackend
from subcluster_adacos_asd.pipelines.score.pipeline import create_pipeline
from tests import support
from tests.pipelines.score.fakes import (
    CONFIGURATIONS,
    make_embeddings,
    make_file_index,
    make_tmax_features,
)
from tests.support import catalog_config, parameter_inputs, run

OUTPUTS = ["anomaly_scores", "system_scores", "thresholds", "variant_choice", "tmax_backend",
           "score_normalisation", "ensemble_configurations", "ensemble_reduction",
           "reduced_members", "reduced_scores",
           "reduced_thresholds", "calibration_folds", "calibration_scores",
           *[f"{c.name}.{what}" for c in CONFIGURATIONS
             for what in ("backends", "score_terms", "calibration_terms")]]
THRESHOLD_COLUMNS = ["machine_type", "section", "domain", "threshold", "percentile",
                     "calibration"]


def parameters(name):
    return support.conf(f"parameters_{name}.yml")


def score_inputs(score_parameters=None, configurations=CONFIGURATIONS):
    index = make_file_index()
    inputs = {"file_index": index, "tmax_features": make_tmax_features(index),
              **parameter_inputs("score", score_parameters or parameters("score")["score"])}
    for name, (emb, centres) in make_embeddings(index, configurations).items():
        inputs[f"{name}.embeddings"] = emb
        inputs[f"{name}.centres"] = centres
    return inputs


@pytest.fixture(scope="module")
def score_outputs():
    inputs = score_inputs()
    return inputs, run(create_pipeline(list(CONFIGURATIONS)), inputs, OUTPUTS)


def test_pipeline_shape_namespaces_and_free_inputs():
    pipeline = create_pipeline(list(CONFIGURATIONS))
    assert {n.namespace for n in pipeline.nodes} == {"sc01_both", "sc02_sections", None}
    narrow = {f"params:score.{k}" for k in ("backends", "tmax", "normalisation",
                                            "variant_choice", "threshold_percentile",
                                            "reduction.fraction", "calibration")}
    assert pipeline.inputs() == {"file_index", "tmax_features", *narrow,
                                 *[f"{c.name}.{w}" for c in CONFIGURATIONS
                                   for w in ("embeddings", "centres")]}
    assert set(OUTPUTS) <= pipeline.all_outputs()
    assert len(create_pipeline([]).nodes) == 0


def test_score_outputs_follow_the_data_contracts(score_outputs):
    inputs, out = score_outputs
    index = inputs["file_index"]
    anomaly = out["anomaly_scores"]
    assert list(anomaly.columns) == ensemble.ANOMALY_SCORE_COLUMNS
    assert anomaly["file_id"].tolist() == index["file_id"].tolist()
    assert out["variant_choice"] == {"fan": "sections", "valve": "sections"}  # paper's map
    assert out["ensemble_configurations"] == ["sc01_both", "sc02_sections"]
    assert list(out["thresholds"].columns) == THRESHOLD_COLUMNS
    assert len(out["thresholds"]) == 10  # fan sections 0-2, valve 0-1, two domains
    assert set(out["system_scores"]["system"]) == set(ensemble.SYSTEMS)
    for c in CONFIGURATIONS:
        terms = out[f"{c.name}.score_terms"]
        assert list(terms.columns) == ["file_id", "snapshot", "section_term", "attribute_term",
                                       "target_term"]
        assert len(terms) == 2 * len(index)
        backends = out[f"{c.name}.backends"]
        assert sorted(backends) == ["epoch_0001", "epoch_0002"]
        assert all(isinstance(b, SnapshotBackends) for b in backends.values())
    assert isinstance(out["tmax_backend"], TmaxBackend)
    valve_source = (anomaly["machine_type"] == "valve") & (anomaly["domain"] == "source")
    assert anomaly.loc[valve_source, "tmax_term"].notna().all()
    assert anomaly.loc[~valve_source, "tmax_term"].isna().all()
    parts = (anomaly["section_term"] + anomaly["attribute_term"].fillna(0)
             + anomaly["target_term"].fillna(0) + anomaly["tmax_term"].fillna(0))
    np.testing.assert_allclose(parts, anomaly["score"])


def test_fake_anomalies_are_found(score_outputs):
    _, out = score_outputs
    anomaly = out["anomaly_scores"]
    test = anomaly[anomaly["label"].isin(["normal", "anomaly"])]
    from sklearn.metrics import roc_auc_score
    assert roc_auc_score(test["label"] == "anomaly", test["score"]) > 0.9



def _percentile_by_hand(calibration, machine_type, section, column, percentile=90):
    rows = calibration[(calibration["machine_type"] == machine_type)
                       & (calibration["section"] == section)
                       & (calibration["domain"] == "source")]
    return float(np.percentile(rows[column], percentile))


def test_thresholds_come_from_cross_fitted_scores_of_the_normal_training_clips(score_outputs):
    inputs, out = score_outputs
    index = inputs["file_index"]
    normal_train = index[(index["split"] == "train") & (index["label"] == "normal")]
    folds = out["calibration_folds"]
    assert sorted(folds["file_id"]) == sorted(normal_train["file_id"])
    folds_count = parameters("score")["score"]["calibration"]["folds"]
    assert set(folds["fold"]) == set(range(folds_count))
    for c in CONFIGURATIONS:
        calibration_terms = out[f"{c.name}.calibration_terms"]
        assert len(calibration_terms) == 2 * len(normal_train)  # every clip, both snapshots
        in_sample = out[f"{c.name}.score_terms"].merge(
            calibration_terms, on=["file_id", "snapshot"], suffixes=("", "_oof"))
        # scored by backends that did not see them: worse than in-sample, on average
        assert (in_sample["section_term_oof"] > in_sample["section_term"]).mean() > 0.8
    calibration = out["calibration_scores"]
    assert sorted(calibration["file_id"].unique()) == sorted(normal_train["file_id"])
    chosen = calibration[calibration["variant"] == "sections"]  # the paper's map: fan, valve
    thresholds = out["thresholds"].set_index(["machine_type", "section", "domain"])
    assert (thresholds["calibration"] == "cross_fit").all()
    assert thresholds.loc[("fan", 0, "source"), "threshold"] == pytest.approx(
        _percentile_by_hand(chosen, "fan", 0, "threshold_score"))
    # the target domain (default target: prediction): the Student-t prediction bound of the
    # target clips' section terms, with the larger of the two domains' spreads
    assert parameters("score")["score"]["calibration"]["target"] == "prediction"
    fan0 = chosen[(chosen["machine_type"] == "fan") & (chosen["section"] == 0)]
    source, target = (fan0.loc[fan0["domain"] == d, "section_term"].to_numpy()
                      for d in ("source", "target"))
    spread = max(np.std(source, ddof=1), np.std(target, ddof=1))
    expected = target.mean() + scipy.stats.t.ppf(0.9, 2) * spread * np.sqrt(4 / 3)
    assert thresholds.loc[("fan", 0, "target"), "threshold"] == pytest.approx(expected)


def test_the_papers_in_sample_thresholds_stay_reachable():
    score = parameters("score")["score"]
    paper = {**score, "calibration": support.parameters("score", env="dcase2021")["calibration"]}
    inputs = score_inputs(paper)
    out = run(create_pipeline(list(CONFIGURATIONS)), inputs,
              ["thresholds", "calibration_scores", "calibration_folds", "anomaly_scores",
               *[f"{c.name}.calibration_terms" for c in CONFIGURATIONS]])
    assert out["calibration_folds"].empty
    assert all(out[f"{c.name}.calibration_terms"].empty for c in CONFIGURATIONS)
    anomaly = out["anomaly_scores"]
    training = anomaly[(anomaly["split"] == "train") & (anomaly["label"] == "normal")]
    # the paper (2.6): the percentile of the in-sample training scores of each section/domain
    assert (out["thresholds"]["calibration"] == "in_sample").all()
    for (machine_type, section, domain), rows in training.groupby(
            ["machine_type", "section", "domain"]):
        expected = np.percentile(rows["threshold_score"], 90)
        got = out["thresholds"].set_index(["machine_type", "section", "domain"]).loc[
            (machine_type, section, domain), "threshold"]
        assert got == pytest.approx(expected)
    assert 0.05 <= training["decision"].mean() <= 0.2  # the 90th percentile leaves ~10% above


def test_catalog_entries_of_score_outputs():
    catalog = DataCatalog.from_config(catalog_config("score"))
    for name in OUTPUTS:
        dataset = catalog.get(name)
        assert dataset is not None, name
        assert dataset._version is not None, f"{name} should be versioned"  # noqa: SLF001
    assert "sc01_both" in str(catalog.get("sc01_both.backends")._filepath)  # noqa: SLF001
