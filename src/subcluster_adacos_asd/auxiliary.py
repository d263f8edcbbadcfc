"""Auxiliary classes: recordings of other machines that only teach the network (issue 18).

The paper's networks learn from one classification task over every machine type of DCASE 2021
(42 section classes, 199 attribute classes, about 1,000 clips each); a user with one machine
type and a few hundred clips gives them a task with a handful of classes. Auxiliary clips add
classes to that task: their sections and attributes become extra classes of the section and
attribute heads, so the network must tell the user's machines apart from other sounds as well.
They enter nowhere else: they get no embeddings, no GMMs, no scores and no thresholds (the
``embed`` and ``score`` pipelines read ``file_index``, which never holds them), and they are
standardised with the user's training statistics.

Two sources (``params:auxiliary``, conf/base/parameters_auxiliary.yml):

- ``synthetic``: the project's own synthetic machine types, rendered on the fly (no download),
  every type the user's data does not already have;
- ``folder``: any folder of DCASE-named WAVs (another DCASE data set, other machines); its
  normal training clips are used.

Their classes are named ``aux:<machine_type>/section_<nn>`` (and ``aux:.../<attributes>``), so
they never coincide with a class of the user's data, even for the same machine type name.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from subcluster_adacos_asd.contracts import HEAD_COLUMNS, normal_training
from subcluster_adacos_asd.settings_base import Settings

logger = logging.getLogger(__name__)

SOURCES = ("none", "synthetic", "folder")
CLASS_PREFIX = "aux:"
#: The columns of ``auxiliary_index`` (docs/data_contracts.md).
AUXILIARY_INDEX_COLUMNS = ("file_id", "machine_type", "section", "path",
                           HEAD_COLUMNS["section"], HEAD_COLUMNS["attribute"])


@dataclass(frozen=True)
class AuxiliarySettings(Settings):
    """The ``auxiliary`` parameters.

    ``source``: none (the paper: the data set's own classes only), synthetic or folder.
    ``path``: the folder for ``folder`` (relative to the project root or absolute).
    ``machine_types`` / ``sections``: the synthetic types and sections to draw from (the
    user's own machine types are left out). ``clips_per_section``: normal training clips
    per auxiliary section (for a folder: at most this many, drawn with ``seed``; null: all).
    """

    source: str = "none"
    path: str | None = None
    machine_types: tuple[str, ...] = ("ToyCar", "ToyTrain", "fan", "gearbox", "pump", "slider",
                                      "valve")
    sections: tuple[int, ...] = (0, 1, 2)
    clips_per_section: int | None = 50
    seed: int = 0

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"params:auxiliary.source must be one of {list(SOURCES)}, "
                             f"got {self.source!r}")
        if self.source == "folder" and not self.path:
            raise ValueError("params:auxiliary.source is folder but params:auxiliary.path is "
                             "empty: name the folder of DCASE-named WAVs")
        if self.clips_per_section is not None and self.clips_per_section < 1:
            raise ValueError("params:auxiliary.clips_per_section must be null or >= 1, got "
                             f"{self.clips_per_section}")

    @property
    def enabled(self) -> bool:
        return self.source != "none"


def auxiliary_class_names(index: pd.DataFrame) -> pd.DataFrame:
    """``index`` with its section and attribute classes prefixed by ``aux:``, so that no
    auxiliary class can share a name (and so a centre, or a GMM) with one of the user's."""
    index = index.copy()
    section, attribute = HEAD_COLUMNS["section"], HEAD_COLUMNS["attribute"]
    index[attribute] = index[attribute].where(index[attribute].astype(str) != "", index[section])
    for column in HEAD_COLUMNS.values():
        index[column] = CLASS_PREFIX + index[column].astype(str)
    return index


def _at_most_per_section(index: pd.DataFrame, clips: int | None, seed: int) -> pd.DataFrame:
    """At most ``clips`` rows of each machine type and section, drawn with ``seed``."""
    if clips is None:
        return index
    rng = np.random.default_rng(seed)
    kept = []
    for _, group in index.groupby(["machine_type", "section"], sort=True):
        if len(group) > clips:
            group = group.iloc[np.sort(rng.choice(len(group), clips, replace=False))]
        kept.append(group)
    return pd.concat(kept) if kept else index.iloc[:0]


def _rendered(clip, synthetic):
    """One synthetic clip as :class:`Audio` (module level: worker processes unpickle it)."""
    from subcluster_adacos_asd.datasets import Audio
    from subcluster_adacos_asd.synthetic import render_clip

    return Audio(render_clip(clip, synthetic), synthetic.sample_rate)


def synthetic_auxiliary(settings: AuxiliarySettings, synthetic_parameters: dict,
                        user_machine_types) -> tuple[pd.DataFrame, dict]:
    """``(index, {file_id: load})`` of the synthetic auxiliary clips: the normal source-domain
    training clips of every configured type the user's data lacks, rendered when loaded.

    The sound models, rate and duration are the ``synthetic`` parameters'; the seed is the
    auxiliary one, so auxiliary machines are other machines than the default data set's.
    """
    from subcluster_adacos_asd.dcase_names import index_files
    from subcluster_adacos_asd.synthetic import SyntheticSettings, plan_clips

    types = [t for t in settings.machine_types if t not in set(user_machine_types)]
    if not types:
        raise ValueError(
            "params:auxiliary.machine_types are all machine types of the data "
            f"({sorted(set(user_machine_types))}): no auxiliary classes are left")
    values = {k: v for k, v in dict(synthetic_parameters or {}).items()
              if k in ("sample_rate", "duration_s", "source_attribute_levels",
                       "anomaly_strength")}
    synthetic = SyntheticSettings.from_parameters({
        **values, "seed": settings.seed, "machine_types": types,
        "sections": list(settings.sections),
        "source_train_clips": settings.clips_per_section or 50,
        "target_train_clips": 0, "test_clips": 0,
    })
    clips = [c for c in plan_clips(synthetic) if c.split == "train" and c.label == "normal"]
    loads = {c.key: partial(_rendered, c, synthetic) for c in clips}
    index = index_files({key: "" for key in loads})
    return auxiliary_class_names(index), loads


def folder_auxiliary(settings: AuxiliarySettings) -> tuple[pd.DataFrame, dict]:
    """``(index, {file_id: load})`` of the normal training clips of a folder of DCASE-named
    WAVs (files that do not fit the grammar are skipped with a warning)."""
    from subcluster_adacos_asd.datasets import WavDataset
    from subcluster_adacos_asd.dcase_names import index_files

    root = Path(settings.path)
    if not root.is_dir():
        raise FileNotFoundError(f"params:auxiliary.path {settings.path}: no such folder "
                                f"(from {os.getcwd()})")
    paths = {str(p.relative_to(root).with_suffix("")): str(p.resolve())
             for p in sorted(root.rglob("*.wav"))}
    index = index_files(paths, "skip") if paths else pd.DataFrame(columns=["split", "label"])
    index = index[normal_training(index)]
    if index.empty:
        raise ValueError(f"params:auxiliary.path {settings.path}: no normal training clips "
                         "with DCASE names (<machine>/train/section_<nn>_..._normal_...wav)")
    index = _at_most_per_section(index, settings.clips_per_section, settings.seed)
    loads = {file_id: WavDataset(filepath=paths[file_id]).load for file_id in index["file_id"]}
    return auxiliary_class_names(index), loads


def auxiliary_clips(settings: AuxiliarySettings, synthetic_parameters: dict,
                    user_index: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The auxiliary clips of ``settings.source`` as ``(auxiliary_index, {file_id: load})``;
    an empty index where the source is none. Each auxiliary ``file_id`` is prefixed by
    ``aux:`` so that it can never be taken for one of the user's files."""
    if not settings.enabled:
        return pd.DataFrame(columns=list(AUXILIARY_INDEX_COLUMNS)), {}
    if settings.source == "synthetic":
        index, loads = synthetic_auxiliary(settings, synthetic_parameters,
                                           user_index["machine_type"].unique())
    else:
        index, loads = folder_auxiliary(settings)
    index = index.assign(file_id=CLASS_PREFIX + index["file_id"].astype(str))
    loads = {CLASS_PREFIX + key: load for key, load in loads.items()}
    index = index.reset_index(drop=True)[list(AUXILIARY_INDEX_COLUMNS)]
    logger.info("Auxiliary classes (%s): %d clips, %d section classes, %d attribute classes",
                settings.source, len(index), index[HEAD_COLUMNS["section"]].nunique(),
                index[HEAD_COLUMNS["attribute"]].nunique())
    return index, loads
