"""Where a Kedro run's memory goes: resident memory per node, sampled while each node runs.

Runs the project (``kedro run`` with the given pipeline, environment and parameters) in this
process with one extra hook, and a thread that samples the resident set size (RSS) of this
process and of its child processes (the feature extraction's workers) every ``--interval``
seconds. For each node it prints the RSS when the node started, the peak while it ran or its
outputs were saved, and the RSS when the next node started: a node whose "after" stays high
left memory behind (objects kept alive, caches, framework state), one whose peak is high needs
that much while it runs.

    python benchmarks/memory_profile.py                       # the default pipeline (make run)
    python benchmarks/memory_profile.py --pipeline train --env quality

Allocation sites inside one node are memray's job (``memray run -o run.bin
.venv/bin/kedro run --nodes=...`` then ``memray summary run.bin``): this script says which node
to look at. The figures are those of this process alone, so run it with nothing else heavy.
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time
from pathlib import Path

import psutil
import yaml
from kedro.framework.hooks import hook_impl

PROJECT = Path(__file__).resolve().parents[1]
GB = 1e9


class RssSampler:
    """Samples this process's RSS (and its children's) and keeps the peak per current label."""

    def __init__(self, interval: float):
        self.interval = interval
        self.process = psutil.Process()
        self.label = "(start)"
        self.peaks: dict[str, tuple[float, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> tuple[float, float]:
        own = self.process.memory_info().rss
        children = 0
        for child in self.process.children(recursive=True):
            try:
                children += child.memory_info().rss
            except psutil.Error:
                pass
        return own, children

    def _run(self) -> None:
        while not self._stop.is_set():
            own, children = self.sample()
            label = self.label
            peak_own, peak_children = self.peaks.get(label, (0.0, 0.0))
            self.peaks[label] = (max(peak_own, own), max(peak_children, children))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class NodeMemoryHook:
    """Labels the sampler with the running node; records RSS at each node's start."""

    def __init__(self, sampler: RssSampler):
        self.sampler = sampler
        self.order: list[str] = []
        self.at_start: dict[str, float] = {}

    @hook_impl
    def before_node_run(self, node):
        name = node.name
        self.order.append(name)
        self.at_start[name] = self.sampler.sample()[0]
        self.sampler.label = name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="__default__")
    parser.add_argument("--env", default=None)
    parser.add_argument("--params", default=None, help="key=value,... as kedro run --params")
    parser.add_argument("--interval", type=float, default=0.1)
    args = parser.parse_args()

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    os.chdir(PROJECT)
    bootstrap_project(PROJECT)
    extra = {}
    if args.params:
        for pair in args.params.split(","):
            key, value = pair.split("=", 1)
            extra[key] = yaml.safe_load(value)
    started = time.perf_counter()
    with RssSampler(args.interval) as sampler:
        hook = NodeMemoryHook(sampler)
        with KedroSession.create(PROJECT, env=args.env, runtime_params=extra or None) as session:
            session._hook_manager.register(hook, name="node-memory")
            session.run(pipeline_names=[args.pipeline])
        sampler.label = "(end)"
        time.sleep(2 * args.interval)
    wall = time.perf_counter() - started
    end_rss = sampler.sample()[0]

    print(f"\n{'node':<52} {'start GB':>9} {'peak GB':>8} {'+peak':>7} {'workers':>8}")
    nodes = hook.order
    for i, name in enumerate(nodes):
        start = hook.at_start[name]
        peak, children = sampler.peaks.get(name, (start, 0.0))
        after = hook.at_start[nodes[i + 1]] if i + 1 < len(nodes) else end_rss
        print(f"{name[:52]:<52} {start / GB:9.2f} {peak / GB:8.2f} {(peak - start) / GB:+7.2f} "
              f"{children / GB:8.2f}   after {after / GB:.2f}")
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"\npeak RSS of this process (getrusage): {max_rss / GB:.2f} GB; wall {wall:.0f} s")


if __name__ == "__main__":
    main()
