"""Project hooks: progress reporting for long runs and a guard on the training grid."""

from __future__ import annotations

import logging
import time

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


class ProgressHooks:
    """Log ``[k/N] node`` before each node and its duration after, so long runs show progress."""

    def __init__(self):
        self._total = 0
        self._done = 0
        self._started: dict[str, float] = {}

    @hook_impl
    def before_pipeline_run(self, pipeline):
        self._total = len(pipeline.nodes)
        self._done = 0

    @hook_impl
    def before_node_run(self, node):
        self._started[node.name] = time.perf_counter()
        logger.info("[%d/%d] starting %s", self._done + 1, self._total, node.name)

    @hook_impl
    def after_node_run(self, node):
        self._done += 1
        elapsed = time.perf_counter() - self._started.pop(node.name, time.perf_counter())
        logger.info("[%d/%d] finished %s in %.1f s", self._done, self._total, node.name, elapsed)


class TrainingGridCheckHooks:
    """Fail early when the run's ``train_grid`` or data source differs from the registry's.

    Pipelines are registered before Kedro knows ``--env``; the registry reads the grid of the
    environment in ``KEDRO_ENV``. A run with ``--env X`` whose grid differs would silently train
    the wrong configurations, so it stops here with the fix in the message.
    """

    @hook_impl
    def after_context_created(self, context):
        from subcluster_adacos_asd.configurations import load_build_parameters

        built = load_build_parameters(context.project_path)
        run = {
            "train_grid": context.params.get("train_grid", built["train_grid"]),
            "synthetic": bool(context.params.get("data_source", {}).get("synthetic", True)),
        }
        if _normalise(run) != _normalise(built):
            raise ValueError(
                f"The pipeline-building parameters of environment {context.env!r} ({run}) differ "
                f"from those the pipelines were built from ({built}). Pipelines are built before "
                f"--env is read: run with KEDRO_ENV={context.env} instead of --env {context.env}."
            )


def _normalise(build: dict) -> tuple:
    grid = build["train_grid"]
    return (
        tuple(int(s) for s in grid["sub_clusters"]),
        tuple(str(v) for v in grid["variants"]),
        build["synthetic"],
    )
