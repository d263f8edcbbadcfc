"""The Dask runner: two configurations' nodes through a local Dask cluster give exactly what the
sequential runner gives; in-memory datasets between nodes are refused by name."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.framework.project import configure_project
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner

from subcluster_adacos_asd import calibration
from subcluster_adacos_asd.pipelines.score.pipeline import configuration_pipeline
from tests.pipelines.score.fakes import CONFIGURATIONS, make_embeddings, make_file_index
from tests.support import add_parameters, catalog_config, parameters

distributed = pytest.importorskip("distributed")
from subcluster_adacos_asd.runners import DaskRunner  # noqa: E402


def _catalog(root) -> DataCatalog:
    catalog = DataCatalog.from_config(catalog_config("score", "embed", "features", data_root=root))
    index = make_file_index()
    for name, (embeddings, centres) in make_embeddings(index, CONFIGURATIONS).items():
        catalog.save(f"{name}.embeddings", embeddings)
        catalog.save(f"{name}.centres", centres)
    catalog.save("file_index", index)
    settings = parameters("score")["calibration"]
    catalog.save("calibration_folds",
                 calibration.assign_folds(index, settings["folds"], settings["seed"]))
    add_parameters(catalog, "score", parameters("score"))
    return catalog


@pytest.fixture(scope="module")
def client():
    configure_project("subcluster_adacos_asd")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def test_two_configurations_on_dask_equal_a_sequential_run(tmp_path, client):
    pipeline = sum((configuration_pipeline(c) for c in CONFIGURATIONS), Pipeline([]))
    SequentialRunner().run(pipeline, _catalog(tmp_path / "sequential"))
    DaskRunner(client=client).run(pipeline, _catalog(tmp_path / "dask"))
    # every node ran on a worker process, not here
    assert len(client.scheduler_info()["workers"]) == 2
    for configuration in CONFIGURATIONS:
        for output in ("score_terms", "calibration_terms"):
            name = f"{configuration.name}.{output}"
            sequential = DataCatalog.from_config(
                catalog_config("score", data_root=tmp_path / "sequential")).load(name)
            dask = DataCatalog.from_config(
                catalog_config("score", data_root=tmp_path / "dask")).load(name)
            assert len(dask) > 0
            pd.testing.assert_frame_equal(sequential, dask)


def test_in_memory_datasets_between_nodes_are_refused(client):
    pipeline = Pipeline([node(identity, "a", "b", name="first"),
                         node(identity, "b", "c", name="second")])
    catalog = DataCatalog()
    catalog["a"] = 1
    with pytest.raises(ValueError, match=r"\['b'\] are in-memory datasets passed between nodes"):
        DaskRunner(client=client).run(pipeline, catalog)


def fail(x):
    raise KeyError("no such column")


def identity(x):
    return x


def test_a_failing_node_names_itself(tmp_path, client):
    catalog = DataCatalog.from_config({"out": {"type": "pandas.CSVDataset",
                                               "filepath": str(tmp_path / "out.csv")}})
    catalog["a"] = 1
    with pytest.raises(RuntimeError, match=r"(?s)node broken failed on a Dask worker.*no such column"):
        DaskRunner(client=client).run(Pipeline([node(fail, "a", "out", name="broken")]), catalog)
