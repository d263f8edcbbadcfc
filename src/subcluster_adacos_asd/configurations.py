"""The grid of training configurations (sub-cluster counts x loss variants).

Kedro builds pipelines before it knows which environment a run uses, yet the per-configuration
namespaces of the ``train``, ``embed`` and ``score`` pipelines depend on the grid in the
parameters. The registry therefore reads ``train_grid`` with the same config loader settings as
a run, for the environment named by ``KEDRO_ENV`` (default: base + local), and a hook checks at
run time that the run's environment agrees (see hooks.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

VARIANTS = ("both", "sections")


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


def configurations_from_grid(grid: dict) -> list[TrainingConfiguration]:
    """All (sub_clusters, variant) pairs of a ``train_grid`` parameter mapping, in grid order."""
    return [
        TrainingConfiguration(int(s), str(v))
        for v in grid["variants"]
        for s in grid["sub_clusters"]
    ]


def parse_configuration_name(name: str) -> TrainingConfiguration:
    """Inverse of ``TrainingConfiguration.name`` (``sc04_both`` -> (4, 'both'))."""
    head, _, variant = name.partition("_")
    if not head.startswith("sc") or not head[2:].isdigit():
        raise ValueError(f"Not a configuration name: {name!r} (expected e.g. 'sc04_both')")
    return TrainingConfiguration(int(head[2:]), variant)


def load_build_parameters(project_path: Path | None = None, env: str | None = None) -> dict:
    """The parameters the registry builds pipelines from, merged as a Kedro run would merge them.

    ``train_grid`` (the configurations) and ``data_source.synthetic`` (whether ``__default__``
    starts by writing the synthetic data set into ``raw_audio``; false where ``raw_audio`` is
    real data that must never be written to).
    """
    from kedro.config import OmegaConfigLoader

    project_path = Path(project_path or os.environ.get("KEDRO_PROJECT_PATH", Path.cwd()))
    loader = OmegaConfigLoader(
        conf_source=str(project_path / "conf"),
        base_env="base",
        default_run_env="local",
        env=env or os.environ.get("KEDRO_ENV") or None,
        merge_strategy={"parameters": "soft"},
    )
    parameters = loader["parameters"]
    return {
        "train_grid": dict(parameters["train_grid"]),
        "synthetic": bool(parameters.get("data_source", {}).get("synthetic", True)),
    }


def load_training_grid(project_path: Path | None = None, env: str | None = None) -> dict:
    """Read ``train_grid`` from the project's parameters as a Kedro run would merge them."""
    return load_build_parameters(project_path, env)["train_grid"]
