"""A synthetic data set in the DCASE 2021 task 2 development layout, made of machine-like sounds.

Why it exists: the project must run end to end without the (large, separately licensed) DCASE
recordings, on data that poses the same problem: several machine types, sections that are
different machines, attribute information in the file names, a source domain with many normal
training clips and a target domain with exactly three, and subtle anomalies of several kinds in
the test clips. Each sound is a small physical model (harmonics of a rotation speed, gear mesh
with shaft sidebands, valve open/close events with flow noise, slide-rail strokes, ...), passed
through the section's housing resonances, the microphone of the domain, and mixed with the
domain's background noise.

What makes it a fair test bed rather than a toy:

* The normal sounds vary from clip to clip (speed, wander, levels, background), and each section
  has several attribute values that move the sound audibly, so the normal distribution is wide.
* The target domain is shifted for real: its attribute value lies outside the source range
  (another speed, load, valve pattern, ...) and it has its own microphone colouring and
  background, with three training clips only.
* Anomalies are subtle and of several kinds (bearing impulses, shifted harmonics, rubbing noise,
  irregular timing, leaks, ...) with a random severity; several of them hardly change a clip's
  average spectrum, so a detector on the mean log-mel stays far from perfect while the sections
  and attributes stay easy to tell apart.

Determinism: every random number of a clip comes from a generator seeded with the global seed and
the clip's identity (its partition key), every section's machine from the seed and the section's
identity; the generation order and any parallelism therefore never change a byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property, lru_cache

import numpy as np
import pandas as pd

#: The seven machine types of DCASE 2021 task 2, each with a sound model below.
MACHINE_TYPES = ("ToyCar", "ToyTrain", "fan", "gearbox", "pump", "slider", "valve")

DOMAINS = ("source", "target")

#: Overall level of a machine's sound (RMS, full scale = 1); backgrounds are set relative to it.
_MACHINE_LEVEL = 0.05


# --------------------------------------------------------------------------------------------
# Settings and the plan of clips
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticSettings:
    """What to generate: the ``synthetic`` parameters of the Kedro project.

    Counts are per section; ``test_clips`` is per section, domain and label (normal/anomaly).
    Attribute levels index the section's attribute (speed, load, valve pattern, ...): the source
    domain cycles through ``source_attribute_levels``, the target domain through
    ``target_attribute_levels`` (outside the source range by default, hence a domain shift).
    ``anomaly_strength`` scales every anomaly's severity (1 = the default difficulty).
    """

    seed: int = 2021
    sample_rate: int = 16000
    duration_s: float = 10.0
    machine_types: tuple[str, ...] = ("fan", "gearbox", "valve")
    sections: tuple[int, ...] = (0, 1)
    source_train_clips: int = 40
    target_train_clips: int = 3
    test_clips: int = 10
    source_attribute_levels: tuple[int, ...] = (1, 2, 3)
    target_attribute_levels: tuple[int, ...] = (4,)
    anomaly_strength: float = 1.0

    def __post_init__(self):
        unknown = [m for m in self.machine_types if m not in MACHINE_TYPES]
        if unknown:
            raise ValueError(f"Unknown machine types {unknown}; known: {list(MACHINE_TYPES)}")
        if not self.machine_types or not self.sections:
            raise ValueError("machine_types and sections must not be empty")
        if len(set(self.machine_types)) != len(self.machine_types):
            raise ValueError(f"machine_types repeats a type: {list(self.machine_types)}")
        if any(not 0 <= s <= 99 for s in self.sections) or len(set(self.sections)) != len(
            self.sections
        ):
            raise ValueError(f"sections must be distinct integers 0..99, got {self.sections}")
        for name in ("source_train_clips", "target_train_clips", "test_clips"):
            if not 0 <= getattr(self, name) <= 9999:
                raise ValueError(f"{name} must be in 0..9999, got {getattr(self, name)}")
        for name in ("source_attribute_levels", "target_attribute_levels"):
            levels = getattr(self, name)
            if not levels or any(not 0 <= level <= 99 for level in levels):
                raise ValueError(f"{name} must be a non-empty list of integers 0..99, got {levels}")
        if self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")
        if self.sample_rate < 8000:
            raise ValueError(f"sample_rate must be at least 8000 Hz, got {self.sample_rate}")
        if self.duration_s <= 0:
            raise ValueError(f"duration_s must be positive, got {self.duration_s}")
        if self.anomaly_strength < 0:
            raise ValueError(f"anomaly_strength must be >= 0, got {self.anomaly_strength}")

    @classmethod
    def from_parameters(cls, parameters: Mapping) -> SyntheticSettings:
        """Settings from the ``synthetic`` parameter mapping; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(parameters) - known
        if unknown:
            raise ValueError(
                f"Unknown synthetic parameters {sorted(unknown)}; known: {sorted(known)}"
            )
        values = dict(parameters)
        for name in ("machine_types", "sections", "source_attribute_levels",
                     "target_attribute_levels"):
            if name in values:
                if isinstance(values[name], str | int):
                    raise ValueError(f"synthetic parameter {name} must be a list")
                values[name] = tuple(values[name])
        for name in ("sections", "source_attribute_levels", "target_attribute_levels"):
            if name in values:
                values[name] = tuple(int(v) for v in values[name])
        return cls(**values)

    @property
    def n_samples(self) -> int:
        return int(round(self.duration_s * self.sample_rate))


@dataclass(frozen=True)
class ClipSpec:
    """One clip: its identity in the DCASE grammar and what generates it."""

    machine_type: str
    section: int
    domain: str
    split: str
    label: str
    number: int
    attribute_name: str
    attribute_level: int
    anomaly_kind: str = ""
    anomaly_severity: float = 0.0

    @property
    def attributes(self) -> str:
        """The attribute string of the file name, e.g. ``speed_2``."""
        return f"{self.attribute_name}_{self.attribute_level}"

    @property
    def split_folder(self) -> str:
        return "train" if self.split == "train" else f"{self.domain}_test"

    @property
    def filename(self) -> str:
        """The DCASE 2021 development file name without ``.wav``."""
        return (
            f"section_{self.section:02d}_{self.domain}_{self.split}_{self.label}_"
            f"{self.number:04d}_{self.attributes}"
        )

    @property
    def key(self) -> str:
        """The partition key: ``<machine_type>/<split folder>/<file name>``."""
        return f"{self.machine_type}/{self.split_folder}/{self.filename}"


def plan_clips(settings: SyntheticSettings) -> list[ClipSpec]:
    """Every clip of the data set, in a fixed order (machine type, section, domain, split, label).

    Attribute levels and anomaly kinds are assigned in turn, so each is equally represented; the
    severity of each anomaly is drawn from the clip's own seed.
    """
    clips = []
    for machine_type in settings.machine_types:
        model = MODELS[machine_type]
        for section in settings.sections:
            attribute_name = model.attribute_names[section % len(model.attribute_names)]
            groups = [
                ("source", "train", "normal", settings.source_train_clips),
                ("target", "train", "normal", settings.target_train_clips),
                ("source", "test", "normal", settings.test_clips),
                ("source", "test", "anomaly", settings.test_clips),
                ("target", "test", "normal", settings.test_clips),
                ("target", "test", "anomaly", settings.test_clips),
            ]
            for domain, split, label, count in groups:
                levels = (
                    settings.source_attribute_levels
                    if domain == "source"
                    else settings.target_attribute_levels
                )
                for number in range(count):
                    clip = ClipSpec(machine_type, section, domain, split, label, number,
                                    attribute_name, levels[number % len(levels)])
                    if label == "anomaly":
                        kinds = model.anomaly_kinds
                        # the offset by section varies which attribute meets which anomaly kind
                        kind = kinds[(number + section) % len(kinds)]
                        severity = settings.anomaly_strength * float(
                            seeded_rng(settings.seed, clip.key, "severity").uniform(0.5, 1.5)
                        )
                        clip = ClipSpec(**{**clip.__dict__, "anomaly_kind": kind,
                                           "anomaly_severity": severity})
                    clips.append(clip)
    return clips


def seeded_rng(seed: int, *identity: object) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``identity`` (stable across runs/platforms).

    Python's ``hash`` is salted per process, so the identity is hashed with SHA-256.
    """
    digest = hashlib.sha256("\x1f".join(str(part) for part in identity).encode()).digest()
    words = [int(w) for w in np.frombuffer(digest[:16], dtype="<u4")]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


# --------------------------------------------------------------------------------------------
# Signal building blocks (vectorised; a 10 s clip takes a few milliseconds per component)
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Sound models, one per machine type
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoundModel:
    """A machine type: which attribute each section varies, its faults, and how it sounds.

    ``instance(rng)`` draws one section's machine (a different product or mounting: dimensions,
    speeds, resonances); ``render(clip, machine, attribute_name)`` returns the machine's sound
    before housing, microphone and background.
    """

    attribute_names: tuple[str, ...]
    anomaly_kinds: tuple[str, ...]
    instance: Callable[[np.random.Generator], dict]
    render: Callable[[_Clip, dict, str], np.ndarray]


def _housing(rng: np.random.Generator, count: int = 3) -> list[tuple[float, float, float]]:
    return [
        (float(np.exp(rng.uniform(np.log(200), np.log(5000)))), rng.uniform(2, 8),
         rng.uniform(4, 10))
        for _ in range(count)
    ]


def _fan_instance(rng):
    return {
        "blades": int(rng.integers(3, 10)),
        "f_rot": rng.uniform(18, 32),
        "shaft_decay": rng.uniform(1.2, 2.0),
        "blade_decay": rng.uniform(0.6, 1.2),
        "blade_weights": rng.uniform(0.5, 1.5, 64),
        "flow_centre": rng.uniform(300, 1500),
        "flow_octaves": rng.uniform(2.5, 4.0),
        "flow_share": rng.uniform(0.35, 0.6),
        "housing": _housing(rng),
    }


def _fan_render(clip, fan, attribute):
    speed = _level_factor(clip.level, 1.12) if attribute == "speed" else 1.0
    load = _level_factor(clip.level, 1.25) if attribute == "load" else 1.0
    f_rot = fan["f_rot"] * speed / load**0.12 * _jitter(clip, 0.985, 1.015) * over_voltage(clip)
    count = harmonic_count(f_rot, clip.sample_rate)
    k = np.arange(1, count + 1)
    amplitudes = 0.15 * k ** -fan["shaft_decay"]
    blade_orders = np.arange(fan["blades"], count + 1, fan["blades"])
    m = blade_orders // fan["blades"]
    amplitudes[blade_orders - 1] += m ** -fan["blade_decay"] * fan["blade_weights"][m % 64] * load
    amplitudes *= 10 ** (clip.rng.normal(0, 1.0, count) / 20)
    amplitudes /= np.sqrt(np.sum(amplitudes**2) / 2)
    flow = band(clip.freqs, fan["flow_centre"] * speed / load**0.3, fan["flow_octaves"])
    share = fan["flow_share"] * min(1.0, speed * load) ** 0.5
    noise = shaped_noise(clip.rng, flow, clip.n) * share / (1 - share) * (speed * load) ** 0.5
    return rotating_machine(clip, f_rot, amplitudes, noise, 0.3, fan["blades"])


def _gearbox_instance(rng):
    teeth_in = int(rng.integers(15, 34))
    return {
        "f_in": rng.uniform(18, 32),
        "teeth_in": teeth_in,
        "teeth_out": int(teeth_in * rng.uniform(1.6, 3.2)),
        "mesh_decay": rng.uniform(0.5, 1.3),
        "mesh_weights": rng.uniform(0.5, 1.5, 16),
        "depth_out": rng.uniform(0.1, 0.3),
        "depth_in": rng.uniform(0.05, 0.2),
        "noise_centre": rng.uniform(800, 3000),
        "housing": _housing(rng),
    }


def _gearbox_render(clip, gearbox, attribute):
    rng = clip.rng
    n, sr = clip.n, clip.sample_rate
    speed = _level_factor(clip.level, 1.15) if attribute == "volt" else 1.0
    load = _level_factor(clip.level, 1.3) if attribute == "load" else 1.0
    f_in = gearbox["f_in"] * speed / load**0.1 * _jitter(clip, 0.985, 1.015) * over_voltage(clip)
    ratio = gearbox["teeth_in"] / gearbox["teeth_out"]
    f_in_t = f_in * (1 + 0.003 * slow_noise(rng, n, sr, 0.5))
    if clip.anomaly == "irregular_rotation":
        f_in_t = f_in_t * flutter(clip)
    shaft_in = cycles_of(f_in_t, n, sr) + rng.uniform()
    shaft_out = shaft_in * ratio + rng.uniform()
    mesh_cycles = shaft_in * gearbox["teeth_in"]
    gmf = f_in * gearbox["teeth_in"]
    count = harmonic_count(gmf, sr, 12)
    m = np.arange(1, count + 1)
    mesh_amp = m ** -gearbox["mesh_decay"] * gearbox["mesh_weights"][:count]
    mesh_amp *= 10 ** (rng.normal(0, 1.0, count) / 20)
    mesh_amp /= np.sqrt(np.sum(mesh_amp**2) / 2)
    phases = rng.uniform(0, 2 * np.pi, count)
    depth_out = gearbox["depth_out"] * load**0.5
    depth_in = gearbox["depth_in"]
    if clip.anomaly == "wear":  # worn teeth: stronger, richer shaft sidebands
        depth_out *= 1 + 0.8 * clip.severity
        depth_in *= 1 + 0.8 * clip.severity
    if clip.anomaly == "shifted_harmonics":
        remaining, shifted, factor = split_harmonics(clip, mesh_amp, 0.02)
        mesh = harmonic_wave(mesh_cycles, remaining, phases)
        mesh += harmonic_wave(mesh_cycles * factor, shifted, phases)
    else:
        mesh = harmonic_wave(mesh_cycles, mesh_amp, phases)
    modulation = (1 + depth_out * np.cos(2 * np.pi * shaft_out)
                  + depth_in * np.cos(2 * np.pi * shaft_in))
    if clip.anomaly == "wear":
        modulation += 0.5 * depth_out * np.cos(4 * np.pi * shaft_out + 1.0)
    shaft = harmonic_wave(shaft_in, 0.25 * np.arange(1, 7) ** -1.5, rng.uniform(0, 6.3, 6))
    noise = shaped_noise(rng, band(clip.freqs, gearbox["noise_centre"], 3.0), n)
    signal = mesh * modulation * load**0.5 + shaft + 0.5 * noise * (speed * load) ** 0.5
    if clip.anomaly == "broken_tooth":  # one impact per revolution of the output gear
        period = 1.0 / (f_in * ratio)
        times = np.arange(rng.uniform(0, period), n / sr, period)
        impacts = resonant_impulses(n, sr, times, 1.0, rng.uniform(1500, 5000),
                                    rng.uniform(0.002, 0.005))
        signal += at_band_level(impacts, signal, -3.0, clip.severity)
    elif clip.anomaly == "bearing":
        signal += bearing_fault(clip, shaft_in, f_in, signal)
    return signal


def _pump_instance(rng):
    return {
        "f_rot": rng.uniform(24, 48),
        "vanes": int(rng.integers(4, 9)),
        "vane_decay": rng.uniform(0.7, 1.4),
        "flow_centre": rng.uniform(150, 700),
        "hiss_centre": rng.uniform(2500, 5000),
        "flow_share": rng.uniform(0.6, 0.85),
        "housing": _housing(rng),
    }


def _pump_render(clip, pump, attribute):
    rng = clip.rng
    speed = _level_factor(clip.level, 1.12) if attribute == "speed" else 1.0
    pressure = _level_factor(clip.level, 1.3) if attribute == "pressure" else 1.0
    f_rot = pump["f_rot"] * speed / pressure**0.08 * _jitter(clip, 0.985, 1.015)
    flow_centre = pump["flow_centre"] * pressure**0.3
    vane_level = pressure
    if clip.anomaly == "clogging":  # a clogged impeller: slower, more vane noise, duller flow
        f_rot *= 1 - rng.uniform(0.02, 0.04) * clip.severity
        flow_centre *= 1 - 0.12 * min(clip.severity, 1.5)
        vane_level *= 1 + 0.3 * clip.severity
    count = harmonic_count(f_rot, clip.sample_rate)
    k = np.arange(1, count + 1)
    amplitudes = 0.2 * k**-1.6
    vane_orders = np.arange(pump["vanes"], count + 1, pump["vanes"])
    amplitudes[vane_orders - 1] += (vane_orders // pump["vanes"]) ** -pump["vane_decay"] * vane_level
    amplitudes *= 10 ** (rng.normal(0, 1.0, count) / 20)
    amplitudes /= np.sqrt(np.sum(amplitudes**2) / 2)
    flow = band(clip.freqs, flow_centre, 3.0)
    flow += 0.1 * pressure * band(clip.freqs, pump["hiss_centre"], 2.0)
    share = pump["flow_share"]
    noise = shaped_noise(rng, flow, clip.n) * share / (1 - share) * (speed * pressure) ** 0.5
    kind = clip.anomaly
    signal = rotating_machine(clip, f_rot, amplitudes, noise, 0.25, pump["vanes"])
    if kind == "cavitation":  # collapsing vapour bubbles: random crackle
        rate = rng.uniform(40, 120)
        times = np.sort(rng.uniform(0, clip.n / clip.sample_rate, rng.poisson(rate * clip.t[-1])))
        crackle = resonant_impulses(clip.n, clip.sample_rate, times,
                                    rng.exponential(1.0, times.size), rng.uniform(3000, 6500),
                                    0.0005)
        signal += at_band_level(crackle, signal, -8.0, clip.severity)
    elif kind == "leakage":  # a jet through a leak: steady high-frequency hiss
        hiss = shaped_noise(rng, band(clip.freqs, rng.uniform(3500, 6500), 1.5), clip.n)
        signal += at_band_level(hiss, signal, -10.0, clip.severity)
    return signal


def _slider_instance(rng):
    return {
        "cycle_s": rng.uniform(1.0, 2.0),
        "dwell": rng.uniform(0.05, 0.2),
        "f_motor": rng.uniform(60, 150),
        "motor_decay": rng.uniform(0.8, 1.6),
        "friction_centre": rng.uniform(800, 3500),
        "click_hz": rng.uniform(1000, 4000),
        "click_level": rng.uniform(0.5, 1.5),
        "housing": _housing(rng),
    }


def _slider_render(clip, slider, attribute):
    rng = clip.rng
    n, sr = clip.n, clip.sample_rate
    velocity = _level_factor(clip.level, 1.15) if attribute == "vel" else 1.0
    load = _level_factor(clip.level, 1.3) if attribute == "load" else 1.0
    stroke = slider["cycle_s"] / 2 / velocity * _jitter(clip, 0.98, 1.02)
    # one stroke after another; irregular timing makes each stroke's duration random
    count = int(n / sr / stroke) + 3
    durations = np.full(count, stroke) * (1 + rng.normal(0, 0.005, count))
    if clip.anomaly == "irregular_timing":
        durations *= 1 + rng.normal(0, 0.06 * clip.severity, count)
    starts = np.concatenate([[0.0], np.cumsum(durations)]) - rng.uniform(0, stroke)
    index = np.searchsorted(starts, clip.t, side="right") - 1
    u = (clip.t - starts[index]) / durations[index]  # position within the stroke, 0..1
    dwell = slider["dwell"]
    moving = np.clip((u - dwell / 2) / (1 - dwell), 0, 1)
    speed = np.sin(np.pi * moving) ** 0.7  # accelerate, cruise, brake
    motor_hz = slider["f_motor"] * velocity * speed
    motor_cycles = cycles_of(motor_hz, n, sr)
    harmonics = harmonic_count(slider["f_motor"] * velocity, sr, 40)
    amps = np.arange(1, harmonics + 1, dtype=float) ** -slider["motor_decay"]
    amps *= 10 ** (rng.normal(0, 1.0, harmonics) / 20)
    amps /= np.sqrt(np.sum(amps**2) / 2)
    motor = harmonic_wave(motor_cycles, amps, rng.uniform(0, 2 * np.pi, harmonics))
    friction = shaped_noise(rng, band(clip.freqs, slider["friction_centre"], 2.5), n)
    signal = motor * np.sqrt(speed) + 0.8 * load**0.5 * friction * speed
    position = np.where(index % 2 == 0, moving, 1 - moving)  # back and forth
    # end-stop clicks where each stroke starts
    clicks = resonant_impulses(n, sr, starts[:-1] + durations * dwell / 2, slider["click_level"],
                               slider["click_hz"], 0.004)
    signal += 0.6 * clicks
    if clip.anomaly == "rubbing":  # a misaligned carriage rubs over part of the rail
        zone = np.exp(-((position - rng.uniform(0.2, 0.8)) / rng.uniform(0.1, 0.25)) ** 2)
        rub = shaped_noise(rng, band(clip.freqs, rng.uniform(3000, 6000), 1.5), n)
        signal += at_band_level(rub * zone * speed, signal, -5.0, clip.severity)
    elif clip.anomaly == "rail_damage":  # a dent in the rail: a bump at one position per pass
        where = rng.uniform(0.25, 0.75)
        crossing = np.flatnonzero(np.diff(np.sign(position - where)) != 0) / sr
        bumps = resonant_impulses(n, sr, crossing, 1.0, rng.uniform(400, 1500), 0.006)
        signal += at_band_level(bumps, signal, -6.0, clip.severity)
    elif clip.anomaly == "bearing":
        signal += bearing_fault(clip, motor_cycles, slider["f_motor"] * velocity, signal) * np.sqrt(
            speed
        )
    return signal


def _valve_instance(rng):
    return {
        "pattern_seed": int(rng.integers(0, 2**31)),
        "open_hz": rng.uniform(1500, 4500),
        "close_hz": rng.uniform(700, 3000),
        "thump_hz": rng.uniform(150, 450),
        "flow_centre": rng.uniform(500, 3000),
        "hum_hz": rng.uniform(45, 130),
        "housing": _housing(rng),
    }


def _valve_pattern(valve, level):
    """The open/close pattern of one ``pat`` level: (cycle seconds, open times, open durations)."""
    rng = np.random.default_rng([valve["pattern_seed"], level])
    cycle = rng.uniform(1.0, 2.5)
    openings = int(rng.integers(1, 4))
    starts = np.sort(rng.uniform(0, cycle * 0.8, openings))
    gaps = np.diff(np.append(starts, cycle))
    durations = np.minimum(rng.uniform(0.08, 0.5, openings), gaps * 0.7)
    return cycle, starts, durations


def _valve_render(clip, valve, attribute):
    rng = clip.rng
    n, sr = clip.n, clip.sample_rate
    pattern_level = clip.level if attribute == "pat" else 1
    flow_level = _level_factor(clip.level, 1.4) if attribute == "flow" else 1.0
    cycle, starts, durations = _valve_pattern(valve, pattern_level)
    repeats = int(n / sr / cycle) + 2
    offsets = (np.arange(repeats)[:, None] * cycle + starts[None, :]).ravel()
    opens = offsets - rng.uniform(0, cycle)
    lengths = np.tile(durations, repeats) * (1 + rng.normal(0, 0.01, opens.size))
    opens += rng.normal(0, 0.003, opens.size)
    if clip.anomaly == "irregular_timing":  # a sticking armature: late and uneven actuation
        opens += rng.normal(0, 0.03 * clip.severity, opens.size)
        lengths *= 1 + rng.normal(0, 0.2 * clip.severity, opens.size).clip(-0.6, 2)
    closes = opens + lengths
    # flow: open between each open and close event, with 10 ms edges
    gate = np.zeros(n + 1)
    edges = np.round(np.stack([opens, closes]) * sr).astype(np.int64).clip(0, n)
    np.add.at(gate, edges[0], 1.0)
    np.add.at(gate, edges[1], -1.0)
    gate = np.clip(np.cumsum(gate[:n]), 0, 1)
    width = int(0.02 * sr)  # a 20 ms moving average: the flow builds up and dies down
    running = np.cumsum(gate)
    gate = (running - np.concatenate([np.zeros(width), running[:-width]])) / width
    flow_noise = shaped_noise(rng, band(clip.freqs, valve["flow_centre"] * flow_level**0.3, 2.0), n)
    if clip.anomaly == "leak":  # the seat does not close: flow noise between the events too
        gate = gate + (1 - gate) * 0.15 * clip.severity
    signal = 0.5 * flow_level * flow_noise * gate
    close_hz, close_decay = valve["close_hz"], 0.006
    if clip.anomaly == "contamination":  # debris in the seat: a duller, detuned closing click
        close_hz *= 1 + rng.choice([-1, 1]) * 0.06 * clip.severity
        close_decay *= 1 - 0.3 * min(clip.severity, 1.5) / 1.5
    click_amp = 10 ** (rng.normal(0, 1.5, opens.size) / 20)
    signal += 3 * resonant_impulses(n, sr, opens, click_amp, valve["open_hz"], 0.003)
    signal += 4 * resonant_impulses(n, sr, closes, click_amp, close_hz, close_decay)
    signal += 3 * resonant_impulses(n, sr, closes, click_amp, valve["thump_hz"], 0.015)
    if clip.anomaly == "bounce":  # a weak spring: the plunger bounces after closing
        bounce = closes + rng.uniform(0.02, 0.06)
        signal += 4 * 0.3 * clip.severity * resonant_impulses(n, sr, bounce, click_amp, close_hz,
                                                              close_decay)
    # the pump and pipes behind the valve hum quietly all the time
    signal += 0.05 * harmonic_wave(cycles_of(valve["hum_hz"], n, sr), np.array([1, 0.5, 0.3]),
                                   rng.uniform(0, 6.3, 3))
    return signal


def _toycar_instance(rng):
    return {
        "f_motor": rng.uniform(90, 160),
        "gear_teeth": int(rng.integers(8, 15)),
        "wheel_ratio": rng.uniform(12, 25),
        "motor_decay": rng.uniform(0.8, 1.5),
        "roll_centre": rng.uniform(200, 1200),
        "housing": _housing(rng),
    }


def _toycar_render(clip, car, attribute):
    rng = clip.rng
    speed = _level_factor(clip.level, 1.12) if attribute == "speed" else 1.0
    speed *= over_voltage(clip)
    f_motor = car["f_motor"] * speed * _jitter(clip, 0.985, 1.015)
    count = harmonic_count(f_motor, clip.sample_rate)
    k = np.arange(1, count + 1)
    amplitudes = 0.6 * k ** -car["motor_decay"]
    mesh = np.arange(car["gear_teeth"], count + 1, car["gear_teeth"])
    amplitudes[mesh - 1] += 0.5 * (mesh // car["gear_teeth"]) ** -1.0
    amplitudes *= 10 ** (rng.normal(0, 1.0, count) / 20)
    amplitudes /= np.sqrt(np.sum(amplitudes**2) / 2)
    rolling = shaped_noise(rng, band(clip.freqs, car["roll_centre"], 3.0), clip.n) * speed**0.5
    # the rolling noise pulses with the wheel, a sub-multiple of the motor rotation
    wheel = 1 + 0.3 * np.cos(2 * np.pi * clip.t * f_motor / car["wheel_ratio"])
    return rotating_machine(clip, f_motor, amplitudes, rolling * wheel, 0.1, car["gear_teeth"])


def _toytrain_instance(rng):
    return {
        "f_motor": rng.uniform(70, 140),
        "joint_s": rng.uniform(0.3, 0.8),
        "axle_s": rng.uniform(0.05, 0.12),
        "click_hz": rng.uniform(800, 3000),
        "roll_centre": rng.uniform(300, 1500),
        "housing": _housing(rng),
    }


def _toytrain_render(clip, train, attribute):
    rng = clip.rng
    n, sr = clip.n, clip.sample_rate
    speed = _level_factor(clip.level, 1.12) if attribute == "speed" else 1.0
    speed *= over_voltage(clip)
    f_motor = train["f_motor"] * speed * _jitter(clip, 0.985, 1.015)
    count = harmonic_count(f_motor, sr, 60)
    amplitudes = np.arange(1, count + 1, dtype=float) ** -1.2
    amplitudes *= 10 ** (rng.normal(0, 1.0, count) / 20)
    amplitudes /= np.sqrt(np.sum(amplitudes**2) / 2)
    rolling = shaped_noise(rng, band(clip.freqs, train["roll_centre"], 3.0), n) * speed**0.5
    signal = rotating_machine(clip, f_motor, amplitudes * 0.7, rolling, 0.05, 1)
    # rail joints: each passes under both axles
    period = train["joint_s"] / speed
    joints = np.arange(rng.uniform(0, period), n / sr, period)
    joints = joints + rng.normal(0, 0.002, joints.size)
    if clip.anomaly == "irregular_timing":  # a loose coupling: uneven spacing of the knocks
        joints = joints + rng.normal(0, 0.04 * clip.severity * period, joints.size)
    axle = train["axle_s"] / speed
    times = np.concatenate([joints, joints + axle])
    clicks = resonant_impulses(n, sr, times, 10 ** (rng.normal(0, 1.5, times.size) / 20),
                               train["click_hz"], 0.004)
    signal += 2.0 * clicks
    level = rms(signal)
    if clip.anomaly == "flange_squeal":  # a wheel flange grinding: an intermittent whistle
        tone_hz = rng.uniform(2000, 5000) * (1 + 0.02 * slow_noise(rng, n, sr, 2))
        gate = np.clip(slow_noise(rng, n, sr, 1.0) + 0.3, 0, None)
        signal += np.cos(2 * np.pi * cycles_of(tone_hz, n, sr)) * gate * level * 0.15 * (
            clip.severity
        )
    return signal


MODELS: dict[str, SoundModel] = {
    "fan": SoundModel(("speed", "load", "noise"),
                      ("bearing", "shifted_harmonics", "rubbing", "imbalance",
                       "over_voltage"),
                      _fan_instance, _fan_render),
    "gearbox": SoundModel(("volt", "load", "noise"),
                          ("broken_tooth", "wear", "shifted_harmonics", "bearing",
                           "irregular_rotation", "over_voltage"),
                          _gearbox_instance, _gearbox_render),
    "pump": SoundModel(("speed", "pressure", "noise"),
                       ("cavitation", "leakage", "bearing", "shifted_harmonics",
                        "irregular_rotation", "clogging"),
                       _pump_instance, _pump_render),
    "slider": SoundModel(("vel", "load", "noise"),
                         ("rubbing", "rail_damage", "irregular_timing", "bearing"),
                         _slider_instance, _slider_render),
    "valve": SoundModel(("pat", "flow", "noise"),
                        ("irregular_timing", "leak", "contamination", "bounce"),
                        _valve_instance, _valve_render),
    "ToyCar": SoundModel(("speed", "mic", "noise"),
                         ("bearing", "shifted_harmonics", "rubbing", "imbalance",
                          "over_voltage"),
                         _toycar_instance, _toycar_render),
    "ToyTrain": SoundModel(("speed", "mic", "noise"),
                           ("bearing", "shifted_harmonics", "irregular_timing", "flange_squeal",
                            "over_voltage"),
                           _toytrain_instance, _toytrain_render),
}


# --------------------------------------------------------------------------------------------
# Acoustic environments and the final mix
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _section_machine(seed: int, machine_type: str, section: int) -> dict:
    return MODELS[machine_type].instance(seeded_rng(seed, machine_type, section, "machine"))


@lru_cache(maxsize=256)
def _environment(seed: int, machine_type: str, section: int, name: str) -> dict:
    """One acoustic condition: background colour and level, a distant machine, a microphone."""
    rng = seeded_rng(seed, machine_type, section, "environment", name)
    return {
        "background_tilt": rng.uniform(-1.2, -0.2),  # spectral slope, like pink-ish noise
        "background_peaks": _housing(rng, 2),
        "snr_db": rng.uniform(6, 14),
        "distant_hz": rng.uniform(40, 130),
        "distant_share": rng.uniform(0.1, 0.4),
        "mic_tilt_db": rng.uniform(-1.5, 1.5),  # dB per octave around 1 kHz
        "mic_peak": (float(np.exp(rng.uniform(np.log(500), np.log(6000)))), rng.uniform(1, 4),
                     rng.uniform(-6, 6)),
        "mic_highpass_hz": rng.uniform(30, 150),
        "event_rate": rng.uniform(0.1, 1.0),  # transient background events per second
        "event_hz": float(np.exp(rng.uniform(np.log(300), np.log(4000)))),
    }


def _microphone(freqs: np.ndarray, environment: dict) -> np.ndarray:
    f = np.maximum(freqs, 1.0)
    tilt = 10 ** (environment["mic_tilt_db"] * np.log2(f / 1000.0) / 20)
    highpass = (f / environment["mic_highpass_hz"]) ** 2
    highpass = highpass / (1 + highpass)
    return tilt * highpass * resonances(freqs, [environment["mic_peak"]])


@lru_cache(maxsize=32)
def _filters(seed: int, machine_type: str, section: int, background_name: str,
             microphone_name: str, n: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Magnitude responses on the rfft bins: housing x microphone, background x microphone, and
    the microphone alone.

    The background's response is scaled so that complex unit Gaussian bins give unit RMS.
    Cached: every clip of a section and condition shares them.
    """
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    machine = _section_machine(seed, machine_type, section)
    background = _environment(seed, machine_type, section, background_name)
    microphone = _microphone(freqs, _environment(seed, machine_type, section, microphone_name))
    housing = resonances(freqs, machine["housing"])
    housing *= _MACHINE_LEVEL / _RAW_LEVEL[machine_type] / np.sqrt(np.mean(housing**2))
    colour = (np.maximum(freqs, 1.0) / 1000.0) ** (background["background_tilt"] / 2)
    colour *= resonances(freqs, background["background_peaks"])
    colour /= np.sqrt(4 * np.sum(colour**2)) / n  # Parseval for numpy's irfft
    return housing * microphone, colour * microphone, microphone


def render_clip(clip: ClipSpec, settings: SyntheticSettings) -> np.ndarray:
    """The samples of one clip: float32 in [-1, 1], mono, ``settings.n_samples`` long."""
    seed, n, sample_rate = settings.seed, settings.n_samples, settings.sample_rate
    rng = seeded_rng(seed, clip.key)
    context = _Clip(rng, sample_rate, n, clip.anomaly_kind, clip.anomaly_severity,
                    clip.attribute_level)
    machine = _section_machine(seed, clip.machine_type, clip.section)
    signal = MODELS[clip.machine_type].render(context, machine, clip.attribute_name)

    # the condition: the domain's room and microphone, unless the attribute itself is one of them
    background_name = microphone_name = clip.domain
    if clip.attribute_name == "noise":
        background_name = f"noise_{clip.attribute_level}"
    if clip.attribute_name == "mic":
        microphone_name = f"mic_{clip.attribute_level}"
    machine_filter, background_filter, microphone = _filters(seed, clip.machine_type, clip.section,
                                                 background_name, microphone_name, n,
                                                 sample_rate)
    background = _environment(seed, clip.machine_type, clip.section, background_name)
    bins = n // 2 + 1
    noise = rng.standard_normal(bins) + 1j * rng.standard_normal(bins)
    # a distant machine: a few stationary harmonics (a cosine of amplitude a is a*n/2 in a bin)
    harmonics = np.arange(1, 9)
    lines = np.round(harmonics * background["distant_hz"] * n / sample_rate).astype(np.int64)
    amplitudes = harmonics**-1.0 / np.sqrt(np.sum(harmonics**-2.0) / 2)
    distant = np.zeros(bins, dtype=np.complex128)
    distant[lines] = (background["distant_share"] * amplitudes * n / 2
                      * np.exp(2j * np.pi * rng.uniform(size=lines.size)))
    noise_gain = 10 ** ((-background["snr_db"] + rng.normal(0, 1.5)) / 20) * _MACHINE_LEVEL
    spectrum = np.fft.rfft(signal) * machine_filter
    spectrum += (noise * background_filter + distant * microphone) * noise_gain
    # transient background events (a dropped tool, a door, a knock elsewhere): nuisance that
    # varies from clip to clip and says nothing about the machine's condition
    duration = n / sample_rate
    count = rng.poisson(background["event_rate"] * duration)
    if count:
        events = resonant_impulses(
            n, sample_rate, rng.uniform(0, duration, count),
            3 * _MACHINE_LEVEL * 10 ** (rng.uniform(-6, 6, count) / 20),
            background["event_hz"] * rng.uniform(0.8, 1.25), rng.uniform(0.005, 0.04))
        spectrum += np.fft.rfft(events) * microphone
    samples = np.fft.irfft(spectrum, n=n)
    samples *= 10 ** (rng.uniform(-1.5, 1.5) / 20)  # recording gain
    return np.clip(samples, -1.0, 1.0).astype(np.float32)


#: The typical RMS of each sound model's raw output (measured over normal clips), so that every
#: machine type sits near ``_MACHINE_LEVEL`` while differences between attributes, clips and
#: anomalies remain. The valve's clicks peak ~25x above its RMS: it is kept quieter to avoid
#: clipping.
_RAW_LEVEL = {"ToyCar": 1.5, "ToyTrain": 1.3, "fan": 1.8, "gearbox": 1.2, "pump": 2.7,
              "slider": 0.95, "valve": 0.65}


def clip_manifest(clips: Sequence[ClipSpec]) -> pd.DataFrame:
    """One row per clip: its partition key (``file_id``) and the parameters that generated it."""
    return pd.DataFrame(
        {
            "file_id": [c.key for c in clips],
            "machine_type": [c.machine_type for c in clips],
            "section": [c.section for c in clips],
            "domain": [c.domain for c in clips],
            "split": [c.split for c in clips],
            "label": [c.label for c in clips],
            "file_number": [c.number for c in clips],
            "attributes": [c.attributes for c in clips],
            "attribute_name": [c.attribute_name for c in clips],
            "attribute_level": [c.attribute_level for c in clips],
            "anomaly_kind": [c.anomaly_kind for c in clips],
            "anomaly_severity": [round(c.anomaly_severity, 4) for c in clips],
        }
    )
