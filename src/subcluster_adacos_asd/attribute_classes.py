"""Attribute classes every configuration of the grid can train on and fit GMMs to.

The ``both`` loss variant trains a second AdaCos head on attribute classes, and the backends fit
one GMM per attribute class on its normal source-domain training clips (eq. 2). Recordings of
one's own machines often carry no attributes, or an operating condition that occurs once. Both
used to stop a run late: the first at the first ``train`` node, the second after every network
had trained, inside scikit-learn (``Found array with 1 sample(s) ... required by
GaussianMixture``, naming no class). Here, when the file index is built, before any audio is
read:

* a file without attributes takes its section class as attribute class: the attribute head of
  the ``both`` configurations then learns the sections for it (as the ``sections`` head does)
  and its section gets one attribute GMM, on all its clips; one warning says so;
* attribute classes with fewer than ``min_attribute_clips`` normal source-domain training
  clips (a GMM needs at least two) are merged into one class ``<section class>_other``; when
  the merged clips are still too few, they join the section's smallest class that has enough
  (or, where none has, every attribute class of the section becomes the section class); one
  warning names every merged class and where it went.

Data where every attribute class has enough clips (the DCASE data sets) are left exactly as the
file names say, so ``conf/dcase2021`` stays the paper's method. No Kedro in here.
"""

from __future__ import annotations

import logging

import pandas as pd

logger = logging.getLogger(__name__)

#: Suffix of the class that rare attribute classes of a section are merged into.
MERGED_SUFFIX = "other"


def normal_source_training(file_index: pd.DataFrame) -> pd.Series:
    """The clips the attribute GMMs are fitted on (backends.py): normal, source, training."""
    return ((file_index["split"] == "train") & (file_index["label"] == "normal")
            & (file_index["domain"] == "source"))


def assign_attribute_classes(file_index: pd.DataFrame, min_clips: int = 2) -> pd.DataFrame:
    """``file_index`` with an ``attribute_class`` for every file and enough clips in each
    (module docstring); warns once for each kind of change and raises, naming the section,
    where a section has fewer than ``min_clips`` normal source-domain training clips at all."""
    if min_clips < 2:
        raise ValueError(f"min_attribute_clips must be >= 2 (a GMM needs two clips), got {min_clips}")
    index = file_index.copy()
    _fall_back_to_sections(index)
    _check_section_sizes(index, min_clips)
    return _merge_rare_classes(index, min_clips)


def _fall_back_to_sections(index: pd.DataFrame) -> None:
    plain = index["attribute_class"].astype(str) == ""
    if not plain.any():
        return
    index.loc[plain, "attribute_class"] = index.loc[plain, "section_class"]
    training = plain & (index["split"] == "train")
    if not training.any():
        return  # e.g. evaluation-set test files: nothing is trained or fitted on them
    sections = sorted(pd.unique(index.loc[training, "section_class"]))
    trained = int((index["split"] == "train").sum())
    share = ("no training file carries attributes" if training.sum() == trained
             else f"{int(training.sum())} of {trained} training files carry no attributes "
                  f"(e.g. {_where(index[training].iloc[0])})")
    logger.warning(
        "Attributes: %s; their attribute class is their section class (%s), so the attribute "
        "head of the 'both' configurations learns sections for them and their section gets one "
        "attribute GMM on all its clips.", share, _short(sections),
    )


def _check_section_sizes(index: pd.DataFrame, min_clips: int) -> None:
    fitted = normal_source_training(index)
    counts = index[fitted].groupby("section_class").size()
    sections = index.loc[index["split"] == "train", "section_class"].unique()
    problems = []
    for section_class in sorted(sections):
        count = int(counts.get(section_class, 0))
        if 0 < count < min_clips:
            example = _where(index[fitted & (index["section_class"] == section_class)].iloc[0])
            problems.append(f"{section_class}: {count} (e.g. {example})")
    if problems:
        raise ValueError(
            f"Sections with fewer than {min_clips} normal source-domain training clips cannot "
            "have their GMMs fitted:\n  " + "\n  ".join(problems)
            + "\nRecord more normal clips of these machine units (docs/own_recordings.md says "
            "how many), or remove their files."
        )


def _merge_rare_classes(index: pd.DataFrame, min_clips: int) -> pd.DataFrame:
    fitted = normal_source_training(index)
    counts = index[fitted].groupby(["section_class", "attribute_class"]).size()
    renamed: dict[tuple[str, str], str] = {}
    notes = []
    for section_class, per_class in counts.groupby(level=0, sort=True):
        per_class = per_class.droplevel(0)
        rare = per_class[per_class < min_clips]
        if rare.empty:
            continue
        enough = per_class[per_class >= min_clips]
        merged = f"{section_class}_{MERGED_SUFFIX}"
        if rare.sum() < min_clips:
            if enough.empty:
                merged = section_class
            else:  # the smallest class with enough clips (ties: the first name)
                merged = str(enough.sort_values(kind="stable").index[0])
        elif merged in per_class.index:
            merged = f"{merged}_merged"
        for attribute_class in rare.index:
            renamed[(section_class, attribute_class)] = merged
        listed = ", ".join(f"{a} ({int(n)} clip{'s' if n != 1 else ''})" for a, n in rare.items())
        notes.append(f"{listed} -> {merged}")
    if not renamed:
        return index
    keys = list(zip(index["section_class"], index["attribute_class"]))
    index["attribute_class"] = [renamed.get(key, key[1]) for key in keys]
    logger.warning(
        "Attribute classes with fewer than %d normal source-domain training clips (a GMM needs "
        "at least %d; features.min_attribute_clips) are merged: %s", min_clips, min_clips,
        "; ".join(notes),
    )
    return index


def _where(row: pd.Series) -> str:
    return str(row.get("path") or "") or f"{row['file_id']}.wav"


def _short(names: list[str], shown: int = 5) -> str:
    more = f", ... ({len(names)} in all)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
