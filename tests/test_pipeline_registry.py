"""The registry names every pipeline and builds one namespace per training configuration."""

from pathlib import Path

from kedro.framework.project import configure_project

from subcluster_adacos_asd.configurations import (
    configurations_from_grid,
    load_training_grid,
    parse_configuration_name,
)

PROJECT = Path(__file__).resolve().parents[1]


def test_grid_of_base_env_is_the_papers():
    grid = load_training_grid(PROJECT, env="base")
    names = [c.name for c in configurations_from_grid(grid)]
    assert len(names) == 10
    assert names[0] == "sc01_both" and names[-1] == "sc16_sections"
    assert parse_configuration_name("sc08_sections").sub_clusters == 8


def test_registry_has_every_pipeline(monkeypatch):
    monkeypatch.chdir(PROJECT)
    configure_project("subcluster_adacos_asd")
    from subcluster_adacos_asd.pipeline_registry import register_pipelines

    pipelines = register_pipelines()
    expected = {"synthetic", "features", "train", "embed", "score", "baselines", "evaluate",
                "inference", "asd", "__default__"}
    assert expected <= set(pipelines)
