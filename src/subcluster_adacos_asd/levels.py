"""Recordings that cannot be right: digital silence, and levels far from the training clips'.

A disconnected microphone records zeros; a wrong gain setting, another microphone or a
recorder that clipped gives a clip far louder or quieter than every other clip of its machine.
Trained on, one such clip moves the standardisation statistics of every mel bin (one silent
clip in nine moved the mean ``feature_stats`` std from 6.0 to 24.9 dB); scored, it gets a
number that says nothing about the machine. So they are named, not used:

* **digital silence**: every log-mel value of the clip lies at the floor of the dB conversion
  (``10 log10(amin)`` = -100 dB, within :data:`SILENCE_MARGIN_DB`): no sample above about
  1e-7 of full scale;
* **level**: the clip's level, the mean of its log-mel in dB (a gain g moves it by
  ``20 log10 g``), lies further from the median level of its machine section's and domain's
  normal training clips than the tolerance: ``features.level_tolerance_db`` (default 20 dB, a
  factor 10 in amplitude) or six robust standard deviations (1.4826 x the median absolute
  deviation) of those clips' levels, whichever is larger. On the real DCASE 2023 ToyCar clips
  and the synthetic data every clip lies within 7 dB of its section's median; the
  data-dependent term keeps a machine whose level varies widely from being flagged clip by clip.

In ``features`` such a training clip is an error naming the file (before any feature is
saved); in ``inference`` a new clip gets an error row. The per-section reference is saved
(``level_reference``), so inference judges new clips against the training clips. No Kedro here.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from subcluster_adacos_asd.contracts import normal_training
from subcluster_adacos_asd.log_mel import DB_AMIN, DB_REFERENCE

logger = logging.getLogger(__name__)

#: The log-mel floor: ``power_to_db`` of a power below ``amin``.
FLOOR_DB = float(10.0 * np.log10(DB_AMIN / DB_REFERENCE))
#: A clip whose loudest log-mel value lies within this of the floor is digital silence.
SILENCE_MARGIN_DB = 1.0
#: Robust standard deviations of the training levels that a clip may always lie away.
SPREAD_FACTOR = 6.0
#: 1.4826 x MAD estimates a normal distribution's standard deviation.
MAD_TO_STD = 1.4826
REFERENCE_KEYS = ["machine_type", "section", "domain"]
REFERENCE_COLUMNS = [*REFERENCE_KEYS, "clips", "median_db", "spread_db", "tolerance_db",
                     "low_db", "high_db", "min_db", "max_db"]


def clip_levels(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(level, peak)`` in dB of each clip of a (clips, frames, mels) raw log-mel array: the
    mean over frames and mel bins, and the maximum."""
    values = np.asarray(values)
    if values.ndim != 3:
        raise ValueError(f"expected (clips, frames, mels) log-mel, got shape {values.shape}")
    level = values.mean(axis=(1, 2), dtype=np.float64)
    peak = values.max(axis=(1, 2)).astype(np.float64) if values.size else np.zeros(len(values))
    return level, peak


def levels_table(file_ids, values: np.ndarray) -> pd.DataFrame:
    """``file_id, level_db, peak_db`` of the clips of a raw log-mel array."""
    level, peak = clip_levels(values)
    return pd.DataFrame({"file_id": [str(f) for f in file_ids], "level_db": level,
                         "peak_db": peak})


def is_silent(peak_db) -> np.ndarray:
    """Digital silence: nothing above the log-mel floor (module docstring)."""
    return np.asarray(peak_db, dtype=np.float64) <= FLOOR_DB + SILENCE_MARGIN_DB


def level_reference(levels: pd.DataFrame, file_index: pd.DataFrame,
                    tolerance_db: float | None) -> pd.DataFrame:
    """Per machine type, section and domain (:data:`REFERENCE_COLUMNS`): the levels of its
    normal training clips (silent ones left out) and the band ``low_db .. high_db`` a clip's
    level must lie in. ``tolerance_db`` None: no band (every level allowed)."""
    rows = file_index.merge(levels, on="file_id", how="inner", validate="one_to_one")
    normal = rows[normal_training(rows) & ~is_silent(rows["peak_db"])]
    records = []
    for (machine, section, domain), group in normal.groupby(REFERENCE_KEYS, sort=True):
        values = group["level_db"].to_numpy(dtype=np.float64)
        median = float(np.median(values))
        spread = float(MAD_TO_STD * np.median(np.abs(values - median)))
        if tolerance_db is None:
            tolerance, low, high = np.inf, -np.inf, np.inf
        else:
            tolerance = max(float(tolerance_db), SPREAD_FACTOR * spread)
            low, high = median - tolerance, median + tolerance
        records.append({"machine_type": str(machine), "section": int(section),
                        "domain": str(domain), "clips": len(values), "median_db": median,
                        "spread_db": spread, "tolerance_db": tolerance, "low_db": low,
                        "high_db": high, "min_db": float(values.min()),
                        "max_db": float(values.max())})
    table = pd.DataFrame(records, columns=REFERENCE_COLUMNS)
    return table.astype({"section": "int64", "clips": "int64"})


def level_problems(files: pd.DataFrame, levels: pd.DataFrame, reference: pd.DataFrame | None
                   ) -> pd.Series:
    """For each row of ``files`` (``file_id``, ``path``, ``machine_type``, ``section``,
    ``domain``): why its recording cannot be right, ``""`` when nothing is wrong or its level
    is unknown. ``reference`` None: silence is checked, levels are not."""
    rows = files[["file_id", "path", *REFERENCE_KEYS]].merge(
        levels, on="file_id", how="left", validate="one_to_one")
    if reference is not None and len(reference):
        rows = rows.astype({"section": "Int64"}).merge(
            reference.astype({"section": "Int64"}), on=REFERENCE_KEYS, how="left")
    reasons = []
    for row in rows.to_dict("records"):
        where = row["path"] or f"{row['file_id']}.wav"
        level, peak = row.get("level_db"), row.get("peak_db")
        if level is None or level != level:
            reasons.append("")
        elif is_silent(peak):
            reasons.append(
                f"{where}: digital silence: every log-mel value lies at the floor of "
                f"{FLOOR_DB:.0f} dB (all samples zero: a disconnected or muted microphone?)")
        elif pd.notna(row.get("low_db")) and not row["low_db"] <= level <= row["high_db"]:
            reasons.append(
                f"{where}: level {level:.1f} dB lies {level - row['median_db']:+.1f} dB from the "
                f"median {row['median_db']:.1f} dB of the {int(row['clips'])} normal "
                f"{row['domain']}-domain training clips of {row['machine_type']} section "
                f"{int(row['section']):02d} (range {row['min_db']:.1f} .. {row['max_db']:.1f} "
                f"dB; allowed +-{row['tolerance_db']:.1f} dB, features.level_tolerance_db): a "
                "wrong gain, another microphone, or a broken recording?")
        else:
            reasons.append("")
    return pd.Series(reasons, index=files.index, dtype=object)


def check_training_recordings(file_index: pd.DataFrame, levels: pd.DataFrame,
                              tolerance_db: float | None) -> pd.DataFrame:
    """The level reference of the training clips; an error listing every training clip that is
    digital silence or far outside it, a warning for such test clips (they are still scored,
    and their scores will say so)."""
    from subcluster_adacos_asd.log_mel import AudioError

    reference = level_reference(levels, file_index, tolerance_db)
    reasons = level_problems(file_index, levels, reference)
    bad = reasons != ""
    training = bad & (file_index["split"] == "train")
    testing = bad & ~training
    if testing.any():
        logger.warning("%d test files cannot be right (they are scored anyway):\n  %s",
                       int(testing.sum()), _listed(reasons[testing].tolist()))
    if training.any():
        raise AudioError(
            f"{int(training.sum())} training files cannot be right and would distort the "
            "standardisation statistics and the models; remove them from the training data (or "
            "raise features.level_tolerance_db if the level differences are real):\n  "
            + _listed(reasons[training].tolist()))
    return reference


def _listed(reasons: list[str], shown: int = 10) -> str:
    more = f"\n  ... and {len(reasons) - shown} more" if len(reasons) > shown else ""
    return "\n  ".join(reasons[:shown]) + more
