"""Nodes of the `synthetic` pipeline: thin wrappers over :mod:`subcluster_adacos_asd.synthetic`.

The audio is returned as ``{partition_key: callable}``: the PartitionedDataset calls each one
just before writing its WAV, so only one clip is ever in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import pandas as pd

from subcluster_adacos_asd.datasets import Audio
from subcluster_adacos_asd.synthetic import (
    ClipSpec,
    SyntheticSettings,
    clip_manifest,
    plan_clips,
    render_clip,
)

logger = logging.getLogger(__name__)


def _render_audio(clip: ClipSpec, settings: SyntheticSettings) -> Audio:
    return Audio(render_clip(clip, settings), settings.sample_rate)


def generate_synthetic_audio(
    parameters: dict, data_source: dict
) -> tuple[dict[str, Callable[[], Audio]], pd.DataFrame]:
    """The synthetic data set as lazily rendered partitions, and a manifest of how each clip
    was generated (machine type, section, domain, attribute, anomaly kind and severity).

    ``data_source.synthetic`` false marks an environment whose ``raw_audio`` is real data
    (conf/dcase2021, conf/toycar2023): writing synthetic audio there would mix it into the
    recordings, so nothing is generated and no partition is returned (those environments'
    ``raw_audio`` has ``overwrite: false``, so saving no partitions writes and removes
    nothing; tests/pipelines/synthetic checks both). That keeps ``kedro run --env <env>`` the
    whole system in every environment.
    """
    if not data_source.get("synthetic", True):
        logger.info("data_source.synthetic is false: raw_audio holds real recordings, no "
                    "synthetic audio is written")
        return {}, clip_manifest([])
    settings = SyntheticSettings.from_parameters(parameters)
    clips = plan_clips(settings)
    logger.info(
        "Synthetic data set: %d clips of %.1f s (%s; sections %s)",
        len(clips), settings.duration_s, ", ".join(settings.machine_types),
        list(settings.sections),
    )
    partitions = {clip.key: partial(_render_audio, clip, settings) for clip in clips}
    return partitions, clip_manifest(clips)
