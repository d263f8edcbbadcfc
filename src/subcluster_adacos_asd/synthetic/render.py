"""The acoustic environment of each section and domain, and the final mix of a clip."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from subcluster_adacos_asd.synthetic.machines import MODELS, _housing
from subcluster_adacos_asd.synthetic.plan import ClipSpec, SyntheticSettings
from subcluster_adacos_asd.synthetic.signals import (
    _Clip,
    resonances,
    resonant_impulses,
    seeded_rng,
)

#: Overall level of a machine's sound (RMS, full scale = 1); backgrounds are set relative to it.
_MACHINE_LEVEL = 0.05


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
