"""Training one sub-cluster AdaCos network: features, label encoding, batches, the loop, snapshots.

No Kedro here: the ``train`` pipeline's nodes call these functions. The features stay one
standardised float32 array (files x frames x mels) for the whole run; batches are gathered from
it by index, so the data set is never held twice in memory.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from keras import ops

from subcluster_adacos_asd.feature_table import frame_to_array
from subcluster_adacos_asd.layers import EmbeddingModel, Mixup, SubclusterAdaCos
from subcluster_adacos_asd.resnet import build_embedder

logger = logging.getLogger(__name__)

# Head names: also the ``head`` column of the centres table and the training model's outputs.
SECTION_HEAD = "section"
ATTRIBUTE_HEAD = "attribute"
HEAD_COLUMNS = {SECTION_HEAD: "section_class", ATTRIBUTE_HEAD: "attribute_class"}
VARIANT_HEADS = {"both": (SECTION_HEAD, ATTRIBUTE_HEAD), "sections": (SECTION_HEAD,)}


def label_input(head: str) -> str:
    """The training model's input that feeds ``head``'s one-hot labels."""
    return f"{head}_label"


def snapshot_name(epoch: int) -> str:
    """The name of the snapshot taken after ``epoch`` epochs, e.g. ``epoch_0100``."""
    return f"epoch_{int(epoch):04d}"


@dataclass(frozen=True)
class TrainingSettings:
    """The ``training`` parameters (see conf/base/parameters_train.yml)."""

    epochs: int
    snapshot_epochs: tuple[int, ...]
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    embedding_dim: int = 128
    l2_weight_decay: float = 1e-5
    embed_batch_size: int = 128
    data_workers: int = 1

    @classmethod
    def from_parameters(cls, parameters: dict) -> TrainingSettings:
        known = set(cls.__dataclass_fields__)
        missing = {"epochs", "snapshot_epochs"} - set(parameters)
        if missing:
            raise ValueError(f"params:training lacks {sorted(missing)}")
        unknown = set(parameters) - known
        if unknown:
            raise ValueError(
                f"params:training has unknown keys {sorted(unknown)}; known: {sorted(known)}"
            )
        values = dict(parameters)
        values["snapshot_epochs"] = tuple(sorted(int(e) for e in values["snapshot_epochs"]))
        settings = cls(**values)
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
        if self.batch_size < 2:
            raise ValueError(f"params:training.batch_size must be >= 2, got {self.batch_size}")


# --- features and labels -------------------------------------------------------------------


def standardised_features(log_mel: pd.DataFrame, feature_stats: pd.DataFrame) -> np.ndarray:
    """The (files, frames, mels) float32 array of ``log_mel``, standardised per mel bin.

    The number of mel bins is that of ``feature_stats``. The array is standardised in place
    when ``frame_to_array`` returned a fresh (writable) array, otherwise into one new array, so
    at most one copy of the data set is made here.
    """
    stats = feature_stats.sort_values("mel")
    n_mels = len(stats)
    if n_mels == 0 or not np.array_equal(stats["mel"].to_numpy(), np.arange(n_mels)):
        raise ValueError(f"feature_stats must have one row per mel bin 0..n-1, got {n_mels} rows")
    mean = stats["mean"].to_numpy(dtype=np.float32)
    std = stats["std"].to_numpy(dtype=np.float32)
    if not np.all(np.isfinite(std)) or np.any(std <= 0):
        raise ValueError("feature_stats has non-positive or non-finite std values")
    features = frame_to_array(log_mel, n_mels)
    if features.flags.writeable:
        # A fresh array (Arrow buffers converted without copying come back read-only).
        features -= mean
        features /= std
        return features
    standardised = np.subtract(features, mean, dtype=np.float32)
    standardised /= std
    return standardised


def feature_rows(file_index: pd.DataFrame, log_mel: pd.DataFrame) -> np.ndarray:
    """For each file_index row, its row in ``log_mel`` (the contract keeps the same order)."""
    log_mel_ids = pd.Index(log_mel["file_id"].astype(str))
    if not log_mel_ids.is_unique:
        raise ValueError("log_mel has duplicate file_id values")
    positions = log_mel_ids.get_indexer(file_index["file_id"].astype(str))
    missing = file_index["file_id"][positions < 0]
    if len(missing):
        raise ValueError(
            f"{len(missing)} files of file_index have no log_mel row, e.g. {missing.iloc[0]}"
        )
    return positions


def training_mask(file_index: pd.DataFrame) -> np.ndarray:
    """The rows the networks learn from: all normal training files."""
    return ((file_index["split"] == "train") & (file_index["label"] == "normal")).to_numpy()


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
                f"{len(empty)} have none, e.g. {empty.iloc[0]}; use the 'sections' variant for "
                "data without attributes"
            )
        labels[head] = encode_classes(column)
        if len(labels[head][0]) == 1:
            logger.warning(
                "The %s head has a single class (%s): its loss is constant and teaches the "
                "network nothing; use data with several %s values",
                head, labels[head][0][0], HEAD_COLUMNS[head],
            )
    return labels


class TrainingBatches(keras.utils.PyDataset):
    """Shuffled batches ``({"log_mel", "<head>_label": one-hot}, {<head>: one-hot})``.

    Batches are gathered from the one standardised feature array by row index (no copy of the
    data set). The order is reshuffled after every epoch from a seeded generator.
    """

    def __init__(
        self,
        features: np.ndarray,
        rows: np.ndarray,
        labels: dict[str, tuple[list[str], np.ndarray]],
        batch_size: int,
        seed: int,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.features = features
        self.rows = np.asarray(rows, dtype=np.int64)
        self.one_hot = {head: np.eye(len(names), dtype=np.float32) for head, (names, _) in labels.items()}
        self.codes = {head: np.asarray(codes) for head, (_, codes) in labels.items()}
        for head, codes in self.codes.items():
            if len(codes) != len(self.rows):
                raise ValueError(f"{len(codes)} {head} labels for {len(self.rows)} rows")
        self.batch_size = int(batch_size)
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(self.rows))

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size)

    def __getitem__(self, index: int):
        # Sorted indices gather rows in memory order; the batch content is what is shuffled.
        batch = np.sort(self.order[index * self.batch_size : (index + 1) * self.batch_size])
        inputs = {"log_mel": self.features[self.rows[batch]][..., np.newaxis]}
        targets = {}
        for head, codes in self.codes.items():
            one_hot = self.one_hot[head][codes[batch]]
            inputs[label_input(head)] = one_hot
            targets[head] = one_hot
        return inputs, targets

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.rows))


# --- models ---------------------------------------------------------------------------------


def build_embedding_model(
    frames: int,
    n_mels: int,
    head_classes: dict[str, list[str]],
    sub_clusters: int,
    embedding_dim: int = 128,
    l2_weight_decay: float = 1e-5,
) -> EmbeddingModel:
    """The ResNet plus one sub-cluster AdaCos head per entry of ``head_classes``."""
    embedder = build_embedder(frames, n_mels, embedding_dim, l2_weight_decay)
    heads = [
        SubclusterAdaCos(len(names), sub_clusters, class_names=names, name=head)
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


def mixed_label_crossentropy(y_true, y_pred):
    """Cross-entropy of the probabilities against the mixed labels, both carried in ``y_pred``
    (see :func:`build_training_model`); ``y_true`` (the unmixed labels) is unused."""
    del y_true
    labels, probabilities = _unpack(y_pred)
    # -sum y log p written out: Keras' categorical_crossentropy warns on a single class.
    probabilities = ops.clip(probabilities, keras.config.epsilon(), 1.0)
    return -ops.sum(ops.stop_gradient(labels) * ops.log(probabilities), axis=-1)


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
        for head in self.embedding_model.heads:
            scale = float(keras.ops.convert_to_numpy(head.scale))
            accuracy = float(logs.get(f"{head.name}_accuracy", np.nan))
            row[f"{head.name}_loss"] = float(logs.get(f"{head.name}_loss", np.nan))
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
    keras.utils.set_random_seed(settings.seed)
    _, frames, n_mels = features.shape
    model = build_embedding_model(
        frames,
        n_mels,
        {head: names for head, (names, _) in labels.items()},
        sub_clusters,
        settings.embedding_dim,
        settings.l2_weight_decay,
    )
    trainer = build_training_model(model, seed=settings.seed)
    trainer.compile(
        optimizer=keras.optimizers.Adam(settings.learning_rate),
        loss={head: mixed_label_crossentropy for head in labels},
        loss_weights={head: 1.0 for head in labels},
        metrics={head: [mixed_label_accuracy] for head in labels},
    )
    batches = TrainingBatches(
        features, rows, labels, settings.batch_size, settings.seed, workers=settings.data_workers
    )
    _build_before_fit(trainer, batches[0])
    progress = _EpochProgress(model, settings.epochs, len(rows), label)
    snapshots = _Snapshots(model, settings.snapshot_epochs)
    logger.info(
        "%s: %d training files, classes %s, %d sub-clusters, %d epochs, snapshots %s",
        label, len(rows), {h: len(n) for h, (n, _) in labels.items()}, sub_clusters,
        settings.epochs, list(settings.snapshot_epochs),
    )
    trainer.fit(batches, epochs=settings.epochs, verbose=0, callbacks=[progress, snapshots])
    return snapshots.snapshots, pd.DataFrame(progress.rows)

