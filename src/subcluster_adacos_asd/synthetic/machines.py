"""Sound models, one per machine type: an instance (a section's machine, drawn from its seed)
and a render function (one clip of it, with its attribute and anomaly)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from subcluster_adacos_asd.synthetic.signals import (
    _Clip,
    _jitter,
    _level_factor,
    at_band_level,
    band,
    bearing_fault,
    cycles_of,
    flutter,
    harmonic_count,
    harmonic_wave,
    over_voltage,
    resonant_impulses,
    rms,
    rotating_machine,
    shaped_noise,
    slow_noise,
    split_harmonics,
)


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
