"""score + evaluate on small fake embeddings of two configurations and a fake baseline: metrics
for every system, tables, figures and submission files written through the real dataset types."""


import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro_datasets.partitions import PartitionedDataset

from subcluster_adacos_asd.configurations import TrainingConfiguration
from subcluster_adacos_asd.pipelines.evaluate.pipeline import create_pipeline as evaluate
from subcluster_adacos_asd.pipelines.score.pipeline import create_pipeline as score
from tests.pipelines.score.fakes import CONFIGURATIONS, make_baseline_scores
from tests.pipelines.score.test_pipeline import parameters, score_inputs
from tests.support import catalog_config, parameter_inputs, run

TABLES = ["table_overview", "table_2_systems", "table_3_distributions", "table_4_losses",
          "table_decisions"]
OUTPUTS = ["metrics", "metrics_per_section", "metrics_summary", "roc_curves",
           "score_histograms", "harmonic_means_figure", *[f"{t}_{k}" for t in TABLES for k in ("md", "csv")]]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    inputs = score_inputs()
    inputs["baseline_scores"] = make_baseline_scores(inputs["file_index"])
    inputs.update(parameter_inputs("evaluate", parameters("evaluate")["evaluate"]))
    folder = tmp_path_factory.mktemp("submission")
    submission = PartitionedDataset(
        path=str(folder), filename_suffix=".csv",
        dataset={"type": "pandas.CSVDataset", "save_args": {"header": False, "index": False}})
    pipeline = score(list(CONFIGURATIONS)) + evaluate()
    out = run(pipeline, inputs, OUTPUTS, {"submission": submission})
    return inputs, out, folder


def test_metrics_cover_every_system(evaluated):
    _, out, _ = evaluated
    systems = {"proposed", "reduced", "loss_both", "loss_sections", "dist_section",
               "dist_attribute", "dist_target", "autoencoder"}
    assert set(out["metrics"]["systems"]) == systems
    per_section = out["metrics_per_section"]
    assert set(per_section["system"]) == systems
    # labelled test data: fan and valve sections 0 and 1, both domains (fan section 2 unlabelled)
    proposed = per_section[per_section["system"] == "proposed"]
    assert len(proposed) == 8 and set(proposed["section"]) == {0, 1}
    assert out["metrics"]["systems"]["proposed"]["official_score"] > 0.9
    assert out["metrics"]["systems"]["autoencoder"]["official_score"] < 0.9
    assert "McClish" in out["metrics"]["pauc"]
    dist_attribute = per_section[per_section["system"] == "dist_attribute"]
    assert set(dist_attribute["domain"]) == {"source"}


def test_tables_and_figures(evaluated):
    _, out, _ = evaluated
    table2 = out["table_2_systems_csv"]
    assert list(table2.columns)[3:] == ["autoencoder AUC", "autoencoder pAUC", "proposed AUC",
                                        "proposed pAUC", "reduced AUC", "reduced pAUC"]
    assert list(out["table_3_distributions_csv"].columns)[2:4] == ["dist_section AUC",
                                                                    "dist_section pAUC"]
    assert list(out["table_4_losses_csv"].columns)[2:] == [
        "loss_sections AUC", "loss_sections pAUC", "loss_both AUC", "loss_both pAUC",
        "proposed AUC", "proposed pAUC"]
    assert out["table_overview_csv"]["system"].iloc[0] == "proposed"
    decisions = out["table_decisions_csv"]
    assert set(decisions["system"]) == {"proposed", "reduced", "loss_both", "loss_sections",
                                        "dist_section", "dist_attribute", "autoencoder"}
    assert "false alarms" in out["table_decisions_md"]
    for table in TABLES:
        assert out[f"{table}_md"].startswith("# ")
    assert sorted(out["roc_curves"]) == ["roc_fan.png", "roc_valve.png"]
    assert sorted(out["score_histograms"]) == ["scores_fan.png", "scores_valve.png"]
    bars = out["harmonic_means_figure"].axes[0].patches
    # proposed, reduced, loss_both, loss_sections, autoencoder x (fan, valve, all)
    assert len(bars) == 5 * 3


def test_a_grid_of_one_loss_variant_reports_that_variant_only(tmp_path):
    """``params:grid`` may leave out a loss variant (e.g. ``variants: [sections]``): every machine
    type then uses the trained one, and the tables have no column for the other."""
    configurations = [TrainingConfiguration(1, "sections"), TrainingConfiguration(4, "sections")]
    inputs = score_inputs(configurations=configurations)
    inputs["baseline_scores"] = make_baseline_scores(inputs["file_index"])
    inputs.update(parameter_inputs("evaluate", parameters("evaluate")["evaluate"]))
    submission = PartitionedDataset(path=str(tmp_path), filename_suffix=".csv",
                                    dataset={"type": "pandas.CSVDataset"})
    out = run(score(configurations) + evaluate(), inputs, OUTPUTS, {"submission": submission})
    systems = set(out["metrics"]["systems"])
    assert "loss_sections" in systems and "loss_both" not in systems
    proposed = out["table_overview_csv"].set_index("system").loc["proposed"]
    sections = out["table_overview_csv"].set_index("system").loc["loss_sections"]
    assert proposed["AUC"] == pytest.approx(sections["AUC"], abs=1e-12)
    assert not [c for c in out["table_4_losses_csv"].columns if c.startswith("loss_both")]


def test_submission_files_cover_every_test_group(evaluated):
    inputs, _, folder = evaluated
    names = sorted(p.name for p in folder.iterdir())
    # fan sections 0-2, valve 0-1; two domains; anomaly score + decision
    assert len(names) == 5 * 2 * 2
    assert "anomaly_score_fan_section_02_target_test.csv" in names
    frame = pd.read_csv(folder / "decision_result_valve_section_01_source_test.csv",
                        header=None)
    index = inputs["file_index"]
    expected = index[(index["machine_type"] == "valve") & (index["section"] == 1)
                     & (index["domain"] == "source") & (index["split"] == "test")]
    assert sorted(frame[0]) == sorted(expected["filename"])
    assert set(frame[1]) <= {0, 1}


def test_catalog_entries_of_evaluate_outputs():
    config = catalog_config("evaluate")
    catalog = DataCatalog.from_config(config)
    for name in [*OUTPUTS, "submission"]:
        assert catalog.get(name) is not None, name
    assert catalog.get("metrics")._version is not None  # noqa: SLF001
    assert type(catalog.get("roc_curves")).__name__ == "AtomicDataset"
    assert config["roc_curves"]["dataset"]["type"] == "matplotlib.MatplotlibDataset"
    assert evaluate().inputs() == {"system_scores", "baseline_scores", "anomaly_scores",
                                   "reduced_scores", "ensemble_reduction", "calibration_scores",
                                   "variant_choice", "params:score.threshold_percentile",
                                   "file_index", "params:evaluate",
                                   *[f"params:evaluate.{k}" for k in (
                                       "max_fpr", "roc_systems", "summary_systems",
                                       "histogram_bins", "protocol", "ground_truth")]}
