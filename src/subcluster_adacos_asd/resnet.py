"""The modified ResNet of the paper's Table 1: standardised log-mel -> 128-d embedding.

For a 313 x 128 input the layer outputs are those of Table 1: 157x64x16 after the 7x7/2
convolution, 78x31x16 / 39x16x32 / 20x8x64 / 10x4x128 after the four residual stages (the first
includes the 3x3/2 max-pooling), 4x128 after max-pooling over the 10 remaining frames, 512 after
flattening and the 128-d linear embedding.

Two options beyond the paper (``params:training.model``, measured in docs/quality.md):
``time_pooling: mean`` averages the last stage over time instead of taking its maximum, and
``statistics_branch`` adds a small dense branch on each mel bin's temporal mean and standard
deviation of the input, concatenated before the embedding layer: the spectral envelope, which
a Gaussian on the mean log-mel uses so well, reaches the embedding directly. ``frames=None``
builds a network for any clip length (trained on random crops, it embeds whole clips).
"""

from __future__ import annotations

import keras
from keras import layers

from subcluster_adacos_asd.layers import TemporalStatistics, TimePooling

STAGE_CHANNELS = (16, 32, 64, 128)
UNITS_PER_STAGE = 2
LEAKY_SLOPE = 0.1
#: Width of the two dense layers of the optional statistics branch.
BRANCH_UNITS = 256


def _conv(channels: int, kernel: int, strides: int, l2: float, name: str) -> layers.Conv2D:
    # No bias: every convolution is followed (in the next unit) by batch normalisation.
    return layers.Conv2D(
        channels,
        kernel,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_regularizer=keras.regularizers.L2(l2) if l2 else None,
        name=name,
    )


def _residual_unit(x, channels: int, strides: int, l2: float, name: str):
    """Pre-activation unit (He et al. 2016): (BN, LeakyReLU(0.1), 3x3 conv) twice plus shortcut.

    A unit that changes the resolution or channel count gets a 1x1 convolution with the same
    stride on its shortcut (the usual projection shortcut); otherwise the shortcut is identity.
    """
    residual = layers.BatchNormalization(name=f"{name}_bn1")(x)
    residual = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"{name}_act1")(residual)
    residual = _conv(channels, 3, strides, l2, f"{name}_conv1")(residual)
    residual = layers.BatchNormalization(name=f"{name}_bn2")(residual)
    residual = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"{name}_act2")(residual)
    residual = _conv(channels, 3, 1, l2, f"{name}_conv2")(residual)
    shortcut = x
    if strides != 1 or x.shape[-1] != channels:
        shortcut = _conv(channels, 1, strides, l2, f"{name}_shortcut")(x)
    return layers.Add(name=f"{name}_add")([shortcut, residual])


def _dense(units: int, l2: float, name: str, use_bias: bool = True) -> layers.Dense:
    return layers.Dense(
        units,
        use_bias=use_bias,
        kernel_regularizer=keras.regularizers.L2(l2) if l2 else None,
        name=name,
    )


def _statistics_branch(inputs, l2: float):
    """Per-bin temporal mean and std of the input -> two Dense-BN-LeakyReLU layers."""
    x = TemporalStatistics(name="temporal_statistics")(inputs)
    for k in (1, 2):
        x = _dense(BRANCH_UNITS, l2, f"statistics_dense{k}", use_bias=False)(x)
        x = layers.BatchNormalization(name=f"statistics_bn{k}")(x)
        x = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"statistics_act{k}")(x)
    return x


def build_embedder(
    frames: int | None,
    n_mels: int = 128,
    embedding_dim: int = 128,
    l2_weight_decay: float = 1e-5,
    time_pooling: str = "max",
    statistics_branch: bool = False,
    name: str = "embedder",
) -> keras.Model:
    """The functional network; layer names ``stem_conv``, ``stem_pool``, ``stage<k>`` (the output
    of residual stage k), ``time_pool`` / ``time_pooled``, ``flatten`` and ``embedding`` expose
    Table 1's rows. ``frames=None``: any number of frames (at least 32).
    """
    if (frames is not None and frames < 32) or n_mels < 32:
        raise ValueError(
            f"The network downsamples by 32; got an input of {frames} frames x {n_mels} mels"
        )
    inputs = keras.Input(shape=(frames, n_mels, 1), name="log_mel")
    x = _conv(STAGE_CHANNELS[0], 7, 2, l2_weight_decay, "stem_conv")(inputs)
    x = layers.MaxPooling2D(pool_size=3, strides=2, padding="valid", name="stem_pool")(x)
    for stage, channels in enumerate(STAGE_CHANNELS, start=1):
        for unit in range(1, UNITS_PER_STAGE + 1):
            strides = 2 if stage > 1 and unit == 1 else 1
            x = _residual_unit(x, channels, strides, l2_weight_decay, f"stage{stage}_unit{unit}")
        x = layers.Identity(name=f"stage{stage}")(x)
    # Pre-activation ResNets end with one more BN + activation: the last unit's sum is raw.
    x = layers.BatchNormalization(name="final_bn")(x)
    x = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name="final_act")(x)
    # Table 1's "max pooling 10 x 1": over all remaining frames, whatever their number.
    x = TimePooling(time_pooling, name="time_pool")(x)
    x = layers.Identity(name="time_pooled")(x)
    x = layers.Flatten(name="flatten")(x)
    if statistics_branch:
        x = layers.Concatenate(name="with_statistics")([x, _statistics_branch(inputs, l2_weight_decay)])
    outputs = _dense(embedding_dim, l2_weight_decay, "embedding", use_bias=False)(x)
    return keras.Model(inputs, outputs, name=name)
