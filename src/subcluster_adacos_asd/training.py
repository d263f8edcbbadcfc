"""Training one sub-cluster AdaCos network: features, label encoding, batches, the loop, snapshots.

No Kedro here: the ``train`` pipeline's nodes call these functions. The features are any
(files x frames x mels) array-like of standardised float32 values: an array, or the view of the
stored log-mel that reads and standardises only the rows of each batch
(``feature_store.StandardisedFeatures``), so the data set is never in memory whole.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from keras import ops

from subcluster_adacos_asd.augmentation import ClassAugmentation, random_crops
from subcluster_adacos_asd.contracts import (
    ATTRIBUTE_HEAD,
    HEAD_COLUMNS,
    SECTION_HEAD,
    VARIANT_HEADS,
    normal_training,
)
from subcluster_adacos_asd.layers import SCALE_UPDATES, EmbeddingModel, Mixup, SubclusterAdaCos
from subcluster_adacos_asd.resnet import build_embedder
from subcluster_adacos_asd.settings_base import Settings

logger = logging.getLogger(__name__)

__all__ = ["ATTRIBUTE_HEAD", "HEAD_COLUMNS", "SECTION_HEAD", "VARIANT_HEADS"]

CLASS_WEIGHTS = ("none", "balanced")


def label_input(head: str) -> str:
    """The training model's input that feeds ``head``'s one-hot labels."""
    return f"{head}_label"


def snapshot_name(epoch: int) -> str:
    """The name of the snapshot taken after ``epoch`` epochs, e.g. ``epoch_0100``."""
    return f"epoch_{int(epoch):04d}"


@dataclass(frozen=True)
class TrainingSettings(Settings):
    """The ``training`` parameters (see conf/base/parameters_train.yml).

    Beyond the paper, each off by default here and in conf/dcase2021 (docs/quality.md has what
    each measured): ``crop_frames`` (train on random crops of this many frames, embed whole
    clips), ``frequency_shifts`` (mel-bin shifts of a clip trained as classes of their own,
    with probability ``frequency_shift_probability``), ``statistics_exchange`` (probability of
    swapping a clip's per-bin temporal mean and std with another clip's, trained as new
    classes; Wilkinghoff 2024), ``class_weights`` (``balanced``: each head's loss weighted
    inversely to its class frequencies), ``scale_update`` (the adaptive-scale form, see
    :class:`SubclusterAdaCos`), ``time_pooling`` and ``statistics_branch`` (resnet.py).

    ``steps_per_execution`` changes speed only: Keras runs that many batches per call into the
    compiled train step (fewer host round trips on a GPU); the weights after each epoch are
    those of one batch per call (tests/test_training.py checks it on the CPU).
    """

    epochs: int
    snapshot_epochs: tuple[int, ...]
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    embedding_dim: int = 128
    l2_weight_decay: float = 1e-5
    embed_batch_size: int = 128
    data_workers: int = 1
    scale_update: str = "subcluster_adacos"
    class_weights: str = "none"
    crop_frames: int | None = None
    frequency_shifts: tuple[int, ...] = ()
    frequency_shift_probability: float = 0.5
    statistics_exchange: float = 0.0
    time_pooling: str = "max"
    statistics_branch: bool = False
    steps_per_execution: int = 1

    @classmethod
    def from_parameters(cls, parameters: dict, what: str = "params:training") -> TrainingSettings:
        missing = {"epochs", "snapshot_epochs"} - set(parameters)
        if missing:
            raise ValueError(f"{what} lacks {sorted(missing)}")
        values = dict(parameters)
        values["snapshot_epochs"] = sorted(int(e) for e in values["snapshot_epochs"])
        values["frequency_shifts"] = [int(s) for s in values.get("frequency_shifts") or []]
        settings = super().from_parameters(values, what)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"params:training.epochs must be >= 1, got {self.epochs}")
        if not self.snapshot_epochs:
            raise ValueError("params:training.snapshot_epochs is empty: nothing would be saved")
        bad = [e for e in self.snapshot_epochs if not 1 <= e <= self.epochs]
        if bad:
            raise ValueError(
                f"params:training.snapshot_epochs {bad} lie outside 1..epochs ({self.epochs})"
            )
        if self.steps_per_execution < 1:
            raise ValueError("params:training.steps_per_execution must be >= 1, got "
                             f"{self.steps_per_execution}")
        if self.batch_size < 2:
            raise ValueError(f"params:training.batch_size must be >= 2, got {self.batch_size}")
        if self.class_weights not in CLASS_WEIGHTS:
            raise ValueError(f"params:training.class_weights must be one of {CLASS_WEIGHTS}, "
                             f"got {self.class_weights!r}")
        if self.scale_update not in SCALE_UPDATES:
            raise ValueError(f"params:training.scale_update must be one of {SCALE_UPDATES}, "
                             f"got {self.scale_update!r}")
        if self.crop_frames is not None and self.crop_frames < 32:
            raise ValueError(f"params:training.crop_frames must be null or >= 32 (the network "
                             f"downsamples by 32), got {self.crop_frames}")
        if 0 in self.frequency_shifts or len(set(self.frequency_shifts)) != len(
                self.frequency_shifts):
            raise ValueError("params:training.frequency_shifts must be distinct non-zero mel-bin "
                             f"shifts, got {list(self.frequency_shifts)}")
        for name in ("frequency_shift_probability", "statistics_exchange"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"params:training.{name} must lie in [0, 1], "
                                 f"got {getattr(self, name)}")

    @property
    def augmentation(self) -> ClassAugmentation:
        return ClassAugmentation(self.frequency_shifts, self.frequency_shift_probability,
                                 self.statistics_exchange)


# --- features and labels -------------------------------------------------------------------


def training_mask(file_index: pd.DataFrame) -> np.ndarray:
    """The rows the networks learn from: all normal training files."""
    return normal_training(file_index)


def with_auxiliary(features, rows: np.ndarray, training_files: pd.DataFrame, auxiliary,
                   auxiliary_rows: np.ndarray, auxiliary_index: pd.DataFrame):
    """``(features, rows, training_files)`` with the auxiliary clips appended (auxiliary.py):
    one view over both feature tables, the auxiliary rows shifted past the user's, and the
    auxiliary index rows (whose ``aux:`` classes are the extra classes of each head)."""
    from subcluster_adacos_asd.feature_store import ConcatenatedFeatures

    combined = ConcatenatedFeatures([features, auxiliary])
    rows = np.concatenate([np.asarray(rows, dtype=np.int64),
                           np.asarray(auxiliary_rows, dtype=np.int64) + len(features)])
    files = pd.concat([training_files, auxiliary_index], ignore_index=True)
    return combined, rows, files


def encode_classes(values: pd.Series) -> tuple[list[str], np.ndarray]:
    """Sorted unique class names and each value's index into them (a deterministic order)."""
    classes = sorted(pd.unique(values.astype(str)))
    codes = pd.Index(classes).get_indexer(values.astype(str))
    return classes, codes.astype(np.int64)


def head_labels(training_files: pd.DataFrame, variant: str) -> dict[str, tuple[list[str], np.ndarray]]:
    """``{head: (class names, class index per training file)}`` for the loss ``variant``."""
    if variant not in VARIANT_HEADS:
        raise ValueError(f"Unknown loss variant {variant!r}; expected one of {list(VARIANT_HEADS)}")
    labels = {}
    for head in VARIANT_HEADS[variant]:
        column = training_files[HEAD_COLUMNS[head]].astype(str)
        empty = training_files.loc[column == "", "file_id"]
        if len(empty):
            raise ValueError(
                f"The {head} head needs a {HEAD_COLUMNS[head]} for every training file, but "
                f"{len(empty)} have none, e.g. {empty.iloc[0]}; rerun the features pipeline, "
                "which gives files without attributes their section class"
            )
        labels[head] = encode_classes(column)
    return labels


def warn_single_class_heads(labels: dict, augmentation: ClassAugmentation) -> None:
    """A head with one class has a constant loss unless self-supervised classes are added."""
    for head, (names, _) in labels.items():
        if len(names) > 1:
            continue
        if augmentation.shifts * augmentation.blocks > 1:
            logger.info("The %s head has a single class (%s); it learns from the "
                        "self-supervised classes only", head, names[0])
        else:
            logger.warning(
                "The %s head has a single class (%s): its loss is constant and teaches the "
                "network nothing; use data with several %s values or self-supervised classes "
                "(training.frequency_shifts, training.statistics_exchange)",
                head, names[0], HEAD_COLUMNS[head],
            )


class TrainingBatches(keras.utils.PyDataset):
    """Shuffled batches ``({"log_mel", "<head>_label": labels}, {<head>: labels})``.

    Batches are gathered from the one standardised feature array by row index (no copy of the
    data set), optionally cut to random crops and given self-supervised classes
    (:class:`ClassAugmentation`). Every epoch visits every row once, in batches of nearly equal
    size (never a last batch of two clips, whose median angle would set the AdaCos scale); the
    order is reshuffled after every epoch from a seeded generator.
    """

    def __init__(
        self,
        features: np.ndarray,
        rows: np.ndarray,
        labels: dict[str, tuple[list[str], np.ndarray]],
        batch_size: int,
        seed: int,
        crop_frames: int | None = None,
        augmentation: ClassAugmentation | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.features = features
        self.rows = np.asarray(rows, dtype=np.int64)
        self.sizes = {head: len(names) for head, (names, _) in labels.items()}
        self.codes = {head: np.asarray(codes) for head, (_, codes) in labels.items()}
        for head, codes in self.codes.items():
            if len(codes) != len(self.rows):
                raise ValueError(f"{len(codes)} {head} labels for {len(self.rows)} rows")
        if crop_frames is not None and crop_frames > features.shape[1]:
            raise ValueError(f"crop_frames {crop_frames} exceeds the {features.shape[1]} frames "
                             "of the clips")
        self.crop_frames = crop_frames
        self.augmentation = augmentation or ClassAugmentation()
        self.batch_size = int(batch_size)
        self.rng = np.random.default_rng(seed)
        self._shuffle()

    def _shuffle(self) -> None:
        count = max(1, round(len(self.rows) / self.batch_size))
        self.batches = np.array_split(self.rng.permutation(len(self.rows)), count)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        # Sorted indices gather rows in memory order; the batch content is what is shuffled.
        batch = np.sort(self.batches[index])
        clips = self.features[self.rows[batch]]
        if self.crop_frames is not None:
            clips = random_crops(clips, self.crop_frames, self.rng)
        clips, labels = self.augmentation.apply(
            clips, {h: c[batch] for h, c in self.codes.items()}, self.sizes, self.rng)
        inputs = {"log_mel": clips[..., np.newaxis]}
        for head, vectors in labels.items():
            inputs[label_input(head)] = vectors
        return inputs, labels

    def on_epoch_end(self):
        self._shuffle()


def balanced_class_weights(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """sklearn's ``class_weight='balanced'``: n / (classes present * count of the class), 0 for
    a class without training clips."""
    counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
    weights = np.zeros(n_classes)
    present = counts > 0
    weights[present] = len(codes) / (present.sum() * counts[present])
    return weights.astype(np.float32)


# --- models ---------------------------------------------------------------------------------


def build_embedding_model(
    frames: int | None,
    n_mels: int,
    head_classes: dict[str, list[str]],
    sub_clusters: int,
    embedding_dim: int = 128,
    l2_weight_decay: float = 1e-5,
    scale_update: str = "subcluster_adacos",
    time_pooling: str = "max",
    statistics_branch: bool = False,
) -> EmbeddingModel:
    """The ResNet plus one sub-cluster AdaCos head per entry of ``head_classes``."""
    embedder = build_embedder(frames, n_mels, embedding_dim, l2_weight_decay,
                              time_pooling=time_pooling, statistics_branch=statistics_branch)
    heads = [
        SubclusterAdaCos(len(names), sub_clusters, class_names=names, name=head,
                         scale_update=scale_update)
        for head, names in head_classes.items()
    ]
    return EmbeddingModel(embedder, heads, name="embedding_model")


def build_training_model(model: EmbeddingModel, seed: int) -> keras.Model:
    """The graph that is fitted: mixup -> embedder -> heads, sharing ``model``'s weights.

    Inputs ``log_mel`` and one-hot labels ``<head>_label`` per head. Each output (named after
    its head) packs the mixed labels and the predicted probabilities side by side as B x 2C,
    because the loss must compare with the labels as mixed inside the model, not with the
    targets fed to ``fit``. (Side by side, not stacked: Keras squeezes a prediction whose rank
    exceeds the target's when its last axis has length 1, which a single class would trigger.)
    """
    log_mel = keras.Input(shape=tuple(model.embedder.inputs[0].shape[1:]), name="log_mel")
    labels = {
        label_input(h.name): keras.Input(shape=(h.n_classes,), name=label_input(h.name))
        for h in model.heads
    }
    mixed = Mixup(seed=seed, name="mixup")([log_mel, *labels.values()])
    embedding = model.embedder(mixed[0])
    outputs = {}
    for head, mixed_labels in zip(model.heads, mixed[1:], strict=True):
        probabilities = head([embedding, mixed_labels])
        outputs[head.name] = ops.concatenate([mixed_labels, probabilities], axis=-1)
    return keras.Model({"log_mel": log_mel, **labels}, outputs, name="training_model")


def _unpack(y_pred):
    """(mixed labels, probabilities) of a packed head output."""
    n_classes = y_pred.shape[-1] // 2
    return y_pred[:, :n_classes], y_pred[:, n_classes:]


def mixed_label_crossentropy(y_true, y_pred, class_weights=None):
    """Cross-entropy of the probabilities against the mixed labels, both carried in ``y_pred``
    (see :func:`build_training_model`); ``y_true`` (the unmixed labels) is unused. With
    ``class_weights`` (C,) each sample's loss is weighted by its mixed label's class weight."""
    del y_true
    labels, probabilities = _unpack(y_pred)
    labels = ops.stop_gradient(labels)
    # -sum y log p written out: Keras' categorical_crossentropy warns on a single class.
    probabilities = ops.clip(probabilities, keras.config.epsilon(), 1.0)
    loss = -ops.sum(labels * ops.log(probabilities), axis=-1)
    if class_weights is None:
        return loss
    return loss * ops.sum(labels * ops.convert_to_tensor(class_weights, labels.dtype), axis=-1)


def weighted_loss(class_weights: np.ndarray | None):
    """The loss of one head: :func:`mixed_label_crossentropy` with these class weights."""
    if class_weights is None:
        return mixed_label_crossentropy

    def loss(y_true, y_pred):
        return mixed_label_crossentropy(y_true, y_pred, class_weights)

    loss.__name__ = "weighted_mixed_label_crossentropy"
    return loss


def mixed_label_accuracy(y_true, y_pred):
    """Share of samples whose most probable class is the dominant class of their mixed label."""
    del y_true
    labels, probabilities = _unpack(y_pred)
    hits = ops.argmax(probabilities, axis=-1) == ops.argmax(labels, axis=-1)
    return ops.cast(hits, "float32")


mixed_label_accuracy.__name__ = "accuracy"


# --- the training loop ------------------------------------------------------------------------


class _EpochProgress(keras.callbacks.Callback):
    """Logs loss, accuracy and AdaCos scale per head after every epoch; keeps them as history."""

    def __init__(self, embedding_model: EmbeddingModel, epochs: int, samples: int, label: str):
        super().__init__()
        self.embedding_model = embedding_model
        self.epochs = epochs
        self.samples = samples
        self.label = label
        self.rows: list[dict] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._started
        row = {"epoch": epoch + 1, "loss": float(logs["loss"])}
        parts = []
        heads = self.embedding_model.heads
        for head in heads:
            # Keras prefixes a metric with its output's name only when there are several outputs.
            prefix = f"{head.name}_" if len(heads) > 1 else ""
            scale = float(keras.ops.convert_to_numpy(head.scale))
            accuracy = float(logs.get(f"{prefix}accuracy", np.nan))
            row[f"{head.name}_loss"] = float(logs.get(f"{prefix}loss", np.nan))
            row[f"{head.name}_accuracy"] = accuracy
            row[f"{head.name}_scale"] = scale
            parts.append(f"{head.name} accuracy {accuracy:.3f} (s {scale:.2f})")
        row["seconds"] = seconds
        row["samples_per_second"] = self.samples / seconds if seconds > 0 else np.nan
        self.rows.append(row)
        logger.info(
            "%s epoch %d/%d: loss %.4f, %s, %.1f s (%.0f samples/s)",
            self.label, epoch + 1, self.epochs, row["loss"], ", ".join(parts), seconds,
            row["samples_per_second"],
        )


class _Snapshots(keras.callbacks.Callback):
    """Keeps an independent copy of the embedding model after each snapshot epoch."""

    def __init__(self, embedding_model: EmbeddingModel, snapshot_epochs):
        super().__init__()
        self.embedding_model = embedding_model
        self.snapshot_epochs = set(snapshot_epochs)
        self.snapshots: dict[str, EmbeddingModel] = {}

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.snapshot_epochs:
            copy = EmbeddingModel.from_config(self.embedding_model.get_config())
            copy.set_weights(self.embedding_model.get_weights())
            self.snapshots[snapshot_name(epoch + 1)] = copy


def _build_before_fit(trainer: keras.Model, batch) -> None:
    """Create the metric, loss and optimizer variables before ``fit`` traces the train step.

    On the TensorFlow backend ``fit`` defers this to the first trace, and a trace that creates
    variables is traced a second time: building first halves each configuration's start-up
    (measured: about 15 s -> 5-9 s on 2 cores). ``_symbolic_build`` is what ``fit`` itself calls
    on the other backends; if a later Keras drops it, ``fit`` still builds everything itself.
    """
    symbolic_build = getattr(trainer, "_symbolic_build", None)
    if symbolic_build is not None:
        symbolic_build(data_batch=batch)
    trainer.optimizer.build(trainer.trainable_variables)


def release_framework_state() -> None:
    """Free what Keras and TensorFlow still hold of the networks trained before.

    A run trains its configurations one after another in one process; Keras' global state
    (layer names, traced functions of finished models) and objects kept alive by reference
    cycles are released here before the next configuration is built, and the freed heap is
    handed back to the operating system (glibc's ``malloc_trim``), so the process does not
    grow with the number of configurations. Models still referenced (saved snapshots, the
    embedding predictors) stay usable. Results do not change: every configuration sets its
    seeds afresh (tests/test_training.py).
    """
    keras.backend.clear_session(free_memory=True)
    trim_heap()


def trim_heap() -> None:
    """Return freed heap memory to the operating system where the C library can (glibc)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def train_subcluster_adacos(
    features: np.ndarray,
    rows: np.ndarray,
    labels: dict[str, tuple[list[str], np.ndarray]],
    sub_clusters: int,
    settings: TrainingSettings,
    label: str = "training",
) -> tuple[dict[str, EmbeddingModel], pd.DataFrame]:
    """Train one network on ``features[rows]`` and return its snapshots and per-epoch history.

    ``features``: standardised (files, frames, mels) float32; ``labels``: per head the class
    names and each row's class index (heads ``section`` and optionally ``attribute``, with equal
    loss weights). Adam, seeded by ``settings.seed`` (weights, mixup and batch order).
    """
    if features.ndim != 3:
        raise ValueError(f"features must be (files, frames, mels), got shape {features.shape}")
    if len(rows) == 0:
        raise ValueError("No training files (split == 'train' and label == 'normal')")
    release_framework_state()
    keras.utils.set_random_seed(settings.seed)
    _, frames, n_mels = features.shape
    augmentation = settings.augmentation
    warn_single_class_heads(labels, augmentation)
    model = build_embedding_model(
        # trained on crops, the network must take any length to embed whole clips
        None if settings.crop_frames else frames,
        n_mels,
        {head: augmentation.class_names(names) for head, (names, _) in labels.items()},
        sub_clusters,
        settings.embedding_dim,
        settings.l2_weight_decay,
        settings.scale_update,
        settings.time_pooling,
        settings.statistics_branch,
    )
    trainer = build_training_model(model, seed=settings.seed)
    losses = {}
    for head, (names, codes) in labels.items():
        weights = None
        if settings.class_weights == "balanced":
            plain = balanced_class_weights(codes, len(names))
            weights = np.tile(plain, augmentation.shifts * augmentation.blocks)
        losses[head] = weighted_loss(weights)
    trainer.compile(
        optimizer=keras.optimizers.Adam(settings.learning_rate),
        loss=losses,
        loss_weights={head: 1.0 for head in labels},
        metrics={head: [mixed_label_accuracy] for head in labels},
        steps_per_execution=settings.steps_per_execution,
    )
    batches = TrainingBatches(
        features, rows, labels, settings.batch_size, settings.seed,
        crop_frames=settings.crop_frames, augmentation=augmentation,
        workers=settings.data_workers,
    )
    _build_before_fit(trainer, batches[0])
    progress = _EpochProgress(model, settings.epochs, len(rows), label)
    snapshots = _Snapshots(model, settings.snapshot_epochs)
    logger.info(
        "%s: %d training files, classes %s, %d sub-clusters, %d epochs, snapshots %s",
        label, len(rows), {h.name: h.n_classes for h in model.heads}, sub_clusters,
        settings.epochs, list(settings.snapshot_epochs),
    )
    trainer.fit(batches, epochs=settings.epochs, verbose=0, callbacks=[progress, snapshots])
    return snapshots.snapshots, pd.DataFrame(progress.rows)

