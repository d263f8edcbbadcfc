"""What many test modules need: the project's paths, its configuration, pipeline runs in memory.

Catalog entries name their paths as ``${globals:data_root}/...`` (conf/base/globals.yml);
:func:`catalog_config` resolves that to the folder a test writes into.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

PROJECT = Path(__file__).resolve().parents[1]
DATA_ROOT = "${globals:data_root}"


def conf(name: str, env: str = "base") -> dict:
    """The raw YAML of ``conf/<env>/<name>``."""
    return yaml.safe_load((PROJECT / "conf" / env / name).read_text())


def parameters(pipeline: str | None = None, env: str | None = None) -> dict:
    """The project's parameters as a run in ``env`` merges them (soft merge over conf/base);
    one pipeline's section (``training``, ``score``...) when ``pipeline`` is given."""
    loader = OmegaConfigLoader(conf_source=str(PROJECT / "conf"), base_env="base",
                               default_run_env="base", env=env,
                               merge_strategy={"parameters": "soft"})
    merged = loader["parameters"]
    return merged if pipeline is None else merged[pipeline]


def catalog_config(*pipelines: str, data_root: str | Path = "data") -> dict:
    """The entries of ``conf/base/catalog_<pipeline>.yml`` with their paths below ``data_root``."""
    config = {}
    for name in pipelines:
        config.update(conf(f"catalog_{name}.yml"))
    text = json.dumps(config).replace(DATA_ROOT, str(data_root))
    return json.loads(text)


def parameter_inputs(name: str, value) -> dict:
    """``{params:<name>: value}`` and, as a Kedro run provides them, every nested key
    (``params:score.backends``, ``params:score.backends.gmm``, ...)."""
    inputs = {f"params:{name}": value}
    if isinstance(value, dict):
        for key, nested in value.items():
            inputs.update(parameter_inputs(f"{name}.{key}", nested))
    return inputs


def add_parameters(catalog: DataCatalog, name: str, value) -> None:
    """Every ``params:`` dataset of :func:`parameter_inputs` into ``catalog``."""
    for key, nested in parameter_inputs(name, value).items():
        catalog[key] = nested


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so a test can read intermediate outputs."""

    def _release(self) -> None:
        pass


def run(pipeline, inputs: dict, outputs, datasets: dict | None = None) -> dict:
    """Run ``pipeline`` on in-memory ``inputs``; return the ``outputs`` it produced."""
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in inputs.items()})
    for name in outputs:
        catalog[name] = KeptDataset(copy_mode="assign")
    for name, dataset in (datasets or {}).items():
        catalog[name] = dataset
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog.load(name) for name in outputs}
