"""The baseline systems by name: what the pipeline's nodes and the generic functions look up.

A new baseline is a :class:`~.base.Baseline` subclass and one entry here; nothing else in the
project branches on a baseline's name.
"""

from __future__ import annotations

import pandas as pd

from subcluster_adacos_asd.baselines.autoencoder import AutoencoderBaseline
from subcluster_adacos_asd.baselines.base import Baseline
from subcluster_adacos_asd.baselines.mobilenetv2 import MobileNetV2Baseline

#: In this order in ``baseline_scores`` and ``baseline_thresholds``.
SYSTEMS: dict[str, Baseline] = {
    system.name: system for system in (AutoencoderBaseline(), MobileNetV2Baseline())
}


def baseline(system: str) -> Baseline:
    """The baseline called ``system``; an unknown name is an error listing the known ones."""
    if system not in SYSTEMS:
        raise ValueError(f"Unknown baseline {system!r}; expected one of {tuple(SYSTEMS)}")
    return SYSTEMS[system]


def score_baseline(system: str, *args, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores, decisions and thresholds of baseline ``system``: its :meth:`Baseline.score` of
    ``(models, file_index, log_mel, n_mels, settings, section_groups=None, quantile=0.9)``."""
    return baseline(system).score(*args, **kwargs)


#: The names the benchmarks and tests call: one system's :meth:`Baseline.fit`.
fit_autoencoders = SYSTEMS["autoencoder"].fit
fit_mobilenetv2s = SYSTEMS["mobilenetv2"].fit
