"""Log-mel extraction, audio checks, standardisation statistics and temporal maxima."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import soundfile

from subcluster_adacos_asd.datasets import WavDataset
from subcluster_adacos_asd.feature_table import array_to_frame, frame_to_array
from subcluster_adacos_asd.log_mel import (
    AudioError,
    LogMelSettings,
    extract_log_mels,
    iter_feature_blocks,
    load_log_mel,
    prepare_samples,
    standardisation_statistics,
    temporal_maxima,
)

TOYCAR_2023 = Path("/work/shared/data/real/dcase2023_t2_dev/ToyCar")
SETTINGS = LogMelSettings()


def _noise(seconds: float, rate: int = 16000, seed: int = 0, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (int(seconds * rate),) if channels == 1 else (int(seconds * rate), channels)
    return (0.1 * rng.standard_normal(shape)).astype(np.float32)


def _wav(path: Path, samples: np.ndarray, rate: int = 16000) -> WavDataset:
    soundfile.write(path, samples, rate, subtype="PCM_16")
    return WavDataset(filepath=str(path))


def _librosa_log_mel(y: np.ndarray, rate: int = 16000) -> np.ndarray:
    """The paper's feature spelled out with librosa's own melspectrogram: (frames, mels)."""
    power = librosa.feature.melspectrogram(
        y=y, sr=rate, n_fft=1024, hop_length=512, window="hann", center=True, n_mels=128
    )
    return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=None).T


def test_ten_second_clip_equals_librosa(tmp_path):
    dataset = _wav(tmp_path / "clip.wav", _noise(10.0))
    ours = load_log_mel("clip", dataset.load, SETTINGS)
    y, _ = soundfile.read(tmp_path / "clip.wav", dtype="float32")
    reference = _librosa_log_mel(y)
    assert 1 + 160000 // 512 == 313 == reference.shape[0]
    assert ours.shape == (313, 128) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, atol=1e-3)


def test_sine_peaks_in_the_mel_band_of_its_frequency():
    t = np.arange(160000) / 16000
    y = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    ours = load_log_mel("sine", lambda: (y, 16000), SETTINGS)
    centres = librosa.mel_frequencies(n_mels=128 + 2, fmin=0.0, fmax=8000.0)[1:-1]
    peak = np.argmax(ours[150])
    assert abs(centres[peak] - 1000.0) <= np.diff(centres)[peak]


def test_long_clip_is_cut_to_n_frames_like_cutting_the_full_spectrogram():
    y = _noise(12.0, seed=3)
    full = _librosa_log_mel(y)
    assert full.shape[0] == 376
    np.testing.assert_allclose(
        load_log_mel("12s", lambda: (y, 16000), SETTINGS), full[:313], atol=1e-3
    )
    all_frames = LogMelSettings(n_frames=376)
    np.testing.assert_allclose(load_log_mel("12s", lambda: (y, 16000), all_frames), full, atol=1e-3)


@pytest.mark.skipif(not TOYCAR_2023.is_dir(), reason="real DCASE 2023 ToyCar clips absent")
def test_real_dcase2023_clip_is_cut_to_313_frames():
    path = sorted((TOYCAR_2023 / "train").glob("*.wav"))[0]
    y, rate = soundfile.read(path, dtype="float32")
    assert rate == 16000 and len(y) == 12 * 16000
    ours = load_log_mel(str(path), WavDataset(filepath=str(path)).load, SETTINGS)
    np.testing.assert_allclose(ours, _librosa_log_mel(y)[:313], atol=1e-3)


def test_short_clip_is_an_error_unless_padding_is_configured(tmp_path):
    dataset = _wav(tmp_path / "short.wav", _noise(5.0))
    with pytest.raises(AudioError) as error:
        load_log_mel(dataset.filepath, dataset.load, SETTINGS)
    message = str(error.value)
    assert "short.wav" in message and "too short" in message and "159744" in message

    padded = load_log_mel(
        dataset.filepath, dataset.load, LogMelSettings(short_clip_padding="constant")
    )
    y, _ = soundfile.read(tmp_path / "short.wav", dtype="float32")
    np.testing.assert_allclose(padded[:150], _librosa_log_mel(y)[:150], atol=1e-3)
    # frames that only see the zero padding sit at the amin floor: 10 * log10(1e-10)
    np.testing.assert_allclose(padded[-1], np.full(128, -100.0), atol=1e-4)

    wrapped = load_log_mel(
        dataset.filepath, dataset.load, LogMelSettings(short_clip_padding="wrap")
    )
    assert wrapped.shape == (313, 128) and wrapped[-1].min() > -100.0


def test_other_sample_rate_is_an_error_or_resampled(tmp_path):
    dataset = _wav(tmp_path / "fast.wav", _noise(10.0, rate=22050), rate=22050)
    with pytest.raises(AudioError, match=r"fast\.wav.*22050 Hz, expected 16000 Hz"):
        load_log_mel(dataset.filepath, dataset.load, SETTINGS)
    resampled = load_log_mel(dataset.filepath, dataset.load, LogMelSettings(resample=True))
    y, _ = soundfile.read(tmp_path / "fast.wav", dtype="float32")
    reference = _librosa_log_mel(librosa.resample(y, orig_sr=22050, target_sr=16000))
    np.testing.assert_allclose(resampled, reference, atol=1e-3)


def test_stereo_is_an_error_or_downmixed(tmp_path):
    dataset = _wav(tmp_path / "stereo.wav", _noise(10.0, channels=2))
    with pytest.raises(AudioError, match=r"stereo\.wav: 2 channels, expected mono"):
        load_log_mel(dataset.filepath, dataset.load, SETTINGS)
    mixed = load_log_mel(dataset.filepath, dataset.load, LogMelSettings(downmix=True))
    y, _ = soundfile.read(tmp_path / "stereo.wav", dtype="float32")
    np.testing.assert_allclose(mixed, _librosa_log_mel(y.mean(axis=1)), atol=1e-3)


def test_empty_unreadable_and_non_finite_audio_are_errors(tmp_path):
    empty = _wav(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32))
    with pytest.raises(AudioError, match=r"empty\.wav: the audio is empty"):
        load_log_mel(empty.filepath, empty.load, SETTINGS)

    (tmp_path / "broken.wav").write_bytes(b"RIFF but not really a wave file")
    broken = WavDataset(filepath=str(tmp_path / "broken.wav"))
    with pytest.raises(AudioError, match=r"broken\.wav: cannot read the audio: \w"):
        load_log_mel(broken.filepath, broken.load, SETTINGS)

    samples = _noise(10.0)
    samples[5] = np.nan
    with pytest.raises(AudioError, match="nan.wav: the audio contains NaN"):
        prepare_samples(samples, 16000, SETTINGS, "nan.wav")


def test_a_zero_byte_file_is_named_by_its_path_not_by_a_file_object(tmp_path):
    (tmp_path / "zero.wav").write_bytes(b"")
    dataset = WavDataset(filepath=str(tmp_path / "zero.wav"))
    with pytest.raises(AudioError) as error:
        load_log_mel(dataset.filepath, dataset.load, SETTINGS)
    message = str(error.value)
    assert message == f"{tmp_path / 'zero.wav'}: cannot read the audio: the file is empty (0 bytes)"
    assert "object at 0x" not in message


def _loud_float_wav(path: Path) -> WavDataset:
    """Finite float32 samples scaled by 1e30: float WAVs have no range limit."""
    soundfile.write(path, _noise(10.0) * np.float32(1e30), 16000, subtype="FLOAT")
    return WavDataset(filepath=str(path))


def test_a_very_loud_float_wav_is_an_error_naming_the_file(tmp_path):
    loud = _loud_float_wav(tmp_path / "loud.wav")
    samples = loud.load().samples
    assert np.isfinite(samples).all() and np.abs(samples).max() > 1e29
    with pytest.raises(AudioError) as error:
        load_log_mel(loud.filepath, loud.load, SETTINGS)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'loud.wav'}: the log-mel spectrogram has NaN or infinite")
    assert "far outside [-1, 1]" in message


def test_settings_reject_unknown_padding():
    with pytest.raises(ValueError, match="short_clip_padding"):
        LogMelSettings(short_clip_padding="zeros")
    assert LogMelSettings.from_parameters({"n_frames": 40, "n_jobs": 2}) == LogMelSettings(
        n_frames=40
    )
    # the extraction's own keys are not the log-mel's; anything else unknown is a typo
    with pytest.raises(ValueError, match=r"params:features has unknown keys \['n_mel'\]"):
        LogMelSettings.from_parameters({"n_mel": 64, "chunk_size": 8})


def test_parallel_extraction_equals_one_process_in_order_and_names_bad_files(tmp_path):
    settings = LogMelSettings(n_frames=32)  # 1 s clips keep this quick
    items = []
    for i in range(6):
        dataset = _wav(tmp_path / f"clip_{i}.wav", _noise(1.0, seed=i))
        items.append((dataset.filepath, dataset.load))
    serial = extract_log_mels(items, settings, n_jobs=1)
    parallel = extract_log_mels(items, settings, n_jobs=2, chunk_size=1)
    np.testing.assert_array_equal(parallel, serial)
    for i, (name, load) in enumerate(items):
        # outside a worker BLAS may use several threads: same numbers up to rounding
        np.testing.assert_allclose(serial[i], load_log_mel(name, load, settings), atol=1e-3)

    bad = _wav(tmp_path / "bad_rate.wav", _noise(1.0, rate=8000), rate=8000)
    with pytest.raises(AudioError, match=r"bad_rate\.wav: sample rate 8000 Hz") as error:
        extract_log_mels(items + [(bad.filepath, bad.load)], settings, n_jobs=2, chunk_size=2)
    # the worker's own traceback is not chained to the error, so a run's log shows it once
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_extraction_logs_progress(caplog):
    settings = LogMelSettings(n_frames=4)
    items = [(f"f{i}", lambda: (np.zeros(2048, np.float32), 16000)) for i in range(20)]
    with caplog.at_level("INFO", logger="subcluster_adacos_asd.log_mel"):
        extract_log_mels(items, settings, n_jobs=1, chunk_size=1)
    progress = [r.getMessage() for r in caplog.records if "files (" in r.getMessage()]
    assert progress[0].startswith("Log-mel features: 2/20") and progress[-1].endswith("(100%)")
    assert 9 <= len(progress) <= 11


def _chunked_frame(values: np.ndarray, split_at: int) -> pd.DataFrame:
    """A log-mel frame whose Arrow column has two chunks, as a Parquet file with row groups."""
    first = array_to_frame([f"f{i}" for i in range(split_at)], values[:split_at])
    second = array_to_frame([f"f{i}" for i in range(split_at, len(values))], values[split_at:])
    table = pa.concat_tables(
        [
            pa.Table.from_pandas(first, preserve_index=False),
            pa.Table.from_pandas(second, preserve_index=False),
        ]
    )
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def test_feature_blocks_are_zero_copy_views_in_row_order():
    values = np.random.default_rng(0).standard_normal((7, 5, 4)).astype(np.float32)
    frame = array_to_frame([f"f{i}" for i in range(7)], values)
    blocks = list(iter_feature_blocks(frame, 4, rows_per_block=3))
    assert [start for start, _ in blocks] == [0, 3, 6]
    assert all(np.shares_memory(block, values) for _, block in blocks)
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), values)

    chunked = _chunked_frame(values, 4)
    starts = [start for start, _ in iter_feature_blocks(chunked, 4, rows_per_block=3)]
    assert starts == [0, 3, 4]
    np.testing.assert_array_equal(
        np.concatenate([b for _, b in iter_feature_blocks(chunked, 4, rows_per_block=3)]),
        frame_to_array(chunked, 4),
    )


def test_statistics_use_training_files_only():
    rng = np.random.default_rng(1)
    train = rng.normal(-30.0, 4.0, size=(5, 20, 8)).astype(np.float32)
    test = rng.normal(40.0, 20.0, size=(4, 20, 8)).astype(np.float32)  # would move both
    values = np.concatenate([test[:2], train, test[2:]])
    is_training = np.array([False, False] + [True] * 5 + [False, False])
    frame = _chunked_frame(values, 3)
    mean, std = standardisation_statistics(
        lambda: iter_feature_blocks(frame, 8, rows_per_block=2), is_training
    )
    frames = train.reshape(-1, 8).astype(np.float64)
    np.testing.assert_allclose(mean, frames.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, frames.std(axis=0), rtol=1e-10)
    everything = values.reshape(-1, 8).astype(np.float64)
    assert np.abs(everything.mean(axis=0) - mean).min() > 5.0


def test_statistics_need_training_files_and_guard_constant_bins():
    values = np.zeros((2, 3, 2), dtype=np.float32)
    values[:, :, 1] = np.arange(6, dtype=np.float32).reshape(2, 3)
    frame = array_to_frame(["a", "b"], values)
    with pytest.raises(ValueError, match="No training files"):
        standardisation_statistics(lambda: iter_feature_blocks(frame, 2), np.array([False, False]))
    mean, std = standardisation_statistics(
        lambda: iter_feature_blocks(frame, 2), np.array([True, True])
    )
    np.testing.assert_allclose(mean, [0.0, 2.5])
    np.testing.assert_allclose(std, [1.0, np.arange(6).std()])


def test_temporal_maxima_of_standardised_log_mel():
    rng = np.random.default_rng(2)
    values = rng.normal(-20.0, 6.0, size=(5, 11, 3)).astype(np.float32)
    mean, std = np.array([-20.0, -21.0, -19.0]), np.array([6.0, 5.0, 7.0])
    frame = array_to_frame([f"f{i}" for i in range(5)], values)
    maxima = temporal_maxima(iter_feature_blocks(frame, 3, rows_per_block=2), 5, mean, std)
    reference = ((values.astype(np.float64) - mean) / std).max(axis=1)
    np.testing.assert_allclose(maxima, reference, rtol=1e-12)
