"""DCASE 2021 at full size: wall time, peak memory and disk of every stage on one machine.

The project's synthetic generator writes a data set of DCASE 2021 task 2's size and layout
(conf/full_size): 7 machine types x 6 sections (sections 0-2 as the development set, 3-5 as
the additional training + evaluation sets), 1000 source + 3 target normal training clips per
section, and 100 normal + 100 anomalous test clips per domain and section (the real evaluation
set's test clips are unlabelled; here they carry labels, so ``evaluate`` scores all six
sections). That is 7 x 6 x (1003 + 400) = 58 926 clips of 10 s, about 19 GB of WAV and 9.4 GB
of log-mel. ``--scale`` scales the clip counts down (0.25: 250 source training and 25 test clips
per domain and label; at least 1 of each), ``--machine-types`` and ``--sections`` shrink it
further.

Then each stage runs in a process of its own, on the project's pipelines and catalog
(``--env full_size``, data under data/full_size/), for one training configuration
(``sc01_both``, one epoch, conf/base's method otherwise):

    features   file index, log-mel (Parquet + cache), statistics, temporal maxima
    train      one configuration, one epoch
    embed      its snapshot's embedding of every file
    score      its GMM backends and score terms, the temporal-max backend, the ensemble
               (of this one configuration), variant choice, thresholds
    evaluate   metrics, tables, figures, submission files (the baselines are not run: their
               scores are an empty table here)

For each stage: wall time, peak resident memory of the stage's process (``getrusage``; what
counts against a machine's memory) and of its whole process tree (sampled every 0.2 s: the
extraction's worker processes included), and the disk use of data/full_size after it.

    python benchmarks/full_size.py                    # full size (hours on 2 cores)
    python benchmarks/full_size.py --scale 0.05       # 5 % of the clips, minutes
    python benchmarks/full_size.py --scale 0.25 --keep --stages features train

The data set is removed at the end unless ``--keep``; an existing one of the same size is
reused (``--reuse``). docs/training.md keeps the measured tables.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from kedro_process import quiet_environment

PROJECT = Path(__file__).resolve().parents[1]
ENV = "full_size"
DATA = PROJECT / "data" / "full_size"
STAGES = ("features", "train", "embed", "score", "evaluate")
CONFIGURATION = (1, "both")
GB = 1e9


# --- the data set ----------------------------------------------------------------------------


def synthetic_parameters(scale: float, machine_types: list[str] | None,
                         sections: list[int] | None) -> dict:
    """conf/full_size's ``synthetic`` parameters, scaled."""
    import yaml

    full = yaml.safe_load((PROJECT / "conf" / ENV / "parameters.yml").read_text())["synthetic"]
    params = dict(full)
    params["source_train_clips"] = max(1, round(full["source_train_clips"] * scale))
    params["test_clips"] = max(1, round(full["test_clips"] * scale))
    if machine_types:
        params["machine_types"] = machine_types
    if sections:
        params["sections"] = sections
    return params


def _render_chunk(clips, settings, root: str) -> int:
    import soundfile

    from subcluster_adacos_asd.synthetic import render_clip

    for clip in clips:
        path = Path(root) / f"{clip.key}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, render_clip(clip, settings), settings.sample_rate,
                        subtype="PCM_16", format="WAV")
    return len(clips)


def write_data_set(params: dict, n_jobs: int) -> tuple[int, float]:
    """The synthetic WAVs (the same bytes as the synthetic pipeline writes), on all cores."""
    from joblib import Parallel, delayed

    from subcluster_adacos_asd.synthetic import SyntheticSettings, plan_clips

    settings = SyntheticSettings.from_parameters(params)
    clips = plan_clips(settings)
    root = DATA / "01_raw" / "synthetic"
    started = time.perf_counter()
    size = 200
    done = 0
    for written in Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_render_chunk)(clips[i : i + size], settings, str(root))
            for i in range(0, len(clips), size)):
        done += written
        if done % 5000 < size:
            print(f"  synthetic: {done}/{len(clips)} clips", flush=True)
    return len(clips), time.perf_counter() - started


# --- one stage in its own process -----------------------------------------------------------


def stage_pipeline(stage: str):
    from subcluster_adacos_asd.configurations import TrainingConfiguration
    from subcluster_adacos_asd.pipelines.embed import pipeline as embed
    from subcluster_adacos_asd.pipelines.evaluate import pipeline as evaluate
    from subcluster_adacos_asd.pipelines.features import pipeline as features
    from subcluster_adacos_asd.pipelines.score import pipeline as score
    from subcluster_adacos_asd.pipelines.train import pipeline as train

    configurations = [TrainingConfiguration(*CONFIGURATION)]
    return {
        "features": lambda: features.create_pipeline(),
        "train": lambda: train.create_pipeline(configurations),
        "embed": lambda: embed.create_pipeline(configurations),
        "score": lambda: score.create_pipeline(configurations),
        "evaluate": lambda: evaluate.create_pipeline(configurations),
    }[stage]()


def run_stage(stage: str, params: dict) -> None:
    """Run one stage's pipeline on the project's catalog in this process."""
    import pandas as pd
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.io import MemoryDataset
    from kedro.runner import SequentialRunner

    os.chdir(PROJECT)
    bootstrap_project(PROJECT)
    with KedroSession.create(PROJECT, env=ENV, runtime_params=params) as session:
        catalog = session.load_context().catalog
        if stage == "evaluate":
            catalog["baseline_scores"] = MemoryDataset(pd.DataFrame(
                {"file_id": pd.Series(dtype=str), "system": pd.Series(dtype=str),
                 "score": pd.Series(dtype=float), "decision": pd.Series(dtype="Int64")}))
        SequentialRunner().run(stage_pipeline(stage), catalog, session._hook_manager)


class TreeSampler(threading.Thread):
    """Peak summed RSS of a process and its descendants, sampled every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        import psutil

        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.done.is_set():
            try:
                total = self.process.memory_info().rss
                for child in self.process.children(recursive=True):
                    try:
                        total += child.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                break
            self.peak = max(self.peak, total)
            self.done.wait(self.interval)


def measure_stage(stage: str, params: dict) -> dict:
    """Run a stage as a child process; its wall time and peak memory."""
    command = [sys.executable, __file__, "--run-stage", stage, "--params", json.dumps(params)]
    environment = quiet_environment()
    log = DATA / f"{stage}.log"
    started = time.perf_counter()
    with open(log, "w") as out:
        child = subprocess.Popen(command, cwd=PROJECT, env=environment, stdout=out,
                                 stderr=subprocess.STDOUT)
        sampler = TreeSampler(child.pid)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        sampler.done.set()
        sampler.join()
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stage {stage} failed; see {log}")
    return {"stage": stage, "seconds": seconds, "peak_rss": usage.ru_maxrss * 1024,
            "peak_tree_rss": max(sampler.peak, usage.ru_maxrss * 1024)}


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def disk_use() -> dict[str, int]:
    return {p.name: folder_bytes(p) for p in sorted(DATA.iterdir()) if p.is_dir()}


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{rest:02d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--machine-types", nargs="*")
    parser.add_argument("--sections", nargs="*", type=int)
    parser.add_argument("--stages", nargs="*", default=list(STAGES), choices=STAGES)
    parser.add_argument("--n-jobs", type=int, default=-1, help="processes writing the WAVs")
    parser.add_argument("--keep", action="store_true", help="keep data/full_size afterwards")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse data/full_size when it holds a data set of this size")
    parser.add_argument("--run-stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.run_stage:
        run_stage(args.run_stage, json.loads(args.params))
        return

    synthetic = synthetic_parameters(args.scale, args.machine_types, args.sections)
    marker = DATA / "data_set.json"
    reused = args.reuse and marker.exists() and json.loads(marker.read_text()) == synthetic
    if not reused:
        shutil.rmtree(DATA, ignore_errors=True)
        DATA.mkdir(parents=True)
    n_types, n_sections = len(synthetic["machine_types"]), len(synthetic["sections"])
    per_section = synthetic["source_train_clips"] + synthetic["target_train_clips"] + \
        4 * synthetic["test_clips"]
    print(f"data set: {n_types} machine types x {n_sections} sections x {per_section} clips "
          f"= {n_types * n_sections * per_section} clips (scale {args.scale:g})", flush=True)
    rows = []
    if not reused:
        clips, seconds = write_data_set(synthetic, args.n_jobs)
        marker.write_text(json.dumps(synthetic))
        rows.append({"stage": f"synthetic ({clips} WAVs)", "seconds": seconds,
                     "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                     "peak_tree_rss": math.nan, "disk": disk_use()})
    for stage in args.stages:
        print(f"stage {stage} ...", flush=True)
        row = measure_stage(stage, {})
        row["disk"] = disk_use()
        rows.append(row)
        print(f"  {_clock(row['seconds'])}, peak RSS {row['peak_rss'] / GB:.2f} GB "
              f"(process tree {row['peak_tree_rss'] / GB:.2f} GB)", flush=True)

    print("\n| stage | wall | peak RSS | peak RSS, process tree | data/full_size after |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        tree = "-" if math.isnan(row["peak_tree_rss"]) else f"{row['peak_tree_rss'] / GB:.2f} GB"
        print(f"| {row['stage']} | {_clock(row['seconds'])} | {row['peak_rss'] / GB:.2f} GB | "
              f"{tree} | {sum(row['disk'].values()) / GB:.2f} GB |")
    if rows:
        print("\ndisk by folder after the last stage: " + ", ".join(
            f"{name} {size / GB:.2f} GB" for name, size in rows[-1]["disk"].items()))
    if not args.keep:
        shutil.rmtree(DATA, ignore_errors=True)


if __name__ == "__main__":
    main()
