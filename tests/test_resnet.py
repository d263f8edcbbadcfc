"""The network's layer outputs are those of the paper's Table 1 for a 313 x 128 input."""

import pytest

from subcluster_adacos_asd.resnet import build_embedder

TABLE_1 = {
    "stem_conv": (157, 64, 16),
    "stage1": (78, 31, 16),
    "stage2": (39, 16, 32),
    "stage3": (20, 8, 64),
    "stage4": (10, 4, 128),
    "time_pooled": (4, 128),
    "flatten": (512,),
    "embedding": (128,),
}


def test_layer_outputs_match_table_1():
    model = build_embedder(313, 128)
    assert tuple(model.inputs[0].shape[1:]) == (313, 128, 1)
    for name, shape in TABLE_1.items():
        assert tuple(model.get_layer(name).output.shape[1:]) == shape, name
    assert model.get_layer("time_pool").mode == "max"


def test_two_preactivation_units_per_stage_with_l2_on_every_kernel():
    model = build_embedder(64, 128)
    names = [layer.name for layer in model.layers]
    for stage in range(1, 5):
        for unit in (1, 2):
            for part in ("bn1", "act1", "conv1", "bn2", "act2", "conv2", "add"):
                assert f"stage{stage}_unit{unit}_{part}" in names
    assert model.get_layer("stage2_unit1_conv1").strides == (2, 2)
    assert model.get_layer("stage1_unit1_conv1").strides == (1, 1)
    assert model.get_layer("stage1_unit1_act1").negative_slope == pytest.approx(0.1)
    kernels = [w for w in model.trainable_weights if w.name == "kernel"]
    regularised = [layer for layer in model.layers
                   if getattr(layer, "kernel_regularizer", None) is not None]
    assert len(regularised) == len(kernels)
    assert all(layer.kernel_regularizer.l2 == pytest.approx(1e-5) for layer in regularised)
    # A short input ends with 2 frames: the time pooling adapts, the embedding stays 4 x 128.
    assert tuple(model.get_layer("time_pooled").output.shape[1:]) == (4, 128)


def test_too_small_input_is_refused():
    with pytest.raises(ValueError, match="downsamples by 32"):
        build_embedder(16, 128)


def test_any_length_network_pools_over_all_frames_and_branch_adds_statistics():
    import numpy as np

    model = build_embedder(None, 128, time_pooling="mean", statistics_branch=True)
    assert tuple(model.inputs[0].shape[1:]) == (None, 128, 1)
    assert tuple(model.get_layer("temporal_statistics").output.shape[1:]) == (256,)
    assert tuple(model.get_layer("with_statistics").output.shape[1:]) == (512 + 256,)
    x = np.random.default_rng(0).normal(size=(2, 313, 128, 1)).astype("float32")
    assert model.predict_on_batch(x).shape == (2, 128)
    assert model.predict_on_batch(x[:, :64]).shape == (2, 128)
    with pytest.raises(ValueError, match="time pooling must be one of"):
        build_embedder(64, 128, time_pooling="median")
