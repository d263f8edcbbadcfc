"""The two official DCASE 2021 task 2 baselines, on the project's own log-mel features.

Both baselines of the challenge (Kawaguchi et al., the ``dcase2021_task2_baseline_ae`` and
``dcase2021_task2_baseline_mobile_net_v2`` code) are re-implemented here so that the paper's
Table 2 can be reproduced with the same file index, features and metrics as the proposed system.

Features: the official code computes ``20 / power * log10(max(mel_power, eps))`` with power 2,
i.e. ``10 * log10(mel power)``, with librosa's mel spectrogram (n_fft 1024, hop 512, 128 mels):
the project's raw ``log_mel`` (``power_to_db`` with ref 1, amin 1e-10) is the same quantity up to
the floor (-100 dB here, about -157 dB there), so both baselines reuse it unstandardised, as the
official code does.

- Autoencoder: per model group (machine type), vectors of 5 consecutive frames (640 values);
  Dense 128 x 4 -> 8 -> 128 x 4 (each Dense + BN + ReLU) -> Dense 640; MSE, Adam; the anomaly
  score of a clip is the mean squared reconstruction error over all its vectors.
- MobileNetV2: per model group, 64-frame patches; Keras' MobileNetV2 (alpha 0.5, no pretrained
  weights) on the single channel repeated to three, classifying the sections of the group;
  score = mean over patches of the negative logit of the clip's own section probability.
- Decision threshold: the 0.9 quantile of a gamma distribution fitted (shape, loc, scale) to the
  scores of the group's training clips; a clip is anomalous when its score exceeds it.

A model group is one machine type with all its training sections (the default), or, as the
official code trains separate models on the development and on the additional training data,
one machine type with a configured subset of its sections (``section_groups``).

No Kedro in here: the ``baselines`` pipeline's nodes wrap these functions.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

logger = logging.getLogger(__name__)

# The official code clips probabilities (and their complements) to the float64 machine epsilon.
PROBABILITY_FLOOR = sys.float_info.epsilon
SCORE_FORMULAS = ("logit", "official_code")
# Model input per predict call when scoring (float32 bytes): bounds memory on the full data set.
CHUNK_BYTES = 256 * 2**20


# --------------------------------------------------------------------------------------------
# Model groups: which clips train (and are scored by) which model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelGroup:
    """One trained baseline model: a machine type and the sections it is trained on."""

    machine_type: str
    sections: tuple[int, ...]
    # True when the group is the whole machine type (no ``section_groups`` configured).
    whole_machine_type: bool = True

    @property
    def key(self) -> str:
        """The model's name in the saved models folder, e.g. ``fan`` or ``fan_sections_03_04_05``."""
        if self.whole_machine_type:
            return self.machine_type
        return f"{self.machine_type}_sections_" + "_".join(f"{s:02d}" for s in self.sections)


def model_groups(
    file_index: pd.DataFrame, section_groups: Sequence[Sequence[int]] | None = None
) -> list[ModelGroup]:
    """The model groups of a file index, in machine-type order.

    Without ``section_groups`` every machine type is one group with all sections of its training
    files. With them (e.g. ``[[0, 1, 2], [3, 4, 5]]`` for DCASE 2021's development and additional
    training data) each machine type gets one group per listed subset that has training files.
    """
    _check_columns(file_index, ("machine_type", "section", "split"), "file_index")
    train = file_index[file_index["split"] == "train"]
    groups = []
    for machine_type in sorted(file_index["machine_type"].unique()):
        trained = sorted(
            int(s) for s in train.loc[train["machine_type"] == machine_type, "section"].unique()
        )
        if not trained:
            raise ValueError(
                f"Machine type {machine_type!r} has no training files in file_index: the "
                "baselines train one model per machine type on its normal training clips"
            )
        if section_groups is None:
            groups.append(ModelGroup(str(machine_type), tuple(trained)))
            continue
        for subset in section_groups:
            sections = tuple(s for s in sorted(int(s) for s in subset) if s in trained)
            if sections:
                groups.append(ModelGroup(str(machine_type), sections, whole_machine_type=False))
    return groups


def group_rows(file_index: pd.DataFrame, group: ModelGroup) -> np.ndarray:
    """Boolean mask of the file-index rows (all splits) that the group's model scores."""
    return (
        (file_index["machine_type"] == group.machine_type)
        & file_index["section"].astype(int).isin(group.sections)
    ).to_numpy()


def check_every_file_in_a_group(file_index: pd.DataFrame, groups: Sequence[ModelGroup]) -> None:
    """Fail, naming a file, when a clip belongs to no model group (its section was never trained).

    The official MobileNetV2 code silently uses the last class for such clips; here it is an
    error, because a score from a model that never saw the clip's section means nothing.
    """
    covered = np.zeros(len(file_index), dtype=bool)
    for group in groups:
        covered |= group_rows(file_index, group)
    if not covered.all():
        row = file_index.loc[~covered].iloc[0]
        raise ValueError(
            f"{int((~covered).sum())} file(s) belong to no baseline model, e.g. {row['file_id']!r} "
            f"(machine type {row['machine_type']!r}, section {int(row['section'])}): no training "
            "files of that machine type and section (or the section is in no section_groups entry)"
        )


# --------------------------------------------------------------------------------------------
# Log-mel arrays -> model inputs
# --------------------------------------------------------------------------------------------
def frame_windows(log_mel: np.ndarray, n_frames: int, hop: int = 1) -> np.ndarray:
    """Every ``n_frames``-long window of consecutive frames, starting every ``hop`` frames.

    ``log_mel``: (files, frames, mels) -> (files, windows, n_frames, mels), a strided view (no
    copy); windows = (frames - n_frames) // hop + 1, the official code's count.
    """
    log_mel = np.asarray(log_mel)
    if log_mel.ndim != 3:
        raise ValueError(f"Expected log-mel of shape (files, frames, mels), got {log_mel.shape}")
    if n_frames < 1 or hop < 1:
        raise ValueError(f"n_frames and hop must be >= 1, got {n_frames} and {hop}")
    if log_mel.shape[1] < n_frames:
        raise ValueError(
            f"Clips of {log_mel.shape[1]} frames are shorter than the {n_frames}-frame window "
            "of the baseline"
        )
    windows = np.lib.stride_tricks.sliding_window_view(log_mel, n_frames, axis=1)
    # sliding_window_view appends the window axis: (files, windows, mels, n_frames).
    return windows[:, ::hop].transpose(0, 1, 3, 2)


def consecutive_frame_vectors(log_mel: np.ndarray, n_frames: int = 5, hop: int = 1) -> np.ndarray:
    """The autoencoder's input vectors: (files, vectors, n_frames * mels), float32.

    Vector ``v`` of a clip concatenates frames ``v * hop .. v * hop + n_frames - 1``, frame after
    frame (mel bins of the first frame first), as the official ``file_to_vectors``.
    """
    windows = frame_windows(log_mel, n_frames, hop)
    files, count, frames, mels = windows.shape
    return np.ascontiguousarray(windows, dtype=np.float32).reshape(files, count, frames * mels)


def spectrogram_patches(log_mel: np.ndarray, n_frames: int = 64, hop: int = 8) -> np.ndarray:
    """The MobileNetV2's input patches: (files, patches, n_frames, mels), float32."""
    return np.ascontiguousarray(frame_windows(log_mel, n_frames, hop), dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------
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


def build_mobilenetv2_classifier(n_frames: int, n_mels: int, n_sections: int, alpha: float = 0.5):
    """Keras' MobileNetV2 classifying sections; the log-mel channel is repeated to three channels.

    The official code concatenates the single input channel three times in front of
    ``MobileNetV2(input_shape=(frames, mels, 3), alpha=0.5, weights=None, classes=sections)``.
    The model here outputs the logits (the softmax is in the loss and the score): a confident
    classifier's float32 probability of its section rounds to 1, and the score log((1 - p) / p)
    then became the same floor for every clip (the default run's AUC was exactly 50%); from
    the logits it stays exact.
    """
    import keras

    inputs = keras.Input(shape=(n_frames, n_mels, 1), name="log_mel_patch")
    rgb = keras.layers.Concatenate(axis=-1, name="repeat_channel")([inputs, inputs, inputs])
    backbone = keras.applications.MobileNetV2(
        input_shape=(n_frames, n_mels, 3), alpha=alpha, weights=None, classes=n_sections,
        classifier_activation=None,
    )
    return keras.Model(inputs, backbone(rgb), name="mobilenetv2_sections")


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
class SeededModels:
    """Compiled models in their seeded initial state, one compiled model per architecture.

    Every baseline model starts from the weights that ``keras.utils.set_random_seed(seed)``
    followed by building gives, so models of the same architecture (one per machine type) start
    identically anyway. Tracing the training step of the MobileNetV2 costs about 15 s of
    single-threaded Python (some 27,000 graph operations), more than training itself on the
    default data, so instead of building and tracing a new model per machine type, the compiled
    model is reset to its initial weights and optimiser state, trained, and copied out
    (:func:`detached_copy`).
    """

    def __init__(self, seed: int):
        self._seed = int(seed)
        self._cache: dict = {}

    def initial(self, architecture: tuple, build, learning_rate: float, **compile_kwargs):
        """The compiled model of ``architecture`` (built by ``build()``), reset to its start."""
        import keras

        keras.utils.set_random_seed(self._seed)
        if architecture not in self._cache:
            model = build()
            model.compile(
                optimizer=keras.optimizers.Adam(learning_rate=learning_rate), **compile_kwargs
            )
            model.optimizer.build(model.trainable_variables)
            state = (model.get_weights(), [v.numpy() for v in model.optimizer.variables])
            self._cache[architecture] = (model, state)
            return model
        model, (weights, optimizer_values) = self._cache[architecture]
        model.set_weights(weights)
        for variable, value in zip(model.optimizer.variables, optimizer_values):
            variable.assign(value)
        return model


def detached_copy(model):
    """An independent (uncompiled) copy of a model with its current weights."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


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
    models = models or SeededModels(seed)
    model = models.initial(
        ("autoencoder", dim, hidden_units, hidden_layers, bottleneck_units, steps_per_execution),
        lambda: build_autoencoder(dim, hidden_units, hidden_layers, bottleneck_units),
        learning_rate,
        loss="mse",
        steps_per_execution=int(steps_per_execution),
    )
    model.fit(
        vectors,
        vectors,
        epochs=int(epochs),
        batch_size=int(batch_size),
        shuffle=True,
        validation_split=float(validation_split),
        verbose=verbose,
    )
    return detached_copy(model)


def train_mobilenetv2(
    patches: np.ndarray,
    section_indices: np.ndarray,
    n_sections: int,
    *,
    epochs: int,
    batch_size: int = 32,
    learning_rate: float = 1e-5,
    validation_split: float = 0.1,
    alpha: float = 0.5,
    seed: int = 0,
    verbose: int = 0,
    models: SeededModels | None = None,
):
    """Train the section classifier on (n, frames, mels) patches (cross-entropy, Adam)."""
    import keras

    patches = np.asarray(patches, dtype=np.float32)
    section_indices = np.asarray(section_indices, dtype=np.int64)
    if len(patches) != len(section_indices):
        raise ValueError(f"{len(patches)} patches but {len(section_indices)} section labels")
    n_frames, n_mels = patches.shape[1:]
    models = models or SeededModels(seed)
    model = models.initial(
        ("mobilenetv2", n_frames, n_mels, n_sections, alpha),
        lambda: build_mobilenetv2_classifier(n_frames, n_mels, n_sections, alpha),
        learning_rate,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(
        patches[..., None],
        section_indices,
        epochs=int(epochs),
        batch_size=int(batch_size),
        shuffle=True,
        validation_split=float(validation_split),
        verbose=verbose,
    )
    return detached_copy(model)


# --------------------------------------------------------------------------------------------
# Anomaly scores
# --------------------------------------------------------------------------------------------
def reconstruction_error(vectors: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """Mean squared error per clip over all its vectors and values: (files, vectors, dim) -> (files,)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    reconstructions = np.asarray(reconstructions, dtype=np.float64)
    if vectors.shape != reconstructions.shape:
        raise ValueError(f"Shapes differ: {vectors.shape} vs {reconstructions.shape}")
    return np.square(vectors - reconstructions).reshape(len(vectors), -1).mean(axis=1)


def negative_logit_score(own_log_probability: np.ndarray, other_log_probability: np.ndarray,
                         formula: str = "logit") -> np.ndarray:
    """Mean over patches of the negative logit of the own-section probability p:
    (files, patches) -> (files,), from ``log p`` and ``log(1 - p)`` (computed from the logits).

    ``logit``: log(1 - p) - log(p), i.e. log((1 - p) / p), the definition in the DCASE 2021 task
    description. ``official_code``: log(max(1 - p, eps) - log(max(p, eps))), what the official
    ``01_test.py`` computes (a misplaced parenthesis) on clipped probabilities, for reproducing
    its published figures. Both decrease in p; they differ once averaged over patches.
    """
    log_p = np.asarray(own_log_probability, dtype=np.float64)
    log_q = np.asarray(other_log_probability, dtype=np.float64)
    if formula == "logit":
        per_patch = log_q - log_p
    elif formula == "official_code":
        complement = np.maximum(np.exp(log_q), PROBABILITY_FLOOR)
        per_patch = np.log(complement - np.log(np.maximum(np.exp(log_p), PROBABILITY_FLOOR)))
    else:
        raise ValueError(f"Unknown score formula {formula!r}; expected one of {SCORE_FORMULAS}")
    return per_patch.reshape(len(log_p), -1).mean(axis=1)


def section_log_probabilities(logits: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log p`` and ``log(1 - p)`` of each row's class ``own`` from (rows, classes) logits,
    by log-sum-exp: exact where float32 probabilities round to 0 or 1."""
    from scipy.special import logsumexp

    logits = np.asarray(logits, dtype=np.float64)
    total = logsumexp(logits, axis=-1)
    mine = np.take_along_axis(logits, own[:, None], axis=-1)[:, 0]
    others = np.where(np.arange(logits.shape[-1])[None, :] == own[:, None], -np.inf, logits)
    return mine - total, logsumexp(others, axis=-1) - total


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
    for chunk in _file_chunks(log_mel, n_frames, hop, chunk_bytes, n_frames * log_mel.shape[-1]):
        vectors = consecutive_frame_vectors(log_mel[chunk], n_frames, hop)
        files, count, dim = vectors.shape
        reconstructions = model.predict(
            vectors.reshape(files * count, dim), batch_size=batch_size, verbose=0
        )
        scores[chunk] = reconstruction_error(
            vectors, np.asarray(reconstructions).reshape(files, count, dim)
        )
    return scores


def _file_chunks(log_mel, n_frames, hop, chunk_bytes, values_per_window):
    """Slices of files whose windows take about ``chunk_bytes`` as float32."""
    windows = (log_mel.shape[1] - n_frames) // hop + 1 if log_mel.shape[1] >= n_frames else 1
    files_per_chunk = max(1, int(chunk_bytes // (4 * windows * values_per_window)))
    return [slice(i, i + files_per_chunk) for i in range(0, len(log_mel), files_per_chunk)]


def mobilenetv2_scores(
    model,
    log_mel: np.ndarray,
    section_indices: np.ndarray,
    n_frames: int = 64,
    hop: int = 1,
    formula: str = "logit",
    batch_size: int = 256,
    chunk_bytes: int = CHUNK_BYTES,
) -> np.ndarray:
    """Anomaly score of each clip: mean negative logit of its own section's probability.

    ``section_indices``: the model's output index of each clip's section.
    """
    section_indices = np.asarray(section_indices, dtype=np.int64)
    if len(section_indices) != len(log_mel):
        raise ValueError(f"{len(log_mel)} clips but {len(section_indices)} section indices")
    scores = np.empty(len(log_mel), dtype=np.float64)
    for chunk in _file_chunks(log_mel, n_frames, hop, chunk_bytes, n_frames * log_mel.shape[-1]):
        patches = spectrogram_patches(log_mel[chunk], n_frames, hop)
        files, count = patches.shape[:2]
        flat = patches.reshape(files * count, *patches.shape[2:], 1)
        logits = np.asarray(model.predict(flat, batch_size=batch_size, verbose=0))
        own = np.repeat(section_indices[chunk], count)
        log_p, log_q = section_log_probabilities(logits, own)
        scores[chunk] = negative_logit_score(
            log_p.reshape(files, count), log_q.reshape(files, count), formula)
    return scores


# --------------------------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------------------------
def gamma_threshold(
    scores: np.ndarray, quantile: float = 0.9, name: str = "the model"
) -> tuple[float, tuple[float, float, float]]:
    """The ``quantile`` of a gamma distribution fitted to normal training scores.

    Returns the threshold and the fitted (shape, loc, scale), as ``scipy.stats.gamma.fit`` gives
    them (location free, as in the official code). Scores that are all equal (a model whose
    output does not depend on its input, e.g. a barely trained MobileNetV2 whose batch
    normalisation statistics are still the initial ones) have no gamma fit: the threshold is
    then that score, with a warning, so that no clip scoring the same is flagged.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or len(scores) < 2 or not np.isfinite(scores).all():
        raise ValueError(
            f"A gamma threshold for {name} needs at least two finite training scores, got "
            f"{scores!r}"
        )
    if np.ptp(scores) == 0:
        logger.warning(
            "All %d training scores of %s equal %g: no gamma fit, the threshold is that score",
            len(scores),
            name,
            scores[0],
        )
        return float(scores[0]), (float("nan"), float(scores[0]), 0.0)
    try:
        shape, loc, scale = scipy.stats.gamma.fit(scores)
    except Exception as exc:  # scipy raises FitError and others for degenerate samples
        raise ValueError(
            f"Cannot fit a gamma distribution to the training scores of {name}: {exc}"
        ) from exc
    threshold = float(scipy.stats.gamma.ppf(quantile, shape, loc=loc, scale=scale))
    return threshold, (float(shape), float(loc), float(scale))


def decide(scores: np.ndarray, threshold: float) -> np.ndarray:
    """1 (anomalous) where the score exceeds the threshold, else 0, as the official code."""
    return (np.asarray(scores) > threshold).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Whole baselines over a file index (what the pipeline's nodes call)
# --------------------------------------------------------------------------------------------
SYSTEMS = ("autoencoder", "mobilenetv2")


def n_mels_of(feature_stats: pd.DataFrame) -> int:
    """The number of mel bins of the log-mel features: one ``feature_stats`` row per mel bin.

    Reading it from the features' own statistics (rather than repeating it as a parameter) keeps
    the reshaping of the flat log-mel rows right whatever the features pipeline was set to.
    """
    _check_columns(feature_stats, ("mel",), "feature_stats")
    n_mels = int(len(feature_stats))
    if n_mels < 1 or sorted(feature_stats["mel"].astype(int)) != list(range(n_mels)):
        raise ValueError("feature_stats must hold one row per mel bin, mel = 0 .. n_mels - 1")
    return n_mels


def log_mel_of_files(log_mel: pd.DataFrame, file_ids: Sequence[str], n_mels: int) -> np.ndarray:
    """The (files, frames, mels) float32 log-mel of the given files, in the given order."""
    from subcluster_adacos_asd.feature_table import frame_to_array

    _check_columns(log_mel, ("file_id", "log_mel"), "log_mel")
    positions = pd.Index(log_mel["file_id"]).get_indexer(list(file_ids))
    if (positions < 0).any():
        missing = [f for f, p in zip(file_ids, positions) if p < 0]
        raise ValueError(
            f"{len(missing)} file(s) of file_index have no log_mel row, e.g. {missing[0]!r}: "
            "rerun the features pipeline"
        )
    return frame_to_array(log_mel.iloc[positions], n_mels)


def _training_ids(file_index: pd.DataFrame, group: ModelGroup) -> list[str]:
    """The group's normal training clips, sorted by file id (the official code's sorted glob).

    The order matters only through Keras' ``validation_split``, which holds out the last part.
    """
    rows = group_rows(file_index, group) & (file_index["split"] == "train").to_numpy()
    ids = sorted(file_index.loc[rows, "file_id"].astype(str))
    labels = file_index.loc[rows, "label"].astype(str).unique() if "label" in file_index else []
    if any(label not in ("normal",) for label in labels):
        raise ValueError(
            f"Training files of {group.key} must be normal clips, found labels {sorted(labels)}"
        )
    return ids


def fit_autoencoders(
    file_index: pd.DataFrame,
    log_mel: pd.DataFrame,
    n_mels: int,
    settings: dict,
    section_groups: Sequence[Sequence[int]] | None = None,
) -> dict:
    """One trained autoencoder per model group: ``{group.key: keras.Model}``."""
    models = {}
    seeded = SeededModels(settings["seed"])
    for group in model_groups(file_index, section_groups):
        ids = _training_ids(file_index, group)
        vectors = consecutive_frame_vectors(
            log_mel_of_files(log_mel, ids, n_mels), settings["n_frames"], settings["hop_frames"]
        )
        logger.info(
            "autoencoder %s: %d training clips, %d vectors",
            group.key,
            len(ids),
            vectors.shape[0] * vectors.shape[1],
        )
        models[group.key] = train_autoencoder(
            vectors.reshape(-1, vectors.shape[-1]),
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            learning_rate=settings["learning_rate"],
            validation_split=settings["validation_split"],
            seed=settings["seed"],
            hidden_units=settings["hidden_units"],
            hidden_layers=settings["hidden_layers"],
            bottleneck_units=settings["bottleneck_units"],
            verbose=settings.get("verbose", 0),
            steps_per_execution=settings.get("steps_per_execution", 1),
            models=seeded,
        )
    return models


def can_classify_sections(group) -> bool:
    """A MobileNetV2 section classifier needs at least two sections in its model group."""
    return len(group.sections) >= 2


def fit_mobilenetv2s(
    file_index: pd.DataFrame,
    log_mel: pd.DataFrame,
    n_mels: int,
    settings: dict,
    section_groups: Sequence[Sequence[int]] | None = None,
) -> dict:
    """One trained MobileNetV2 section classifier per model group: ``{group.key: keras.Model}``."""
    models = {}
    seeded = SeededModels(settings["seed"])
    for group in model_groups(file_index, section_groups):
        if not can_classify_sections(group):
            logger.warning(
                "mobilenetv2 %s: training files of one section only (%s); the baseline "
                "classifies sections, so it has nothing to learn and this group gets no scores",
                group.key,
                group.sections,
            )
            continue
        ids = _training_ids(file_index, group)
        sections = file_index.set_index("file_id").loc[ids, "section"].astype(int).to_numpy()
        patches = spectrogram_patches(
            log_mel_of_files(log_mel, ids, n_mels),
            settings["n_frames"],
            settings["train_hop_frames"],
        )
        files, count = patches.shape[:2]
        labels = np.repeat(np.searchsorted(group.sections, sections), count)
        logger.info(
            "mobilenetv2 %s: %d training clips, %d patches", group.key, files, files * count
        )
        models[group.key] = train_mobilenetv2(
            patches.reshape(files * count, *patches.shape[2:]),
            labels,
            len(group.sections),
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            learning_rate=settings["learning_rate"],
            validation_split=settings["validation_split"],
            alpha=settings["alpha"],
            seed=settings["seed"],
            verbose=settings.get("verbose", 0),
            models=seeded,
        )
    return models


def score_baseline(
    system: str,
    models: dict,
    file_index: pd.DataFrame,
    log_mel: pd.DataFrame,
    n_mels: int,
    settings: dict,
    section_groups: Sequence[Sequence[int]] | None = None,
    quantile: float = 0.9,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and decisions of one baseline for every file of the index, and its thresholds.

    The threshold of a model group is fitted to the scores of its training clips; those scores
    are also the training clips' output rows. For the MobileNetV2 they use the training patch hop
    (as the official code fits its gamma), test clips the (denser) test hop.

    Returns (scores: ``file_id, system, score, decision`` in file-index order; thresholds: one
    row per model group).
    """
    if system not in SYSTEMS:
        raise ValueError(f"Unknown baseline {system!r}; expected one of {SYSTEMS}")
    groups = model_groups(file_index, section_groups)
    check_every_file_in_a_group(file_index, groups)
    scores = pd.Series(np.nan, index=file_index["file_id"].astype(str).to_numpy())
    decisions = pd.Series(0, index=scores.index, dtype=np.int64)
    threshold_rows = []
    for group in groups:
        if system == "mobilenetv2" and not can_classify_sections(group):
            continue  # no model (see fit_mobilenetv2s): its files get no rows
        if group.key not in models:
            raise ValueError(
                f"No trained {system} model for {group.key} (models: {sorted(models)}): the "
                "models were trained on another file index or section grouping; retrain them"
            )
        model = models[group.key]
        train_ids = _training_ids(file_index, group)
        rows = group_rows(file_index, group)
        trained = set(train_ids)
        other_ids = [f for f in file_index.loc[rows, "file_id"].astype(str) if f not in trained]
        train_scores = _score_files(
            system, model, group, file_index, log_mel, n_mels, settings, train_ids, training=True
        )
        other_scores = _score_files(
            system, model, group, file_index, log_mel, n_mels, settings, other_ids, training=False
        )
        threshold, (shape, loc, scale) = gamma_threshold(
            train_scores, quantile, f"the {system} of {group.key}"
        )
        scores.loc[train_ids] = train_scores
        scores.loc[other_ids] = other_scores
        decisions.loc[train_ids] = decide(train_scores, threshold)
        decisions.loc[other_ids] = decide(other_scores, threshold)
        threshold_rows.append(
            {
                "system": system,
                "model": group.key,
                "machine_type": group.machine_type,
                "sections": ",".join(str(s) for s in group.sections),
                "n_training_files": len(train_ids),
                "gamma_shape": shape,
                "gamma_loc": loc,
                "gamma_scale": scale,
                "quantile": float(quantile),
                "threshold": threshold,
            }
        )
        logger.info("%s %s: threshold %.4g", system, group.key, threshold)
    frame = pd.DataFrame(
        {
            "file_id": scores.index.astype(str),
            "system": system,
            "score": scores.to_numpy(dtype=np.float64),
            "decision": pd.array(decisions.to_numpy(), dtype="Int64"),
        }
    )
    return frame[scores.notna().to_numpy()].reset_index(drop=True), pd.DataFrame(threshold_rows)


def _score_files(system, model, group, file_index, log_mel, n_mels, settings, ids, training):
    if not ids:
        return np.zeros(0, dtype=np.float64)
    values = log_mel_of_files(log_mel, ids, n_mels)
    if system == "autoencoder":
        return autoencoder_scores(
            model,
            values,
            settings["n_frames"],
            settings["hop_frames"],
            batch_size=settings.get("predict_batch_size", 4096),
        )
    n_outputs = int(model.output_shape[-1])
    if n_outputs != len(group.sections):
        raise ValueError(
            f"The MobileNetV2 model of {group.key} has {n_outputs} outputs but the group has "
            f"{len(group.sections)} sections {group.sections}: retrain it on this file index"
        )
    sections = file_index.set_index("file_id").loc[ids, "section"].astype(int).to_numpy()
    hop = settings["train_hop_frames"] if training else settings["test_hop_frames"]
    return mobilenetv2_scores(
        model,
        values,
        np.searchsorted(group.sections, sections),
        settings["n_frames"],
        hop,
        formula=settings["score_formula"],
        batch_size=settings.get("predict_batch_size", 256),
    )


def _check_columns(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}")
