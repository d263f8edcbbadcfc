"""`kedro prune-versions`: keeps the N newest complete versions of every versioned dataset of
the catalog (factory patterns included), never the latest, and a dry run removes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from click.testing import CliRunner
from kedro.framework.project import configure_project
from kedro.io import DataCatalog

from subcluster_adacos_asd.cli import cli
from subcluster_adacos_asd.versions import dataset_versions, plan_pruning
from tests.support import PROJECT, catalog_config

VERSIONS = [f"2026-01-0{day}T00.00.00.000Z" for day in range(1, 5)]
IN_PROGRESS = "2026-02-01T00.00.00.000Z"


def _catalog_config(project: Path) -> dict:
    names = [p.stem.removeprefix("catalog_") for p in (project / "conf/base").glob("catalog_*.yml")]
    return catalog_config(*sorted(names), data_root=project / "data")


@pytest.fixture
def project(tmp_path):
    """A copy of the project's configuration with a data folder holding several versions."""
    configure_project("subcluster_adacos_asd")
    shutil.copytree(PROJECT / "conf" / "base", tmp_path / "conf" / "base")
    (tmp_path / "conf" / "local").mkdir()
    config = _catalog_config(tmp_path)
    for i, version in enumerate(VERSIONS):
        catalog = DataCatalog.from_config(config, save_version=version)
        catalog.save("file_index", pd.DataFrame({"run": [i]}))
        catalog.save("sc04_both.backends", {"run": i})
        catalog.save("sc16_sections.backends", {"run": i})
    DataCatalog.from_config(config, save_version=VERSIONS[0]).save(
        "feature_stats", pd.DataFrame({"run": [0]}))
    # a save in progress in another run: a newer version folder with only a temporary file
    busy = tmp_path / "data/06_models/sc04_both/backends.pkl" / IN_PROGRESS
    busy.mkdir()
    (busy / ".tmp-0123456789ab-backends.pkl").write_bytes(b"half")
    (tmp_path / "data/04_feature/log_mel.parquet").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "data/04_feature/log_mel.parquet").write_bytes(b"unversioned")
    return tmp_path


def _prune(project: Path, *args: str):
    return CliRunner().invoke(
        cli, ["prune-versions", *args], obj=SimpleNamespace(project_path=project),
        catch_exceptions=False,
    )


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "data").rglob("*") if p.is_file())


def _versions(project: Path, relative: str) -> list[str]:
    return sorted(p.name for p in (project / relative).iterdir())


def test_dry_run_lists_what_would_go_and_removes_nothing(project):
    before = _files(project)
    result = _prune(project, "--keep", "2", "--dry-run")
    assert result.exit_code == 0, result.output
    assert _files(project) == before
    lines = result.output.splitlines()
    assert (
        "data/06_models/sc04_both/backends.pkl: 4 versions, keeping 2 (latest "
        f"{VERSIONS[-1]}), would remove 2 ("
    ) in result.output
    assert f"  would remove {VERSIONS[0]}" in lines and f"  would remove {VERSIONS[1]}" in lines
    assert f"{IN_PROGRESS}" in result.output and "left alone" in result.output
    assert "data/04_feature/feature_stats.parquet: 1 version, keeping 1" in result.output
    assert lines[-1].startswith("Would free ") and lines[-1].endswith("(dry run: nothing removed)")


def test_prune_keeps_the_newest_n_of_every_dataset_and_the_latest_still_loads(project):
    config = _catalog_config(project)
    latest_before = DataCatalog.from_config(config).load("sc04_both.backends")
    assert latest_before == {"run": 3}

    result = _prune(project, "--keep", "2")
    assert result.exit_code == 0, result.output
    for relative in ("data/06_models/sc04_both/backends.pkl",
                     "data/06_models/sc16_sections/backends.pkl",
                     "data/02_intermediate/file_index.parquet"):
        kept = [v for v in _versions(project, relative) if v != IN_PROGRESS]
        assert kept == VERSIONS[2:], relative
    # the in-progress folder and the unversioned and single-version datasets are untouched
    assert (project / "data/06_models/sc04_both/backends.pkl" / IN_PROGRESS).is_dir()
    assert _versions(project, "data/04_feature/feature_stats.parquet") == VERSIONS[:1]
    assert (project / "data/04_feature/log_mel.parquet").read_bytes() == b"unversioned"

    catalog = DataCatalog.from_config(config)
    assert catalog.load("sc04_both.backends") == latest_before
    assert catalog.load("file_index")["run"].tolist() == [3]

    assert _prune(project, "--keep", "1").exit_code == 0
    assert _versions(project, "data/02_intermediate/file_index.parquet") == VERSIONS[-1:]
    assert DataCatalog.from_config(config).load("sc16_sections.backends") == {"run": 3}


def test_the_latest_version_can_never_be_pruned(project):
    result = CliRunner().invoke(cli, ["prune-versions", "--keep", "0"],
                                obj=SimpleNamespace(project_path=project))
    assert result.exit_code != 0 and "0 is not in the range x>=1" in result.output
    versions = dataset_versions("file_index", project / "data/02_intermediate/file_index.parquet")
    with pytest.raises(ValueError, match="the latest version is never removed"):
        plan_pruning([versions], keep=0)
    assert versions.latest == VERSIONS[-1]
    assert plan_pruning([versions], keep=1)[0].keep == (VERSIONS[-1],)
