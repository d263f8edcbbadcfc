"""Overhead of MLflow tracking: the whole default pipeline, tracked and untracked, on a tiny
synthetic set.

    pip install -e ".[tracking]"
    python benchmarks/tracking.py                    # 2 runs each way, alternating
    python benchmarks/tracking.py --keep /tmp/demo   # keep the data and the MLflow store

Each run is a new ``kedro run`` process (imports, session, all 10 configurations of the grid,
embed, score, both baselines, the references, evaluate) on a tiny synthetic set (2 machine
types x 2 sections, 2 s clips, 2 epochs) in a temporary folder: ``--conf-source`` points at a
copy of conf/base with a ``tiny`` environment beside it, so nothing of the project's data or
store is touched. Tracked and untracked runs alternate, so a change in the machine's load hits
both; the table gives the median wall time of each and the time the tracking hooks report for
themselves (MLflow import, the SQLite store, every run, metric and file logged), which the load
of a shared machine hardly moves. Then the runs of the store, as ``mlflow ui`` lists them.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from kedro_process import kedro, quiet_environment

PROJECT = Path(__file__).resolve().parents[1]
TINY = {
    "synthetic": {"duration_s": 2.0, "machine_types": ["fan", "valve"], "sections": [0, 1],
                  "source_train_clips": 12, "target_train_clips": 3, "test_clips": 4},
    "features": {"n_frames": 63, "n_jobs": 1},
    "training": {"epochs": 2, "snapshot_epochs": [1, 2], "batch_size": 32, "crop_frames": 32},
    "baselines": {"autoencoder": {"epochs": 1},
                  "mobilenetv2": {"epochs": 1, "n_frames": 32, "train_hop_frames": 32,
                                  "test_hop_frames": 32}},
}
TRACKING_LINE = re.compile(r"MLflow: run \w+ \((\d+) nested runs\) logged to \S+ in ([\d.]+) s")


def make_conf(root: Path) -> Path:
    """conf/base of the project and a ``tiny`` environment writing below ``root``."""
    conf = root / "conf"
    shutil.copytree(PROJECT / "conf" / "base", conf / "base")
    tiny = conf / "tiny"
    tiny.mkdir()
    (tiny / "globals.yml").write_text(yaml.safe_dump({"data_root": str(root / "data")}))
    tracking = {"uri": f"sqlite:///{root}/mlruns/mlflow.db",
                "artifact_location": str(root / "mlruns" / "artifacts")}
    (tiny / "parameters.yml").write_text(yaml.safe_dump({**TINY, "tracking": tracking}))
    return conf


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def kedro_run(conf: Path, tracked: bool) -> tuple[float, float, float | None, int]:
    """One ``kedro run``: wall and CPU seconds (the CPU time moves less with the load of a
    shared machine), the tracking hooks' own seconds, nested runs logged."""
    environment = quiet_environment()
    environment.pop("MLFLOW_TRACKING_URI", None)
    command = kedro("run", f"--conf-source={conf}", "--env=tiny",
                    f"--params=tracking.enabled={str(tracked).lower()}")
    started, cpu = time.perf_counter(), children_cpu()
    out = subprocess.run(command, cwd=PROJECT, env=environment, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - started, children_cpu() - cpu
    if out.returncode:
        raise RuntimeError(out.stdout[-4000:] + out.stderr[-4000:])
    found = TRACKING_LINE.search(out.stdout + out.stderr)
    if tracked and not found:
        raise RuntimeError("tracked run without the tracking summary line:\n" + out.stdout[-3000:])
    return (seconds, cpu, float(found.group(2)) if found else None,
            int(found.group(1)) if found else 0)


def list_runs(root: Path) -> None:
    """The store's runs as ``mlflow ui`` lists them: parents, their nested runs, a few figures."""
    from subcluster_adacos_asd.tracking import import_mlflow

    mlflow = import_mlflow()
    client = mlflow.MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("subcluster_adacos_asd")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    print(f"\n{len(runs)} runs in {client.tracking_uri}: {len(parents)} kedro runs")
    for parent in parents[-1:]:
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        print(f"- {parent.info.run_name} ({parent.info.status}, {len(parent.data.params)} params,"
              f" hmean_AUC/proposed {parent.data.metrics.get('hmean_AUC/proposed', float('nan')):.3f})")
        for child in sorted(children, key=lambda r: r.info.run_name):
            files = len(client.list_artifacts(child.info.run_id))
            print(f"  - {child.info.run_name}: {len(child.data.params)} params, "
                  f"{len(child.data.metrics)} metrics, {files} top-level files")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs each way")
    parser.add_argument("--keep", type=Path, help="folder for data and store (kept)")
    args = parser.parse_args()
    root = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="tracking-"))
    root.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPU cores, load average {load[0]:.1f} (a shared machine slows "
          "every figure below)")
    try:
        conf = make_conf(root) if not (root / "conf").exists() else root / "conf"
        times: dict[bool, list[float]] = {False: [], True: []}
        cpus: dict[bool, list[float]] = {False: [], True: []}
        hooks: list[float] = []
        for repeat in range(args.repeats):
            for tracked in (False, True):
                seconds, cpu, own, nested = kedro_run(conf, tracked)
                times[tracked].append(seconds)
                cpus[tracked].append(cpu)
                if own is not None:
                    hooks.append(own)
                print(f"run {repeat + 1} {'tracked  ' if tracked else 'untracked'}: "
                      f"{seconds:6.1f} s wall, {cpu:6.1f} s CPU"
                      + (f" (tracking {own:.1f} s, {nested} nested runs)"
                         if own is not None else ""), flush=True)
        print("\n| kedro run (tiny env, all 10 configurations) | median wall s | median CPU s |")
        print("|---|---:|---:|")
        off = [statistics.median(times[False]), statistics.median(cpus[False])]
        on = [statistics.median(times[True]), statistics.median(cpus[True])]
        print(f"| untracked | {off[0]:.1f} | {off[1]:.1f} |")
        print(f"| tracked | {on[0]:.1f} | {on[1]:.1f} |")
        print("| difference | " + " | ".join(
            f"{b - a:+.1f} ({100 * (b - a) / a:+.1f} %)" for a, b in zip(off, on)) + " |")
        print(f"| tracking hooks' own time | {statistics.median(hooks):.1f} | |")
        list_runs(root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
