"""``kedro`` in a child process, as the benchmarks run it: no telemetry, no network, quiet
TensorFlow, wide log lines. One definition for every benchmark that runs the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

QUIET = {
    "KEDRO_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "COLUMNS": "400",
}


def conf_copy(root: Path, env: str, data_root: Path, like: str | None = None) -> Path:
    """``root/conf``: a fresh copy of the project's conf/ (without local settings) with an
    environment ``env`` (a copy of conf/``like``, or empty) whose outputs go below
    ``data_root``. Returns the environment's folder, for the caller to add files to."""
    conf = root / "conf"
    if conf.exists():
        shutil.rmtree(conf)
    shutil.copytree(PROJECT / "conf", conf, ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir()
    folder = conf / env
    if like:
        shutil.copytree(PROJECT / "conf" / like, folder)
    folder.mkdir(exist_ok=True)
    (folder / "globals.yml").write_text(f"data_root: {data_root}\n")
    return folder


def quiet_environment(**extra: str) -> dict[str, str]:
    """This process's environment with :data:`QUIET` (and ``extra``) set."""
    return {**os.environ, **QUIET, **extra}


def kedro(*arguments: str) -> list[str]:
    """The command line of this interpreter's ``kedro`` with ``arguments``."""
    return [str(Path(sys.executable).with_name("kedro")), *arguments]


def run_kedro(*arguments: str, capture: bool = False) -> float:
    """``kedro <arguments>`` in the project folder; its wall time in seconds. A failure raises
    with the command (and, when captured, the end of its output)."""
    command = kedro(*arguments)
    started = time.perf_counter()
    out = subprocess.run(command, cwd=PROJECT, env=quiet_environment(), text=True,
                         capture_output=capture)
    if out.returncode:
        tail = (out.stdout or "")[-4000:] + (out.stderr or "")[-4000:] if capture else ""
        raise RuntimeError(f"{' '.join(command)} failed ({out.returncode})\n{tail}")
    return time.perf_counter() - started
