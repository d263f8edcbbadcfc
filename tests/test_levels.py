"""levels.py: digital silence and levels far from the training clips' are named."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from subcluster_adacos_asd import levels
from subcluster_adacos_asd.log_mel import AudioError, LogMelSettings, log_mel_spectrogram

SETTINGS = LogMelSettings(n_frames=32, n_mels=32)


def _log_mel(gain: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = (gain * rng.standard_normal(SETTINGS.min_samples + 512)).astype(np.float32)
    return log_mel_spectrogram(y, SETTINGS)


def _index(splits) -> pd.DataFrame:
    return pd.DataFrame({
        "file_id": [f"pump/{i:02d}" for i in range(len(splits))],
        "path": [f"/rec/pump/{i:02d}.wav" for i in range(len(splits))],
        "machine_type": "pump", "section": 0, "domain": "source", "split": splits,
        "label": ["normal" if s == "train" else "unknown" for s in splits]})


def test_levels_move_with_the_gain_and_silence_sits_at_the_floor():
    loud, quiet = _log_mel(0.1, 0), _log_mel(0.01, 0)
    level, peak = levels.clip_levels(np.stack([loud, quiet, np.full_like(loud, levels.FLOOR_DB)]))
    assert level[0] - level[1] == pytest.approx(20.0, abs=0.01)  # a factor 10 in amplitude
    assert levels.FLOOR_DB == pytest.approx(-100.0)
    silent = log_mel_spectrogram(np.zeros(SETTINGS.min_samples, dtype=np.float32), SETTINGS)
    assert levels.is_silent(levels.clip_levels(silent[None])[1]).tolist() == [True]
    assert levels.is_silent(peak).tolist() == [False, False, True]


def test_a_silent_or_far_too_quiet_training_clip_is_an_error_naming_the_file(caplog):
    values = [_log_mel(0.1 * (1 + 0.1 * i), i) for i in range(8)]
    values += [np.full_like(values[0], levels.FLOOR_DB),  # 08: a dead microphone
               _log_mel(0.1 / 30, 9),                       # 09: about 30 dB too quiet
               _log_mel(0.1 / 30, 10)]                      # 10: a test clip as quiet
    index = _index(["train"] * 10 + ["test"])
    table = levels.levels_table(index["file_id"], np.stack(values))
    with caplog.at_level(logging.WARNING), pytest.raises(AudioError) as error:
        levels.check_training_recordings(index, table, tolerance_db=20.0)
    message = str(error.value)
    assert message.startswith("2 training files cannot be right")
    assert "/rec/pump/08.wav: digital silence" in message
    assert "/rec/pump/09.wav: level" in message and "from the median" in message
    assert "/rec/pump/10.wav" not in message
    assert "1 test files cannot be right" in caplog.text and "/rec/pump/10.wav" in caplog.text

    # without the bad training clips, the reference is of the good ones and the test clip is
    # named against it; null tolerance checks silence only
    good = index.iloc[:8]
    reference = levels.check_training_recordings(good, table.iloc[:8], 20.0)
    (row,) = reference.to_dict("records")
    assert row["clips"] == 8 and row["tolerance_db"] == 20.0
    assert row["low_db"] == pytest.approx(row["median_db"] - 20.0)
    reasons = levels.level_problems(index.iloc[8:], table.iloc[8:], reference)
    assert reasons.str.contains("digital silence").tolist() == [True, False, False]
    assert reasons.str.contains(r"level -\d+\.\d dB lies -\d\d\.\d dB from the median").tolist() \
        == [False, True, True]
    # a domain without training clips has no band: only silence is named
    target = index.iloc[8:].assign(domain="target")
    assert levels.level_problems(target, table.iloc[8:], reference).astype(bool).tolist() \
        == [True, False, False]
    unchecked = levels.level_reference(table.iloc[:8], good, None)
    assert levels.level_problems(index.iloc[8:], table.iloc[8:], unchecked).astype(bool).tolist() \
        == [True, False, False]


def test_a_widely_varying_machine_widens_its_band():
    gains = np.geomspace(0.01, 1.0, 21)  # 40 dB of spread among normal clips
    values = np.stack([_log_mel(g, i) for i, g in enumerate(gains)])
    index = _index(["train"] * len(gains))
    reference = levels.check_training_recordings(index, levels.levels_table(index["file_id"],
                                                                            values), 20.0)
    assert reference.loc[0, "tolerance_db"] > 20.0
    assert reference.loc[0, "tolerance_db"] == pytest.approx(
        levels.SPREAD_FACTOR * reference.loc[0, "spread_db"])
