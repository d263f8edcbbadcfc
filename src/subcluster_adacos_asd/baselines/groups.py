"""Model groups: which clips train (and are scored by) which baseline model, and their log-mel.

A model group is one machine type with all its training sections (the default), or, as the
official code trains separate models on the development and on the additional training data,
one machine type with a configured subset of its sections (``section_groups``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ModelGroup:
    """One trained baseline model: a machine type and the sections it is trained on."""

    machine_type: str
    sections: tuple[int, ...]
    # True when the group is the whole machine type (no ``section_groups`` configured).
    whole_machine_type: bool = True

    @property
    def key(self) -> str:
        """The model's name in the saved models folder, e.g. ``fan`` or ``fan_sections_03_04_05``."""
        if self.whole_machine_type:
            return self.machine_type
        return f"{self.machine_type}_sections_" + "_".join(f"{s:02d}" for s in self.sections)


def model_groups(
    file_index: pd.DataFrame, section_groups: Sequence[Sequence[int]] | None = None
) -> list[ModelGroup]:
    """The model groups of a file index, in machine-type order.

    Without ``section_groups`` every machine type is one group with all sections of its training
    files. With them (e.g. ``[[0, 1, 2], [3, 4, 5]]`` for DCASE 2021's development and additional
    training data) each machine type gets one group per listed subset that has training files.
    """
    check_columns(file_index, ("machine_type", "section", "split"), "file_index")
    train = file_index[file_index["split"] == "train"]
    groups = []
    for machine_type in sorted(file_index["machine_type"].unique()):
        trained = sorted(
            int(s) for s in train.loc[train["machine_type"] == machine_type, "section"].unique()
        )
        if not trained:
            raise ValueError(
                f"Machine type {machine_type!r} has no training files in file_index: the "
                "baselines train one model per machine type on its normal training clips"
            )
        if section_groups is None:
            groups.append(ModelGroup(str(machine_type), tuple(trained)))
            continue
        for subset in section_groups:
            sections = tuple(s for s in sorted(int(s) for s in subset) if s in trained)
            if sections:
                groups.append(ModelGroup(str(machine_type), sections, whole_machine_type=False))
    return groups


def group_rows(file_index: pd.DataFrame, group: ModelGroup) -> np.ndarray:
    """Boolean mask of the file-index rows (all splits) that the group's model scores."""
    return (
        (file_index["machine_type"] == group.machine_type)
        & file_index["section"].astype(int).isin(group.sections)
    ).to_numpy()


def check_every_file_in_a_group(file_index: pd.DataFrame, groups: Sequence[ModelGroup]) -> None:
    """Fail, naming a file, when a clip belongs to no model group (its section was never trained).

    The official MobileNetV2 code silently uses the last class for such clips; here it is an
    error, because a score from a model that never saw the clip's section means nothing.
    """
    covered = np.zeros(len(file_index), dtype=bool)
    for group in groups:
        covered |= group_rows(file_index, group)
    if not covered.all():
        row = file_index.loc[~covered].iloc[0]
        raise ValueError(
            f"{int((~covered).sum())} file(s) belong to no baseline model, e.g. {row['file_id']!r} "
            f"(machine type {row['machine_type']!r}, section {int(row['section'])}): no training "
            "files of that machine type and section (or the section is in no section_groups entry)"
        )


def training_ids(file_index: pd.DataFrame, group: ModelGroup) -> list[str]:
    """The group's normal training clips, sorted by file id (the official code's sorted glob).

    The order matters only through Keras' ``validation_split``, which holds out the last part.
    """
    rows = group_rows(file_index, group) & (file_index["split"] == "train").to_numpy()
    ids = sorted(file_index.loc[rows, "file_id"].astype(str))
    labels = file_index.loc[rows, "label"].astype(str).unique() if "label" in file_index else []
    if any(label not in ("normal",) for label in labels):
        raise ValueError(
            f"Training files of {group.key} must be normal clips, found labels {sorted(labels)}"
        )
    return ids


def section_indices(file_index: pd.DataFrame, group: ModelGroup, ids: Sequence[str]) -> np.ndarray:
    """Each file's section as an index into ``group.sections``: the section classifier's class."""
    sections = file_index.set_index("file_id").loc[list(ids), "section"].astype(int).to_numpy()
    return np.searchsorted(group.sections, sections)


def n_mels_of(feature_stats: pd.DataFrame) -> int:
    """The number of mel bins of the log-mel features: one ``feature_stats`` row per mel bin.

    Reading it from the features' own statistics (rather than repeating it as a parameter) keeps
    the reshaping of the flat log-mel rows right whatever the features pipeline was set to.
    """
    check_columns(feature_stats, ("mel",), "feature_stats")
    n_mels = int(len(feature_stats))
    if n_mels < 1 or sorted(feature_stats["mel"].astype(int)) != list(range(n_mels)):
        raise ValueError("feature_stats must hold one row per mel bin, mel = 0 .. n_mels - 1")
    return n_mels


def log_mel_of_files(log_mel, file_ids: Sequence[str], n_mels: int) -> np.ndarray:
    """The (files, frames, mels) float32 log-mel of the given files, in the given order.

    ``log_mel``: a ``file_id``/``log_mel`` DataFrame or a log-mel source (``feature_store``),
    of which only these files' rows are read.
    """
    from subcluster_adacos_asd.feature_table import frame_to_array, log_mel_file_ids

    if isinstance(log_mel, pd.DataFrame):
        check_columns(log_mel, ("file_id", "log_mel"), "log_mel")
    positions = pd.Index(log_mel_file_ids(log_mel)).get_indexer(list(file_ids))
    if (positions < 0).any():
        missing = [f for f, p in zip(file_ids, positions) if p < 0]
        raise ValueError(
            f"{len(missing)} file(s) of file_index have no log_mel row, e.g. {missing[0]!r}: "
            "rerun the features pipeline"
        )
    if isinstance(log_mel, pd.DataFrame):
        return frame_to_array(log_mel.iloc[positions], n_mels)
    if log_mel.n_mels != n_mels:
        raise ValueError(f"log_mel has {log_mel.n_mels} mel bins, feature_stats {n_mels}")
    return log_mel[positions]


def check_columns(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """Fail, naming the frame and its columns, when ``frame`` lacks one of ``columns``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}")
