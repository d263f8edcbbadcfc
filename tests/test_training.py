"""Features, label encoding, batches and a small learning run of the training loop."""

import keras
import numpy as np
import pandas as pd
import pytest

from subcluster_adacos_asd import training
from subcluster_adacos_asd.feature_table import array_to_frame


def _stats(mean, std):
    return pd.DataFrame({"mel": np.arange(len(mean)), "mean": mean, "std": std})


def test_standardised_features_use_feature_stats_per_mel_bin():
    rng = np.random.default_rng(0)
    values = rng.normal(3.0, 2.0, size=(4, 5, 6)).astype(np.float32)
    mean, std = rng.normal(size=6), rng.uniform(0.5, 2.0, size=6)
    frame = array_to_frame([f"f{i}" for i in range(4)], values)
    # Stats rows in another order still map to their mel bins.
    stats = _stats(mean, std).iloc[::-1]
    out = training.standardised_features(frame, stats)
    np.testing.assert_allclose(out, (values - mean) / std, rtol=1e-5, atol=1e-5)
    assert out.dtype == np.float32 and out.shape == (4, 5, 6)


def test_bad_feature_stats_are_refused():
    frame = array_to_frame(["a"], np.zeros((1, 2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="std"):
        training.standardised_features(frame, _stats(np.zeros(3), [1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="one row per mel bin"):
        training.standardised_features(frame, _stats(np.zeros(3), np.ones(3)).iloc[:2].assign(mel=[0, 2]))


def _index(rows):
    return pd.DataFrame(rows, columns=["file_id", "split", "label", "section_class",
                                       "attribute_class"])


def test_labels_are_sorted_unique_classes_of_normal_training_files():
    index = _index([
        ("f0", "train", "normal", "pump_section_01", "pump_section_01_v1"),
        ("f1", "train", "normal", "fan_section_00", "fan_section_00_m2"),
        ("f2", "test", "anomaly", "gear_section_00", "gear_section_00_x"),
        ("f3", "train", "normal", "fan_section_00", "fan_section_00_m1"),
    ])
    mask = training.training_mask(index)
    assert mask.tolist() == [True, True, False, True]
    labels = training.head_labels(index[mask], "both")
    assert labels["section"][0] == ["fan_section_00", "pump_section_01"]
    assert labels["section"][1].tolist() == [1, 0, 0]
    assert labels["attribute"][0] == ["fan_section_00_m1", "fan_section_00_m2", "pump_section_01_v1"]
    assert labels["attribute"][1].tolist() == [2, 1, 0]
    assert list(training.head_labels(index[mask], "sections")) == ["section"]
    with pytest.raises(ValueError, match="f1"):
        training.head_labels(index[mask].assign(attribute_class=["a", "", "b"]), "both")


def test_feature_rows_follow_file_ids_and_report_missing_files():
    index = _index([("b", "train", "normal", "s", "a"), ("a", "train", "normal", "s", "a")])
    log_mel = pd.DataFrame({"file_id": ["a", "b", "c"]})
    assert training.feature_rows(index, log_mel).tolist() == [1, 0]
    with pytest.raises(ValueError, match="zz"):
        training.feature_rows(index.assign(file_id=["a", "zz"]), log_mel)


def test_settings_validate_snapshot_epochs():
    settings = training.TrainingSettings.from_parameters({"epochs": 4, "snapshot_epochs": [4, 2]})
    assert settings.snapshot_epochs == (2, 4) and settings.batch_size == 64
    with pytest.raises(ValueError, match="outside"):
        training.TrainingSettings.from_parameters({"epochs": 4, "snapshot_epochs": [5]})
    with pytest.raises(ValueError, match="learning_rat"):  # a typo must not pass silently
        training.TrainingSettings.from_parameters(
            {"epochs": 4, "snapshot_epochs": [4], "learning_rat": 0.1})
    assert training.snapshot_name(100) == "epoch_0100"


def test_batches_cover_every_row_once_per_epoch_and_reshuffle():
    features = np.arange(10 * 2 * 3, dtype=np.float32).reshape(10, 2, 3)
    rows = np.array([9, 7, 5, 3, 1])  # training rows of a larger array, no copy taken
    labels = {"section": (["a", "b"], np.array([0, 1, 0, 1, 1]))}
    batches = training.TrainingBatches(features, rows, labels, batch_size=2, seed=0)
    assert batches.features is features and len(batches) == 3

    def epoch():
        seen = []
        for i in range(len(batches)):
            x, y = batches[i]
            assert x["log_mel"].shape[1:] == (2, 3, 1)
            np.testing.assert_array_equal(x["section_label"], y["section"])
            for sample, one_hot in zip(x["log_mel"], y["section"], strict=True):
                row = int(sample[0, 0, 0]) // 6
                position = rows.tolist().index(row)
                assert one_hot.tolist() == np.eye(2)[labels["section"][1][position]].tolist()
                seen.append(row)
        return seen

    first = epoch()
    assert sorted(first) == sorted(rows.tolist())
    batches.on_epoch_end()
    second = epoch()
    assert sorted(second) == sorted(rows.tolist())
    assert first != second


def test_loss_and_accuracy_compare_probabilities_with_the_mixed_labels_they_carry():
    mixed = np.array([[0.7, 0.3, 0.0], [0.0, 0.4, 0.6]], dtype=np.float32)
    probabilities = np.array([[0.5, 0.2, 0.3], [0.1, 0.8, 0.1]], dtype=np.float32)
    packed = np.concatenate([mixed, probabilities], axis=-1)
    unmixed = np.eye(3, dtype=np.float32)[[0, 2]]
    loss = keras.ops.convert_to_numpy(training.mixed_label_crossentropy(unmixed, packed))
    np.testing.assert_allclose(loss, -(mixed * np.log(probabilities)).sum(axis=1), rtol=1e-5,
                               atol=1e-6)
    accuracy = keras.ops.convert_to_numpy(training.mixed_label_accuracy(unmixed, packed))
    assert accuracy.tolist() == [1.0, 0.0]
    # A single class (one section in the data): probability 1, loss 0.
    single = np.ones((4, 2), dtype=np.float32)
    assert np.allclose(keras.ops.convert_to_numpy(
        training.mixed_label_crossentropy(np.ones((4, 1)), single)), 0.0, atol=1e-6)


def _patterned_clips(rng, patterns, per_class, frames):
    """Clips of each class: its own spectral pattern over all frames, plus strong noise."""
    classes = np.repeat(np.arange(len(patterns)), per_class)
    noise = rng.normal(size=(len(classes), frames, patterns.shape[1])).astype(np.float32)
    return (patterns[classes][:, None, :] + 1.5 * noise).astype(np.float32), classes


def test_a_few_epochs_separate_the_classes_of_held_out_clips():
    rng = np.random.default_rng(42)
    n_classes, frames, n_mels = 4, 64, 128
    patterns = rng.normal(size=(n_classes, n_mels)).astype(np.float32)
    train_x, train_y = _patterned_clips(rng, patterns, 24, frames)
    test_x, test_y = _patterned_clips(rng, patterns, 10, frames)
    names = [f"m_section_{i:02d}" for i in range(n_classes)]
    labels = {"section": (names, train_y), "attribute": (names, train_y)}
    settings = training.TrainingSettings(epochs=4, snapshot_epochs=(2, 4), batch_size=32, seed=3)
    snapshots, history = training.train_subcluster_adacos(
        train_x, np.arange(len(train_x)), labels, 2, settings, label="test"
    )
    assert list(snapshots) == ["epoch_0002", "epoch_0004"]
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert {"loss", "section_accuracy", "section_scale", "attribute_scale"} <= set(history)
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    model = snapshots["epoch_0004"]
    embeddings = model.predict(test_x[..., None], verbose=0)
    probabilities = keras.ops.convert_to_numpy(model.head("section")(embeddings))
    accuracy = np.mean(probabilities.argmax(axis=1) == test_y)
    assert accuracy >= 0.8, accuracy  # chance: 0.25
    # Snapshots are independent copies, not the same weights twice.
    early = snapshots["epoch_0002"].head("section").centres.numpy()
    assert not np.allclose(early, model.head("section").centres.numpy())
