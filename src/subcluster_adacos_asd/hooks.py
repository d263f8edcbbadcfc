"""Project hooks: progress reporting for long runs."""

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
