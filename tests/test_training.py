"""Features, label encoding, batches and a small learning run of the training loop."""

import keras
import numpy as np
import pandas as pd
import pytest

from subcluster_adacos_asd import training


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
    # 5 rows in batches of about 2: two batches of 3 and 2, never a last batch of one
    assert batches.features is features and len(batches) == 2
    assert sorted(len(batches[i][0]["log_mel"]) for i in range(2)) == [2, 3]

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


def test_a_single_head_logs_its_own_loss_and_accuracy():
    """The `sections` variant has one output, whose metrics Keras logs without the head's name."""
    rng = np.random.default_rng(5)
    patterns = rng.normal(size=(3, 128)).astype(np.float32)
    train_x, train_y = _patterned_clips(rng, patterns, 12, 32)
    labels = {"section": ([f"m_section_{i:02d}" for i in range(3)], train_y)}
    settings = training.TrainingSettings(epochs=2, snapshot_epochs=(2,), batch_size=16, seed=3)
    _, history = training.train_subcluster_adacos(
        train_x, np.arange(len(train_x)), labels, 1, settings, label="test"
    )
    assert history["section_accuracy"].between(0, 1).all(), history
    np.testing.assert_allclose(history["section_loss"], history["loss"], atol=1e-5)


def test_balanced_class_weights_are_sklearns():
    from sklearn.utils.class_weight import compute_class_weight

    codes = np.array([0, 0, 0, 1, 2, 2])
    expected = compute_class_weight("balanced", classes=np.arange(3), y=codes)
    np.testing.assert_allclose(training.balanced_class_weights(codes, 3), expected, rtol=1e-6)
    assert training.balanced_class_weights(codes, 4)[3] == 0.0
    packed = np.concatenate([np.eye(3, dtype=np.float32)[[0, 1]],
                             np.full((2, 3), 1 / 3, np.float32)], axis=-1)
    plain = keras.ops.convert_to_numpy(training.mixed_label_crossentropy(None, packed))
    weighted = keras.ops.convert_to_numpy(
        training.weighted_loss(np.array([1.0, 3.0, 1.0], np.float32))(None, packed))
    np.testing.assert_allclose(weighted, plain * [1.0, 3.0], rtol=1e-6)


def test_crops_options_train_and_embed_whole_clips():
    rng = np.random.default_rng(4)
    patterns = rng.normal(size=(2, 64)).astype(np.float32)
    x, y = _patterned_clips(rng, patterns, 8, 96)
    names = ["m_section_00", "m_section_01"]
    settings = training.TrainingSettings(
        epochs=1, snapshot_epochs=(1,), batch_size=8, crop_frames=32, frequency_shifts=(1,),
        statistics_exchange=0.5, class_weights="balanced", time_pooling="mean",
        statistics_branch=True)
    snapshots, _ = training.train_subcluster_adacos(
        x, np.arange(len(x)), {"section": (names, y)}, 2, settings)
    model = snapshots["epoch_0001"]
    assert model.head("section").n_classes == 2 * 2 * 3
    assert model.head("section").class_names[:2] == names
    assert model.predict(x[:3, :, :, None], verbose=0).shape == (3, 128)  # 96 frames
    assert model.predict(x[:3, :40, :, None], verbose=0).shape == (3, 128)
    with pytest.raises(ValueError, match="frequency_shifts must be distinct non-zero"):
        training.TrainingSettings.from_parameters(
            {"epochs": 1, "snapshot_epochs": [1], "frequency_shifts": [0, 1]})


def _weights_after(settings, x, y, names):
    snapshots, history = training.train_subcluster_adacos(
        x, np.arange(len(x)), {"section": (names, y), "attribute": (names, y)}, 2, settings)
    model = snapshots[training.snapshot_name(settings.epochs)]
    return model.get_weights(), history


def test_several_steps_per_execution_give_the_weights_of_one_step_per_call():
    """The faster path for a GPU (several batches per compiled call) trains the same network:
    the same weights, AdaCos scales and losses after two epochs of 5 batches each."""
    rng = np.random.default_rng(5)
    patterns = rng.normal(size=(3, 32)).astype(np.float32)
    x, y = _patterned_clips(rng, patterns, 10, 32)
    names = ["m_section_00", "m_section_01", "m_section_02"]
    plain = training.TrainingSettings(epochs=2, snapshot_epochs=(2,), batch_size=6, seed=11)
    fused = training.TrainingSettings(epochs=2, snapshot_epochs=(2,), batch_size=6, seed=11,
                                      steps_per_execution=2)  # 5 batches: calls of 2, 2, 1
    weights_a, history_a = _weights_after(plain, x, y, names)
    weights_b, history_b = _weights_after(fused, x, y, names)
    assert len(weights_a) == len(weights_b)
    for a, b in zip(weights_a, weights_b, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for column in ("loss", "section_scale", "attribute_scale"):
        np.testing.assert_allclose(history_a[column], history_b[column], rtol=1e-4)
    # and training did move the weights: the comparison is not between two initial states
    keras.utils.set_random_seed(11)  # as training starts: the initial weights
    initial = training.build_embedding_model(
        32, 32, {"section": names, "attribute": names}, 2).get_weights()
    assert max(np.abs(a - b).max() for a, b in zip(weights_a, initial, strict=True)) > 1e-3
    with pytest.raises(ValueError, match="steps_per_execution must be >= 1"):
        training.TrainingSettings(epochs=1, snapshot_epochs=(1,), steps_per_execution=0
                                  ).validate()


def test_a_configuration_trains_the_same_after_others_and_the_released_framework_state():
    """Each training starts by releasing Keras' state of the networks trained before it; the
    earlier snapshots stay usable and the next configuration's weights do not depend on what
    ran before it in the process."""
    rng = np.random.default_rng(6)
    patterns = rng.normal(size=(2, 32)).astype(np.float32)
    x, y = _patterned_clips(rng, patterns, 6, 32)
    names = ["m_section_00", "m_section_01"]
    settings = training.TrainingSettings(epochs=1, snapshot_epochs=(1,), batch_size=6, seed=2)
    first, _ = training.train_subcluster_adacos(
        x, np.arange(len(x)), {"section": (names, y)}, 1, settings)
    before = first["epoch_0001"].predict(x[:2, :, :, None], verbose=0)
    other = training.TrainingSettings(epochs=1, snapshot_epochs=(1,), batch_size=4, seed=9)
    training.train_subcluster_adacos(x, np.arange(len(x)), {"section": (names, y)}, 4, other)
    again, _ = training.train_subcluster_adacos(
        x, np.arange(len(x)), {"section": (names, y)}, 1, settings)
    for a, b in zip(first["epoch_0001"].get_weights(), again["epoch_0001"].get_weights(),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(first["epoch_0001"].predict(x[:2, :, :, None], verbose=0),
                               before, rtol=1e-6, atol=1e-6)
