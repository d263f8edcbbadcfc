"""MLflow tracking: off by default and then without MLflow; on, one parent run per pipeline run
with a nested run per configuration (params, per-epoch metrics) and one for the evaluation
(metrics and files), also when the outputs were saved in other processes (the Dask runner)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner

from subcluster_adacos_asd import tracking
from subcluster_adacos_asd.tracking import TrackingHooks
from tests.support import PROJECT, catalog_config, parameters

TRAINING = {"epochs": 2, "batch_size": 16}
#: Nodes of these tests write namespaced dataset names themselves, as the train pipeline does.
DOTTED_NAMES = pytest.mark.filterwarnings("ignore:One or more dataset names contain")


# --- without MLflow ---------------------------------------------------------------------------


def test_relative_stores_are_placed_below_the_project_and_the_environment_wins(tmp_path):
    assert tracking.tracking_uri("sqlite:///mlruns/mlflow.db", tmp_path, {}) == (
        f"sqlite:///{tmp_path.resolve().as_posix()}/mlruns/mlflow.db")
    assert tracking.tracking_uri("sqlite:////abs/m.db", tmp_path, {}) == "sqlite:////abs/m.db"
    assert tracking.tracking_uri("mlruns", tmp_path, {}) == (tmp_path / "mlruns").resolve().as_uri()
    env = {"MLFLOW_TRACKING_URI": "sqlite:////elsewhere/m.db"}
    assert tracking.tracking_uri("sqlite:///mlruns/mlflow.db", tmp_path, env) == (
        "sqlite:////elsewhere/m.db")
    assert tracking.local_uri("s3://bucket/runs", tmp_path) == "s3://bucket/runs"


def test_parameters_flatten_to_one_param_per_setting_of_the_sections_a_pipeline_reads():
    params = {"training": {"epochs": 16, "snapshot_epochs": [8, 16], "crop": None},
              "score": {"backends": {"gmm": {"covariance": "shrunk"}}}, "synthetic": {"seed": 1}}
    used = tracking.pipeline_parameters({"file_index", "params:training",
                                         "params:score.backends"}, params)
    assert set(used) == {"training", "score"}
    assert tracking.flatten_parameters(used) == {
        "score.backends.gmm.covariance": "shrunk", "training.crop": "None",
        "training.epochs": "16", "training.snapshot_epochs": "[8, 16]"}
    assert len(tracking.flatten_parameters({"long": "x" * 10_000})["long"]) == 6000
    config = tracking.configuration_parameters("sc04_sections", {"epochs": 2})
    assert config == {"configuration": "sc04_sections", "sub_clusters": "4",
                      "variant": "sections", "training.epochs": "2"}


def test_history_rows_become_metrics_with_the_epoch_as_step():
    history = pd.DataFrame({"configuration": ["sc01_both"] * 2, "epoch": [1, 2],
                            "loss": [2.0, 1.5], "section_accuracy": [0.5, np.nan]})
    assert tracking.history_metrics(history) == [
        ("loss", 2.0, 1), ("section_accuracy", 0.5, 1), ("loss", 1.5, 2)]
    with pytest.raises(ValueError, match="epoch"):
        tracking.history_metrics(history.drop(columns="epoch"))


def test_evaluation_tables_become_metric_keys_per_system_type_and_domain():
    summary = pd.DataFrame({
        "system": ["proposed", "proposed", "autoencoder"],
        "machine_type": ["all", "fan", "all"], "domain": ["all", "source", "all"],
        "AUC": [0.9, 0.8, 0.6], "pAUC": [0.7, np.nan, 0.5], "F1": [0.1, 0.2, np.nan],
        "false_alarm_rate": [0.12, 0.08, np.nan], "precision": [0.5, 0.5, 0.5]})
    assert tracking.summary_metrics(summary) == {
        "hmean_AUC/proposed": 0.9, "hmean_pAUC/proposed": 0.7, "mean_F1/proposed": 0.1,
        "mean_false_alarm_rate/proposed": 0.12,
        "hmean_AUC/proposed/fan/source": 0.8, "mean_F1/proposed/fan/source": 0.2,
        "mean_false_alarm_rate/proposed/fan/source": 0.08,
        "hmean_AUC/autoencoder": 0.6, "hmean_pAUC/autoencoder": 0.5}
    assert set(tracking.summary_metrics(summary, overall_only=True)) == {
        "hmean_AUC/proposed", "hmean_pAUC/proposed", "mean_F1/proposed",
        "mean_false_alarm_rate/proposed", "hmean_AUC/autoencoder", "hmean_pAUC/autoencoder"}
    report = {"systems": {"proposed": {"official_score": 0.8}, "x": {"official_score": None}}}
    assert tracking.official_metrics(report) == {"official_score/proposed": 0.8}


def test_only_files_written_during_the_run_count_as_its_outputs(tmp_path):
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text("a")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    started = time.time()
    new.write_text("b")
    assert tracking.written_since(new, started)
    assert not tracking.written_since(old, started)
    assert not tracking.written_since(tmp_path / "missing.csv", started)
    assert not tracking.written_since(None, started)


def test_tracking_on_without_mlflow_stops_the_run_with_the_install_line(monkeypatch, tmp_path):
    monkeypatch.setattr(tracking, "mlflow_installed", lambda: False)
    context = SimpleNamespace(params={"tracking": {"enabled": True}}, project_path=tmp_path)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[tracking\]"'):
        TrackingHooks().after_context_created(context)


def test_unknown_tracking_keys_are_refused(tmp_path):
    context = SimpleNamespace(params={"tracking": {"enabeld": True}}, project_path=tmp_path)
    with pytest.raises(ValueError, match="unknown keys \\['enabeld'\\]"):
        TrackingHooks().after_context_created(context)


OFF_SCRIPT = """
import sys
from types import SimpleNamespace
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.framework.project import configure_project
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner

import warnings
warnings.filterwarnings("ignore", message="One or more dataset names contain")
configure_project("subcluster_adacos_asd")
from kedro.framework.project import settings
from tests.support import parameters

manager = _create_hook_manager()
for hook in settings.HOOKS:
    manager.register(hook)
context = SimpleNamespace(params=parameters(), project_path=sys.argv[1],
                          config_loader={"parameters": parameters()})
manager.hook.after_context_created(context=context)
catalog = DataCatalog.from_config({"sc01_both.training_history": {
    "type": "pandas.CSVDataset", "filepath": sys.argv[1] + "/history.csv"}})
pipeline = Pipeline([node(lambda: __import__("pandas").DataFrame({"epoch": [1], "loss": [1.0]}),
                          None, "sc01_both.training_history", name="history")])
manager.hook.before_pipeline_run(run_params={}, pipeline=pipeline, catalog=catalog)
SequentialRunner().run(pipeline, catalog, manager)
manager.hook.after_pipeline_run(run_params={}, run_result={}, pipeline=pipeline, catalog=catalog)
print("mlflow imported:", "mlflow" in sys.modules)
"""


def test_tracking_is_off_by_default_imports_no_mlflow_and_writes_no_store(tmp_path):
    """The project's own settings and parameters: a run logs nothing and loads no MLflow."""
    assert parameters("tracking")["enabled"] is False
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    out = subprocess.run([sys.executable, "-c", OFF_SCRIPT, str(tmp_path)], cwd=tmp_path,
                         env={**env, "PYTHONPATH": str(PROJECT)}, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "mlflow imported: False" in out.stdout
    assert (tmp_path / "history.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]  # no mlruns, no .db


# --- with MLflow ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mlflow():
    """MLflow (telemetry off), or the test skipped where the extra is not installed."""
    if not tracking.mlflow_installed():
        pytest.skip('MLflow is not installed: pip install -e ".[tracking]"')
    return tracking.import_mlflow()


def tracking_parameters(root: Path, **overrides) -> dict:
    return {**parameters("tracking"), "enabled": True,
            "uri": f"sqlite:///{root.as_posix()}/mlruns/mlflow.db",
            "artifact_location": str(root / "mlruns" / "artifacts"), **overrides}


def started_hooks(params: dict, root: Path, pipeline: Pipeline, catalog,
                  runner: str = "SequentialRunner") -> TrackingHooks:
    hooks = TrackingHooks()
    hooks.after_context_created(SimpleNamespace(params=params, project_path=root))
    run_params = {"run_id": "2026-01-01T00.00.00.000Z", "env": "test", "runner": runner,
                  "pipeline_names": ["asd"]}
    hooks.before_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)
    return hooks


def store(root: Path) -> str:
    return f"sqlite:///{root.as_posix()}/mlruns/mlflow.db"


def runs(mlflow, root: Path) -> pd.DataFrame:
    """Every run of the project's experiment in the store below ``root``, as ``mlflow ui``
    lists them (``mlflow.search_runs``: params.*, metrics.*, tags.* columns)."""
    # mlflow.set_tracking_uri also sets MLFLOW_TRACKING_URI, which the hooks honour: restored
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _use_tracking_uri(store(root)):
        return mlflow.search_runs(experiment_names=["subcluster_adacos_asd"])


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, mlflow):
    """features -> train (2 configurations) -> embed -> score -> evaluate on a tiny WAV data
    set through the project's catalog entries, tracked into a temporary SQLite store."""
    from subcluster_adacos_asd.pipelines.embed.pipeline import create_pipeline as embed
    from subcluster_adacos_asd.pipelines.evaluate.pipeline import create_pipeline as evaluate
    from subcluster_adacos_asd.pipelines.features.pipeline import create_pipeline as features
    from subcluster_adacos_asd.pipelines.score.pipeline import create_pipeline as score
    from subcluster_adacos_asd.pipelines.train.pipeline import create_pipeline as train
    from tests.pipelines.inference import system
    from tests.pipelines.score.fakes import make_baseline_scores

    root = tmp_path_factory.mktemp("tracked")
    raw = root / "raw"
    system.write_dataset(raw)
    params = system.parameters(epochs=2)
    params["evaluate"] = parameters("evaluate")
    params["tracking"] = tracking_parameters(root)
    config = system.catalog_config(root / "data", raw)
    config.update(catalog_config("evaluate", data_root=root / "data"))
    configurations = system.CONFIGURATIONS
    pipeline = (features() + train(configurations) + embed(configurations)
                + score(configurations) + evaluate(configurations)
                + Pipeline([node(make_baseline_scores, "file_index", "baseline_scores",
                                 name="fake_baseline")]))
    catalog = system.make_catalog(config, {k: v for k, v in params.items() if k != "tracking"})
    manager = _create_hook_manager()
    hooks = started_hooks(params, root, pipeline, catalog)
    manager.register(hooks)
    started = time.perf_counter()
    SequentialRunner().run(pipeline, catalog, manager)
    hooks.after_pipeline_run(pipeline=pipeline)
    seconds = time.perf_counter() - started
    return root, params, DataCatalog.from_config(config), runs(mlflow, root), seconds


def test_one_parent_run_with_a_nested_run_per_configuration_and_the_evaluation(tracked):
    root, params, _, table, _ = tracked
    parents = table[table["tags.mlflow.parentRunId"].isna()]
    assert len(parents) == 1 and parents["status"].iloc[0] == "FINISHED"
    parent = parents.iloc[0]
    assert parent["tags.mlflow.runName"] == "asd (test)"
    assert parent["tags.kedro.env"] == "test" and parent["tags.kedro.runner"] == "SequentialRunner"
    assert parent["params.training.epochs"] == "2"
    assert parent["params.score.threshold_percentile"] == "90"
    children = table[table["tags.mlflow.parentRunId"] == parent["run_id"]]
    assert sorted(children["tags.mlflow.runName"]) == ["evaluate", "sc01_sections", "sc02_both"]
    assert (children["status"] == "FINISHED").all()
    assert (root / "mlruns" / "mlflow.db").exists()


def test_configuration_runs_hold_their_parameters_and_every_epoch(tracked, mlflow):
    root, _, catalog, table, _ = tracked
    run = table[table["tags.mlflow.runName"] == "sc02_both"].iloc[0]
    assert (run["params.configuration"], run["params.sub_clusters"], run["params.variant"]) == (
        "sc02_both", "2", "both")
    assert run["params.training.epochs"] == "2" and run["params.training.batch_size"] == "16"
    history = catalog.load("sc02_both.training_history")
    client = mlflow.MlflowClient(store(root))
    for key in ("loss", "section_loss", "section_accuracy", "attribute_accuracy",
                "samples_per_second"):
        logged = client.get_metric_history(run["run_id"], key)
        assert [m.step for m in logged] == [1, 2]
        assert [m.value for m in logged] == pytest.approx(history[key].tolist())
    # the sections-only variant has no attribute head
    other = table[table["tags.mlflow.runName"] == "sc01_sections"].iloc[0]
    assert client.get_metric_history(other["run_id"], "attribute_loss") == []
    assert [m.step for m in client.get_metric_history(other["run_id"], "section_scale")] == [1, 2]


def test_evaluation_run_holds_the_tables_figures_and_files(tracked, mlflow):
    root, _, catalog, table, _ = tracked
    run = table[table["tags.mlflow.runName"] == "evaluate"].iloc[0]
    summary = catalog.load("metrics_summary")
    pooled = summary[(summary["system"] == "proposed") & (summary["machine_type"] == "all")
                     & (summary["domain"] == "all")].iloc[0]
    assert run["metrics.hmean_AUC/proposed"] == pytest.approx(pooled["AUC"])
    assert run["metrics.hmean_pAUC/proposed"] == pytest.approx(pooled["pAUC"])
    fan = summary[(summary["system"] == "proposed") & (summary["machine_type"] == "fan")
                  & (summary["domain"] == "source")].iloc[0]
    assert run["metrics.hmean_AUC/proposed/fan/source"] == pytest.approx(fan["AUC"])
    report = catalog.load("metrics")
    assert run["metrics.official_score/proposed"] == pytest.approx(
        report["systems"]["proposed"]["official_score"])
    assert run["params.evaluate.max_fpr"] == "0.1"
    # the pooled figures on the parent too, to compare whole runs
    parent = table[table["tags.mlflow.parentRunId"].isna()].iloc[0]
    assert parent["metrics.hmean_AUC/proposed"] == pytest.approx(pooled["AUC"])
    assert not any(c.startswith("metrics.hmean_AUC/proposed/") for c in parent.dropna().index)

    client = mlflow.MlflowClient(store(root))
    files = {f.path for f in client.list_artifacts(run["run_id"])}
    assert {"metrics.json", "metrics_summary.csv", "tables", "figures"} <= files
    assert "tables/overview.md" in {f.path for f in client.list_artifacts(run["run_id"], "tables")}
    figures = {f.path for f in client.list_artifacts(run["run_id"], "figures")}
    assert {"figures/harmonic_means.png", "figures/roc_curves",
            "figures/ensemble_reduction.png"} <= figures
    curves = client.list_artifacts(run["run_id"], "figures/roc_curves")
    assert {Path(f.path).name for f in curves} == {"roc_fan.png", "roc_valve.png"}
    local = Path(client.download_artifacts(run["run_id"], "figures/harmonic_means.png",
                                           str(root / "download")))
    assert local.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert math.isfinite(run["metrics.hmean_AUC/autoencoder"])


def history_frame(loss: float) -> pd.DataFrame:
    return pd.DataFrame({"configuration": "x", "epoch": [1, 2], "loss": [loss, loss / 2],
                         "seconds": [0.5, 0.5]})


def first_history() -> pd.DataFrame:
    return history_frame(4.0)


def second_history() -> pd.DataFrame:
    return history_frame(2.0)


def broken() -> pd.DataFrame:
    raise RuntimeError("training diverged")


def history_catalog(root: Path) -> DataCatalog:
    return DataCatalog.from_config(catalog_config("train", data_root=root / "data"))


@DOTTED_NAMES
def test_outputs_saved_elsewhere_are_logged_from_the_catalog_and_stale_ones_are_not(
        tmp_path, mlflow):
    """Nothing seen by the dataset hooks (as under the Dask runner): the histories written
    during the run are read back when it ends; one left by an earlier run is not this run's."""
    catalog = history_catalog(tmp_path)
    catalog.save("sc16_sections.training_history", history_frame(9.0))  # an earlier run's
    for path in (tmp_path / "data").rglob("training_history.csv"):
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    catalog = history_catalog(tmp_path)
    pipeline = Pipeline([
        node(first_history, None, "sc01_both.training_history", name="first"),
        node(broken, None, "sc16_sections.training_history", name="second")])
    params = {"training": TRAINING, "tracking": tracking_parameters(tmp_path)}
    hooks = started_hooks(params, tmp_path, pipeline, catalog)
    with pytest.raises(RuntimeError, match="diverged"):
        SequentialRunner().run(pipeline, catalog)  # no hook manager: the hooks see no save
    hooks.on_pipeline_error(pipeline=pipeline)

    table = runs(mlflow, tmp_path)
    parent = table[table["tags.mlflow.parentRunId"].isna()].iloc[0]
    assert parent["status"] == "FAILED"
    children = table[table["tags.mlflow.parentRunId"] == parent["run_id"]]
    assert list(children["tags.mlflow.runName"]) == ["sc01_both"]
    assert children["metrics.loss"].iloc[0] == 2.0  # the last epoch's


@DOTTED_NAMES
def test_a_run_on_the_dask_runner_is_tracked_from_the_client(tmp_path, mlflow):
    """The nodes and their dataset hooks run on a Dask worker; the client logs their outputs."""
    distributed = pytest.importorskip("distributed")
    from kedro.framework.project import configure_project

    from subcluster_adacos_asd.runners import DaskRunner

    configure_project("subcluster_adacos_asd")
    pipeline = Pipeline([
        node(first_history, None, "sc01_both.training_history", name="first"),
        node(second_history, None, "sc02_sections.training_history", name="second")])
    catalog = history_catalog(tmp_path)
    params = {"training": TRAINING, "tracking": tracking_parameters(tmp_path)}
    manager = _create_hook_manager()
    hooks = started_hooks(params, tmp_path, pipeline, catalog, runner="DaskRunner")
    manager.register(hooks)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with distributed.Client(cluster) as client:
        DaskRunner(client=client).run(pipeline, catalog, manager)
    cluster.close()
    hooks.after_pipeline_run(pipeline=pipeline)

    table = runs(mlflow, tmp_path)
    assert len(table) == 3  # no stray run from the worker
    children = table[table["tags.mlflow.parentRunId"].notna()].set_index("tags.mlflow.runName")
    assert sorted(children.index) == ["sc01_both", "sc02_sections"]
    assert children.loc["sc01_both", "metrics.loss"] == 2.0
    assert children.loc["sc02_sections", "metrics.loss"] == 1.0
    assert children.loc["sc02_sections", "params.variant"] == "sections"
