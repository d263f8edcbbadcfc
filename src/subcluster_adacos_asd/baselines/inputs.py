"""Log-mel arrays -> windows of consecutive frames, the raw material of both baselines' inputs.

The autoencoder's vectors (:func:`~.autoencoder.consecutive_frame_vectors`) and the
MobileNetV2's patches (:func:`~.mobilenetv2.spectrogram_patches`) are both such windows.
"""

from __future__ import annotations

import numpy as np

# Model input per predict call when scoring (float32 bytes): bounds memory on the full data set.
# Each chunk costs about four times this while it is scored (the input, Keras' copy of it, the
# batch outputs and their concatenation): with 256 MB the autoencoder's scoring was the default
# run's peak (docs/training.md).
CHUNK_BYTES = 64 * 2**20


def frame_windows(log_mel: np.ndarray, n_frames: int, hop: int = 1) -> np.ndarray:
    """Every ``n_frames``-long window of consecutive frames, starting every ``hop`` frames.

    ``log_mel``: (files, frames, mels) -> (files, windows, n_frames, mels), a strided view (no
    copy); windows = (frames - n_frames) // hop + 1, the official code's count.
    """
    log_mel = np.asarray(log_mel)
    if log_mel.ndim != 3:
        raise ValueError(f"Expected log-mel of shape (files, frames, mels), got {log_mel.shape}")
    if n_frames < 1 or hop < 1:
        raise ValueError(f"n_frames and hop must be >= 1, got {n_frames} and {hop}")
    if log_mel.shape[1] < n_frames:
        raise ValueError(
            f"Clips of {log_mel.shape[1]} frames are shorter than the {n_frames}-frame window "
            "of the baseline"
        )
    windows = np.lib.stride_tricks.sliding_window_view(log_mel, n_frames, axis=1)
    # sliding_window_view appends the window axis: (files, windows, mels, n_frames).
    return windows[:, ::hop].transpose(0, 1, 3, 2)


def file_chunks(log_mel: np.ndarray, n_frames: int, hop: int, chunk_bytes: int) -> list[slice]:
    """Slices of files whose ``n_frames``-long windows take about ``chunk_bytes`` as float32.

    Scoring goes chunk by chunk so that the full data set never holds all its model inputs and
    outputs at once, while small data sets go through in one ``predict`` call (each new input
    shape costs a retrace).
    """
    values_per_window = n_frames * log_mel.shape[-1]
    windows = (log_mel.shape[1] - n_frames) // hop + 1 if log_mel.shape[1] >= n_frames else 1
    files_per_chunk = max(1, int(chunk_bytes // (4 * windows * values_per_window)))
    return [slice(i, i + files_per_chunk) for i in range(0, len(log_mel), files_per_chunk)]
