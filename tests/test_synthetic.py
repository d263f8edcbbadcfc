"""The synthetic DCASE-layout data set: grammar, determinism, building blocks against direct
formulas, and the property that matters most: it is learnable yet far from trivially separable."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import librosa
import numpy as np
import pytest
import yaml
from sklearn.covariance import LedoitWolf
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from subcluster_adacos_asd import synthetic
from subcluster_adacos_asd.synthetic import (
    MACHINE_TYPES,
    MODELS,
    SyntheticSettings,
    at_band_level,
    cycles_of,
    harmonic_wave,
    plan_clips,
    render_clip,
    resonant_impulses,
    shaped_noise,
)

PROJECT = Path(__file__).resolve().parents[1]

# The DCASE 2021 development grammar, written out here independently of the project's parser.
KEY = re.compile(
    r"^(?P<machine>[A-Za-z]+)/(?P<folder>train|source_test|target_test)/"
    r"section_(?P<section>\d{2})_(?P<domain>source|target)_(?P<split>train|test)_"
    r"(?P<label>normal|anomaly)_(?P<number>\d{4})_(?P<attributes>[a-z]+_\d+)$"
)


def _base_parameters() -> dict:
    text = (PROJECT / "conf" / "base" / "parameters_synthetic.yml").read_text()
    return yaml.safe_load(text)["synthetic"]


def test_plan_follows_the_dcase_2021_layout_and_counts():
    settings = SyntheticSettings.from_parameters(_base_parameters())
    clips = plan_clips(settings)
    keys = [clip.key for clip in clips]
    assert len(set(keys)) == len(keys)
    groups = Counter()
    for key in keys:
        match = KEY.match(key)
        assert match, key
        parts = match.groupdict()
        expected_folder = "train" if parts["split"] == "train" else f"{parts['domain']}_test"
        assert parts["folder"] == expected_folder, key
        assert parts["split"] == "test" or parts["label"] == "normal", key
        groups[(parts["machine"], parts["section"], parts["domain"], parts["split"],
                parts["label"])] += 1
    for machine in settings.machine_types:
        for section in settings.sections:
            s = f"{section:02d}"
            assert groups[(machine, s, "source", "train", "normal")] == settings.source_train_clips
            assert groups[(machine, s, "target", "train", "normal")] == 3
            for domain in ("source", "target"):
                for label in ("normal", "anomaly"):
                    assert groups[(machine, s, domain, "test", label)] == settings.test_clips
    # several attribute values per section in the source domain, and different ones in the target
    for machine in settings.machine_types:
        for section in settings.sections:
            mine = [c for c in clips if c.machine_type == machine and c.section == section]
            source = {c.attributes for c in mine if c.domain == "source"}
            target = {c.attributes for c in mine if c.domain == "target"}
            assert len(source) >= 2 and target and not source & target
    # every anomaly kind of a machine type occurs
    for machine in settings.machine_types:
        kinds = {c.anomaly_kind for c in clips if c.machine_type == machine and c.label == "anomaly"}
        assert kinds == set(MODELS[machine].anomaly_kinds)
    assert all(c.anomaly_kind == "" for c in clips if c.label == "normal")


def test_defaults_are_a_fair_default_size():
    clips = plan_clips(SyntheticSettings.from_parameters(_base_parameters()))
    types = {c.machine_type for c in clips}
    assert len(types) >= 3 and types <= set(MACHINE_TYPES)
    # large enough that the learned systems can show what they do, small enough for a
    # `make run` under 10 minutes on 2 cores (docs/quality.md)
    assert 600 <= len(clips) <= 1500


def test_clips_are_16_khz_mono_float_and_deterministic_in_any_order():
    settings = SyntheticSettings(machine_types=("valve", "fan"), sections=(1,), duration_s=1.0,
                                 source_train_clips=2, test_clips=1)
    clips = plan_clips(settings)
    first = {c.key: render_clip(c, settings) for c in clips}
    # other order, cold caches: the same samples
    synthetic._section_machine.cache_clear()
    synthetic._environment.cache_clear()
    synthetic._filters.cache_clear()
    second = {c.key: render_clip(c, settings) for c in reversed(clips)}
    for key, samples in first.items():
        assert samples.dtype == np.float32 and samples.shape == (16000,)
        assert np.array_equal(samples, second[key]), key
        assert 0.005 < np.sqrt(np.mean(samples**2)) < 0.3 and np.abs(samples).max() < 1.0
    other_seed = SyntheticSettings(**{**settings.__dict__, "seed": settings.seed + 1})
    assert not np.array_equal(render_clip(clips[0], other_seed), first[clips[0].key])
    # distinct clips are distinct recordings
    values = list(first.values())
    assert not np.allclose(values[0], values[1])


@pytest.mark.parametrize("machine_type", MACHINE_TYPES)
def test_every_machine_type_and_anomaly_kind_renders(machine_type):
    """Each fault is rendered and stays subtle: the clip's level stays within a few dB."""
    settings = SyntheticSettings(machine_types=(machine_type,), sections=(0, 1, 2),
                                 duration_s=2.0, source_train_clips=1, target_train_clips=1,
                                 test_clips=len(MODELS[machine_type].anomaly_kinds))
    clips = [c for c in plan_clips(settings) if c.split == "test" and c.domain == "source"]

    def level_db(samples):
        return 20 * np.log10(np.sqrt(np.mean(samples**2)))

    normal_db = {}
    for section in settings.sections:
        normal = [render_clip(c, settings) for c in clips
                  if c.label == "normal" and c.section == section]
        normal_db[section] = np.median([level_db(x) for x in normal])
    seen = set()
    for clip in clips:
        if clip.label != "anomaly":
            continue
        samples = render_clip(clip, settings)
        assert np.all(np.isfinite(samples)) and np.abs(samples).max() < 1.0
        assert abs(level_db(samples) - normal_db[clip.section]) < 6.0, clip
        seen.add(clip.anomaly_kind)
    assert seen == set(MODELS[machine_type].anomaly_kinds)


def test_settings_reject_bad_parameters():
    with pytest.raises(ValueError, match="Unknown machine types"):
        SyntheticSettings.from_parameters({"machine_types": ["drill"]})
    with pytest.raises(ValueError, match=r"params:synthetic has unknown keys"):
        SyntheticSettings.from_parameters({"clips": 3})
    with pytest.raises(ValueError, match="sections"):
        SyntheticSettings.from_parameters({"sections": [0, 0]})
    with pytest.raises(ValueError, match="must be a list"):
        SyntheticSettings.from_parameters({"machine_types": "fan"})


def test_harmonic_wave_is_the_sum_of_its_cosines():
    rng = np.random.default_rng(3)
    frequency = 37.0 * (1 + 0.01 * np.sin(np.arange(8000) / 900))  # a wandering speed
    cycles = cycles_of(frequency, 8000, 16000) + 0.25
    amplitudes, phases = rng.uniform(0, 1, 12), rng.uniform(0, 2 * np.pi, 12)
    direct = sum(
        a * np.cos(2 * np.pi * k * cycles + p)
        for k, (a, p) in enumerate(zip(amplitudes, phases), start=1)
    )
    np.testing.assert_allclose(harmonic_wave(cycles, amplitudes, phases), direct, atol=2e-3)


def test_resonant_impulses_are_damped_sines_at_the_given_times():
    out = resonant_impulses(1600, 16000, np.array([0.01, 0.05]), np.array([1.0, 0.5]),
                            1000.0, 0.002)
    t = np.arange(1600) / 16000
    expected = sum(  # each ringing is cut after 6 decay times
        a * np.where((t >= t0) & (t < t0 + 0.012 + 1e-9),
                     np.exp(-(t - t0) / 0.002) * np.sin(2 * np.pi * 1000 * (t - t0)), 0)
        for t0, a in ((0.01, 1.0), (0.05, 0.5))
    )
    np.testing.assert_allclose(out, expected, atol=1e-9)


def test_a_fault_is_set_relative_to_the_machine_in_its_own_band():
    rng = np.random.default_rng(0)
    freqs = np.fft.rfftfreq(32000, 1 / 16000)
    reference = 0.3 * shaped_noise(rng, synthetic.band(freqs, 2000, 1.0), 32000)
    reference += shaped_noise(rng, synthetic.band(freqs, 200, 1.0), 32000)  # elsewhere, louder
    fault = shaped_noise(rng, synthetic.band(freqs, 2000, 1.0), 32000)
    scaled = at_band_level(fault, reference, -6.0, 1.0)
    # same band as the quiet component: its level is 6 dB below that component, whatever else
    assert 20 * np.log10(np.std(scaled) / 0.3) == pytest.approx(-6.0, abs=0.3)


# --- the whole default data set: not trivially separable, yet learnable -----------------------


@pytest.fixture(scope="module")
def default_set():
    """Mean and standard deviation over time of the log-mel (128 mels, n_fft 1024, hop 512, dB)
    of every clip of the default data set: clips, means, standard deviations."""
    settings = SyntheticSettings.from_parameters(_base_parameters())
    clips = plan_clips(settings)
    means, deviations = [], []
    # one BLAS thread (also for the tests using this): threaded small matrix products are many
    # times slower on a busy machine
    with threadpool_limits(1):
        for clip in clips:
            power = librosa.feature.melspectrogram(
                y=render_clip(clip, settings), sr=settings.sample_rate, n_fft=1024,
                hop_length=512, n_mels=128
            )
            log_mel = librosa.power_to_db(power)
            means.append(log_mel.mean(axis=1))
            deviations.append(log_mel.std(axis=1))
        yield clips, np.array(means), np.array(deviations)


def _simple_detector_aucs(clips, features) -> dict:
    """A Gaussian (Ledoit-Wolf shrunk covariance) on each clip's mean log-mel, fit per section
    on its normal training clips; Mahalanobis distance as the anomaly score."""
    aucs = {}
    sections = sorted({(c.machine_type, c.section) for c in clips})
    for machine, section in sections:
        mine = [i for i, c in enumerate(clips) if (c.machine_type, c.section) == (machine, section)]
        train = [i for i in mine if clips[i].split == "train"]
        gaussian = LedoitWolf().fit(features[train])
        for domain in ("source", "target"):
            test = [i for i in mine if clips[i].split == "test" and clips[i].domain == domain]
            labels = [clips[i].label == "anomaly" for i in test]
            aucs[(machine, section, domain)] = roc_auc_score(
                labels, gaussian.mahalanobis(features[test])
            )
    return aucs


def test_a_mean_log_mel_gaussian_is_far_from_perfect_but_better_than_chance(default_set):
    clips, features, _ = default_set
    aucs = _simple_detector_aucs(clips, features)
    mean = np.mean(list(aucs.values()))
    assert 0.55 < mean < 0.85, aucs
    for domain in ("source", "target"):
        assert 0.5 < np.mean([v for k, v in aucs.items() if k[2] == domain]) < 0.88, aucs


def test_sections_and_attributes_can_be_told_apart(default_set):
    """A linear classifier on the mean and deviation over time of the log-mel, trained on the
    source training clips, names the attribute class (machine type, section, attribute) of
    normal source test clips: the classes a network is trained on are there to be learned."""
    clips, means, deviations = default_set
    features = np.concatenate([means, deviations], axis=1)
    train = [i for i, c in enumerate(clips) if c.split == "train" and c.domain == "source"]
    test = [i for i, c in enumerate(clips)
            if c.split == "test" and c.domain == "source" and c.label == "normal"]

    def attribute_class(i):
        return f"{clips[i].machine_type}_{clips[i].section}_{clips[i].attributes}"

    classifier = make_pipeline(
        StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
    )
    classifier.fit(features[train], [attribute_class(i) for i in train])
    predicted = classifier.predict(features[test])
    accuracy = np.mean([p == attribute_class(i) for p, i in zip(predicted, test)])
    assert accuracy > 0.85, accuracy
    sections_right = np.mean([p.rsplit("_", 2)[0] == attribute_class(i).rsplit("_", 2)[0]
                              for p, i in zip(predicted, test)])
    assert sections_right > 0.95, sections_right


def test_the_target_domain_is_shifted(default_set):
    """Normal target clips look unusual to a model of the source training data."""
    clips, features, _ = default_set
    ratios = []
    for machine, section in sorted({(c.machine_type, c.section) for c in clips}):
        mine = [i for i, c in enumerate(clips) if (c.machine_type, c.section) == (machine, section)]
        source_train = [i for i in mine if clips[i].split == "train" and clips[i].domain == "source"]
        gaussian = LedoitWolf().fit(features[source_train])
        normal = {d: [i for i in mine if clips[i].split == "test" and clips[i].label == "normal"
                      and clips[i].domain == d] for d in ("source", "target")}
        ratios.append(np.median(gaussian.mahalanobis(features[normal["target"]]))
                      / np.median(gaussian.mahalanobis(features[normal["source"]])))
    assert min(ratios) > 2.0, ratios
