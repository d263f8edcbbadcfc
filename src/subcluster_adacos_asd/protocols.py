"""Which DCASE protocol scores a data set, and the ground truth of evaluation sets.

Two things the official evaluators do that the labels in the file names do not say:

* **Evaluation-set ground truth.** Evaluation test files carry no label in their names
  (``section_03_source_test_0000.wav``); the organisers publish
  ``ground_truth_<machine>_section_<SS>_<source|target>_test.csv`` (2021) or
  ``ground_truth_<machine>_section_<SS>_test.csv`` (2022 on), rows ``filename,label`` with 0 =
  normal, 1 = anomaly. :func:`apply_ground_truth` labels the file index from such a folder, so
  evaluation sections get the same tables as development sections.
* **The 2022-2024 protocol.** From DCASE 2022 on a section's test clips of both domains lie in one
  ``test/`` folder and are scored together: the AUC of a domain compares that domain's normal
  clips with *all* anomalous clips of the section, and the pAUC is computed once per section
  over both domains. The 2021 protocol scores each domain on its own. :func:`protocol_of` picks
  the protocol from the layout (``auto``) unless it is given.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

PROTOCOLS = ("auto", "dcase2021", "dcase2022")
#: ``ground_truth_<machine>_section_<SS>[_<domain>]_test.csv``
GROUND_TRUTH_NAME = re.compile(
    r"^ground_truth_(?P<machine_type>.+)_section_(?P<section>\d{2})"
    r"(?:_(?P<domain>source|target))?_test\.csv$"
)


def protocol_of(file_index: pd.DataFrame, protocol: str = "auto") -> str:
    """``dcase2021`` or ``dcase2022``: as given, or (``auto``) from where the test files lie: a
    single ``test/`` folder per machine type is the 2022-2024 layout."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"evaluation protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if protocol != "auto":
        return protocol
    test = file_index[file_index["split"] == "test"]
    folders = {Path(str(p)).parent.name for p in test.get("path", pd.Series(dtype=str)) if p}
    if not folders:  # no paths: the folder is the partition key's second part
        folders = {str(f).split("/")[-2] for f in test["file_id"] if str(f).count("/") >= 2}
    return "dcase2022" if "test" in folders else "dcase2021"


def read_ground_truth(folder: str | Path) -> pd.DataFrame:
    """``machine_type, section, domain, filename, label`` from every ground-truth CSV of a folder
    (``domain`` empty for the 2022+ naming). A file with another name in the folder is left out
    with a warning; a label other than 0 or 1 is an error naming the file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"evaluate.ground_truth: no folder {folder}")
    frames = []
    for path in sorted(folder.glob("*.csv")):
        match = GROUND_TRUTH_NAME.match(path.name)
        if not match:
            logger.warning("Not a ground-truth file name, left out: %s", path)
            continue
        table = pd.read_csv(path, header=None, names=["filename", "label"], dtype={0: str})
        bad = ~table["label"].isin([0, 1])
        if bad.any():
            raise ValueError(f"{path}: labels must be 0 (normal) or 1 (anomaly), got "
                             f"{table.loc[bad, 'label'].iloc[0]!r} for {table.loc[bad, 'filename'].iloc[0]}")
        frames.append(table.assign(machine_type=match["machine_type"],
                                   section=int(match["section"]),
                                   domain=match["domain"] or ""))
    if not frames:
        raise FileNotFoundError(f"evaluate.ground_truth: no ground_truth_*_test.csv in {folder}")
    truth = pd.concat(frames, ignore_index=True)
    truth["filename"] = truth["filename"].map(lambda name: Path(name).name)
    return truth[["machine_type", "section", "domain", "filename", "label"]]


def apply_ground_truth(file_index: pd.DataFrame, ground_truth: str | None) -> pd.DataFrame:
    """``file_index`` with the labels of its unlabelled test files taken from the ground truth
    folder (``None``: unchanged). Files the ground truth lists but the index lacks are counted in
    a warning; a labelled file whose ground truth disagrees is an error naming it."""
    if not ground_truth:
        return file_index
    truth = read_ground_truth(ground_truth)
    keys = ["machine_type", "section", "filename"]
    labels = truth.drop_duplicates(keys).set_index(keys)["label"]
    frame = file_index.copy()
    found = pd.MultiIndex.from_frame(frame[keys]).map(
        lambda key: labels.get(key, float("nan")))
    named = pd.Series(found, index=frame.index).map({0: "normal", 1: "anomaly"})
    known = named.notna() & (frame["split"] == "test")
    clash = known & frame["label"].isin(["normal", "anomaly"]) & (frame["label"] != named)
    if clash.any():
        row = frame[clash].iloc[0]
        raise ValueError(f"ground truth says {named[clash].iloc[0]} for {row['path'] or row['file_id']}, "
                         f"its name says {row['label']}")
    frame.loc[known, "label"] = named[known]
    missing = len(truth) - int(known.sum())
    if missing > 0:
        logger.warning("%d ground-truth rows name files the file index does not hold", missing)
    logger.info("Ground truth: labels for %d test files from %s", int(known.sum()), ground_truth)
    return frame
