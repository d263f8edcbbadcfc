"""Recordings described by a manifest table or by their folders, instead of DCASE file names.

An engineer's own recordings are not named ``section_00_source_train_normal_0000_<attrs>.wav``.
Two other ways say what a recording is:

* a **manifest**, a CSV or Parquet table with one row per recording (docs/own_recordings.md):
  ``path`` (relative to the manifest's folder, or absolute), ``machine``, ``section`` (or
  ``unit``: a whole number per machine unit), ``split`` (``train`` / ``test``) and optionally
  ``domain`` (``source``, default, / ``target``), ``label`` (``normal`` / ``anomaly`` /
  ``unknown``; default ``normal`` for training and ``unknown`` for test files), ``attributes``
  (any text: the operating condition, e.g. ``speed_3``) and ``timestamp`` (when it was
  recorded; the score history of ``inference`` uses it);
* the **folder convention** ``<machine>/<unit>/{train,test}/[normal|anomaly/]<any name>.wav``
  (``features.layout: folders``): every file is a source-domain file without attributes, a
  training file normal, a test file labelled by its ``normal/`` or ``anomaly/`` folder, else
  ``unknown``.

Either gives the rows of the same ``file_index`` the DCASE names give (docs/data_contracts.md),
so nothing downstream knows where they came from. No Kedro in here.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from subcluster_adacos_asd.dcase_names import (
    FILE_INDEX_COLUMNS,
    INVALID_NAME_POLICIES,
    FileNameError,
)
from subcluster_adacos_asd.settings_base import Settings

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("path", "machine", "section", "split")
OPTIONAL_COLUMNS = ("domain", "label", "attributes", "timestamp")
#: Other names accepted for a column (``unit`` for ``section``, the file index's names).
COLUMN_ALIASES = {"unit": "section", "machine_type": "machine", "file": "path"}
SPLITS = ("train", "test")
DOMAINS = ("source", "target")
LABELS = ("normal", "anomaly", "unknown")
#: Machine names end up in file names (figures, submission files): plain characters only.
MACHINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: A unit folder of the folder convention: a number, optionally after a word (``unit_03``).
UNIT_FOLDER = re.compile(r"^(?:[A-Za-z]+[_-]?)?(\d+)$")
#: How ``features`` learns what each recording is when no manifest is configured.
LAYOUTS = ("dcase", "folders")
#: Problems listed in one error message before "... and N more".
SHOWN = 10


@dataclass(frozen=True)
class IndexSettings(Settings):
    """The ``params:features`` keys of the file index and the recording checks (not the
    log-mel's own, see :data:`log_mel.EXTRACTION_KEYS`).

    ``layout``: ``dcase`` (file names) or ``folders`` (the folder convention), used when no
    manifest is configured. ``min_attribute_clips``: an attribute class needs this many normal
    source-domain training clips for its GMM, fewer are merged (attribute_classes.py).
    ``level_tolerance_db``: how far a clip's level may lie from its section's training clips
    (levels.py); null switches the level check off (digital silence is always an error).
    """

    invalid_file_names: str = "error"
    layout: str = "dcase"
    min_attribute_clips: int = 2
    level_tolerance_db: float | None = 20.0
    n_jobs: int = -1
    chunk_size: int = 64

    def __post_init__(self):
        if self.invalid_file_names not in INVALID_NAME_POLICIES:
            raise ValueError(f"params:features.invalid_file_names must be one of "
                             f"{INVALID_NAME_POLICIES}, got {self.invalid_file_names!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"params:features.layout must be one of {LAYOUTS}, "
                             f"got {self.layout!r}")
        if self.min_attribute_clips < 2:
            raise ValueError("params:features.min_attribute_clips must be >= 2 (a GMM needs at "
                             f"least two clips), got {self.min_attribute_clips}")
        if self.level_tolerance_db is not None and self.level_tolerance_db <= 0:
            raise ValueError("params:features.level_tolerance_db must be positive or null, "
                             f"got {self.level_tolerance_db}")
        if self.n_jobs == 0:
            raise ValueError("params:features.n_jobs must be -1 (all cores) or a positive "
                             "number of processes, got 0")
        if self.chunk_size < 1:
            raise ValueError(f"params:features.chunk_size must be >= 1, got {self.chunk_size}")

    @classmethod
    def from_feature_parameters(cls, parameters: Mapping) -> IndexSettings:
        """Settings from the whole ``params:features`` (the log-mel's keys set aside)."""
        from subcluster_adacos_asd.log_mel import LogMelSettings

        own = {k: v for k, v in dict(parameters or {}).items()
               if k not in {f for f in LogMelSettings.__dataclass_fields__}}
        return cls.from_parameters(own, "params:features")


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the manifest, the rows and why."""


# --------------------------------------------------------------------------------------------
# reading and checking a manifest


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """The manifest table at ``path`` (``.csv`` or ``.parquet``), every ``path`` made absolute
    against the manifest's own folder. CSV cells are read as text (``03`` stays ``03``)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"Manifest {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    elif suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    else:
        raise ManifestError(f"Manifest {path}: expected a .csv or .parquet file")
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.rename(columns=COLUMN_ALIASES)
    if "path" in frame.columns:
        folder = path.resolve().parent
        frame["path"] = [_absolute(p, folder) for p in frame["path"]]
    frame.attrs["source"] = str(path)
    return frame


def _absolute(value, folder: Path) -> str:
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    text = text.strip()
    if not text:
        return ""
    candidate = Path(text).expanduser()
    return os.path.normpath(candidate if candidate.is_absolute() else folder / candidate)


def checked_manifest(frame: pd.DataFrame, default_split: str | None = None) -> pd.DataFrame:
    """The manifest with one clean row per recording, or a :class:`ManifestError` listing every
    bad row (row numbers as a spreadsheet shows them: the header is row 1).

    Columns of the result: ``row``, ``path``, ``machine_type``, ``section`` (int), ``domain``,
    ``split``, ``label``, ``attributes``, ``timestamp`` (``NaT`` where not given).
    ``default_split``: the split of rows without one (``inference`` manifests: ``test``).
    """
    source = frame.attrs.get("source", "manifest")
    frame = frame.rename(columns=COLUMN_ALIASES)
    required = [c for c in REQUIRED_COLUMNS if not (c == "split" and default_split)]
    missing = [c for c in required if c not in frame.columns]
    unknown = sorted(set(frame.columns) - set(REQUIRED_COLUMNS) - set(OPTIONAL_COLUMNS))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"lacks the column(s) {missing}")
        if unknown:
            parts.append(f"has unknown column(s) {unknown}")
        raise ManifestError(
            f"{source} {' and '.join(parts)}; columns: {list(REQUIRED_COLUMNS)} required, "
            f"{list(OPTIONAL_COLUMNS)} optional ('unit' may stand for 'section')"
        )
    if frame.empty:
        raise ManifestError(f"{source} has no rows")
    rows, problems = [], []
    for position, record in enumerate(frame.to_dict("records")):
        row_number = position + 2
        where = f"{source} row {row_number}"
        try:
            rows.append(_checked_row(record, row_number, default_split))
        except ManifestError as error:
            problems.append(f"{where}: {error}")
    table = pd.DataFrame(rows)
    if not problems:
        duplicated = table["path"].duplicated(keep=False)
        for path, group in table[duplicated].groupby("path", sort=True):
            problems.append(f"{path} is listed {len(group)} times "
                            f"(rows {', '.join(str(r) for r in group['row'])})")
    if problems:
        raise ManifestError(_listed(f"{source}: {len(problems)} problem(s)", problems))
    table["section"] = table["section"].astype("int64")
    table["timestamp"] = pd.to_datetime(table["timestamp"])
    return table.reset_index(drop=True)


def _text(value) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return ""
    return str(value).strip()


def _checked_row(record: Mapping, row_number: int, default_split: str | None) -> dict:
    path = _text(record.get("path"))
    if not path:
        raise ManifestError("empty path")
    machine = _text(record.get("machine"))
    if not MACHINE_NAME.match(machine):
        raise ManifestError(
            f"machine {machine!r} must be a name of letters, digits, '_', '-' and '.' (it "
            "becomes part of file names)"
        )
    section_text = _text(record.get("section"))
    try:
        section = float(section_text)
    except ValueError:
        section = float("nan")
    if not (section == section and section >= 0 and section == int(section)):
        raise ManifestError(
            f"section {section_text!r} must be a whole number >= 0 (number the units of a "
            "machine 0, 1, 2, ...)"
        )
    split = _text(record.get("split")).lower() or (default_split or "")
    if split not in SPLITS:
        raise ManifestError(f"split {split!r} must be one of {', '.join(SPLITS)}")
    domain = _text(record.get("domain")).lower() or "source"
    if domain not in DOMAINS:
        raise ManifestError(f"domain {domain!r} must be one of {', '.join(DOMAINS)} (or empty)")
    label = _text(record.get("label")).lower() or ("normal" if split == "train" else "unknown")
    if label not in LABELS:
        raise ManifestError(f"label {label!r} must be one of {', '.join(LABELS)} (or empty)")
    timestamp = _timestamp(record.get("timestamp"))
    return {"row": row_number, "path": path, "machine_type": machine, "section": int(section),
            "domain": domain, "split": split, "label": label,
            "attributes": _text(record.get("attributes")), "timestamp": timestamp}


def _timestamp(value) -> pd.Timestamp:
    """A naive timestamp (UTC where the value has a time zone), ``NaT`` when empty."""
    if isinstance(value, pd.Timestamp) or hasattr(value, "year"):
        stamp = pd.Timestamp(value)
    else:
        text = _text(value)
        if not text:
            return pd.NaT
        try:
            stamp = pd.Timestamp(text)
        except (ValueError, TypeError) as error:
            raise ManifestError(
                f"timestamp {text!r} is not a date and time (write e.g. 2024-05-01 06:30:00)"
            ) from error
    if stamp is pd.NaT:
        return pd.NaT
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp


def _listed(headline: str, problems: list[str]) -> str:
    shown = "\n  ".join(problems[:SHOWN])
    more = f"\n  ... and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    return f"{headline}:\n  {shown}{more}"


# --------------------------------------------------------------------------------------------
# manifest / folders -> file index


def manifest_file_index(manifest: pd.DataFrame, paths_by_id: Mapping[str, str]) -> pd.DataFrame:
    """The file index of the recordings a (checked or raw) manifest lists, in manifest order.

    ``paths_by_id`` maps the partition keys of ``raw_audio`` to their absolute paths: every
    manifest path must be one of them (a recording outside raw_audio's folder cannot be read
    by the pipeline); WAVs of raw_audio that the manifest does not list are left out with one
    warning. The order of the rows is the manifest's: the training files' order decides the
    seeded batches, so a manifest in the order of a DCASE data set's sorted names trains the
    same networks as the names do (docs/own_recordings.md, worked example).
    """
    table = manifest if "row" in manifest.columns else checked_manifest(manifest)
    source = manifest.attrs.get("source", "manifest")
    key_of = {os.path.normpath(path): key for key, path in paths_by_id.items() if path}
    missing = [f"row {r}: {p}" for r, p in zip(table["row"], table["path"]) if p not in key_of]
    if missing:
        folder = os.path.commonpath(list(key_of.values())) if key_of else "(no WAV files)"
        raise ManifestError(_listed(
            f"{source}: {len(missing)} of {len(table)} recordings are not WAV files below "
            f"raw_audio's folder {folder} (a missing file, a typing error, or raw_audio.path "
            "pointing elsewhere)", missing))
    keys = [key_of[p] for p in table["path"]]
    listed = set(keys)
    left_out = sorted(k for k in paths_by_id if k not in listed)
    if left_out:
        logger.warning("%d WAV files below raw_audio are not in %s and are left out, e.g. %s",
                       len(left_out), source, paths_by_id[left_out[0]] or left_out[0])
    names = [PurePosixPath(p).name for p in table["path"]]
    if len(set(names)) < len(names):  # e.g. day1/rec_001.wav and day2/rec_001.wav
        names = [f"{key}.wav" for key in keys]
    rows = pd.DataFrame({
        "file_id": keys,
        "path": table["path"].tolist(),
        "filename": names,
        "machine_type": table["machine_type"].tolist(),
        "section": table["section"].astype("int64").tolist(),
        "domain": table["domain"].tolist(),
        "split": table["split"].tolist(),
        "label": table["label"].tolist(),
        "file_number": [int(r) - 2 for r in table["row"]],
        "attributes": table["attributes"].tolist(),
    })
    return _with_classes(rows)


def folder_file_index(paths_by_id: Mapping[str, str], invalid_file_names: str = "error"
                      ) -> pd.DataFrame:
    """The file index of WAVs laid out as ``<machine>/<unit>/{train,test}/[normal|anomaly/]*``
    (module docstring), sorted by ``file_id``; files elsewhere are an error listing them, or
    left out with a warning when ``invalid_file_names`` is ``skip``."""
    rows, problems = [], []
    for key in sorted(paths_by_id):
        parts = PurePosixPath(str(key)).parts
        split_at = [i for i, part in enumerate(parts[:-1]) if part in SPLITS and i >= 2]
        where = paths_by_id[key] or f"{key}.wav"
        if not split_at:
            problems.append(f"{where}: not in <machine>/<unit>/train/ or <machine>/<unit>/test/")
            continue
        i = split_at[-1]
        machine, unit, split = parts[i - 2], parts[i - 1], parts[i]
        unit_match = UNIT_FOLDER.match(unit)
        if not MACHINE_NAME.match(machine) or unit_match is None:
            problems.append(f"{where}: machine folder {machine!r} / unit folder {unit!r}: the "
                            "unit folder must be a number, e.g. 00, unit_00 or section_00")
            continue
        sub = parts[i + 1] if len(parts) > i + 2 else ""
        label = sub if sub in ("normal", "anomaly") else (
            "normal" if split == "train" else "unknown")
        if split == "train" and label == "anomaly":
            problems.append(f"{where}: an anomaly/ folder below train/ (training files are "
                            "normal; put anomalous recordings below test/anomaly/)")
            continue
        rows.append({"file_id": str(key), "path": paths_by_id[key],
                     "filename": f"{parts[-1]}.wav", "machine_type": machine,
                     "section": int(unit_match.group(1)), "domain": "source", "split": split,
                     "label": label, "file_number": len(rows), "attributes": ""})
    if problems:
        summary = _listed(f"{len(problems)} of {len(paths_by_id)} files do not follow the folder "
                          "convention <machine>/<unit>/{train,test}/[normal|anomaly/]<name>.wav",
                          problems)
        if invalid_file_names == "error":
            raise FileNameError(f"{summary}\nSet features.invalid_file_names: skip to index the "
                                "other files, or describe the files in a manifest.")
        logger.warning("Skipping %s", summary)
    if not rows:
        raise FileNameError(f"No file follows the folder convention among the "
                            f"{len(paths_by_id)} files given.")
    names = [r["filename"] for r in rows]
    if len(set(names)) < len(names):
        for row in rows:
            row["filename"] = f"{row['file_id']}.wav"
    return _with_classes(pd.DataFrame(rows))


def _with_classes(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    rows["section"] = rows["section"].astype("int64")
    rows["file_number"] = rows["file_number"].astype("int64")
    rows["section_class"] = [f"{m}_section_{int(s):02d}"
                             for m, s in zip(rows["machine_type"], rows["section"])]
    rows["attribute_class"] = [f"{c}_{a}" if a else ""
                               for c, a in zip(rows["section_class"], rows["attributes"])]
    return rows[list(FILE_INDEX_COLUMNS)].reset_index(drop=True)
