"""The modified ResNet of the paper's Table 1: standardised log-mel -> 128-d embedding.

For a 313 x 128 input the layer outputs are those of Table 1: 157x64x16 after the 7x7/2
convolution, 78x31x16 / 39x16x32 / 20x8x64 / 10x4x128 after the four residual stages (the first
includes the 3x3/2 max-pooling), 4x128 after max-pooling over the 10 remaining frames, 512 after
flattening and the 128-d linear embedding.
"""

from __future__ import annotations

import keras
from keras import layers

STAGE_CHANNELS = (16, 32, 64, 128)
UNITS_PER_STAGE = 2
LEAKY_SLOPE = 0.1


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


def build_embedder(
    frames: int,
    n_mels: int = 128,
    embedding_dim: int = 128,
    l2_weight_decay: float = 1e-5,
    name: str = "embedder",
) -> keras.Model:
    """The functional network; layer names ``stem_conv``, ``stem_pool``, ``stage<k>`` (the output
    of residual stage k), ``time_pool``, ``flatten`` and ``embedding`` expose Table 1's rows.
    """
    if frames < 32 or n_mels < 32:
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
    remaining_frames = int(x.shape[1])
    x = layers.MaxPooling2D(pool_size=(remaining_frames, 1), name="time_pool")(x)
    x = layers.Reshape((int(x.shape[2]), int(x.shape[3])), name="time_pooled")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(
        embedding_dim,
        activation=None,
        use_bias=False,
        kernel_regularizer=keras.regularizers.L2(l2_weight_decay) if l2_weight_decay else None,
        name="embedding",
    )(x)
    return keras.Model(inputs, outputs, name=name)
