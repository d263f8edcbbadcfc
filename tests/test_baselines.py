"""Tests of the DCASE 2021 baselines' library functions, on small arrays made here."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from subcluster_adacos_asd import baselines
from subcluster_adacos_asd.feature_table import array_to_frame


# ------------------------------------------------------------------ inputs from log-mel arrays
def test_consecutive_frame_vectors_match_the_official_construction():
    rng = np.random.default_rng(0)
    log_mel = rng.normal(size=(3, 20, 6)).astype(np.float32)
    n_frames = 5
    vectors = baselines.consecutive_frame_vectors(log_mel, n_frames)
    # The official file_to_vectors: frame t's mel bins fill columns n_mels * t .. n_mels * (t+1).
    for f in range(3):
        spectrogram = log_mel[f].T  # (mels, frames) as librosa returns it
        n_vectors = spectrogram.shape[1] - n_frames + 1
        expected = np.zeros((n_vectors, 6 * n_frames))
        for t in range(n_frames):
            expected[:, 6 * t : 6 * (t + 1)] = spectrogram[:, t : t + n_vectors].T
        np.testing.assert_array_equal(vectors[f], expected)
    assert vectors.shape == (3, 16, 30) and vectors.dtype == np.float32


def test_consecutive_frame_vectors_with_hop_keep_every_hop_th_vector():
    log_mel = np.arange(2 * 12 * 3, dtype=np.float32).reshape(2, 12, 3)
    every = baselines.consecutive_frame_vectors(log_mel, 4, hop=1)
    hopped = baselines.consecutive_frame_vectors(log_mel, 4, hop=3)
    np.testing.assert_array_equal(hopped, every[:, ::3])
    assert hopped.shape == (2, 3, 12)


def test_spectrogram_patches_are_explicit_slices():
    rng = np.random.default_rng(1)
    log_mel = rng.normal(size=(2, 50, 7)).astype(np.float32)
    patches = baselines.spectrogram_patches(log_mel, n_frames=16, hop=8)
    starts = range(0, 50 - 16 + 1, 8)  # 0, 8, 16, 24, 32: (50 - 16) // 8 + 1 = 5 patches
    assert patches.shape == (2, len(starts), 16, 7)
    for f in range(2):
        for p, start in enumerate(starts):
            np.testing.assert_array_equal(patches[f, p], log_mel[f, start : start + 16])


def test_windows_longer_than_the_clip_are_an_error():
    with pytest.raises(ValueError, match="shorter than the 64-frame window"):
        baselines.spectrogram_patches(np.zeros((1, 63, 4)), n_frames=64, hop=1)
    with pytest.raises(ValueError, match="frames, mels"):
        baselines.frame_windows(np.zeros((63, 4)), n_frames=4)


# ------------------------------------------------------------------------------ score functions
def test_reconstruction_error_is_zero_for_an_exact_reconstruction():
    vectors = np.random.default_rng(2).normal(size=(4, 10, 8))
    np.testing.assert_array_equal(baselines.reconstruction_error(vectors, vectors), np.zeros(4))


def test_reconstruction_error_is_the_mean_square_per_clip():
    vectors = np.zeros((2, 3, 4))
    reconstructions = np.zeros((2, 3, 4))
    reconstructions[0, 0, 0] = 2.0  # one error of 2 among 12 values: 4 / 12
    reconstructions[1] = 1.0  # every value off by 1
    np.testing.assert_allclose(
        baselines.reconstruction_error(vectors, reconstructions), [4 / 12, 1.0]
    )


def test_reconstruction_error_a_few_clips_at_a_time_equals_the_whole_chunk_in_float64():
    """The memory-light loop gives the values of the float64 formula on the whole array."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(37, 11, 20)).astype(np.float32)
    reconstructions = (vectors + rng.normal(scale=0.1, size=vectors.shape)).astype(np.float32)
    whole = np.square(vectors.astype(np.float64) - reconstructions.astype(np.float64)).reshape(
        37, -1).mean(axis=1)
    np.testing.assert_array_equal(baselines.reconstruction_error(vectors, reconstructions), whole)


def _logs(p):
    p = np.asarray(p, dtype=np.float64)
    return np.log(p), np.log1p(-p)


def test_negative_logit_score_of_known_probabilities():
    p = np.array([[0.5, 0.5], [0.9, 0.1], [0.8, 0.8]])
    expected = [0.0, (np.log(0.1 / 0.9) + np.log(0.9 / 0.1)) / 2, np.log(0.2 / 0.8)]
    np.testing.assert_allclose(baselines.negative_logit_score(*_logs(p)), expected, atol=1e-12)
    # The official code's parenthesisation: log((1 - p) - log p).
    official = np.mean(np.log(np.array([[0.5, 0.5]]) - np.log([[0.5, 0.5]])), axis=1)
    np.testing.assert_allclose(
        baselines.negative_logit_score(*_logs([[0.5, 0.5]]), "official_code"), official
    )
    np.testing.assert_allclose(
        baselines.negative_logit_score(*_logs([[0.25]]), "official_code"),
        [np.log(0.75 + np.log(4.0))],
    )


def test_section_log_probabilities_stay_exact_where_float32_probabilities_saturate():
    logits = np.array([[40.0, 0.0, 0.0], [0.0, 45.0, 1.0]], dtype=np.float32)
    log_p, log_q = baselines.section_log_probabilities(logits, np.array([0, 1]))
    # log(1 - p) = log(sum of the other exps) - logsumexp: about -40 and -44, not log(0)
    expected_q = [np.log(2.0) - 40.0, np.log(1.0 + np.e) - 45.0]
    np.testing.assert_allclose(log_q, expected_q, atol=1e-6)
    np.testing.assert_allclose(log_p, [-2 * np.exp(-40.0), -(1 + np.e) * np.exp(-45.0)],
                               atol=1e-12)
    scores = baselines.negative_logit_score(log_p[:, None], log_q[:, None])
    assert scores[0] != scores[1]  # two confident clips still rank
    eps = sys.float_info.epsilon
    official = baselines.negative_logit_score(log_p[:1, None], log_q[:1, None], "official_code")
    np.testing.assert_allclose(official, [np.log(eps - np.log(1.0))])  # clipped as officially
    with pytest.raises(ValueError, match="Unknown score formula"):
        baselines.negative_logit_score(*_logs([[0.5]]), "softmax")


class _IdentityModel:
    """Stands in for a perfect autoencoder: predict returns its input."""

    def predict(self, x, batch_size=None, verbose=0):
        return np.array(x)


class _ConstantProbabilities:
    """Stands in for a classifier that gives every patch the same class probabilities (its
    logits are their logs)."""

    def __init__(self, probabilities):
        self.logits = np.log(np.asarray(probabilities, dtype=np.float32))

    def predict(self, x, batch_size=None, verbose=0):
        return np.tile(self.logits, (len(x), 1))


def test_autoencoder_scores_of_a_perfect_model_are_zero_in_every_chunk():
    log_mel = np.random.default_rng(3).normal(size=(5, 12, 4)).astype(np.float32)
    # 8 vectors of 20 values per clip = 640 bytes: 1000 bytes makes one clip per chunk.
    scores = baselines.autoencoder_scores(_IdentityModel(), log_mel, 5, chunk_bytes=1000)
    np.testing.assert_array_equal(scores, np.zeros(5))


def test_autoencoder_scores_use_consecutive_frame_vectors():
    class Zeros:
        def predict(self, x, batch_size=None, verbose=0):
            return np.zeros_like(x)

    log_mel = np.random.default_rng(4).normal(size=(3, 9, 2)).astype(np.float32)
    expected = np.square(baselines.consecutive_frame_vectors(log_mel, 3)).reshape(3, -1).mean(1)
    np.testing.assert_allclose(
        baselines.autoencoder_scores(Zeros(), log_mel, 3, chunk_bytes=200), expected, rtol=1e-5,
        atol=1e-6
    )


def test_mobilenetv2_scores_take_each_clips_own_section():
    log_mel = np.zeros((3, 40, 8), dtype=np.float32)
    model = _ConstantProbabilities([0.2, 0.7, 0.1])
    scores = baselines.mobilenetv2_scores(model, log_mel, [0, 1, 2], n_frames=32, hop=4)
    expected = [np.log(0.8 / 0.2), np.log(0.3 / 0.7), np.log(0.9 / 0.1)]
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- gamma threshold
def test_gamma_threshold_is_the_quantile_of_scipys_gamma_fit():
    scores = scipy.stats.gamma.rvs(2.5, loc=1.0, scale=0.4, size=4000, random_state=5)
    threshold, (shape, loc, scale) = baselines.gamma_threshold(scores, 0.9)
    reference = scipy.stats.gamma(*scipy.stats.gamma.fit(scores))
    np.testing.assert_allclose(threshold, reference.ppf(0.9), rtol=1e-6)
    np.testing.assert_allclose(threshold, scipy.stats.gamma.ppf(0.9, shape, loc, scale))
    # ... and close to the true 90 % quantile of the generating distribution.
    np.testing.assert_allclose(threshold, scipy.stats.gamma.ppf(0.9, 2.5, 1.0, 0.4), rtol=0.03)
    assert 0.88 < np.mean(scores <= threshold) < 0.92


def test_gamma_threshold_of_equal_scores_is_that_score():
    threshold, (shape, loc, scale) = baselines.gamma_threshold(np.full(5, 2.5))
    assert threshold == 2.5 and loc == 2.5 and scale == 0.0 and np.isnan(shape)
    np.testing.assert_array_equal(baselines.decide(np.full(5, 2.5), threshold), np.zeros(5))


def test_gamma_threshold_rejects_missing_scores():
    with pytest.raises(ValueError, match="for the autoencoder of fan needs at least two finite"):
        baselines.gamma_threshold(np.array([1.0, np.nan, 2.0]), name="the autoencoder of fan")
    with pytest.raises(ValueError, match="at least two finite"):
        baselines.gamma_threshold(np.array([1.0]))


def test_decide_flags_scores_strictly_above_the_threshold():
    np.testing.assert_array_equal(baselines.decide([0.5, 1.0, 1.5], 1.0), [0, 0, 1])


# ---------------------------------------------------------------------------------------- models
def test_autoencoder_architecture_is_the_official_one():
    model = baselines.build_autoencoder(640)
    dense = [layer.units for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert dense == [128] * 4 + [8] + [128] * 4 + [640]
    assert sum(layer.__class__.__name__ == "BatchNormalization" for layer in model.layers) == 9
    # Dense weights + biases, BN gamma/beta/mean/variance: the official model's 269,992.
    assert model.count_params() == 269_992


def test_mobilenetv2_repeats_the_channel_and_classifies_sections():
    model = baselines.build_mobilenetv2_classifier(64, 128, 3)
    assert model.input_shape == (None, 64, 128, 1)
    assert model.output_shape == (None, 3)
    backbone = model.layers[-1]
    assert backbone.input_shape == (None, 64, 128, 3)
    x = np.random.default_rng(6).normal(size=(2, 64, 128, 1)).astype(np.float32)
    logits = np.asarray(model(x, training=False))  # logits: the softmax is in loss and score
    assert not np.allclose(np.exp(logits).sum(axis=1), 1.0)
    np.testing.assert_allclose(
        logits, np.asarray(backbone(np.repeat(x, 3, axis=-1), training=False)), rtol=1e-5,
        atol=1e-6,
    )


def test_reused_compiled_model_trains_like_a_fresh_one():
    """Resetting weights and optimiser state must make a re-used model a fresh model."""
    rng = np.random.default_rng(7)
    first, second = (rng.normal(size=(256, 20)).astype(np.float32) for _ in range(2))
    settings = dict(
        epochs=2,
        batch_size=64,
        validation_split=0.0,
        seed=3,
        hidden_units=16,
        hidden_layers=1,
        bottleneck_units=4,
    )
    fresh = baselines.train_autoencoder(second, **settings)
    seeded = baselines.SeededModels(3)
    baselines.train_autoencoder(first, models=seeded, **settings)
    reused = baselines.train_autoencoder(second, models=seeded, **settings)
    for a, b in zip(fresh.get_weights(), reused.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # The copies handed out are independent of the re-used model.
    assert fresh.get_weights()[0] is not reused.get_weights()[0]


# --------------------------------------------------------------------------- file index helpers
def _index(sections_per_type, train_per_section=2, test_per_section=1):
    rows = []
    for machine_type, sections in sections_per_type.items():
        for section in sections:
            for split, count in (("train", train_per_section), ("test", test_per_section)):
                for n in range(count):
                    rows.append(
                        {
                            "file_id": f"{machine_type}/{split}/section_{section:02d}_{n:04d}",
                            "machine_type": machine_type,
                            "section": section,
                            "split": split,
                            "label": "normal",
                        }
                    )
    return pd.DataFrame(rows)


def test_model_groups_per_machine_type_or_section_group():
    index = _index({"fan": [0, 1, 2, 3], "pump": [0, 1]})
    groups = baselines.model_groups(index)
    assert [(g.key, g.sections) for g in groups] == [("fan", (0, 1, 2, 3)), ("pump", (0, 1))]
    groups = baselines.model_groups(index, [[0, 1], [2, 3]])
    assert [g.key for g in groups] == [
        "fan_sections_00_01",
        "fan_sections_02_03",
        "pump_sections_00_01",
    ]
    baselines.check_every_file_in_a_group(index, groups)
    with pytest.raises(ValueError, match=r"'fan/train/section_03_0000'.*section 3"):
        baselines.check_every_file_in_a_group(index, baselines.model_groups(index, [[0, 1, 2]]))


def test_machine_type_without_training_files_is_an_error():
    index = _index({"fan": [0]})
    index.loc[index["split"] == "train", "split"] = "test"
    with pytest.raises(ValueError, match="'fan' has no training files"):
        baselines.model_groups(index)


def test_log_mel_of_files_follows_the_requested_order_and_names_missing_files():
    values = np.arange(3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2)
    frame = array_to_frame(["a", "b", "c"], values)
    np.testing.assert_array_equal(baselines.log_mel_of_files(frame, ["c", "a"], 2), values[[2, 0]])
    with pytest.raises(ValueError, match="no log_mel row, e.g. 'd'"):
        baselines.log_mel_of_files(frame, ["a", "d"], 2)


def test_n_mels_of_reads_one_row_per_mel_bin():
    stats = pd.DataFrame({"mel": range(64), "mean": 0.0, "std": 1.0})
    assert baselines.n_mels_of(stats) == 64
    with pytest.raises(ValueError, match="one row per mel bin"):
        baselines.n_mels_of(stats.iloc[1:])


# ----------------------------------------------------------------------- settings and interface
@pytest.mark.parametrize(
    "system, settings_type, typo",
    [
        ("autoencoder", baselines.AutoencoderSettings, "hop_frame"),
        ("mobilenetv2", baselines.MobileNetV2Settings, "test_hop_frame"),
    ],
)
def test_baseline_settings_reject_an_unknown_key_naming_the_known_ones(system, settings_type,
                                                                        typo):
    what = f"params:baselines.{system}"
    known = rf"{what} has unknown keys \['{typo}'\]; known: \[.*'seed'"
    with pytest.raises(ValueError, match=known):
        settings_type.from_parameters({"epochs": 1, typo: 4}, what)
    # The systems read their parameters the same way, from a mapping or as settings.
    with pytest.raises(ValueError, match=rf"unknown keys \['{typo}'\]"):
        baselines.SYSTEMS[system].settings({typo: 4})
    settings = baselines.SYSTEMS[system].settings({"epochs": 3})
    assert isinstance(settings, settings_type) and settings.epochs == 3
    assert baselines.SYSTEMS[system].settings(settings) is settings


def test_mobilenetv2_settings_reject_an_unknown_score_formula():
    with pytest.raises(ValueError, match="Unknown score formula 'softmax'"):
        baselines.MobileNetV2Settings.from_parameters({"score_formula": "softmax"})


def test_every_system_is_a_baseline_under_its_own_name():
    assert list(baselines.SYSTEMS) == ["autoencoder", "mobilenetv2"]
    for name, system in baselines.SYSTEMS.items():
        assert isinstance(system, baselines.Baseline) and system.name == name
    with pytest.raises(ValueError, match=r"Unknown baseline 'vae'; expected one of \('autoe"):
        baselines.baseline("vae")
