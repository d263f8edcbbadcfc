"""`kedro run --pipeline=X` (the old flag) and `--pipelines=X` reach the same registered pipeline."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from kedro.framework.cli.project import run
from kedro.framework.project import configure_project
from kedro.framework.session import KedroSession

PROJECT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("flag", ["--pipeline=train", "--pipelines=train", "-p", "--pipelines"])
def test_old_and_new_pipeline_flags_run_the_same_pipeline(flag, monkeypatch):
    monkeypatch.chdir(PROJECT)
    configure_project("subcluster_adacos_asd")
    seen = {}

    def fake_run(self, **kwargs):
        seen.update(kwargs)
        return {}

    monkeypatch.setattr(KedroSession, "run", fake_run)
    args = [flag] if "=" in flag else [flag, "train"]
    result = CliRunner().invoke(run, args, obj=None, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert seen["pipeline_names"] == ["train"]
