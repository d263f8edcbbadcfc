"""parameter_checks.py: every parameter a run reads, checked before its first node."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

from subcluster_adacos_asd.parameter_checks import (
    SECTION_CHECKS,
    check_parameters,
    parameter_problems,
    sections_read,
)
from subcluster_adacos_asd.pipeline_registry import register_pipelines
from tests.support import PROJECT, parameters

ENVIRONMENTS = [None, *sorted(p.name for p in (PROJECT / "conf").iterdir()
                              if p.is_dir() and p.name not in ("base", "local"))]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_passes_its_checks(env):
    values = parameters(env=env)
    values["inference"]["input_path"] = "new_recordings"  # set on the command line
    assert parameter_problems(values, SECTION_CHECKS) == []


def test_wrong_values_are_named_all_at_once():
    values = copy.deepcopy(parameters())
    values["score"]["threshold_percentile"] = 150
    values["training"]["epochs"] = "abc"
    values["features"]["level_tolerance_db"] = -3
    values["baselines"]["autoencoder"]["validation_split"] = 1.0
    values["evaluate"]["protocol"] = "dcase2020"
    values["score"]["backends"]["gmm"]["covariance"] = "ful"
    values["score"]["variant_choice"]["fixed"]["fan"] = "section"
    values["synthetic"]["machine_types"] = "fan"
    problems = parameter_problems(values, SECTION_CHECKS)
    # the first problem of each section
    expected = [
        "params:baselines.autoencoder.validation_split must lie in [0, 1), got 1.0",
        "params:evaluate.protocol must be one of ['auto', 'dcase2021', 'dcase2022'], got "
        "'dcase2020'",
        "params:features.level_tolerance_db must be positive or null, got -3.0",
        "params:score.threshold_percentile must lie in [0, 100], got 150",
        "params:synthetic.machine_types must be a list, got 'fan'",
        "params:training.epochs must be a whole number, got 'abc'",
    ]
    assert len(problems) == len(expected) + 1  # and inference.input_path, not set here
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, problems)
    values["score"]["threshold_percentile"] = 90
    with pytest.raises(ValueError, match=r"params:score.backends.gmm: covariance must be one "
                                         r"of \('full', 'diag', 'shrunk'\), got 'ful'"):
        check_parameters(values, ["score"])
    values["score"]["backends"]["gmm"]["covariance"] = "full"
    with pytest.raises(ValueError, match=r"params:score.variant_choice.fixed.fan must be one of "
                                         r"\['both', 'sections'\], got 'section'"):
        check_parameters(values, ["score"])


def test_a_pipeline_is_checked_on_the_sections_it_reads():
    pipelines = register_pipelines()
    assert sections_read(pipelines["score"].inputs()) == {"score"}
    assert sections_read(pipelines["inference"].inputs()) == {"inference", "features",
                                                              "training"}
    assert set(SECTION_CHECKS) >= sections_read(pipelines["__default__"].inputs())
    # an inference run does not check the training data's parameters it does not read
    values = parameters()
    values["inference"]["input_path"] = "x"
    values["score"]["threshold_percentile"] = 150
    check_parameters(values, sections_read(pipelines["inference"].inputs()))


def test_kedro_run_refuses_bad_parameters_before_any_node(tmp_path):
    """The real command line: `--params` values arrive as text; the run stops at its start,
    naming both parameters, with no node started."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    kedro = Path(sys.executable).with_name("kedro")
    result = subprocess.run(
        [str(kedro), "run", "--pipelines=asd",
         "--params=score.threshold_percentile=150,training.epochs=abc"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "params:score.threshold_percentile must lie in [0, 100], got 150" in output
    assert "params:training.epochs must be a whole number, got 'abc'" in output
    assert "starting" not in output  # ProgressHooks logs "[1/N] starting <node>" per node
