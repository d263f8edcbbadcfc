"""Custom Keras 3 objects of the method: the sub-cluster AdaCos head, mixup, the snapshot model.

Everything here uses ``keras.ops`` only, so it runs with the TensorFlow and the JAX backend
(``KERAS_BACKEND=jax``). Every class is registered under the package name, so a saved
``.keras`` snapshot loads once this module is imported (``KerasSnapshotsDataset`` does that).
"""

from __future__ import annotations

import math

import keras
from keras import ops

PACKAGE = "subcluster_adacos_asd"
SCALE_UPDATES = ("subcluster_adacos", "adacos")

# Cosines are clipped this far inside [-1, 1] before arccos, whose derivative is infinite at
# the ends (the angle is only used for the scale update, which carries no gradient, but a NaN
# median would still poison the scale).
_COS_EPSILON = 1e-7


def initial_scale(n_centres: int) -> float:
    """AdaCos' fixed starting scale sqrt(2) * log(C*S - 1), over all C*S centres.

    With a single centre in total (C*S = 1) the log is undefined; the softmax is constant then
    and any scale does, so 1 is used.
    """
    if n_centres < 1:
        raise ValueError(f"Need at least one centre, got {n_centres}")
    if n_centres <= 2:
        # log(1) = 0 would make every logit 0: keep a usable positive scale instead.
        return 1.0
    return math.sqrt(2.0) * math.log(n_centres - 1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SubclusterAdaCos(keras.layers.Layer):
    """Class probabilities of eq. (1): a softmax over C*S sub-cluster centres, summed per class.

    Centres ``W`` (D x C*S, trainable, so the GMM backends can start from them) and embeddings
    are L2-normalised; logits = s * cos. Column ``c * S + l`` of ``W`` is sub-cluster ``l`` of
    class ``c``. The adaptive scale ``s`` is a non-trainable weight (saved with the model) that
    starts at sqrt(2) log(C*S - 1) and, in training only and when the labels are given, is
    recomputed from its previous value before every batch, ``s = log(B_avg) / cos(min(pi/4,
    median_i theta_i))``, in one of two forms (``scale_update``):

    * ``subcluster_adacos``: as the sub-cluster AdaCos code of [11] computes it, which the paper
      refers to: ``B_avg = mean_i sum_k exp(s_old cos_ik)`` over all C*S centres, and
      ``theta_i = n_i * sum_c y_ic sum_{l in M(c)} theta_i,cl`` with ``n_i`` the number of
      classes in the (mixed) label of sample i.
    * ``adacos``: the original AdaCos (Zhang et al. 2019) read for sub-clusters:
      ``B_avg = mean_i sum_c (1 - y_ic) sum_{l in M(c)} exp(s_old cos_i,cl)`` over the
      non-target centres, ``theta_i = sum_c y_ic min_{l in M(c)} theta_i,cl / sum_c y_ic``
      (the nearest sub-cluster, which carries most of the class probability of eq. (1)). With a
      single class there are no non-target centres and the scale stays as it is.

    Call with ``[embeddings, labels]`` (labels: B x C, one-hot or mixed) in training, or with
    ``embeddings`` alone (the scale is then left unchanged). Returns B x C probabilities.
    """

    def __init__(
        self,
        n_classes: int,
        n_subclusters: int = 1,
        class_names: list[str] | None = None,
        centre_regularizer=None,
        scale_update: str = "adacos",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if scale_update not in SCALE_UPDATES:
            raise ValueError(
                f"{self.name}: scale_update must be one of {SCALE_UPDATES}, got {scale_update!r}"
            )
        self.scale_update = scale_update
        if int(n_classes) < 1 or int(n_subclusters) < 1:
            raise ValueError(
                f"{self.name}: n_classes and n_subclusters must be >= 1, "
                f"got {n_classes} and {n_subclusters}"
            )
        if class_names is not None and len(class_names) != int(n_classes):
            raise ValueError(
                f"{self.name}: {len(class_names)} class names for {n_classes} classes"
            )
        self.n_classes = int(n_classes)
        self.n_subclusters = int(n_subclusters)
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.centre_regularizer = keras.regularizers.get(centre_regularizer)

    @property
    def n_centres(self) -> int:
        return self.n_classes * self.n_subclusters

    def build(self, input_shape):
        # Either the embedding shape alone or [embedding shape, label shape].
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            embedding_shape = input_shape[0]
        else:
            embedding_shape = input_shape
        dim = int(embedding_shape[-1])
        self.centres = self.add_weight(
            name="centres",
            shape=(dim, self.n_centres),
            initializer="glorot_uniform",
            regularizer=self.centre_regularizer,
            trainable=True,
        )
        self.scale = self.add_weight(
            name="scale",
            shape=(),
            initializer=keras.initializers.Constant(initial_scale(self.n_centres)),
            trainable=False,
        )

    def cosines(self, embeddings):
        """cos(theta) between every embedding and every centre, B x C*S."""
        x = ops.normalize(embeddings, axis=-1, order=2)
        w = ops.normalize(ops.convert_to_tensor(self.centres), axis=0, order=2)
        return ops.matmul(x, w)

    def updated_scale(self, cosines, labels):
        """The adaptive scale for this batch, computed from the current (old) scale."""
        cosines = ops.stop_gradient(cosines)
        labels = ops.cast(ops.stop_gradient(labels), cosines.dtype)
        old_scale = ops.convert_to_tensor(self.scale)
        theta = ops.arccos(ops.clip(cosines, -1.0 + _COS_EPSILON, 1.0 - _COS_EPSILON))
        if self.scale_update == "subcluster_adacos":
            return self._subcluster_adacos_scale(cosines, theta, labels, old_scale)
        return self._adacos_scale(cosines, theta, labels, old_scale)

    def _subcluster_adacos_scale(self, cosines, theta, labels, old_scale):
        logits = old_scale * cosines
        peak = ops.max(logits)  # log-sum-exp shift: exp of large scaled cosines overflows
        log_b_avg = peak + ops.log(ops.mean(ops.sum(ops.exp(logits - peak), axis=-1)))
        repeated = ops.repeat(labels, self.n_subclusters, axis=-1)
        mixed_classes = ops.sum(ops.cast(labels > 0, labels.dtype), axis=-1)
        sample_theta = ops.sum(repeated * theta, axis=-1) * mixed_classes
        return log_b_avg / ops.cos(ops.minimum(math.pi / 4.0, ops.median(sample_theta)))

    def _adacos_scale(self, cosines, theta, labels, old_scale):
        non_target = ops.repeat(1.0 - labels, self.n_subclusters, axis=-1)
        b_avg = ops.mean(ops.sum(non_target * ops.exp(old_scale * cosines), axis=-1))
        class_theta = ops.min(
            ops.reshape(theta, (-1, self.n_classes, self.n_subclusters)), axis=-1
        )
        sample_theta = ops.sum(labels * class_theta, axis=-1) / ops.maximum(
            ops.sum(labels, axis=-1), _COS_EPSILON
        )
        new_scale = ops.log(b_avg) / ops.cos(ops.minimum(math.pi / 4.0, ops.median(sample_theta)))
        # A single class has no non-target centre (B_avg = 0, log = -inf): keep the old scale.
        return ops.where(b_avg > 0, new_scale, old_scale)

    def call(self, inputs, training=None):
        if isinstance(inputs, (list, tuple)):
            embeddings, labels = inputs
        else:
            embeddings, labels = inputs, None
        cosines = self.cosines(embeddings)
        if training and labels is not None:
            self.scale.assign(self.updated_scale(cosines, labels))
        scale = ops.stop_gradient(ops.convert_to_tensor(self.scale))
        probabilities = ops.softmax(scale * cosines, axis=-1)
        return ops.sum(
            ops.reshape(probabilities, (-1, self.n_classes, self.n_subclusters)), axis=-1
        )

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        return (input_shape[0], self.n_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            n_classes=self.n_classes,
            n_subclusters=self.n_subclusters,
            class_names=self.class_names,
            centre_regularizer=keras.regularizers.serialize(self.centre_regularizer),
            scale_update=self.scale_update,
        )
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class Mixup(keras.layers.Layer):
    """Mixup (Zhang et al. 2018) of a batch's inputs and labels, in training only.

    Each sample i draws lambda_i ~ U(0, 1) and a partner p(i) from a random permutation of the
    batch; every tensor t of the input list becomes lambda_i t_i + (1 - lambda_i) t_p(i), the
    same lambda_i and partner for the features and all label sets. At inference the inputs pass
    through unchanged.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        tensors = list(inputs)
        if not training:
            return tensors
        batch = ops.shape(tensors[0])[0]
        lam = keras.random.uniform((batch,), seed=self.seed_generator)
        partner = keras.random.shuffle(ops.arange(batch), seed=self.seed_generator)
        mixed = []
        for tensor in tensors:
            weight = ops.reshape(
                ops.cast(lam, tensor.dtype), (-1,) + (1,) * (len(tensor.shape) - 1)
            )
            mixed.append(weight * tensor + (1.0 - weight) * ops.take(tensor, partner, axis=0))
        return mixed

    def compute_output_shape(self, input_shape):
        return list(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(seed=self.seed)
        return config


TIME_POOLINGS = ("max", "mean")


@keras.saving.register_keras_serializable(package=PACKAGE)
class TimePooling(keras.layers.Layer):
    """Maximum (Table 1) or mean over the time axis of a (batch, frames, bins, channels) map:
    (batch, bins, channels), for any number of frames."""

    def __init__(self, mode: str = "max", **kwargs):
        super().__init__(**kwargs)
        if mode not in TIME_POOLINGS:
            raise ValueError(f"time pooling must be one of {TIME_POOLINGS}, got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        return ops.max(inputs, axis=1) if self.mode == "max" else ops.mean(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TemporalStatistics(keras.layers.Layer):
    """Each mel bin's mean and standard deviation over time of a (batch, frames, mels, 1)
    log-mel: (batch, 2 * mels), means first."""

    def call(self, inputs):
        x = inputs[..., 0]
        return ops.concatenate([ops.mean(x, axis=1), ops.std(x, axis=1)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[2])


@keras.saving.register_keras_serializable(package=PACKAGE)
class EmbeddingModel(keras.Model):
    """A trained snapshot: maps standardised log-mel (frames x mels x 1) to the embedding.

    It also carries the sub-cluster AdaCos heads trained with it (``heads``, named ``section``
    and ``attribute``), so the learned centres, the class names (label encoding) and the scale
    travel in the same ``.keras`` file as the network; calling the model uses the embedder only.
    """

    def __init__(self, embedder: keras.Model, heads: list[SubclusterAdaCos], **kwargs):
        super().__init__(**kwargs)
        self.embedder = embedder
        self.heads = list(heads)
        dim = int(embedder.outputs[0].shape[-1])
        for head in self.heads:
            if not head.built:
                head.build((None, dim))
        self.build(tuple(embedder.inputs[0].shape))

    def build(self, input_shape):
        # Every sub-layer is built in __init__; nothing depends on the call's input shape.
        self.built = True

    def call(self, inputs, training=None):
        return self.embedder(inputs, training=training)

    def head(self, name: str) -> SubclusterAdaCos:
        """The head called ``name`` (``section`` or ``attribute``)."""
        for head in self.heads:
            if head.name == name:
                return head
        raise KeyError(f"No head {name!r}; heads: {[h.name for h in self.heads]}")

    def compute_output_shape(self, input_shape):
        return self.embedder.compute_output_shape(input_shape)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "embedder": keras.saving.serialize_keras_object(self.embedder),
            "heads": [keras.saving.serialize_keras_object(h) for h in self.heads],
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        embedder = keras.saving.deserialize_keras_object(
            config.pop("embedder"), custom_objects=custom_objects
        )
        heads = [
            keras.saving.deserialize_keras_object(h, custom_objects=custom_objects)
            for h in config.pop("heads")
        ]
        return cls(embedder, heads, **config)
