"""Random crops and the self-supervised classes of the training batches."""

import numpy as np

from subcluster_adacos_asd import augmentation


def test_frequency_shifts_and_statistics_exchange_are_classes_of_their_own():
    rng = np.random.default_rng(1)
    clips = rng.normal(size=(6, 8, 5)).astype(np.float32)
    shifted = augmentation.shift_mel_bins(clips[0], 2)
    np.testing.assert_array_equal(shifted[:, 2:], clips[0][:, :-2])
    np.testing.assert_array_equal(shifted[:, :2], np.repeat(clips[0][:, :1], 2, axis=1))
    down = augmentation.shift_mel_bins(clips[0], -1)
    np.testing.assert_array_equal(down[:, :-1], clips[0][:, 1:])
    swapped = augmentation.exchange_statistics(clips[0], clips[1])
    np.testing.assert_allclose(swapped.mean(axis=0), clips[1].mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(swapped.std(axis=0), clips[1].std(axis=0), atol=1e-4)

    classes = augmentation.ClassAugmentation((-1, 1), 0.5, statistics_exchange=0.5)
    assert classes.class_names(["a", "b"])[:6] == [
        "a", "b", "a|shift-1", "b|shift-1", "a|shift+1", "b|shift+1"]
    assert len(classes.class_names(["a", "b"])) == 2 * 3 * 3
    codes = {"section": np.array([0, 1, 0, 1, 0, 1])}
    out, labels = classes.apply(clips, codes, {"section": 2}, np.random.default_rng(0))
    vectors = labels["section"]
    assert vectors.shape == (6, 18)
    np.testing.assert_allclose(vectors.sum(axis=1), 1.0)
    for i in range(6):
        hot = np.flatnonzero(vectors[i])
        if len(hot) == 1:  # kept (maybe shifted): its own class in its shift block
            assert hot[0] < 6 and hot[0] % 2 == codes["section"][i]
        else:  # exchanged: half own class (block 1), half the partner's (block 2)
            assert vectors[i, hot].tolist() == [0.5, 0.5] and 6 <= hot[0] < 12 <= hot[1]
    assert np.isclose(vectors[:, 6:].sum(), (vectors[:, 6:] > 0).sum() / 2)  # some exchanged


def test_random_crops_are_windows_of_each_clip():
    clips = np.arange(2 * 10 * 3, dtype=np.float32).reshape(2, 10, 3)
    crops = augmentation.random_crops(clips, 4, np.random.default_rng(0))
    assert crops.shape == (2, 4, 3)
    for clip, crop in zip(clips, crops, strict=True):
        start = int(crop[0, 0] - clip[0, 0]) // 3
        np.testing.assert_array_equal(crop, clip[start : start + 4])
