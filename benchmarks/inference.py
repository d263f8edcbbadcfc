"""Throughput of the ``inference`` pipeline: start-up cost and steady rate, clips per second.

A plant engineer runs inference on a handful of new recordings or on a folder of hundreds, so
two numbers matter: the fixed cost of one run (Python, TensorFlow and Kedro imports, loading
every model snapshot and fitted backend, tracing the embedding network once) and the rate per
additional clip (reading, log-mel, one embedding per snapshot of the chosen variant's
configurations, GMM terms).

    make run                                        # first: a trained default system
    python benchmarks/inference.py                  # this project
    python benchmarks/inference.py --project /path/to/project   # another trained project

It times ``kedro run --pipelines=inference`` (a new process each time, session start, imports,
loading every snapshot and backend and tracing the network included) on 1 and on 100 of the
project's synthetic test clips (symlinks, spread over machine types, sections and domains), the
median of ``--repeats`` runs each, and the marginal rate 99 clips / (t(100) - t(1)).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
PROJECT = Path(__file__).resolve().parents[1]

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
    parser.add_argument("--project", type=Path, default=PROJECT,
                        help="a trained project (after `make run`)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per file count")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPU cores, load average {load[0]:.1f} (a shared machine slows "
          "every figure below)")
    benchmark_project(args.project.resolve(), args.repeats)


if __name__ == "__main__":
    main()
