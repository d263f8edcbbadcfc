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
    """Fail early when the run's ``train_grid`` differs from the one the pipelines were built from.

    Pipelines are registered before Kedro knows ``--env``; the registry reads the grid of the
    environment in ``KEDRO_ENV``. A run with ``--env X`` whose grid differs would silently train
    the wrong configurations, so it stops here with the fix in the message.
    """

    @hook_impl
    def after_context_created(self, context):
        from subcluster_adacos_asd.configurations import load_training_grid

        run_grid = context.params.get("train_grid")
        built_grid = load_training_grid(context.project_path)
        if run_grid is not None and _normalise(run_grid) != _normalise(built_grid):
            raise ValueError(
                f"The training grid of environment {context.env!r} ({run_grid}) differs from the "
                f"one the pipelines were built from ({built_grid}). Pipelines are built before "
                f"--env is read: run with KEDRO_ENV={context.env} instead of --env {context.env}."
            )


def _normalise(grid) -> tuple:
    return (tuple(int(s) for s in grid["sub_clusters"]), tuple(str(v) for v in grid["variants"]))
