"""The registry names every pipeline and builds one namespace per training configuration."""

from kedro.framework.project import configure_project

from subcluster_adacos_asd.configurations import paper_grid, parse_configuration_name
from tests.support import PROJECT


def test_grid_is_the_papers():
    names = [c.name for c in paper_grid()]
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
