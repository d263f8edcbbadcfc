"""What the training batches do to the clips: random crops, and self-supervised classes.

The self-supervised classes give the sub-cluster AdaCos heads more to learn than the sections
and attributes of the file names: a clip moved a few mel bins (Giri et al., DCASE 2020: a
pitch-shifted machine is another class) and a clip with another clip's per-bin statistics
(statistics exchange, Wilkinghoff 2024). They matter most where the names say little, e.g.
one section only (DCASE 2023 ToyCar), whose section head has a single class otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def shift_mel_bins(clip: np.ndarray, shift: int) -> np.ndarray:
    """A (frames, mels) clip moved ``shift`` mel bins up (negative: down); the bins that come
    free repeat the edge bin. About a 1-3 % pitch shift per bin in the upper mel range: the
    self-supervised classes of Giri et al. (DCASE 2020), on the log-mel."""
    out = np.empty_like(clip)
    if shift > 0:
        out[:, shift:] = clip[:, :-shift]
        out[:, :shift] = clip[:, :1]
    else:
        out[:, :shift] = clip[:, -shift:]
        out[:, shift:] = clip[:, -1:]
    return out


def exchange_statistics(clip: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``clip`` with each mel bin's temporal mean and standard deviation replaced by
    ``other``'s (statistics exchange, Wilkinghoff 2024): its temporal structure, the other
    clip's spectral envelope."""
    mean, std = clip.mean(axis=0), clip.std(axis=0)
    return (clip - mean) / (std + 1e-6) * other.std(axis=0) + other.mean(axis=0)


@dataclass(frozen=True)
class ClassAugmentation:
    """Self-supervised classes: every class c gets a copy per frequency shift, and, with
    statistics exchange, two more blocks. Class index ``b * (C * n_shifts) + s * C + c``: block
    b 0 = the clip as it is (with shift s), 1 = the content of an exchanged clip, 2 = the
    statistics of it; an exchanged clip's label is 0.5 at its own class in block 1 and 0.5 at
    the other clip's class in block 2 (Wilkinghoff 2024). Index c < C is the plain class, so
    the backends find the learned centres of every real class under its own name."""

    frequency_shifts: tuple[int, ...] = ()
    shift_probability: float = 0.5
    statistics_exchange: float = 0.0

    @property
    def shifts(self) -> int:
        return 1 + len(self.frequency_shifts)

    @property
    def blocks(self) -> int:
        return 3 if self.statistics_exchange > 0 else 1

    def class_names(self, names: list[str]) -> list[str]:
        shifted = [f"{n}|shift{s:+d}" for s in self.frequency_shifts for n in names]
        plain = [*names, *shifted]
        if self.blocks == 1:
            return plain
        return [*plain, *[f"{n}|exchanged" for n in plain], *[f"{n}|statistics" for n in plain]]

    def apply(self, clips: np.ndarray, codes: dict[str, np.ndarray], sizes: dict[str, int],
              rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Augmented ``clips`` (batch, frames, mels) and per head the (batch, classes) label
        vectors; ``sizes`` are the heads' plain class counts."""
        batch = len(clips)
        shift = np.zeros(batch, dtype=np.int64)
        if self.frequency_shifts:
            chosen = rng.random(batch) < self.shift_probability
            shift[chosen] = rng.integers(1, self.shifts, int(chosen.sum()))
            clips = clips.copy()
            for i in np.flatnonzero(chosen):
                clips[i] = shift_mel_bins(clips[i], self.frequency_shifts[shift[i] - 1])
        labels = {}
        exchanged = np.zeros(batch, dtype=bool)
        partner = np.arange(batch)
        if self.blocks == 3:
            exchanged = rng.random(batch) < self.statistics_exchange
            partner = rng.permutation(batch)
            exchanged &= partner != np.arange(batch)
            originals = clips.copy() if exchanged.any() else clips
            for i in np.flatnonzero(exchanged):
                clips[i] = exchange_statistics(originals[i], originals[partner[i]])
        for head, head_codes in codes.items():
            width = sizes[head] * self.shifts
            index = head_codes + shift * sizes[head]
            vectors = np.zeros((batch, width * self.blocks), dtype=np.float32)
            kept = ~exchanged
            vectors[np.flatnonzero(kept), index[kept]] = 1.0
            rows = np.flatnonzero(exchanged)
            vectors[rows, width + index[rows]] += 0.5
            vectors[rows, 2 * width + index[partner[rows]]] += 0.5
            labels[head] = vectors
        return clips, labels


def random_crops(clips: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    """One random window of ``frames`` consecutive frames of each clip."""
    starts = rng.integers(0, clips.shape[1] - frames + 1, len(clips))
    return np.stack([clip[s : s + frames] for clip, s in zip(clips, starts, strict=True)])
