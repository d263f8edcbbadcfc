"""Signal building blocks of the sound models (vectorised; a 10 s clip takes a few
milliseconds per component) and the faults shared by rotating machines."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


def seeded_rng(seed: int, *identity: object) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``identity`` (stable across runs/platforms).

    Python's ``hash`` is salted per process, so the identity is hashed with SHA-256.
    """
    digest = hashlib.sha256("\x1f".join(str(part) for part in identity).encode()).digest()
    words = [int(w) for w in np.frombuffer(digest[:16], dtype="<u4")]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


@dataclass
class _Clip:
    """What a sound model needs to render one clip."""

    rng: np.random.Generator
    sample_rate: int
    n: int
    anomaly: str
    severity: float
    level: int
    t: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.t = np.arange(self.n) / self.sample_rate

    @cached_property
    def freqs(self) -> np.ndarray:
        return np.fft.rfftfreq(self.n, 1.0 / self.sample_rate)


def slow_noise(rng: np.random.Generator, n: int, sample_rate: int, rate_hz: float) -> np.ndarray:
    """A smooth random curve with about unit variance that changes ``rate_hz`` times a second."""
    count = int(np.ceil(n / sample_rate * rate_hz)) + 2
    knots = rng.standard_normal(count)
    pos = np.arange(n) * (rate_hz / sample_rate)
    idx = pos.astype(np.int64)
    frac = pos - idx
    frac = frac * frac * (3.0 - 2.0 * frac)  # smoothstep: no kinks at the knots
    return knots[idx] * (1.0 - frac) + knots[idx + 1] * frac


def cycles_of(frequency_hz: np.ndarray | float, n: int, sample_rate: int) -> np.ndarray:
    """Cumulative cycles of a (possibly time-varying) frequency: the phase divided by 2 pi."""
    frequency = np.broadcast_to(np.asarray(frequency_hz, dtype=np.float64), (n,))
    return np.cumsum(frequency) / sample_rate


def harmonic_wave(cycles: np.ndarray, amplitudes: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Sum of ``amplitudes[k-1] * cos(2 pi k cycles + phases[k-1])`` for k = 1..K (cycles >= 0).

    One period is synthesised by an inverse FFT into a wavetable and read at the running phase,
    so the cost does not grow with the number of harmonics.
    """
    count = len(amplitudes)
    size = max(1024, 1 << int(np.ceil(np.log2(32 * (count + 1)))))
    spectrum = np.zeros(size // 2 + 1, dtype=np.complex128)
    spectrum[1 : count + 1] = np.asarray(amplitudes) * np.exp(1j * np.asarray(phases))
    table = np.fft.irfft(spectrum, n=size) * (size / 2)
    table = np.append(table, table[0])
    # cycles >= 0, so truncation is the floor; the power-of-two size makes the wrap a bit mask
    pos = cycles * size
    idx = pos.astype(np.int64)
    frac = pos - idx
    idx &= size - 1
    lower = table[idx]
    return lower + (table[idx + 1] - lower) * frac


def harmonic_count(f0_hz: float, sample_rate: int, limit: int = 400) -> int:
    """Number of harmonics of ``f0_hz`` that stay below 0.45 x the sample rate (with a margin)."""
    return int(max(1, min(limit, 0.45 * sample_rate / (f0_hz * 1.15))))


def shaped_noise(rng: np.random.Generator, magnitude: np.ndarray, n: int) -> np.ndarray:
    """Gaussian noise of unit RMS whose spectrum follows ``magnitude`` (one value per rfft bin)."""
    spectrum = (rng.standard_normal(magnitude.size) + 1j * rng.standard_normal(magnitude.size))
    noise = np.fft.irfft(spectrum * magnitude, n=n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def band(freqs: np.ndarray, centre_hz: float, octaves: float) -> np.ndarray:
    """A smooth band-pass magnitude: Gaussian in log frequency, ``octaves`` wide (FWHM-ish)."""
    distance = np.log2(np.maximum(freqs, 1.0) / centre_hz) / (octaves / 2.0)
    return np.exp(-0.7 * distance**2)


def resonances(freqs: np.ndarray, peaks: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """Magnitude response of modal resonances ``(frequency_hz, q, gain_db)`` over a flat floor."""
    response = np.ones_like(freqs)
    for centre, q, gain_db in peaks:
        width = centre / q
        response += (10 ** (gain_db / 20) - 1.0) / (1.0 + ((freqs - centre) / width) ** 2)
    return response


def resonant_impulses(n: int, sample_rate: int, times_s: np.ndarray, amplitudes: np.ndarray,
                      frequency_hz: float, decay_s: float) -> np.ndarray:
    """Impacts at ``times_s``, each ringing as a damped sine (a struck resonance)."""
    index = np.round(np.asarray(times_s) * sample_rate).astype(np.int64)
    amplitudes = np.broadcast_to(np.asarray(amplitudes, dtype=np.float64), index.shape)
    keep = (index >= 0) & (index < n)
    t = np.arange(int(decay_s * 6 * sample_rate) + 1) / sample_rate
    kernel = np.exp(-t / decay_s) * np.sin(2 * np.pi * frequency_hz * t)
    out = np.zeros(n + kernel.size)
    # impacts are sparse: adding each ringing in place beats an FFT convolution of the clip
    for start, amplitude in zip(index[keep].tolist(), amplitudes[keep].tolist()):
        out[start : start + kernel.size] += amplitude * kernel
    return out[:n]


def at_band_level(component: np.ndarray, reference: np.ndarray, ratio_db: float,
                  severity: float) -> np.ndarray:
    """Scale a broadband fault sound to ``ratio_db`` + 20 log10(severity) relative to the normal
    sound ``reference`` *within the fault's own frequency band*.

    A fault is audible by how it compares with what the machine already emits at those
    frequencies, not with the machine's overall level: a set level relative to the overall RMS
    would make the same fault glaring on a quiet band and invisible on a loud one.
    """
    # power per sixth of an octave (smooth enough that noise-like spectra are not over-weighted)
    bands = np.floor(6 * np.log2(np.maximum(np.arange(component.size // 2 + 1), 1))).astype(int)
    component_power = np.bincount(bands, np.abs(np.fft.rfft(component)) ** 2)
    reference_power = np.bincount(bands, np.abs(np.fft.rfft(reference)) ** 2)
    weight = component_power / (component_power.sum() + 1e-30)
    scale = np.sqrt(np.sum(weight * reference_power) / (np.sum(weight * component_power) + 1e-30))
    return component * scale * 10 ** (ratio_db / 20) * severity


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))) + 1e-12)


def _level_factor(level: int, step: float) -> float:
    """The multiplier of an attribute level: ``step ** (level - 1)`` (level 1 = the nominal)."""
    return float(step ** (level - 1))


# --------------------------------------------------------------------------------------------
# Faults shared by rotating machines
# --------------------------------------------------------------------------------------------


def bearing_fault(clip: _Clip, rotation_cycles: np.ndarray, f_rot: float,
                  reference: np.ndarray) -> np.ndarray:
    """A damaged bearing: impacts at a defect frequency (a non-integer multiple of the rotation),
    ringing in a high structural resonance, loudest when the defect passes the load zone."""
    rng = clip.rng
    defect_hz = f_rot * rng.uniform(2.7, 5.6)
    period = 1.0 / defect_hz
    times = np.arange(rng.uniform(0, period), clip.n / clip.sample_rate, period)
    times = times + rng.normal(0, 0.02 * period, times.size)  # rolling elements slip a little
    load_zone = 0.6 + 0.4 * np.cos(2 * np.pi * np.interp(times, clip.t, rotation_cycles))
    impacts = resonant_impulses(clip.n, clip.sample_rate, times, load_zone,
                                rng.uniform(2000, 5500), rng.uniform(0.0008, 0.002))
    return at_band_level(impacts, reference, -7.0, clip.severity)


def rubbing_fault(clip: _Clip, rotation_cycles: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rubbing contact: broadband friction noise in bursts once per revolution."""
    rng = clip.rng
    noise = shaped_noise(rng, band(clip.freqs, rng.uniform(1500, 5000), 2.0), clip.n)
    contact = np.cos(2 * np.pi * (rotation_cycles + rng.uniform()))
    envelope = np.maximum(contact - rng.uniform(0.2, 0.7), 0.0)
    return at_band_level(noise * envelope, reference, -8.0, clip.severity)


def flutter(clip: _Clip) -> np.ndarray:
    """Irregular rotation (a slipping belt, a sticking shaft): a fast random speed fluctuation."""
    depth = clip.rng.uniform(0.012, 0.03) * clip.severity
    return 1.0 + depth * slow_noise(clip.rng, clip.n, clip.sample_rate, clip.rng.uniform(3, 9))


def split_harmonics(clip: _Clip, amplitudes: np.ndarray,
                    max_shift: float = 0.04) -> tuple[np.ndarray, np.ndarray, float]:
    """Shifted harmonics (a loosened part vibrating at its own frequency): part of the energy of
    a band of harmonics moves to a slightly different frequency ratio.

    Returns (remaining amplitudes, shifted amplitudes, frequency ratio of the shifted part).
    """
    rng = clip.rng
    count = len(amplitudes)
    first = int(rng.integers(0, max(1, count // 3)))
    last = min(count, first + max(2, count // 3))
    fraction = min(0.9, 0.3 * clip.severity)
    shifted = np.zeros_like(amplitudes)
    shifted[first:last] = amplitudes[first:last] * np.sqrt(fraction)
    remaining = amplitudes.copy()
    remaining[first:last] *= np.sqrt(1 - fraction)
    ratio = 1.0 + rng.choice([-1, 1]) * rng.uniform(0.35, 1.0) * max_shift
    return remaining, shifted, ratio


def rotating_machine(clip: _Clip, f_rot: float, amplitudes: np.ndarray, noise: np.ndarray,
                     noise_modulation: float, modulation_order: int) -> np.ndarray:
    """Harmonics of a rotation plus flow/structure noise pulsing with blade or vane passing,
    with the rotating-machine faults applied.

    ``amplitudes[k-1]`` is the k-th rotation harmonic; ``noise`` is a unit-RMS noise whose
    amplitude is modulated at ``modulation_order`` x the rotation rate by ``noise_modulation``.
    """
    rng = clip.rng
    n, sr = clip.n, clip.sample_rate
    speed = f_rot * (1 + 0.003 * slow_noise(rng, n, sr, 0.5))  # mains and load wander
    if clip.anomaly == "irregular_rotation":
        speed = speed * flutter(clip)
    cycles = cycles_of(speed, n, sr) + rng.uniform()
    phases = rng.uniform(0, 2 * np.pi, len(amplitudes))
    if clip.anomaly == "shifted_harmonics":
        remaining, shifted, ratio = split_harmonics(clip, amplitudes)
        tone = harmonic_wave(cycles, remaining, phases)
        tone += harmonic_wave(cycles * ratio, shifted, phases)
    else:
        tone = harmonic_wave(cycles, amplitudes, phases)
    pulsing = 1 + noise_modulation * np.cos(2 * np.pi * modulation_order * cycles)
    signal = tone + noise * pulsing
    level = rms(signal)
    if clip.anomaly == "bearing":
        signal += bearing_fault(clip, cycles, f_rot, signal)
    elif clip.anomaly == "rubbing":
        signal += rubbing_fault(clip, cycles, signal)
    elif clip.anomaly == "imbalance":
        wobble = clip.severity * rng.uniform(0.08, 0.16)
        signal = signal * (1 + wobble * np.cos(2 * np.pi * cycles))
        signal += level * wobble * 1.5 * np.cos(2 * np.pi * cycles)
    return signal


def _jitter(clip: _Clip, low: float = 0.9, high: float = 1.1) -> float:
    return float(clip.rng.uniform(low, high))


def over_voltage(clip: _Clip) -> float:
    """The speed factor of an over-voltage fault: the motor runs a few per cent fast.

    Where the section's attribute is the speed, the faulty speed often lies between two normal
    speeds: inside the range of the normal sounds, but off every normal operating point, so a
    detector must model the section's modes rather than its range.
    """
    if clip.anomaly != "over_voltage":
        return 1.0
    return 1.0 + float(clip.rng.uniform(0.03, 0.06)) * clip.severity
