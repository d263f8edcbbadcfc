"""The official DCASE 2021 autoencoder baseline (``dcase2021_task2_baseline_ae``).

Per model group (machine type), vectors of 5 consecutive frames (640 values); Dense 128 x 4 ->
8 -> 128 x 4 (each Dense + BN + ReLU) -> Dense 640; MSE, Adam; the anomaly score of a clip is
the mean squared reconstruction error over all its vectors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from subcluster_adacos_asd.baselines.base import Baseline
from subcluster_adacos_asd.baselines.groups import ModelGroup
from subcluster_adacos_asd.baselines.inputs import CHUNK_BYTES, file_chunks, frame_windows
from subcluster_adacos_asd.baselines.seeded_models import SeededModels
from subcluster_adacos_asd.settings_base import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AutoencoderSettings(Settings):
    """``params:baselines.autoencoder``; the defaults are the official ``baseline.yaml``'s.

    ``n_frames`` consecutive frames make one input vector, one every ``hop_frames`` frames (in
    training and in scoring). ``steps_per_execution`` and ``predict_batch_size`` only change
    speed (see :func:`train_autoencoder`); ``verbose`` is Keras' fit verbosity.
    """

    n_frames: int = 5
    hop_frames: int = 1
    hidden_units: int = 128
    hidden_layers: int = 4
    bottleneck_units: int = 8
    epochs: int = 100
    batch_size: int = 512
    learning_rate: float = 1e-3
    validation_split: float = 0.1
    predict_batch_size: int = 4096
    steps_per_execution: int = 1
    seed: int = 0
    verbose: int = 0


def consecutive_frame_vectors(log_mel: np.ndarray, n_frames: int = 5, hop: int = 1) -> np.ndarray:
    """The autoencoder's input vectors: (files, vectors, n_frames * mels), float32.

    Vector ``v`` of a clip concatenates frames ``v * hop .. v * hop + n_frames - 1``, frame after
    frame (mel bins of the first frame first), as the official ``file_to_vectors``.
    """
    windows = frame_windows(log_mel, n_frames, hop)
    files, count, frames, mels = windows.shape
    return np.ascontiguousarray(windows, dtype=np.float32).reshape(files, count, frames * mels)


def build_autoencoder(
    input_dim: int, hidden_units: int = 128, hidden_layers: int = 4, bottleneck_units: int = 8
):
    """The official dense autoencoder: (Dense-BN-ReLU) x hidden_layers, bottleneck, mirror, Dense.

    Not compiled: the optimiser's settings belong to training.
    """
    import keras

    inputs = keras.Input(shape=(input_dim,), name="frames")
    x = inputs
    widths = [hidden_units] * hidden_layers + [bottleneck_units] + [hidden_units] * hidden_layers
    for i, width in enumerate(widths):
        x = keras.layers.Dense(width, name=f"dense_{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn_{i}")(x)
        x = keras.layers.Activation("relu", name=f"relu_{i}")(x)
    outputs = keras.layers.Dense(input_dim, name="reconstruction")(x)
    return keras.Model(inputs, outputs, name="autoencoder")


def train_autoencoder(
    vectors: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 512,
    learning_rate: float = 1e-3,
    validation_split: float = 0.1,
    seed: int = 0,
    hidden_units: int = 128,
    hidden_layers: int = 4,
    bottleneck_units: int = 8,
    verbose: int = 0,
    steps_per_execution: int = 1,
    models: SeededModels | None = None,
):
    """Train the autoencoder on (n, dim) vectors to reconstruct themselves (MSE, Adam).

    ``validation_split`` is Keras' own: the last fraction of the vectors (in the given order) is
    held out of training, as in the official code. ``steps_per_execution`` only changes speed:
    Keras runs that many batch updates per call into the compiled step (the small dense model's
    steps are dominated by per-call overhead on a CPU). ``models`` re-uses compiled models
    between calls (see :class:`SeededModels`); by default the model is built afresh.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    return (models or SeededModels(seed)).fit(
        ("autoencoder", dim, hidden_units, hidden_layers, bottleneck_units, steps_per_execution),
        lambda: build_autoencoder(dim, hidden_units, hidden_layers, bottleneck_units),
        vectors,
        vectors,
        learning_rate=learning_rate,
        epochs=epochs,
        batch_size=batch_size,
        validation_split=validation_split,
        verbose=verbose,
        loss="mse",
        steps_per_execution=int(steps_per_execution),
    )


#: Clips whose float64 errors are computed at once in :func:`reconstruction_error`.
ERROR_FILES_PER_STEP = 16


def reconstruction_error(vectors: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """Mean squared error per clip over all its vectors and values: (files, vectors, dim) -> (files,).

    In float64, a few clips at a time: float64 copies of a whole scoring chunk were the peak
    of the default run (about 1.6 GB above the rest). Each clip's mean is a reduction over its
    own row only, so the values do not depend on how many clips go together.
    """
    vectors, reconstructions = np.asarray(vectors), np.asarray(reconstructions)
    if vectors.shape != reconstructions.shape:
        raise ValueError(f"Shapes differ: {vectors.shape} vs {reconstructions.shape}")
    errors = np.empty(len(vectors), dtype=np.float64)
    for start in range(0, len(vectors), ERROR_FILES_PER_STEP):
        stop = start + ERROR_FILES_PER_STEP
        difference = np.subtract(vectors[start:stop], reconstructions[start:stop],
                                 dtype=np.float64)
        errors[start:stop] = np.square(difference).reshape(len(difference), -1).mean(axis=1)
    return errors


def autoencoder_scores(
    model,
    log_mel: np.ndarray,
    n_frames: int = 5,
    hop: int = 1,
    batch_size: int = 4096,
    chunk_bytes: int = CHUNK_BYTES,
) -> np.ndarray:
    """Anomaly score (mean reconstruction error) of each clip of a (files, frames, mels) array.

    Clips are processed in chunks of about ``chunk_bytes`` of model input, so that the full data
    set never holds all its vectors and reconstructions at once, while small data sets go
    through in one ``predict`` call (each new input shape costs a retrace).
    """
    scores = np.empty(len(log_mel), dtype=np.float64)
    for chunk in file_chunks(log_mel, n_frames, hop, chunk_bytes):
        vectors = consecutive_frame_vectors(log_mel[chunk], n_frames, hop)
        files, count, dim = vectors.shape
        reconstructions = model.predict(
            vectors.reshape(files * count, dim), batch_size=batch_size, verbose=0
        )
        scores[chunk] = reconstruction_error(
            vectors, np.asarray(reconstructions).reshape(files, count, dim)
        )
    return scores


class AutoencoderBaseline(Baseline):
    """The autoencoder behind the :class:`Baseline` interface; it ignores the clips' sections."""

    name = "autoencoder"
    settings_type = AutoencoderSettings

    def train(self, group: ModelGroup, log_mel: np.ndarray, sections: np.ndarray,
              settings: AutoencoderSettings, models: SeededModels):
        vectors = consecutive_frame_vectors(log_mel, settings.n_frames, settings.hop_frames)
        logger.info(
            "autoencoder %s: %d training clips, %d vectors",
            group.key,
            len(log_mel),
            vectors.shape[0] * vectors.shape[1],
        )
        return train_autoencoder(
            vectors.reshape(-1, vectors.shape[-1]),
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            validation_split=settings.validation_split,
            seed=settings.seed,
            hidden_units=settings.hidden_units,
            hidden_layers=settings.hidden_layers,
            bottleneck_units=settings.bottleneck_units,
            verbose=settings.verbose,
            steps_per_execution=settings.steps_per_execution,
            models=models,
        )

    def scores(self, model, group: ModelGroup, log_mel: np.ndarray, sections: np.ndarray,
               settings: AutoencoderSettings, training: bool) -> np.ndarray:
        return autoencoder_scores(
            model,
            log_mel,
            settings.n_frames,
            settings.hop_frames,
            batch_size=settings.predict_batch_size,
        )
