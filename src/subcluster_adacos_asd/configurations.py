"""The grid of training configurations (sub-cluster counts x loss variants, paper 2.5).

Each configuration is one trained network and one Kedro namespace (``sc01_both`` ...
``sc16_sections``) of the ``train``, ``embed``, ``score`` and ``inference`` pipelines. The
paper's grid is 5 sub-cluster counts x 2 loss variants = 10 networks; ``params:grid`` chooses
another (conf/base/parameters.yml), per environment or with ``--params``.

The grid decides which pipelines exist, and Kedro may build pipelines before it reads the run's
configuration. So a hook (:class:`GridHooks`) reads ``grid`` from the run's configuration loader
as soon as the context exists, before the session asks for its pipelines, and rebuilds them if
they were built with another grid; without a run (``kedro registry list``, a notebook that only
imports the registry) the grid of ``conf/`` under the working folder is used (base + local, or
``KEDRO_ENV``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kedro.framework.hooks import hook_impl

from subcluster_adacos_asd.contracts import VARIANTS

SUB_CLUSTERS = (1, 2, 4, 8, 16)
PAPER_GRID = {"sub_clusters": list(SUB_CLUSTERS), "variants": list(VARIANTS)}


@dataclass(frozen=True)
class TrainingConfiguration:
    """One trained network: ``sub_clusters`` per class and the loss ``variant``.

    ``both``: two sub-cluster AdaCos heads (sections x machine types, and attribute classes);
    ``sections``: only the first head.
    """

    sub_clusters: int
    variant: str

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"Unknown loss variant {self.variant!r}; expected one of {VARIANTS}")
        if int(self.sub_clusters) < 1:
            raise ValueError(f"sub_clusters must be >= 1, got {self.sub_clusters}")

    @property
    def name(self) -> str:
        """The Kedro namespace of this configuration, e.g. ``sc04_both``."""
        return f"sc{int(self.sub_clusters):02d}_{self.variant}"


def configurations_from_grid(grid: Mapping) -> list[TrainingConfiguration]:
    """All (sub_clusters, variant) pairs of a grid mapping, variants first (e.g. a smaller grid
    for a benchmark: ``{"sub_clusters": [1], "variants": ["both"]}``).

    A :class:`ValueError` names the key of ``params:grid`` that is wrong: an empty or repeated
    list would train nothing or the same network twice under one name.
    """
    unknown = set(grid) - {"sub_clusters", "variants"}
    if unknown:
        raise ValueError(f"grid: unknown keys {sorted(unknown)}; expected sub_clusters, variants")
    for key in ("sub_clusters", "variants"):
        values = grid.get(key)
        if isinstance(values, (str, int)) or not values:
            raise ValueError(f"grid.{key} must be a non-empty list, got {values!r}")
        if len(set(map(str, values))) != len(values):
            raise ValueError(f"grid.{key} lists a value twice: {list(values)}")
    for count in grid["sub_clusters"]:
        if isinstance(count, bool) or not isinstance(count, int):
            raise ValueError(f"grid.sub_clusters must hold whole numbers, got {count!r}")
    return [
        TrainingConfiguration(int(s), str(v))
        for v in grid["variants"]
        for s in grid["sub_clusters"]
    ]


def paper_grid() -> list[TrainingConfiguration]:
    """The paper's 10 configurations: every variant, then every sub-cluster count."""
    return configurations_from_grid(PAPER_GRID)


def grid_of_parameters(parameters: Mapping) -> list[TrainingConfiguration]:
    """The configurations of ``params:grid`` in a project's parameters (the paper's grid where
    they have none)."""
    return configurations_from_grid(parameters.get("grid", PAPER_GRID))


def grid_of_project(project_path: Path | str | None = None,
                    env: str | None = None) -> list[TrainingConfiguration]:
    """The configurations ``params:grid`` names in the project's conf/ (base + ``env``, by
    default ``KEDRO_ENV`` or local); the paper's grid where there is no conf/ folder."""
    from kedro.framework.project import settings

    conf = Path(project_path or Path.cwd()) / settings.CONF_SOURCE
    if not conf.is_dir():
        return paper_grid()
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(conf), env=env or os.environ.get("KEDRO_ENV"),
        **settings.CONFIG_LOADER_ARGS)
    return grid_of_parameters(loader["parameters"])


_run_grid: list[TrainingConfiguration] | None = None
_built_grid: list[TrainingConfiguration] | None = None


def registered_grid() -> list[TrainingConfiguration]:
    """The configurations the pipeline registry builds namespaces for: the running session's
    ``params:grid`` (set by :class:`GridHooks`), else :func:`grid_of_project`."""
    global _built_grid
    _built_grid = list(_run_grid) if _run_grid is not None else grid_of_project()
    return _built_grid


class GridHooks:
    """Gives the pipeline registry the run's ``params:grid`` (module docstring)."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        global _run_grid
        _run_grid = grid_of_parameters(context.config_loader["parameters"])
        if _built_grid is not None and _built_grid != _run_grid:
            from kedro.framework.project import PACKAGE_NAME, pipelines

            pipelines.configure(f"{PACKAGE_NAME}.pipeline_registry")


def check_scored_with(scored: list[str], configured: list[str]) -> None:
    """A :class:`ValueError` unless the configurations a system's thresholds were set on
    (``ensemble_configurations``, saved by ``score``) are this run's ``params:grid``: scores of
    another ensemble against those thresholds would decide wrongly without a sign."""
    if sorted(scored) != sorted(configured):
        raise ValueError(
            f"The trained system's thresholds were set on the ensemble of {sorted(scored)}, "
            f"but this run's params:grid gives {sorted(configured)}. Run with the grid the "
            "system was scored with (the same --env / --params as `score`), or train and score "
            "this grid first: kedro run --pipelines=train,embed,score")


def parse_configuration_name(name: str) -> TrainingConfiguration:
    """Inverse of ``TrainingConfiguration.name`` (``sc04_both`` -> (4, 'both'))."""
    head, _, variant = name.partition("_")
    if not head.startswith("sc") or not head[2:].isdigit():
        raise ValueError(f"Not a configuration name: {name!r} (expected e.g. 'sc04_both')")
    return TrainingConfiguration(int(head[2:]), variant)
