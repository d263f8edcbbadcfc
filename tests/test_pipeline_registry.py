"""The registry names every pipeline and builds one namespace per training configuration."""

import re

import pytest
from kedro.framework.project import configure_project

from subcluster_adacos_asd import configurations
from subcluster_adacos_asd.configurations import (
    configurations_from_grid,
    grid_of_project,
    paper_grid,
    parse_configuration_name,
)
from tests.support import PROJECT


def test_grid_is_the_papers():
    names = [c.name for c in paper_grid()]
    assert len(names) == 10
    assert names[0] == "sc01_both" and names[-1] == "sc16_sections"
    assert parse_configuration_name("sc08_sections").sub_clusters == 8


def test_the_dcase2021_environment_trains_the_papers_grid():
    assert grid_of_project(PROJECT, "dcase2021") == paper_grid()


def test_an_environment_chooses_the_grid(tmp_path):
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "small").mkdir()
    (tmp_path / "conf" / "local").mkdir()
    (tmp_path / "conf" / "base" / "parameters.yml").write_text(
        "grid:\n  sub_clusters: [1, 2]\n  variants: [both, sections]\n")
    (tmp_path / "conf" / "small" / "parameters.yml").write_text(
        "grid:\n  sub_clusters: [4]\n  variants: [both, sections]\n")
    assert [c.name for c in grid_of_project(tmp_path)] == [
        "sc01_both", "sc02_both", "sc01_sections", "sc02_sections"]
    assert [c.name for c in grid_of_project(tmp_path, "small")] == ["sc04_both", "sc04_sections"]


@pytest.mark.parametrize(("grid", "message"), [
    ({"sub_clusters": [], "variants": ["both"]}, "grid.sub_clusters must be a non-empty list"),
    ({"sub_clusters": 4, "variants": ["both"]}, "grid.sub_clusters must be a non-empty list"),
    ({"sub_clusters": [4, 4], "variants": ["both"]}, "grid.sub_clusters lists a value twice"),
    ({"sub_clusters": [2.5], "variants": ["both"]}, "whole numbers, got 2.5"),
    ({"sub_clusters": [0], "variants": ["both"]}, "sub_clusters must be >= 1"),
    ({"sub_clusters": [4], "variants": ["attributes"]}, "Unknown loss variant 'attributes'"),
    ({"sub_clusters": [4], "variant": ["both"]}, "unknown keys ['variant']"),
])
def test_a_wrong_grid_is_named(grid, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        configurations_from_grid(grid)


def test_a_run_builds_the_namespaces_of_its_grid(monkeypatch):
    """The session's ``params:grid`` (here from --params) decides the namespaces, even where
    the pipelines were built before with another grid."""
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    monkeypatch.chdir(PROJECT)
    monkeypatch.setattr(configurations, "_run_grid", None)
    monkeypatch.setattr(configurations, "_built_grid", None)
    bootstrap_project(PROJECT)
    try:
        assert len(pipelines["train"].nodes) == len(grid_of_project(PROJECT))
        grid = {"grid": {"sub_clusters": [4], "variants": ["both"]}}
        with KedroSession.create(project_path=PROJECT, runtime_params=grid) as session:
            session.load_context()
            assert {n.namespace for n in pipelines["train"].nodes} == {"sc04_both"}
            assert {n.namespace for n in pipelines["score"].nodes} == {"sc04_both", None}
    finally:
        monkeypatch.undo()
        pipelines.configure("subcluster_adacos_asd.pipeline_registry")


def test_registry_has_every_pipeline(monkeypatch):
    monkeypatch.chdir(PROJECT)
    configure_project("subcluster_adacos_asd")
    from subcluster_adacos_asd.pipeline_registry import register_pipelines

    pipelines = register_pipelines()
    expected = {"synthetic", "features", "train", "embed", "score", "baselines", "evaluate",
                "inference", "asd", "__default__"}
    assert expected <= set(pipelines)


def test_kedro_reads_the_type_hints_of_every_node_function(monkeypatch, caplog):
    """Kedro's parameter validation reads each node function's type hints at every run; a bare
    functools.partial has none and logged a warning per node and pipeline (12 per run)."""
    from kedro.validation import TypeExtractor

    monkeypatch.chdir(PROJECT)
    configure_project("subcluster_adacos_asd")
    from subcluster_adacos_asd.pipeline_registry import register_pipelines

    with caplog.at_level("WARNING", logger="kedro.validation.type_extractor"):
        TypeExtractor(register_pipelines()).extract_types_from_pipelines()
    assert "Could not extract type hints" not in caplog.text
