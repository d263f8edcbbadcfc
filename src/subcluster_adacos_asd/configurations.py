"""The grid of training configurations (sub-cluster counts x loss variants, paper 2.5).

The grid is the paper's: 5 sub-cluster counts x 2 loss variants = 10 configurations, each one
Kedro namespace (``sc01_both`` ... ``sc16_sections``) of the ``train``, ``embed``, ``score``
and ``inference`` pipelines. It is fixed in code because Kedro builds pipelines before it reads
any configuration: an environment (``kedro run --env dcase2021``) changes parameters, never
which pipelines exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from subcluster_adacos_asd.contracts import VARIANTS

SUB_CLUSTERS = (1, 2, 4, 8, 16)


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
    """All (sub_clusters, variant) pairs of a grid mapping, variants first (e.g. a smaller grid
    for a benchmark: ``{"sub_clusters": [1], "variants": ["both"]}``)."""
    return [
        TrainingConfiguration(int(s), str(v))
        for v in grid["variants"]
        for s in grid["sub_clusters"]
    ]


def paper_grid() -> list[TrainingConfiguration]:
    """The paper's 10 configurations: every variant, then every sub-cluster count."""
    return configurations_from_grid({"sub_clusters": SUB_CLUSTERS, "variants": VARIANTS})


def parse_configuration_name(name: str) -> TrainingConfiguration:
    """Inverse of ``TrainingConfiguration.name`` (``sc04_both`` -> (4, 'both'))."""
    head, _, variant = name.partition("_")
    if not head.startswith("sc") or not head[2:].isdigit():
        raise ValueError(f"Not a configuration name: {name!r} (expected e.g. 'sc04_both')")
    return TrainingConfiguration(int(head[2:]), variant)
