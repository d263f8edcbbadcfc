"""DCASE task 2 file names (2021, 2022, 2023 layouts) -> the rows of the file index.

Everything the method needs about a recording (section, domain, split, label, attributes) is in
its file name, and the folder layout differs between years (2021 keeps test files in
``source_test/`` and ``target_test/``, later years in ``test/``, the evaluation sets and the
additional training data sit in other roots). Reading the names, not the folders, therefore
handles every year the same way; only the machine type comes from a folder (the one above the
split folder), because it is not part of the name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

import pandas as pd

logger = logging.getLogger(__name__)

#: The development-set (and training-file) grammar, as it appears in error messages.
FILE_NAME_PATTERN = (
    "section_<SS>_<source|target>_<train|test>_<normal|anomaly>_<NNNN>[_<attributes>].wav"
)
#: Evaluation-set test files carry no label; they are indexed with label ``unknown``.
EVALUATION_FILE_NAME_PATTERN = "section_<SS>_<source|target>_test_<NNNN>[_<attributes>].wav"

_LABELLED = re.compile(
    r"^section_(?P<section>\d+)_(?P<domain>source|target)_(?P<split>train|test)"
    r"_(?P<label>normal|anomaly)_(?P<file_number>\d+)(?:_(?P<attributes>.+))?$"
)
_UNLABELLED = re.compile(
    r"^section_(?P<section>\d+)_(?P<domain>source|target)_(?P<split>test)"
    r"_(?P<file_number>\d+)(?:_(?P<attributes>.+))?$"
)
# DCASE 2020 task 2: <normal|anomaly>_id_<machine id>_<8-digit number>.wav. Recognised only to
# say clearly that it is not supported (no sections, domains or attributes to train on).
_DCASE2020 = re.compile(r"^(?:normal|anomaly)_id_\d+_\d+$")

#: Columns of ``file_index`` in the order of docs/data_contracts.md.
FILE_INDEX_COLUMNS = (
    "file_id",
    "path",
    "filename",
    "machine_type",
    "section",
    "domain",
    "split",
    "label",
    "file_number",
    "attributes",
    "section_class",
    "attribute_class",
)

#: What ``invalid_file_names`` may say: stop at names that do not fit, or index the rest.
INVALID_NAME_POLICIES = ("error", "skip")


class FileNameError(ValueError):
    """A WAV whose name or place does not fit the DCASE task 2 grammar."""


@dataclass(frozen=True)
class DcaseFile:
    """One recording as its name describes it (one row of ``file_index``)."""

    file_id: str
    path: str
    filename: str
    machine_type: str
    section: int
    domain: str
    split: str
    label: str
    file_number: int
    attributes: str

    @property
    def section_class(self) -> str:
        """The class of the first AdaCos head: section within machine type, e.g. ``fan_section_00``."""
        return f"{self.machine_type}_section_{self.section:02d}"

    @property
    def attribute_class(self) -> str:
        """The class of the attribute head, e.g. ``fan_section_00_speed_1``; ``""`` without attributes."""
        return f"{self.section_class}_{self.attributes}" if self.attributes else ""

    def as_row(self) -> dict:
        return {name: getattr(self, name) for name in FILE_INDEX_COLUMNS}


def parse_file_name(file_id: str, path: str = "") -> DcaseFile:
    """Parse one file, given its partition key (relative path without ``.wav``).

    ``file_id`` must have at least ``<machine_type>/<split folder>/<name>``; deeper prefixes
    (``dev_data/``, ``eval_data/``) are kept in the id and otherwise ignored. ``path`` is only
    carried into the row and the error messages. Raises :class:`FileNameError` naming the file
    and the expected pattern.
    """
    key = str(file_id)
    if key.lower().endswith(".wav"):
        key = key[: -len(".wav")]
    parts = PurePosixPath(key).parts
    stem = parts[-1] if parts else ""
    filename = f"{stem}.wav"
    where = path or f"{key}.wav"
    if _DCASE2020.match(stem):
        raise FileNameError(
            f"{where}: {filename!r} is DCASE 2020 task 2 naming "
            "(<normal|anomaly>_id_<ID>_<NNNNNNNN>.wav), which is not supported: it has no "
            "sections, domains or attributes. Expected DCASE 2021-2023 names "
            f"{FILE_NAME_PATTERN} (evaluation test files: {EVALUATION_FILE_NAME_PATTERN})."
        )
    match = _LABELLED.match(stem) or _UNLABELLED.match(stem)
    if match is None:
        raise FileNameError(
            f"{where}: file name {filename!r} does not fit the DCASE task 2 pattern "
            f"{FILE_NAME_PATTERN} (evaluation test files: {EVALUATION_FILE_NAME_PATTERN})."
        )
    if len(parts) < 3:
        raise FileNameError(
            f"{where}: cannot tell the machine type; expected the file in "
            "<machine_type>/<split folder>/ (e.g. fan/train/), the machine type being the folder "
            "above the split folder."
        )
    fields = match.groupdict()
    return DcaseFile(
        file_id=key,
        path=path,
        filename=filename,
        machine_type=parts[-3],
        section=int(fields["section"]),
        domain=fields["domain"],
        split=fields["split"],
        label=fields.get("label") or "unknown",
        file_number=int(fields["file_number"]),
        attributes=fields.get("attributes") or "",
    )


def index_files(paths_by_id: Mapping[str, str], invalid_file_names: str = "error") -> pd.DataFrame:
    """The file index (columns :data:`FILE_INDEX_COLUMNS`, sorted by ``file_id``).

    ``paths_by_id`` maps partition keys to file paths (``""`` where unknown).
    ``invalid_file_names``: ``error`` raises one :class:`FileNameError` listing the files that
    do not fit (a wrong name in a data folder usually means a wrong folder, so the default
    stops); ``skip`` leaves them out with a warning.
    """
    if invalid_file_names not in INVALID_NAME_POLICIES:
        raise ValueError(
            f"invalid_file_names must be one of {INVALID_NAME_POLICIES}, got {invalid_file_names!r}"
        )
    rows, problems = [], []
    for file_id in sorted(paths_by_id):
        try:
            rows.append(parse_file_name(file_id, paths_by_id[file_id]).as_row())
        except FileNameError as exc:
            problems.append(str(exc))
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        summary = f"{len(problems)} of {len(paths_by_id)} files do not fit:\n  {shown}{more}"
        if invalid_file_names == "error":
            raise FileNameError(
                f"{summary}\nSet features.invalid_file_names: skip to index the other files."
            )
        logger.warning("Skipping %s", summary)
    if not rows:
        raise FileNameError(
            f"No file fits the DCASE task 2 pattern {FILE_NAME_PATTERN} among the "
            f"{len(paths_by_id)} files given."
        )
    frame = pd.DataFrame(rows, columns=list(FILE_INDEX_COLUMNS))
    frame["section"] = frame["section"].astype("int64")
    frame["file_number"] = frame["file_number"].astype("int64")
    return frame


def check_training_coverage(file_index: pd.DataFrame) -> None:
    """Stop at a section that has test files but no training files, naming one of its files.

    Every model of the project (the GMM backends, both baselines) is fitted per machine type and
    section on its training files, so such a section cannot be scored; without this check the
    run would extract every log-mel and train every network before the ``score`` pipeline says
    so. Sections that lack the *normal* training files of a domain are only warned about here:
    the baselines can still score them, the proposed system's ``score`` cannot (its section GMM
    needs source-domain, its target GMM target-domain normal training files).
    """
    problems = []
    for (machine, section), group in file_index.groupby(["machine_type", "section"], sort=True):
        test = group[group["split"] == "test"]
        if test.empty:
            continue
        train = group[group["split"] == "train"]
        example = _where(test.iloc[0])
        if train.empty:
            problems.append(
                f"{machine} section {int(section):02d}: {len(test)} test files (e.g. {example}) "
                "but no training files"
            )
            continue
        normal_domains = set(train.loc[train["label"] == "normal", "domain"])
        target_test = test[test["domain"] == "target"]
        if "source" not in normal_domains:
            logger.warning(
                "%s section %02d: test files (e.g. %s) but no normal source-domain training "
                "files; the score pipeline cannot fit its section GMM",
                machine, int(section), example,
            )
        if len(target_test) and "target" not in normal_domains:
            logger.warning(
                "%s section %02d: target-domain test files (e.g. %s) but no normal "
                "target-domain training files; the score pipeline cannot fit its target GMM",
                machine, int(section), _where(target_test.iloc[0]),
            )
    if problems:
        raise ValueError(
            "Sections with test files but no training files cannot be scored:\n  "
            + "\n  ".join(problems)
            + "\nAdd their training files to raw_audio (e.g. the DCASE additional training "
            "data) or remove their test files."
        )


def _where(row: pd.Series) -> str:
    return str(row["path"]) or f"{row['file_id']}.wav"
