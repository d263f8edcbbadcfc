"""Run Kedro nodes on a Dask cluster: the 10 configurations trained (and embedded, scored) side by
side, on one machine or many, with Dask's own scheduler.

    kedro run --pipelines=train,embed --runner=subcluster_adacos_asd.runners.DaskRunner

Kedro's runner loop hands each ready node to a ``concurrent.futures`` executor and waits for
the first to finish (``AbstractRunner._run``); a Dask client's executor
(``distributed.Client.get_executor``) is such an executor, so Dask decides where and when each
node runs, no scheduling is written here. Where the cluster is comes from Dask's configuration:
``DASK_SCHEDULER_ADDRESS=tcp://scheduler:8786`` (or ``scheduler-address`` in a Dask config
file) connects to a running cluster; without it a ``LocalCluster`` starts on this machine with
``SUBCLUSTER_ADACOS_DASK_WORKERS`` worker processes (default: the CPU count) of
``SUBCLUSTER_ADACOS_DASK_THREADS`` threads each (default 1: one training per core beats one
training on all cores, see docs/scaling.md).

Every node runs on a worker with the catalog it was given, so datasets between nodes must be
persisted (as every stage boundary of this project is) or the node that reads a
``MemoryDataset`` would never see its data: such pipelines are refused with the datasets named.
The workers run the project's code, so the project (or its wheel) and its ``conf/`` must be
installed and reachable at the same paths on every worker of a real cluster.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import Executor
from typing import TYPE_CHECKING

from kedro.io import MemoryDataset
from kedro.runner import ParallelRunner
from kedro.runner.runner import AbstractRunner

try:  # the optional extra `distributed` (pip install -e ".[distributed]")
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - DaskRunner says how to install it
    WorkerPlugin = object

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from pluggy import PluginManager

logger = logging.getLogger(__name__)

WORKERS_ENV = "SUBCLUSTER_ADACOS_DASK_WORKERS"
THREADS_ENV = "SUBCLUSTER_ADACOS_DASK_THREADS"
#: Thread limits handed to each local worker, so a worker of one thread also runs TensorFlow
#: and BLAS single-threaded instead of competing for every core.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


class KedroProjectPlugin(WorkerPlugin):
    """A Dask worker plugin that configures the Kedro project in every worker process (Kedro's
    task reads the project's settings and hooks there), also in workers that join later."""

    name = "kedro-project"

    def __init__(self, package_name: str):
        self.package_name = package_name

    def setup(self, worker=None):
        from kedro.framework.project import configure_project

        configure_project(self.package_name)


def local_cluster_options() -> dict:
    """Workers and threads of the local cluster, from the environment (see module docstring)."""
    workers = int(os.environ.get(WORKERS_ENV, os.cpu_count() or 1))
    threads = int(os.environ.get(THREADS_ENV, 1))
    if workers < 1 or threads < 1:
        raise ValueError(f"{WORKERS_ENV} and {THREADS_ENV} must be >= 1, got {workers}, {threads}")
    env = {name: str(threads) for name in THREAD_VARIABLES}
    return {"n_workers": workers, "threads_per_worker": threads, "processes": True, "env": env}


class DaskRunner(AbstractRunner):
    """Kedro's runner loop over a ``distributed.Client`` executor (see the module docstring)."""

    def __init__(self, is_async: bool = False, client=None):
        if WorkerPlugin is object:
            raise ImportError("DaskRunner needs Dask distributed: pip install -e '.[distributed]'")
        super().__init__(is_async=is_async)
        self._client = client
        self._cluster = None

    def _connect(self):
        from distributed import Client, LocalCluster

        if self._client is not None:
            return self._client
        import dask

        if dask.config.get("scheduler-address", None):
            self._client = Client()
        else:
            self._cluster = LocalCluster(**local_cluster_options())
            self._client = Client(self._cluster)
        logger.info("Dask: %s", self._client)
        return self._client

    def _validate_catalog(self, catalog: CatalogProtocol) -> None:
        """Only persisted datasets may pass between nodes (each node runs on some worker)."""
        shared = sorted(
            name for name in self._between_nodes
            if isinstance(catalog.get(name, fallback_to_runtime_pattern=True), MemoryDataset)
        )
        if shared:
            raise ValueError(
                f"DaskRunner runs every node on a worker, but {shared} are in-memory datasets "
                "passed between nodes. Give them catalog entries (files) or run this pipeline "
                "with the default runner."
            )

    def _validate_nodes(self, nodes) -> None:
        ParallelRunner._validate_nodes(nodes)

    def _get_required_workers_count(self, pipeline: Pipeline) -> int:
        return max(1, len(pipeline.nodes))

    def _get_executor(self, max_workers: int) -> Executor:
        client = self._connect()
        from kedro.framework.project import PACKAGE_NAME

        client.register_plugin(KedroProjectPlugin(PACKAGE_NAME))
        return _ParallelTasks(client.get_executor())

    def _run(self, pipeline: Pipeline, catalog: CatalogProtocol,
             hook_manager: PluginManager | None = None, run_id: str | None = None) -> None:
        produced = {d for n in pipeline.nodes for d in n.outputs}
        consumed = {d for n in pipeline.nodes for d in n.inputs}
        self._between_nodes = produced & consumed
        try:
            super()._run(pipeline=pipeline, catalog=catalog, run_id=run_id)
        finally:
            if self._cluster is not None:
                self._client.close()
                self._cluster.close()
                self._client = self._cluster = None


_HOOK_MANAGER = None


def _worker_hook_manager():
    """The project's hooks in this worker process, made once (the project is configured by
    :class:`KedroProjectPlugin`). Kedro's own ``Task(parallel=True)`` path reconfigures logging
    on every task, which recursed without end on the second task of a long-lived worker."""
    global _HOOK_MANAGER
    if _HOOK_MANAGER is None:
        from kedro.framework.hooks.manager import (
            _create_hook_manager,
            _register_hooks,
            _register_hooks_entry_points,
        )
        from kedro.framework.project import settings

        manager = _create_hook_manager()
        _register_hooks(manager, settings.HOOKS)
        _register_hooks_entry_points(manager, settings.DISABLE_HOOKS_FOR_PLUGINS)
        _HOOK_MANAGER = manager
    return _HOOK_MANAGER


def run_task(task):
    """Execute a Kedro task on a worker with the project's hooks; an exception comes back as a
    ``RuntimeError`` with the node's name and the formatted traceback, since an exception
    object may hold things (the catalog, open files) that cannot travel back to the client."""
    import traceback

    task.hook_manager = _worker_hook_manager()
    task.parallel = False
    try:
        return task.execute()
    except Exception:
        raise RuntimeError(f"node {task.node.name} failed on a Dask worker:\n"
                           f"{traceback.format_exc()}") from None


class _ParallelTasks(Executor):
    """Dask's executor, running each Kedro task through :func:`run_task` on a worker."""

    def __init__(self, executor: Executor):
        self._executor = executor

    def submit(self, task, /, *args, **kwargs):
        return self._executor.submit(run_task, task, *args, **kwargs)

    def shutdown(self, wait: bool = True, **kwargs) -> None:
        self._executor.shutdown(wait=wait)
