"""`kedro viz build` renders every registered pipeline into a static site, offline."""

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def test_kedro_viz_build_writes_every_pipeline():
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    kedro = Path(sys.executable).with_name("kedro")
    result = subprocess.run(
        [str(kedro), "viz", "build"], cwd=PROJECT, env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    main = json.loads((PROJECT / "build" / "api" / "main").read_text())
    pipelines = {p["id"] for p in main["pipelines"]}
    assert {"synthetic", "features", "train", "embed", "score", "baselines", "evaluate",
            "inference", "__default__"} <= pipelines
    assert any(n["name"].endswith("train_model") for n in main["nodes"])
