"""Throughput of the ``inference`` pipeline: start-up cost and steady rate, clips per second.

A plant engineer runs inference on a handful of new recordings or on a folder of hundreds, so
two numbers matter: the fixed cost of one run (Python, TensorFlow and Kedro imports, loading
every model snapshot and fitted backend, tracing the embedding network once) and the rate per
additional clip (reading, log-mel, one embedding per snapshot of the chosen variant's
configurations, GMM terms).

    python benchmarks/inference.py                  # small system: sc01_both + sc01_sections
    python benchmarks/inference.py --grid default   # the default run's 10 configurations
    python benchmarks/inference.py --project /path/to/project   # a project after `kedro run`

Without ``--project`` the benchmark trains a system with the project's own features / train /
embed / score pipelines on a few 10 s clips (313 x 128 log-mel, 128-d embeddings, 2 snapshots
per configuration, as the default run; the weights' quality does not matter for speed) and
scores freshly written 10 s clips through the pipeline with Kedro's SequentialRunner:

* cold runs, each in a new Python process (everything a ``kedro run`` pays except the session
  start), default parameters: 1 file and 100 files, the median of ``--repeats`` processes;
* warm runs in one process after a first run (imports done and the embedding network traced,
  as in a long-lived service; the catalog still loads every snapshot and backend again): 1 and
  100 files, the steady rate being 99 clips / (t(100) - t(1)); and 100
  files without log-mel worker processes (``n_jobs: 1``, the default) and with (``-1``, chunks
  of 32 files).

With ``--project`` it times ``kedro run --pipelines=inference`` (a new process each time,
session start included) on 1 and on 100 of that project's synthetic test clips.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

GRIDS = {
    "small": {"sub_clusters": [1], "variants": ["both", "sections"]},
    "default": {"sub_clusters": [1, 2, 4, 8, 16], "variants": ["both", "sections"]},
}


def _configurations(grid: dict):
    from subcluster_adacos_asd.configurations import configurations_from_grid

    return configurations_from_grid(grid)


def build_system(root: Path, grid: dict) -> None:
    """Train the benchmark's system below ``root`` and write its catalog and parameters."""
    from tests.pipelines.inference.system import train_system

    started = time.perf_counter()
    raw, params, config = train_system(
        root, _configurations(grid), seconds=10.0, n_frames=313, n_mels=128, epochs=2,
        embedding_dim=128,
    )
    (root / "system.json").write_text(json.dumps(
        {"grid": grid, "params": params, "config": config}, indent=1))
    print(f"trained the benchmark system ({len(_configurations(grid))} configurations) in "
          f"{time.perf_counter() - started:.0f} s")


def write_clips(folder: Path, count: int) -> Path:
    """``count`` new 10 s recordings of the trained machine sections, DCASE-named."""
    import soundfile

    from tests.pipelines.inference.system import SAMPLE_RATE, SECTIONS, clip

    for i in range(count):
        machine, section = SECTIONS[i % len(SECTIONS)]
        domain = ("source", "target")[(i // len(SECTIONS)) % 2]
        attribute = 1 if domain == "source" else 9
        path = folder / machine / f"{domain}_test" / f"section_{section:02d}_{domain}_test_{i:04d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, clip(machine, section, attribute, i % 5 == 0, 10_000 + i, 10.0),
                        SAMPLE_RATE, subtype="PCM_16")
    return folder


class _Timings:
    """Kedro hooks: seconds per node and per loaded dataset of one run."""

    def __init__(self):
        self.nodes: dict[str, float] = {}
        self.loads: dict[str, float] = {}
        self._started: dict[str, float] = {}

    def _hooks(self):
        from kedro.framework.hooks import hook_impl

        timings = self

        class Hooks:
            @hook_impl
            def before_node_run(self, node):
                timings._started[node.name] = time.perf_counter()

            @hook_impl
            def after_node_run(self, node):
                timings.nodes[node.name] = time.perf_counter() - timings._started[node.name]

            @hook_impl
            def before_dataset_loaded(self, dataset_name):
                timings._started["load:" + dataset_name] = time.perf_counter()

            @hook_impl
            def after_dataset_loaded(self, dataset_name):
                started = timings._started.pop("load:" + dataset_name)
                timings.loads[dataset_name] = (
                    timings.loads.get(dataset_name, 0.0) + time.perf_counter() - started)

        return Hooks()

    def manager(self):
        from kedro.framework.hooks.manager import _create_hook_manager

        manager = _create_hook_manager()
        manager.register(self._hooks())
        return manager


def run_inference(root: Path, folder: Path, n_jobs: int, chunk_size: int) -> dict:
    """One pipeline run on ``folder``; seconds overall, per node and for loading the system."""
    from kedro.runner import SequentialRunner

    from subcluster_adacos_asd.pipelines.inference.pipeline import create_pipeline
    from tests.pipelines.inference.system import make_catalog

    system = json.loads((root / "system.json").read_text())
    timings = _Timings()
    started = time.perf_counter()
    catalog = make_catalog(system["config"], system["params"],
                           {"input_path": str(folder), "n_jobs": n_jobs,
                            "chunk_size": chunk_size})
    SequentialRunner().run(create_pipeline(_configurations(system["grid"])), catalog,
                           hook_manager=timings.manager())
    seconds = time.perf_counter() - started
    summary = catalog.load("inference_summary")
    system_loads = sum(v for k, v in timings.loads.items()
                       if k.endswith((".model_snapshots", ".backends")))
    embed = sum(v for k, v in timings.nodes.items() if k.endswith("compute_inference_terms"))
    return {
        "files": summary["files"], "scored": summary["scored"], "seconds": seconds,
        "load_models_backends_s": system_loads,
        "log_mel_s": timings.nodes.get("extract_inference_log_mel", float("nan")),
        "embed_and_terms_s": embed,
    }


def child(args) -> None:
    """One cold process: imports, then one run per folder; prints one JSON line per run."""
    started = time.perf_counter()
    import kedro.runner  # noqa: F401
    import keras  # noqa: F401  the imports a run pays once

    imports = time.perf_counter() - started
    for i, (folder, n_jobs) in enumerate(zip(args.folders, args.n_jobs)):
        # With workers: chunks of 32 files, so 100 files keep both cores busy.
        result = run_inference(Path(args.system), Path(folder), n_jobs, 256 if n_jobs == 1 else 32)
        result.update(run=i, imports_s=imports if i == 0 else 0.0, n_jobs=n_jobs)
        print("RESULT " + json.dumps(result), flush=True)


def _child_results(system: Path, runs: list[tuple[Path, int]]) -> list[dict]:
    command = [sys.executable, __file__, "--child", "--system", str(system), "--folders",
               *[str(f) for f, _ in runs], "--n-jobs", *[str(j) for _, j in runs]]
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT)
    wall = time.perf_counter() - started
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    results = [json.loads(line[len("RESULT "):]) for line in out.stdout.splitlines()
               if line.startswith("RESULT ")]
    results[0]["process_wall_s"] = wall
    return results


def benchmark_system(root: Path, repeats: int) -> None:
    import statistics

    one = write_clips(root / "new_1", 1)
    hundred = write_clips(root / "new_100", 100)

    def cold(folder):
        # The median of a few new processes: other work on a shared machine moves single runs.
        results = [_child_results(root, [(folder, 1)])[0] for _ in range(repeats)]
        results.sort(key=lambda r: r["process_wall_s"])
        return results[len(results) // 2], statistics.median(r["imports_s"] for r in results)

    cold_1, imports = cold(one)
    cold_100, _ = cold(hundred)
    warm = _child_results(root, [(one, 1), (one, 1), (hundred, 1), (hundred, -1)])
    print()
    print("| run | files | seconds | clips/s | loading snapshots + backends s | log-mel s | "
          "embed + GMM terms s |")
    print("|---|---|---|---|---|---|---|")
    rows = [(f"cold: new process, imports included (median of {repeats})", cold_1,
             cold_1["process_wall_s"]),
            (f"cold: new process, imports included (median of {repeats})", cold_100,
             cold_100["process_wall_s"]),
            ("warm: same process, after a first run", warm[1], warm[1]["seconds"]),
            ("warm, no log-mel workers (n_jobs 1, the default)", warm[2], warm[2]["seconds"]),
            ("warm, log-mel worker processes (n_jobs -1)", warm[3], warm[3]["seconds"])]
    for label, result, seconds in rows:
        print(f"| {label} | {result['files']} | {seconds:.1f} | {result['files'] / seconds:.2f} "
              f"| {result['load_models_backends_s']:.1f} | {result['log_mel_s']:.2f} | "
              f"{result['embed_and_terms_s']:.1f} |")
    cold_gap = cold_100["process_wall_s"] - cold_1["process_wall_s"]
    warm_gap = warm[2]["seconds"] - warm[1]["seconds"]
    print(f"\nstart-up (1 file, new process): {cold_1['process_wall_s']:.1f} s, of which "
          f"imports {imports:.1f} s; steady rate 99 / (t100 - t1): warm "
          f"{99 / warm_gap:.1f} clips/s, cold {99 / cold_gap if cold_gap > 0 else float('nan'):.1f}"
          " clips/s (the cold difference is within the noise of a shared machine)")


def benchmark_project(project: Path, repeats: int) -> None:
    raw = project / "data" / "01_raw" / "synthetic"
    tests = sorted(p for p in raw.rglob("*.wav") if p.parent.name.endswith("_test"))
    if len(tests) < 100:
        raise SystemExit(f"{raw} holds {len(tests)} test clips; run `kedro run` there first")
    print("| kedro run --pipelines=inference | files | seconds | clips/s |")
    print("|---|---|---|---|")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for count in (1, 100):
            folder = Path(tmp) / f"new_{count}"
            # Spread over machine types, sections and domains; symlinks keep the DCASE layout.
            step = len(tests) // count
            for path in tests[::step][:count]:
                link = folder / path.relative_to(raw)
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(path)
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                out = subprocess.run(
                    ["kedro", "run", "--pipelines=inference",
                     f"--params=inference.input_path={folder}"],
                    cwd=project, capture_output=True, text=True)
                times.append(time.perf_counter() - started)
                if out.returncode:
                    raise RuntimeError(out.stdout[-3000:] + out.stderr[-3000:])
            seconds = sorted(times)[len(times) // 2]
            results[count] = seconds
            print(f"| new process, session start included (median of {repeats}) | {count} | "
                  f"{seconds:.1f} | {count / seconds:.2f} |")
    gap = results[100] - results[1]
    print(f"\nmarginal rate {99 / gap if gap > 0 else float('nan'):.1f} clips/s "
          "(99 / (t100 - t1))")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="small")
    parser.add_argument("--project", type=Path, help="time `kedro run` in this trained project")
    parser.add_argument("--keep", type=Path, help="build (or reuse) the system in this folder")
    parser.add_argument("--repeats", type=int, default=3, help="cold processes per file count")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--system", help=argparse.SUPPRESS)
    parser.add_argument("--folders", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--n-jobs", nargs="*", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPU cores, load average {load[0]:.1f} (a shared machine slows "
          "every figure below)")
    if args.project:
        benchmark_project(args.project.resolve(), args.repeats)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        if not (root / "system.json").is_file():
            build_system(root, GRIDS[args.grid])
        benchmark_system(root, args.repeats)


if __name__ == "__main__":
    main()
