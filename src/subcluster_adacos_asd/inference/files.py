"""The new recordings of an inference run: listing, what each file is, checks and log-mel.

New recordings are less tidy than a data set (see the package docstring), so every file is
checked and one that cannot be scored becomes an error row naming the file and what is wrong,
instead of stopping the others. No Kedro in here: the ``inference`` pipeline's nodes call these
functions.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from subcluster_adacos_asd.dcase_names import FILE_NAME_PATTERN, FileNameError, parse_file_name
from subcluster_adacos_asd.log_mel import LogMelSettings
from subcluster_adacos_asd.settings_base import Settings

# backends, embedding, ensemble and training (Keras, TensorFlow, scikit-learn) are imported
# where used: the log-mel worker processes import this module, and TensorFlow alone made each
# worker start 10 s later on a busy 2-core machine.
if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


STATUS_SCORED = "scored"
STATUS_ERROR = "error"
DOMAINS = ("source", "target")
AUDIO_SUFFIXES = (".wav",)
#: Folder names of the DCASE layouts (2021: train, source_test, target_test; 2022-2023: test).
SPLIT_FOLDERS = ("train", "test", "source_test", "target_test")

#: Columns of the table of checked input files (one row per file, error rows included).
FILE_COLUMNS = (
    "file_id", "path", "filename", "machine_type", "section", "domain", "split", "label",
    "attributes", "section_class", "attribute_class", "status", "reason", "recorded_at",
)

#: Columns of ``inference_scores`` (README.md), in order.
#: ``inference.ensemble``: every member of the chosen loss variants, or the reduced ensemble's.
ENSEMBLES = ("full", "reduced")

OUTPUT_COLUMNS = (
    "file", "filename", "machine_type", "section", "domain", "status", "reason", "score",
    "decision", "threshold", "threshold_score", "variant", "section_term", "attribute_term",
    "target_term", "tmax_term", "label", "recorded_at",
)


@dataclass(frozen=True)
class InferenceSettings(Settings):
    """The ``inference`` parameters (conf/base/parameters_inference.yml).

    ``input_path``: a folder (searched recursively for ``*.wav``), one audio file, or a list of
    folders and files. ``manifest``: instead, a CSV or Parquet table of the files with their
    machine, section, domain and recording time (manifest.py; ``split`` may be left out).
    ``machine_type`` (all files) and ``section`` / ``domain`` (files whose
    names do not follow the DCASE grammar) say what the files are; DCASE names carry their own
    section and domain. ``resample`` / ``downmix``: convert other sample rates / several
    channels instead of reporting the file as an error. ``ensemble``: ``full`` (every member of
    the chosen loss variants) or ``reduced`` (the members the ``score`` pipeline's ensemble
    reduction kept: fewer networks to run, chosen on labelled development data).
    """

    input_path: str | tuple[str, ...] | None = None
    manifest: str | None = None
    machine_type: str | None = None
    section: int | None = None
    domain: str | None = None
    resample: bool = False
    downmix: bool = False
    n_jobs: int = 1
    chunk_size: int = 256
    ensemble: str = "full"

    def __post_init__(self):
        no_path = self.input_path is None or self.input_path in ("", ())
        if no_path and not self.manifest:
            raise ValueError(
                "inference.input_path is not set: give the folder (or file, or list) of "
                "recordings to score, e.g. kedro run --pipelines=inference "
                "--params=inference.input_path=/path/to/new/recordings (or a manifest of them: "
                "inference.manifest)"
            )
        if not no_path and self.manifest:
            raise ValueError("set inference.input_path or inference.manifest, not both")
        if self.domain is not None and self.domain not in DOMAINS:
            raise ValueError(f"inference.domain must be one of {DOMAINS} or null, got {self.domain!r}")
        if self.section is not None and int(self.section) < 0:
            raise ValueError(f"inference.section must be a section number >= 0, got {self.section}")
        if int(self.n_jobs) == 0:
            raise ValueError("inference.n_jobs must be -1 (all cores) or a positive number of "
                             "processes, got 0")
        if self.ensemble not in ENSEMBLES:
            raise ValueError(f"inference.ensemble must be one of {ENSEMBLES}, got {self.ensemble!r}")
        if int(self.chunk_size) < 1:
            raise ValueError(f"inference.chunk_size must be >= 1, got {self.chunk_size}")

    @classmethod
    def from_parameters(cls, parameters: Mapping, what: str = "params:inference"
                        ) -> InferenceSettings:
        """Settings from ``params:inference``; unknown keys are an error (typos must not pass)."""
        parameters = dict(parameters or {})
        path = parameters.get("input_path")
        if isinstance(path, (list, tuple)):
            parameters["input_path"] = tuple(str(p) for p in path)
        elif path is not None:
            parameters["input_path"] = str(path)
        if parameters.get("section") is not None:
            parameters["section"] = int(parameters["section"])
        return super().from_parameters(parameters, what)

    def log_mel_settings(self, feature_parameters: Mapping) -> LogMelSettings:
        """The trained system's log-mel settings (``params:features``) with this run's permission
        to resample and downmix; frame count, mel bins and padding stay those of training."""
        return LogMelSettings.from_parameters(
            {**dict(feature_parameters), "resample": bool(self.resample),
             "downmix": bool(self.downmix)}
        )


# --------------------------------------------------------------------------------------------
# listing and describing the input files


def list_input_files(input_path: str | os.PathLike | Iterable) -> list[str]:
    """Absolute paths of the files to score, sorted and without duplicates.

    A folder contributes every ``*.wav`` below it (other files, e.g. notes or CSVs next to the
    recordings, are left out); a file is taken as given, whatever its suffix, so that a listed
    non-WAV file gets an error row rather than vanishing. In a list, an entry that does not exist
    is kept (it becomes an error row); a single ``input_path`` that does not exist, or inputs
    without any file, stop the run with an error naming them.
    """
    entries = (
        [input_path] if isinstance(input_path, (str, os.PathLike)) else list(input_path)
    )
    if not entries:
        raise ValueError("inference.input_path is an empty list: no recordings to score")
    single = len(entries) == 1
    paths: list[str] = []
    for entry in entries:
        path = Path(entry).expanduser()
        if path.is_dir():
            found = sorted(
                str(p.resolve()) for p in path.rglob("*")
                if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
            )
            if not found:
                logger.warning("No *.wav files below %s", path)
            paths.extend(found)
        elif path.exists() or not single:
            paths.append(str(path.resolve()))
        else:
            raise FileNotFoundError(f"inference.input_path {str(entry)!r} does not exist")
    unique = sorted(set(paths))
    if len(unique) < len(paths):
        logger.info("%d files were listed more than once; each is scored once",
                    len(paths) - len(unique))
    if not unique:
        raise ValueError(f"No *.wav files in inference.input_path {input_path!r}")
    return unique


def machine_folder(path: str) -> str:
    """The folder that names a file's machine type: the one above its split folder in a DCASE
    layout (``fan/target_test/x.wav``), else the file's own folder (``fan/x.wav``)."""
    parts = Path(path).parts[:-1]
    if len(parts) >= 2 and parts[-1] in SPLIT_FOLDERS:
        return parts[-2]
    return parts[-1] if parts else ""


def describe_files(paths: Sequence[str], settings: InferenceSettings) -> pd.DataFrame:
    """One row per file (:data:`FILE_COLUMNS`): what the file is, or why it cannot be scored.

    A name in the DCASE grammar gives section, domain, split, label and attributes; its machine
    type is ``settings.machine_type`` or else :func:`machine_folder` (``fan`` for
    ``fan/target_test/x.wav`` as in a DCASE data set, and for ``fan/x.wav``). Any other name needs ``machine_type``, ``section`` and
    ``domain`` in the settings and is described as an unlabelled test file; without them it is
    an error row saying what to set.
    """
    rows = []
    for path in paths:
        key = f"{settings.machine_type or machine_folder(path)}/split/{Path(path).stem}"
        row = {c: None for c in FILE_COLUMNS}
        row.update(file_id=path, path=path, filename=Path(path).name, status=STATUS_SCORED,
                   reason="", recorded_at=modification_time(path))
        try:
            parsed = parse_file_name(key, path)
        except FileNameError:
            parsed = None
        if parsed is not None:
            row.update(machine_type=parsed.machine_type, section=parsed.section,
                       domain=parsed.domain, split=parsed.split, label=parsed.label,
                       attributes=parsed.attributes)
        else:
            missing = [name for name in ("machine_type", "section", "domain")
                       if getattr(settings, name) is None]
            if missing:
                row.update(
                    label="unknown",  # README: the label the name states, `unknown` otherwise
                    status=STATUS_ERROR,
                    reason=(
                        f"{path}: the name does not follow the DCASE grammar {FILE_NAME_PATTERN},"
                        " so it does not say which machine section and domain it is; set "
                        + ", ".join(f"inference.{name}" for name in missing)
                        + " to score files with other names."
                    ),
                )
            else:
                row.update(machine_type=settings.machine_type, section=int(settings.section),
                           domain=settings.domain, split="test", label="unknown", attributes="")
        if row["status"] == STATUS_SCORED:
            row["section_class"] = f"{row['machine_type']}_section_{int(row['section']):02d}"
            row["attribute_class"] = (
                f"{row['section_class']}_{row['attributes']}" if row["attributes"] else ""
            )
        rows.append(row)
    return _files_frame(rows)


def _files_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(FILE_COLUMNS))
    frame["section"] = frame["section"].astype("Int64")
    frame["recorded_at"] = pd.to_datetime(frame["recorded_at"]).astype("datetime64[us]")
    return frame


def modification_time(path: str) -> pd.Timestamp:
    """When a file was last written (local time, as a file manager shows it): its recording
    time where nothing else says; ``NaT`` for a file that is not there."""
    try:
        return pd.Timestamp(os.path.getmtime(path), unit="s", tz="UTC").tz_convert(
            _local_zone()).tz_localize(None)
    except OSError:
        return pd.NaT


def _local_zone():
    from datetime import datetime

    return datetime.now().astimezone().tzinfo


def describe_manifest(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per recording of an inference manifest (manifest.py; ``split`` defaults to
    ``test``), as :func:`describe_files` gives them: the manifest says what each file is and
    when it was recorded (its ``timestamp``, else the file's modification time). A listed file
    that is not there is an error row; a manifest that cannot be read stops the run."""
    from subcluster_adacos_asd.manifest import checked_manifest

    table = checked_manifest(manifest, default_split="test")
    rows = []
    for record in table.to_dict("records"):
        path = record["path"]
        row = {c: None for c in FILE_COLUMNS}
        row.update(file_id=path, path=path, filename=Path(path).name,
                   machine_type=record["machine_type"], section=int(record["section"]),
                   domain=record["domain"], split=record["split"], label=record["label"],
                   attributes=record["attributes"], status=STATUS_SCORED, reason="")
        row["recorded_at"] = (record["timestamp"] if not pd.isna(record["timestamp"])
                              else modification_time(path))
        row["section_class"] = f"{row['machine_type']}_section_{int(row['section']):02d}"
        row["attribute_class"] = (f"{row['section_class']}_{row['attributes']}"
                                  if row["attributes"] else "")
        if not Path(path).is_file():
            row.update(status=STATUS_ERROR, reason=f"{path}: no such file (listed in "
                                                   f"{manifest.attrs.get('source', 'the manifest')})")
        rows.append(row)
    return _files_frame(rows)


def trained_sections(thresholds: pd.DataFrame) -> pd.DataFrame:
    """``machine_type, section, domain`` the system can score: those with a fitted threshold.

    The ``score`` pipeline sets a threshold for exactly the sections and domains that had
    normal training files, i.e. those with a section GMM (source) or a target GMM (target).
    """
    table = thresholds[["machine_type", "section", "domain"]].drop_duplicates()
    return table.astype({"section": "int64"}).reset_index(drop=True)


def check_trained(
    files: pd.DataFrame, variant_choice: Mapping[str, str], thresholds: pd.DataFrame
) -> pd.DataFrame:
    """``files`` with error rows for machine types, sections and domains the system never saw.

    A GMM of another section would give a number, but not an anomaly score of this machine, so
    such files are named rather than scored.
    """
    files = files.copy()
    trained = trained_sections(thresholds)
    machine_types = sorted(set(variant_choice))
    for i in files.index[files["status"] == STATUS_SCORED]:
        machine, section, domain = (files.at[i, c] for c in ("machine_type", "section", "domain"))
        path = files.at[i, "path"]
        of_machine = trained[trained["machine_type"] == machine]
        reason = None
        if machine not in variant_choice:
            reason = (
                f"{path}: machine type {machine!r} was not trained (trained machine types: "
                f"{', '.join(machine_types)}), taken from the folder name; set "
                "inference.machine_type if the folders do not name the machine type."
            )
        elif int(section) not in set(of_machine["section"]):
            sections = ", ".join(f"{s:02d}" for s in sorted(set(of_machine["section"])))
            reason = (
                f"{path}: section {int(section):02d} of {machine} was not trained "
                f"(trained sections of {machine}: {sections})."
            )
        elif not ((of_machine["section"] == int(section)) & (of_machine["domain"] == domain)).any():
            reason = (
                f"{path}: {machine} section {int(section):02d} has no trained {domain} domain "
                f"(no normal {domain}-domain training files)."
            )
        if reason is not None:
            files.loc[i, ["status", "reason"]] = [STATUS_ERROR, reason]
    return files


# --------------------------------------------------------------------------------------------
# audio -> log-mel, one file at a time so that one bad file cannot stop the others


def _log_mel_or_error(
    items: Sequence[tuple[str, str]], settings: LogMelSettings
) -> list[tuple[np.ndarray | None, str]]:
    """Worker task: ``(log-mel, "")`` or ``(None, reason)`` for each ``(file_id, path)``.

    Files are read as ``WavDataset`` reads them (``soundfile.read``, float32, no resampling or
    downmixing), and BLAS is held to one thread as in the ``features`` pipeline, so a file's
    log-mel is the one it had there (the pipeline test checks the scores are equal). The path
    is opened directly (:func:`~subcluster_adacos_asd.datasets.wav.read_wav`) rather than
    through fsspec so that a reading error names the file, not a file object.
    """
    from threadpoolctl import threadpool_limits

    from subcluster_adacos_asd.datasets.wav import read_wav
    from subcluster_adacos_asd.log_mel import load_log_mel, mel_basis

    basis = mel_basis(settings)
    results = []
    with threadpool_limits(limits=1, user_api="blas"):
        for _, path in items:
            try:
                if not Path(path).is_file():
                    raise FileNotFoundError(f"{path}: no such file")
                values = load_log_mel(path, partial(read_wav, path), settings, basis)
                results.append((values, ""))
            except Exception as exc:  # noqa: BLE001  every failure is this file's error row
                message = _inference_hints(str(exc))
                results.append((None, message if path in message else f"{path}: {message}"))
    return results


def _inference_hints(message: str) -> str:
    """An audio error's hint in this pipeline's words: the permissions to convert are the
    ``inference`` parameters, and the frame count is the trained system's, not to be lowered."""
    message = message.replace("features.downmix", "inference.downmix")
    message = message.replace("features.resample", "inference.resample")
    cut = message.find(" Set features.short_clip_padding")
    if cut >= 0:
        message = message[:cut] + " The trained system needs this many frames."
    return message


def worker_count(n_files: int, n_jobs: int, chunk_size: int) -> int:
    """Processes :func:`extract_log_mel` uses: one per chunk of files, at most ``n_jobs``."""
    from joblib import effective_n_jobs

    return max(1, min(int(effective_n_jobs(n_jobs)), math.ceil(n_files / chunk_size)))


def extract_log_mel(
    files: pd.DataFrame, settings: LogMelSettings, n_jobs: int = 1, chunk_size: int = 256
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(files, log_mel)``: files with error rows for audio that cannot be used, and the raw
    log-mel (``file_id``, ``log_mel`` as in docs/data_contracts.md) of the files still scored.

    Worker processes are used only when ``n_jobs`` allows and there are several chunks of
    ``chunk_size`` files: starting them (each imports librosa) costs seconds, while a 10 s clip
    takes milliseconds here, so they pay off for thousands of files only.
    """
    from joblib import Parallel, delayed

    from subcluster_adacos_asd.feature_table import array_to_frame

    files = files.copy()
    todo = files.index[files["status"] == STATUS_SCORED]
    items = list(zip(files.loc[todo, "file_id"], files.loc[todo, "path"]))
    chunks = [items[s : s + chunk_size] for s in range(0, len(items), chunk_size)]
    workers = worker_count(len(items), n_jobs, chunk_size)
    if workers == 1:
        results = [r for chunk in chunks for r in _log_mel_or_error(chunk, settings)]
    else:
        logger.info("Log-mel of %d files with %d worker processes", len(items), workers)
        parts = Parallel(n_jobs=workers, backend="loky")(
            delayed(_log_mel_or_error)(chunk, settings) for chunk in chunks
        )
        results = [r for part in parts for r in part]
    arrays, ids = [], []
    for i, (values, reason) in zip(todo, results):
        if values is None:
            files.loc[i, ["status", "reason"]] = [STATUS_ERROR, reason]
        else:
            arrays.append(values)
            ids.append(files.at[i, "file_id"])
    stacked = (
        np.stack(arrays) if arrays
        else np.zeros((0, settings.n_frames, settings.n_mels), dtype=np.float32)
    )
    return files, array_to_frame(ids, stacked, column="log_mel")


def check_levels(files: pd.DataFrame, log_mel: pd.DataFrame, reference: pd.DataFrame | None,
                 n_mels: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(files, log_mel)`` with error rows for recordings that cannot be right (levels.py):
    digital silence, and a level outside the band of its section's and domain's training
    clips (``reference``: the trained system's ``level_reference``; ``None`` for a system
    trained before it existed: silence is still checked, levels are not, with a warning)."""
    from subcluster_adacos_asd import levels
    from subcluster_adacos_asd.feature_table import frame_to_array

    if reference is None:
        logger.warning("The trained system has no level_reference (trained before it existed): "
                       "new recordings are checked for digital silence only; rerun the features "
                       "pipeline to check their levels too")
    if len(log_mel) == 0:
        return files, log_mel
    table = levels.levels_table(log_mel["file_id"], frame_to_array(log_mel, n_mels))
    files = files.copy()
    todo = files.index[files["file_id"].isin(table["file_id"])]
    reasons = levels.level_problems(files.loc[todo], table, reference)
    bad = reasons[reasons != ""]
    if len(bad):
        files.loc[bad.index, "status"] = STATUS_ERROR
        files.loc[bad.index, "reason"] = bad.to_numpy()
        log_mel = log_mel[~log_mel["file_id"].isin(files.loc[bad.index, "file_id"])]
        log_mel = log_mel.reset_index(drop=True)
    return files, log_mel


def scored_files(files: pd.DataFrame) -> pd.DataFrame:
    """The rows still to be scored, in the index layout the backends and ensemble read."""
    rows = files[files["status"] == STATUS_SCORED].reset_index(drop=True)
    return rows.astype({"section": "int64"})
