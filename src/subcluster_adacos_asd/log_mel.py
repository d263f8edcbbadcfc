"""Log-mel spectrograms of whole data sets, standardisation statistics and temporal maxima.

The paper's input feature (section 2.2): 16 kHz mono audio; librosa STFT with n_fft 1024,
hop 512, Hann window, centred frames (zero padding at both ends, librosa's default
``pad_mode="constant"``); power spectrogram (power 2) through 128 mel bands of
``librosa.filters.mel`` with its defaults (Slaney mel scale ``htk=False``, ``norm="slaney"``,
fmin 0 Hz, fmax = sample_rate / 2), i.e. exactly ``librosa.feature.melspectrogram`` with those
arguments; then ``librosa.power_to_db(ref=1.0, amin=1e-10, top_db=None)``. A 10 s clip gives
1 + 160000 // 512 = 313 frames. Arrays are (frames, mels) float32.

Extraction runs in worker processes (joblib/loky) over chunks of files; the chunks come back
in order (:func:`iter_log_mel_chunks`), so the ``features`` pipeline writes each to disk as it
arrives and never holds the whole feature array. No Kedro in here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from subcluster_adacos_asd.settings_base import Settings

if TYPE_CHECKING:
    import pandas

# pandas and pyarrow are imported where used: the worker processes need neither, and each
# worker imports this module, so leaving them out shortens the start of every worker.

logger = logging.getLogger(__name__)

#: ``power_to_db`` settings of the paper's feature: absolute dB (ref 1) with a -100 dB floor.
DB_REFERENCE = 1.0
DB_AMIN = 1e-10
#: Mel bins whose training standard deviation is below this (dB) are constant in training
#: (e.g. digital silence); they get std 1 so standardising never divides by ~0.
MIN_STD_DB = 1e-6
#: What ``short_clip_padding`` may name (``numpy.pad`` modes); ``None`` makes short clips an error.
PADDING_MODES = ("constant", "wrap", "reflect")


class AudioError(ValueError):
    """A recording the feature extraction cannot use (the message names the file)."""


#: ``params:features`` keys that are not the log-mel's own but the extraction's.
EXTRACTION_KEYS = ("n_jobs", "chunk_size", "invalid_file_names", "layout", "min_attribute_clips",
                   "level_tolerance_db")


@dataclass(frozen=True)
class LogMelSettings(Settings):
    """The feature parameters (``params:features``) that decide the numbers of a log-mel.

    ``short_clip_padding``: ``None`` (a clip shorter than ``n_frames`` is an error) or a
    ``numpy.pad`` mode (``constant`` = zeros, ``wrap`` = repeat the clip) used to lengthen the
    waveform. ``resample`` / ``downmix``: convert other sample rates (``librosa.resample``) or
    several channels (channel mean) instead of stopping with an error.
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    n_frames: int = 313
    short_clip_padding: str | None = None
    resample: bool = False
    downmix: bool = False

    def __post_init__(self):
        if self.short_clip_padding is not None and self.short_clip_padding not in PADDING_MODES:
            raise ValueError(
                f"short_clip_padding must be null or one of {PADDING_MODES}, "
                f"got {self.short_clip_padding!r}"
            )
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels", "n_frames"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @classmethod
    def from_parameters(cls, parameters: dict, what: str = "params:features") -> LogMelSettings:
        """Settings from ``params:features``; its extraction keys (workers, chunks, what to do
        with bad names) belong to the pipeline, any other unknown key is an error."""
        return super().from_parameters(parameters, what, ignore=EXTRACTION_KEYS)

    @property
    def min_samples(self) -> int:
        """Fewest samples that give ``n_frames`` centred frames (frames = 1 + samples // hop)."""
        return (self.n_frames - 1) * self.hop_length

    @property
    def used_samples(self) -> int:
        """Samples that the first ``n_frames`` centred frames read; later ones never matter.

        Frame t covers samples [t * hop - n_fft / 2, t * hop + n_fft / 2), so cutting the
        waveform here before the STFT gives the same first ``n_frames`` frames as cutting the
        spectrogram of the whole clip, for less work on long clips (12 s in DCASE 2023).
        """
        return (self.n_frames - 1) * self.hop_length + self.n_fft // 2


def mel_basis(settings: LogMelSettings) -> np.ndarray:
    """``librosa.filters.mel`` with its defaults: (n_mels, 1 + n_fft // 2) float32."""
    import librosa

    return librosa.filters.mel(
        sr=settings.sample_rate, n_fft=settings.n_fft, n_mels=settings.n_mels
    )


def prepare_samples(samples, sample_rate: int, settings: LogMelSettings, name: str) -> np.ndarray:
    """The mono float32 waveform at ``settings.sample_rate``, at least ``min_samples`` long.

    Raises :class:`AudioError` naming ``name`` for empty, non-finite, multi-channel,
    other-rate and too-short audio, unless the settings allow downmixing, resampling, padding.
    """
    y = np.asarray(samples, dtype=np.float32)
    if y.size == 0:
        raise AudioError(f"{name}: the audio is empty (no samples).")
    if y.ndim == 2:
        channels = y.shape[1]
        if channels == 1:
            y = y[:, 0]
        elif settings.downmix:
            y = y.mean(axis=1, dtype=np.float32)
        else:
            raise AudioError(
                f"{name}: {channels} channels, expected mono "
                "(set features.downmix: true to average the channels)."
            )
    elif y.ndim != 1:
        raise AudioError(
            f"{name}: samples of shape {y.shape}, expected (samples,) or (samples, channels)."
        )
    if not np.isfinite(y).all():
        raise AudioError(f"{name}: the audio contains NaN or infinite samples.")
    sample_rate = int(sample_rate)
    if sample_rate != settings.sample_rate:
        if not settings.resample:
            raise AudioError(
                f"{name}: sample rate {sample_rate} Hz, expected {settings.sample_rate} Hz "
                "(set features.resample: true to resample with librosa)."
            )
        import librosa

        y = librosa.resample(y, orig_sr=sample_rate, target_sr=settings.sample_rate)
        y = np.asarray(y, dtype=np.float32)
    if y.shape[0] < settings.min_samples:
        if settings.short_clip_padding is None:
            frames = 1 + y.shape[0] // settings.hop_length
            raise AudioError(
                f"{name}: too short: {y.shape[0]} samples "
                f"({y.shape[0] / settings.sample_rate:.3f} s) give {frames} frames, "
                f"n_frames = {settings.n_frames} needs at least {settings.min_samples} samples "
                f"({settings.min_samples / settings.sample_rate:.3f} s at "
                f"{settings.sample_rate} Hz). Set features.short_clip_padding (e.g. constant) "
                "to pad short clips, or lower features.n_frames."
            )
        y = np.pad(y, (0, settings.used_samples - y.shape[0]), mode=settings.short_clip_padding)
    return y[: settings.used_samples]


def log_mel_spectrogram(
    y: np.ndarray, settings: LogMelSettings, basis: np.ndarray | None = None
) -> np.ndarray:
    """(n_frames, n_mels) float32 log-mel (dB) of a waveform prepared by :func:`prepare_samples`.

    Equal to ``power_to_db(librosa.feature.melspectrogram(y, ...))`` cut to ``n_frames``; the
    mel basis is passed in so a worker builds it once per chunk, not once per file.
    """
    import librosa

    if basis is None:
        basis = mel_basis(settings)
    spectrum = librosa.stft(
        y,
        n_fft=settings.n_fft,
        hop_length=settings.hop_length,
        window="hann",
        center=True,
        pad_mode="constant",
    )
    # Samples far outside [-1, 1] overflow here; numpy's RuntimeWarning would name no file, and
    # check_finite_log_mel turns the result into an error that does.
    with np.errstate(over="ignore", invalid="ignore"):
        power = np.abs(spectrum) ** 2
        mel = basis @ power
        db = librosa.power_to_db(mel, ref=DB_REFERENCE, amin=DB_AMIN, top_db=None)
    frames = db.shape[1]
    if frames < settings.n_frames:  # prepare_samples guarantees enough samples
        raise AudioError(f"{frames} frames, expected at least {settings.n_frames}")
    return np.ascontiguousarray(db[:, : settings.n_frames].T, dtype=np.float32)


def load_log_mel(
    name: str, load: Callable[[], object], settings: LogMelSettings, basis: np.ndarray | None = None
) -> np.ndarray:
    """Load one recording (``load()`` returns ``(samples, sample_rate, ...)``) and its log-mel.

    Any failure to read is re-raised as :class:`AudioError` naming the file, and so is a
    log-mel with NaN or infinite values (see :func:`check_finite_log_mel`).
    """
    try:
        audio = load()
        samples, sample_rate = audio[0], audio[1]
    except Exception as exc:
        # WavDataset's errors carry the reason alone (datasets.wav.AudioReadError), so the
        # message names the file once.
        reason = getattr(exc, "reason", None) or str(exc)
        raise AudioError(f"{name}: cannot read the audio: {reason}") from exc
    y = prepare_samples(samples, sample_rate, settings, name)
    return check_finite_log_mel(log_mel_spectrogram(y, settings, basis), y, name)


def check_finite_log_mel(values: np.ndarray, y: np.ndarray, name: str) -> np.ndarray:
    """``values`` if every log-mel value is finite, else an :class:`AudioError` naming the file.

    Float WAVs have no range limit: finite samples of 1e30 overflow the float32 power spectrum
    to infinity, and one such file would turn the standardisation statistics (``features``) or
    the GMM input (``inference``) into NaN with no file named. The check sits on the log-mel,
    where the overflow shows whatever its cause; the message gives the peak amplitude, because
    samples far outside [-1, 1] are the usual cause.
    """
    if np.isfinite(values).all():
        return values
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    cause = (
        f"the samples reach {peak:.3g}, far outside [-1, 1] (a float WAV with no range limit; "
        "rescale the recording)"
        if peak > 1.0
        else f"peak sample amplitude {peak:.3g}"
    )
    raise AudioError(
        f"{name}: the log-mel spectrogram has NaN or infinite values ({cause})."
    )


def _log_mel_chunk(items: Sequence[tuple[str, Callable]], settings: LogMelSettings) -> np.ndarray:
    """Worker task: the (len(items), n_frames, n_mels) log-mels of one chunk of files.

    BLAS is held to one thread: the mel product is small, and multi-threaded BLAS spinning on
    cores that other processes (or the other workers) use made one file 10x slower.
    """
    from threadpoolctl import threadpool_limits

    basis = mel_basis(settings)
    out = np.empty((len(items), settings.n_frames, settings.n_mels), dtype=np.float32)
    with threadpool_limits(limits=1, user_api="blas"):
        for i, (name, load) in enumerate(items):
            out[i] = load_log_mel(name, load, settings, basis)
    return out


def extract_log_mels(
    items: Sequence[tuple[str, Callable]],
    settings: LogMelSettings,
    n_jobs: int = -1,
    chunk_size: int = 64,
) -> np.ndarray:
    """(files, n_frames, n_mels) float32 log-mels of ``items`` = ``(name, load)`` pairs, in order.

    The chunks of :func:`iter_log_mel_chunks` copied into one preallocated array: memory is
    that array plus about ``2 * n_jobs`` chunks. The ``features`` pipeline does not hold the
    array: it writes the chunks as they come (``LogMelBlocks``, ``datasets.LogMelDataset``).
    """
    out = np.empty((len(items), settings.n_frames, settings.n_mels), dtype=np.float32)
    for start, chunk in iter_log_mel_chunks(items, settings, n_jobs, chunk_size):
        out[start : start + len(chunk)] = chunk
    return out


def iter_log_mel_chunks(
    items: Sequence[tuple[str, Callable]],
    settings: LogMelSettings,
    n_jobs: int = -1,
    chunk_size: int = 64,
) -> Iterator[tuple[int, np.ndarray]]:
    """``(first_row, (files, n_frames, n_mels) float32)`` log-mels of ``items`` = ``(name,
    load)`` pairs, chunk by chunk in order.

    ``n_jobs`` worker processes (-1: all cores; 1: this process) each take chunks of at most
    ``chunk_size`` files (smaller when there are few files, so every worker gets several chunks
    and the progress log moves). Chunks come back in order; at most about ``2 * n_jobs`` are in
    flight. ``load`` callables must pickle (the bound ``load`` of a Kedro dataset does).
    Progress is logged every ~10 %.
    """
    from joblib import Parallel, delayed, effective_n_jobs

    n_files = len(items)
    if n_files == 0:
        return
    workers = max(1, min(int(effective_n_jobs(n_jobs)), n_files))
    size = max(1, min(int(chunk_size), math.ceil(n_files / (4 * workers))))
    starts = range(0, n_files, size)
    logger.info(
        "Extracting log-mel features of %d files with %d process(es), %d files per chunk",
        n_files,
        workers,
        size,
    )
    if workers == 1:
        chunks = (_log_mel_chunk(items[s : s + size], settings) for s in starts)
    else:
        chunks = Parallel(n_jobs=workers, backend="loky", return_as="generator")(
            delayed(_log_mel_chunk)(items[s : s + size], settings) for s in starts
        )
    next_report = 0.1
    try:
        for start, chunk in zip(starts, chunks):
            yield start, chunk
            done = (start + len(chunk)) / n_files
            if done >= next_report or done == 1.0:
                logger.info(
                    "Log-mel features: %d/%d files (%.0f%%)",
                    start + len(chunk),
                    n_files,
                    100 * done,
                )
                next_report = math.floor(done * 10 + 1) / 10
    except AudioError as exc:
        # From a worker, joblib chains the worker's whole traceback (a _RemoteTraceback) to the
        # error; the message names the file and says what is wrong, so the run's log shows it
        # once rather than the same error twice.
        raise AudioError(str(exc)) from None


def iter_feature_blocks(
    frame: pandas.DataFrame, n_mels: int, column: str = "log_mel", rows_per_block: int = 256
) -> Iterator[tuple[int, np.ndarray]]:
    """``(first_row, (rows, frames, n_mels) array)`` blocks of a log-mel table, in row order.

    ``frame``: a DataFrame, or a log-mel source of :mod:`feature_store` (read block by block).

    For Arrow-backed frames (``array_to_frame`` output, or Parquet read with
    ``dtype_backend: pyarrow``) the blocks are zero-copy views of the Arrow buffers, so a
    statistic over a feature array of several GB needs no second copy of it.
    """
    import pandas as pd
    import pyarrow as pa

    if not isinstance(frame, pd.DataFrame):
        # a log-mel source (feature_store): a stored table read piece by piece, or an array
        from subcluster_adacos_asd.feature_store import log_mel_source

        yield from log_mel_source(frame).blocks(rows_per_block)
        return
    series = frame[column]
    if not isinstance(series.dtype, pd.ArrowDtype):
        from subcluster_adacos_asd.feature_table import frame_to_array

        array = frame_to_array(frame, n_mels, column)
        for start in range(0, len(array), rows_per_block):
            yield start, array[start : start + rows_per_block]
        return
    chunked = series.array.__arrow_array__()
    if isinstance(chunked, pa.Array):
        chunked = pa.chunked_array([chunked])
    row = 0
    for chunk in chunked.chunks:
        if len(chunk) == 0:
            continue
        values = chunk.flatten()
        try:
            flat = values.to_numpy(zero_copy_only=True)
        except pa.ArrowInvalid:
            flat = values.to_numpy(zero_copy_only=False)
        if flat.size % (len(chunk) * n_mels):
            raise ValueError(f"Column {column!r} does not split into {n_mels} mel bins")
        block = flat.astype(np.float32, copy=False).reshape(len(chunk), -1, n_mels)
        for start in range(0, len(block), rows_per_block):
            yield row + start, block[start : start + rows_per_block]
        row += len(chunk)


def _rows(block: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return block if mask.all() else block[mask]


def standardisation_statistics(
    blocks: Callable[[], Iterator[tuple[int, np.ndarray]]], is_training: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-mel-bin mean and std (ddof 0, float64) over every frame of the training files.

    ``blocks()`` yields ``(first_row, array)`` blocks (see :func:`iter_feature_blocks`) and is
    called twice: two passes (mean, then squared deviations) in float64 avoid the cancellation of
    a one-pass sum of squares without holding the training frames at once. Bins with std below
    :data:`MIN_STD_DB` get std 1.
    """
    is_training = np.asarray(is_training, dtype=bool)
    if not is_training.any():
        raise ValueError(
            "No training files (split == 'train'): the standardisation statistics need them."
        )
    total, count = None, 0
    for start, block in blocks():
        rows = _rows(block, is_training[start : start + len(block)])
        if len(rows) == 0:
            continue
        part = rows.sum(axis=(0, 1), dtype=np.float64)
        total = part if total is None else total + part
        count += rows.shape[0] * rows.shape[1]
    mean = total / count
    squares = np.zeros_like(mean)
    for start, block in blocks():
        rows = _rows(block, is_training[start : start + len(block)])
        if len(rows) == 0:
            continue
        squares += np.square(rows - mean).sum(axis=(0, 1))
    std = np.sqrt(squares / count)
    constant = std < MIN_STD_DB
    if constant.any():
        logger.warning(
            "Mel bins %s are constant over the training files; using std 1 for them.",
            np.flatnonzero(constant).tolist(),
        )
        std = np.where(constant, 1.0, std)
    return mean, std


def temporal_maxima(
    blocks: Iterator[tuple[int, np.ndarray]], n_files: int, mean: np.ndarray, std: np.ndarray
) -> np.ndarray:
    """(files, mels) float64 maximum over frames of the standardised log-mel of each file.

    Standardising is increasing in each bin (std > 0), so the maximum of the standardised
    frames is the standardised maximum: computed per block without a standardised copy.
    """
    out = np.empty((n_files, len(mean)), dtype=np.float64)
    for start, block in blocks:
        out[start : start + len(block)] = (block.max(axis=1).astype(np.float64) - mean) / std
    return out
