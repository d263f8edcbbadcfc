"""Experiment tracking with MLflow: one run per ``kedro run``, a nested run per training
configuration and one for the evaluation, so ``mlflow ui`` compares configurations and runs.

Off unless asked (``tracking.enabled: true`` in ``conf/<env>/parameters*.yml`` or
``kedro run --params=tracking.enabled=true``) and needs the optional extra ``tracking``
(``pip install -e ".[tracking]"``: ``mlflow-skinny`` and SQLAlchemy for the local SQLite store).
Nothing here imports MLflow until a run asks for tracking, so the default run neither needs nor
loads it. What is logged (docs/tracking.md):

* the parent run: every parameter section the pipeline reads, flattened (``training.epochs``),
  the run's environment, pipelines and session as tags, and the headline evaluation figures;
* one nested run per configuration (``sc04_both``...), when its ``training_history`` is saved:
  name, sub-clusters, loss variant and the training parameters as params, every column of the
  history (losses, accuracies, AdaCos scales, seconds, samples/s) as a metric with step = epoch;
* one nested run ``evaluate``: the harmonic means of AUC and pAUC per system, machine type and
  domain (``metrics_summary``), the official score per system (``metrics``), and the tables and
  figures named in ``tracking.artifacts`` as files.

Why a project hook and not kedro-mlflow: kedro-mlflow needs the full ``mlflow`` package, whose
releases installable today pin ``pyarrow<26`` (the project's pyarrow would be downgraded), it
registers its hook through an entry point whenever it is installed (tracking on for every run),
and it logs node parameters through MLflow's active run from ``before_node_run``, which runs on
the workers under the Dask runner. Here every call names its run id (``MlflowClient``), no
global active run is set, and outputs saved on other processes (``DaskRunner``,
``ParallelRunner``) are logged from the catalog when the pipeline ends.

MLflow's own telemetry is switched off (``MLFLOW_DISABLE_TELEMETRY``) before MLflow is imported.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from kedro.framework.hooks import hook_impl

from subcluster_adacos_asd.configurations import parse_configuration_name
from subcluster_adacos_asd.settings_base import Settings

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

#: The per-configuration datasets whose rows are epochs (``{configuration}.training_history``).
HISTORY_SUFFIX = ".training_history"
#: The evaluation's long table of harmonic means (system, machine_type, domain, metrics).
SUMMARY = "metrics_summary"
#: The evaluation's JSON report (``systems.<system>.official_score``).
REPORT = "metrics"
#: The metrics of ``metrics_summary`` logged, and their key prefix: harmonic means of AUC and
#: pAUC, means of what a decision is worth (F1, the oracle's F1, the false-alarm and detection
#: rates: docs/scoring.md).
SUMMARY_METRICS = {"AUC": "hmean", "pAUC": "hmean", "F1": "mean", "oracle_F1": "mean",
                   "false_alarm_rate": "mean", "detection_rate": "mean"}
#: Longest parameter value MLflow stores (``mlflow.utils.validation.MAX_PARAM_VAL_LENGTH``).
MAX_PARAM_LENGTH = 6000
EXTRA_HINT = 'pip install -e ".[tracking]"'


@dataclass(frozen=True)
class TrackingSettings(Settings):
    """``params:tracking`` (conf/base/parameters_tracking.yml)."""

    enabled: bool = False
    uri: str = "sqlite:///mlruns/mlflow.db"
    artifact_location: str = "mlruns/artifacts"
    experiment: str = "subcluster_adacos_asd"
    artifacts: Mapping[str, str] = field(default_factory=dict)


# --- pure helpers ---------------------------------------------------------------------------


def mlflow_installed() -> bool:
    """Whether MLflow can be imported, without importing it (the default path never loads it)."""
    return importlib.util.find_spec("mlflow") is not None


def tracking_uri(uri: str, project_path: Path, environ: Mapping[str, str] = os.environ) -> str:
    """The store runs go to: ``MLFLOW_TRACKING_URI`` when set (MLflow's own convention), else
    ``uri`` with a relative SQLite file or bare folder made absolute below the project, so runs
    land in the same store whichever folder ``kedro run`` starts from."""
    uri = environ.get("MLFLOW_TRACKING_URI") or uri
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///"):]
        if path and not path.startswith("/") and path != ":memory:":
            return f"sqlite:///{(project_path / path).resolve().as_posix()}"
        return uri
    return local_uri(uri, project_path)


def local_uri(location: str, project_path: Path) -> str:
    """A bare local path as an absolute ``file://`` URI below the project; URIs as they are."""
    if urlparse(location).scheme:
        return location
    path = Path(location)
    return (path if path.is_absolute() else (project_path / path)).resolve().as_uri()


def flatten_parameters(parameters: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested parameters as MLflow params (``{"training": {"epochs": 16}}`` ->
    ``{"training.epochs": "16"}``): one column per setting in ``mlflow ui``'s comparison; values
    longer than MLflow stores are cut (a list of hundreds of paths says little as a param)."""
    flat: dict[str, str] = {}
    for key, value in parameters.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            flat.update(flatten_parameters(value, name))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


def pipeline_parameters(pipeline_inputs: set[str], parameters: Mapping[str, Any]
                        ) -> dict[str, Any]:
    """The top-level parameter sections a pipeline reads (``params:score.backends`` -> all of
    ``score``): what the run depended on, not every section of every pipeline."""
    sections = {name[len("params:"):].split(".")[0] for name in pipeline_inputs
                if name.startswith("params:")}
    if "parameters" in pipeline_inputs:
        sections = set(parameters)
    return {name: parameters[name] for name in sorted(sections) if name in parameters}


def configuration_parameters(configuration: str, training: Mapping[str, Any]) -> dict[str, str]:
    """The params of one configuration's run: its name, sub-clusters and loss variant (from the
    namespace, as the train pipeline binds them) and the training settings it used."""
    parsed = parse_configuration_name(configuration)
    return {"configuration": configuration, "sub_clusters": str(parsed.sub_clusters),
            "variant": parsed.variant, **flatten_parameters(training, "training")}


def history_metrics(history: pd.DataFrame) -> list[tuple[str, float, int]]:
    """``(key, value, epoch)`` for every numeric column of a training history but the epoch
    itself: per-epoch curves (loss, ``section_accuracy``...) in ``mlflow ui``."""
    if "epoch" not in history.columns:
        raise ValueError(f"a training history needs an 'epoch' column, got {list(history)}")
    columns = [c for c in history.select_dtypes("number").columns if c != "epoch"]
    rows = []
    for record in history.to_dict("records"):
        for column in columns:
            value = float(record[column])
            if math.isfinite(value):
                rows.append((column, value, int(record["epoch"])))
    return rows


def summary_metrics(summary: pd.DataFrame, overall_only: bool = False) -> dict[str, float]:
    """The summary of ``metrics_summary`` as metric keys: ``hmean_AUC/proposed`` for the
    pooled level (all machine types, all domains), ``hmean_AUC/proposed/fan/source`` below it,
    ``mean_false_alarm_rate/proposed/fan/source`` for the decisions' rates.
    ``overall_only``: the pooled level alone (the parent run's headline)."""
    metrics = {}
    for record in summary.to_dict("records"):
        pooled = record["machine_type"] == "all" and record["domain"] == "all"
        if overall_only and not pooled:
            continue
        where = "" if pooled else f"/{record['machine_type']}/{record['domain']}"
        for metric, prefix in SUMMARY_METRICS.items():
            value = float(record[metric]) if record.get(metric) is not None else math.nan
            if math.isfinite(value):
                metrics[f"{prefix}_{metric}/{record['system']}{where}"] = value
    return metrics


def official_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """``official_score/<system>`` from the evaluation's JSON report (the DCASE ranking score:
    harmonic mean of all AUCs and pAUCs of a system)."""
    metrics = {}
    for system, values in (report.get("systems") or {}).items():
        score = values.get("official_score")
        if score is not None and math.isfinite(float(score)):
            metrics[f"official_score/{system}"] = float(score)
    return metrics


def output_path(dataset: Any) -> Path | None:
    """The file or folder a file-based dataset last wrote or would load (a versioned dataset's
    newest version); None for datasets without a path (memory, parameters)."""
    if hasattr(dataset, "_get_load_path"):
        try:
            return Path(str(dataset._get_load_path()))
        except Exception:  # no version saved yet
            return None
    for attribute in ("_filepath", "_path"):
        value = getattr(dataset, attribute, None)
        if value:
            return Path(str(value))
    return None


def written_since(path: Path | None, started: float) -> bool:
    """Whether ``path`` was written at or after ``started`` (epoch seconds): an output of this
    run, not a stale one of an earlier run (``--only-missing-outputs``, a failed node)."""
    return path is not None and path.exists() and path.stat().st_mtime >= started - 1.0


def import_mlflow():
    """MLflow with its telemetry off. The switch is read when MLflow is imported, so it is set
    first; where MLflow was already imported, its telemetry client is made again (to none)."""
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    try:
        import mlflow
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"tracking.enabled is true but MLflow is not installed: {EXTRA_HINT}") from error
    try:
        from mlflow.telemetry import set_telemetry_client
    except ImportError:  # pragma: no cover - MLflow without telemetry
        return mlflow
    set_telemetry_client()
    return mlflow


# --- the run being tracked ------------------------------------------------------------------


@dataclass
class _TrackedRun:
    """One ``kedro run`` being logged: the client, the parent run and what was logged so far."""

    client: Any
    experiment_id: str
    parent_id: str
    catalog: Any
    parameters: Mapping[str, Any]
    settings: TrackingSettings
    started: float
    logged: set[str] = field(default_factory=set)
    evaluation_id: str | None = None
    children: int = 0
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _now_ms() -> int:
    return int(time.time() * 1000)


class TrackingHooks:
    """Kedro hooks that log a run to MLflow when ``tracking.enabled`` is true (module
    docstring). Registered always: disabled, each hook returns at once and MLflow is never
    imported; enabled without the extra, the run stops at the start with the install line."""

    def __init__(self):
        self._settings: TrackingSettings | None = None
        self._project_path = Path.cwd()
        self._parameters: Mapping[str, Any] = {}
        self._run: _TrackedRun | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        settings = TrackingSettings.from_parameters(
            context.params.get("tracking"), "params:tracking")
        self._settings = settings if settings.enabled else None
        self._run = None
        if self._settings is None:
            return
        if not mlflow_installed():
            raise ImportError(
                f"tracking.enabled is true but MLflow is not installed: {EXTRA_HINT}")
        self._project_path = Path(context.project_path)
        self._parameters = context.params

    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline, catalog) -> None:
        if self._settings is None:
            return
        started = time.perf_counter()
        self._run = _start_run(self._settings, self._project_path, self._parameters,
                               run_params, pipeline, catalog)
        self._run.seconds += time.perf_counter() - started

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if self._run is None:
            return
        try:
            _log_output(self._run, dataset_name, lambda: data)
        except Exception as error:  # a tracking failure must not stop days of training
            logger.warning("MLflow: could not log %s: %s", dataset_name, error)

    @hook_impl
    def after_pipeline_run(self, pipeline) -> None:
        self._finish(pipeline, "FINISHED")

    @hook_impl
    def on_pipeline_error(self, pipeline) -> None:
        self._finish(pipeline, "FAILED")

    def _finish(self, pipeline, status: str) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        started = time.perf_counter()
        # Outputs saved in other processes (Dask or process-pool runners run the dataset hooks
        # there): logged from the catalog, where this run wrote them.
        for name in sorted(tracked_outputs(pipeline.all_outputs(), run.settings) - run.logged):
            if written_since(_dataset_output_path(run.catalog, name), run.started):
                try:
                    _log_output(run, name, lambda name=name: run.catalog.load(name))
                except Exception as error:
                    logger.warning("MLflow: could not log %s: %s", name, error)
        try:
            if run.evaluation_id is not None:
                run.client.set_terminated(run.evaluation_id, status)
            run.client.set_terminated(run.parent_id, status)
        except Exception as error:  # the run's own result (or error) matters more
            logger.warning("MLflow: could not close run %s: %s", run.parent_id, error)
        run.seconds += time.perf_counter() - started
        logger.info("MLflow: run %s (%d nested runs) logged to %s in %.1f s", run.parent_id,
                    run.children, run.client.tracking_uri, run.seconds)


def tracked_outputs(outputs: set[str], settings: TrackingSettings) -> set[str]:
    """The datasets of ``outputs`` this module logs (histories, evaluation tables, files)."""
    return {name for name in outputs
            if name.endswith(HISTORY_SUFFIX) or name in (SUMMARY, REPORT)
            or name in settings.artifacts}


def tracking_hooks() -> tuple[TrackingHooks, ...]:
    """The hooks for ``settings.HOOKS``."""
    return (TrackingHooks(),)


def _dataset_output_path(catalog, name: str) -> Path | None:
    try:
        return output_path(catalog.get(name))
    except Exception:
        return None


def _experiment_id(client, name: str, artifact_location: str) -> str:
    """The experiment's id, made on first use with its files at ``artifact_location``."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, artifact_location=artifact_location)
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def _run_tags(run_params: Mapping[str, Any]) -> dict[str, str]:
    """What ``kedro run`` was: environment, pipelines, namespaces, runner, session id."""
    tags = {"kedro.session_id": run_params.get("run_id") or run_params.get("session_id"),
            "kedro.env": run_params.get("env"),
            "kedro.pipelines": ",".join(run_params.get("pipeline_names") or ["__default__"]),
            "kedro.namespaces": ",".join(run_params.get("namespaces") or []),
            "kedro.runner": run_params.get("runner"),
            "kedro.version": run_params.get("kedro_version")}
    return {k: str(v) for k, v in tags.items() if v}


def _start_run(settings: TrackingSettings, project_path: Path, parameters: Mapping[str, Any],
               run_params: dict, pipeline, catalog) -> _TrackedRun:
    """The parent run, with the parameters the pipeline reads and the run's tags."""
    import_mlflow()
    from mlflow import MlflowClient
    from mlflow.entities import Param
    from mlflow.tracking.context.registry import resolve_tags

    try:
        client = MlflowClient(tracking_uri(settings.uri, project_path))
    except ImportError as error:  # mlflow-skinny alone: no SQLAlchemy for the SQLite store
        raise ImportError(f"{error}; the tracking extra installs it: {EXTRA_HINT}") from error
    experiment_id = _experiment_id(client, settings.experiment,
                                   local_uri(settings.artifact_location, project_path))
    tags = _run_tags(run_params)
    name = f"{tags['kedro.pipelines']} ({tags.get('kedro.env', 'local')})"
    parent = client.create_run(experiment_id, run_name=name, tags=resolve_tags(tags))
    flat = flatten_parameters(pipeline_parameters(pipeline.inputs(), parameters))
    client.log_batch(parent.info.run_id, params=[Param(k, v) for k, v in flat.items()])
    logger.info("MLflow: run %s in experiment %s at %s", parent.info.run_id,
                settings.experiment, client.tracking_uri)
    return _TrackedRun(client=client, experiment_id=experiment_id, parent_id=parent.info.run_id,
                       catalog=catalog, parameters=parameters, settings=settings,
                       started=time.time())


def _log_output(run: _TrackedRun, name: str, load: Callable[[], Any]) -> None:
    """Log one saved dataset where it belongs; ``load`` gives its data."""
    if name not in tracked_outputs({name}, run.settings):
        return
    started = time.perf_counter()
    with run.lock:
        if name in run.logged:
            return
        run.logged.add(name)
        if name.endswith(HISTORY_SUFFIX):
            _log_configuration(run, name[: -len(HISTORY_SUFFIX)], load())
        else:
            _log_evaluation(run, name, load)
    run.seconds += time.perf_counter() - started


def _log_configuration(run: _TrackedRun, configuration: str, history: pd.DataFrame) -> None:
    """A finished nested run for one trained configuration, its training time as its span."""
    from mlflow.entities import Metric, Param
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    end = _now_ms()
    seconds = float(history["seconds"].sum()) if "seconds" in history else 0.0
    child = run.client.create_run(
        run.experiment_id, start_time=end - int(1000 * seconds), run_name=configuration,
        tags={MLFLOW_PARENT_RUN_ID: run.parent_id, "kedro.namespace": configuration})
    params = configuration_parameters(configuration, run.parameters.get("training") or {})
    metrics = [Metric(key, value, end, step) for key, value, step in history_metrics(history)]
    run.client.log_batch(child.info.run_id, metrics=metrics,
                         params=[Param(k, v) for k, v in params.items()])
    run.client.set_terminated(child.info.run_id, "FINISHED", end_time=end)
    run.children += 1


def _evaluation_run(run: _TrackedRun) -> str:
    """The nested ``evaluate`` run, made with the evaluation parameters on first use."""
    if run.evaluation_id is None:
        from mlflow.entities import Param
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

        child = run.client.create_run(run.experiment_id, run_name="evaluate",
                                      tags={MLFLOW_PARENT_RUN_ID: run.parent_id})
        params = flatten_parameters({"evaluate": run.parameters.get("evaluate") or {}})
        run.client.log_batch(child.info.run_id, params=[Param(k, v) for k, v in params.items()])
        run.evaluation_id = child.info.run_id
        run.children += 1
    return run.evaluation_id


def _log_metrics(run: _TrackedRun, run_id: str, metrics: Mapping[str, float]) -> None:
    from mlflow.entities import Metric

    now = _now_ms()
    run.client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])


def _log_evaluation(run: _TrackedRun, name: str, load: Callable[[], Any]) -> None:
    """Figures of the evaluation as metrics (evaluation run; the pooled ones on the parent too,
    to compare whole runs), and its files as artifacts."""
    evaluation = _evaluation_run(run)
    if name == SUMMARY:
        summary = load()
        _log_metrics(run, evaluation, summary_metrics(summary))
        _log_metrics(run, run.parent_id, summary_metrics(summary, overall_only=True))
    elif name == REPORT:
        scores = official_metrics(load())
        _log_metrics(run, evaluation, scores)
        _log_metrics(run, run.parent_id, scores)
    if name in run.settings.artifacts:
        path = _dataset_output_path(run.catalog, name)
        folder = str(PurePosixPath(run.settings.artifacts[name]))
        folder = None if folder in (".", "") else folder
        if path is None or not path.exists():
            logger.warning("MLflow: %s has no file to log (%s)", name, path)
        elif path.is_dir():
            run.client.log_artifacts(evaluation, str(path), folder)
        else:
            run.client.log_artifact(evaluation, str(path), folder)
