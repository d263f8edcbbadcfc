"""The official DCASE 2021 MobileNetV2 baseline (``dcase2021_task2_baseline_mobile_net_v2``).

Per model group, 64-frame patches; Keras' MobileNetV2 (alpha 0.5, no pretrained weights) on the
single channel repeated to three, classifying the sections of the group; score = mean over
patches of the negative logit of the clip's own section probability, computed from the logits
(:func:`section_log_probabilities`, :func:`negative_logit_score`).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

import numpy as np

from subcluster_adacos_asd.baselines.base import Baseline
from subcluster_adacos_asd.baselines.groups import ModelGroup
from subcluster_adacos_asd.baselines.inputs import CHUNK_BYTES, file_chunks, frame_windows
from subcluster_adacos_asd.baselines.seeded_models import SeededModels
from subcluster_adacos_asd.settings_base import Settings

logger = logging.getLogger(__name__)

# The official code clips probabilities (and their complements) to the float64 machine epsilon.
PROBABILITY_FLOOR = sys.float_info.epsilon
SCORE_FORMULAS = ("logit", "official_code")


@dataclass(frozen=True)
class MobileNetV2Settings(Settings):
    """``params:baselines.mobilenetv2``; the defaults are the official ``baseline.yaml``'s,
    except ``score_formula`` (the task description's ``logit``, see :func:`negative_logit_score`).

    Patches of ``n_frames`` frames start every ``train_hop_frames`` frames in training and for
    the training scores the threshold is fitted to, every ``test_hop_frames`` frames for the
    other clips. ``alpha`` is MobileNetV2's width multiplier.
    """

    n_frames: int = 64
    train_hop_frames: int = 8
    test_hop_frames: int = 1
    alpha: float = 0.5
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-5
    validation_split: float = 0.1
    score_formula: str = "logit"
    predict_batch_size: int = 256
    seed: int = 0
    verbose: int = 0

    def __post_init__(self):
        if self.score_formula not in SCORE_FORMULAS:
            raise ValueError(
                f"Unknown score formula {self.score_formula!r}; expected one of {SCORE_FORMULAS}"
            )


def spectrogram_patches(log_mel: np.ndarray, n_frames: int = 64, hop: int = 8) -> np.ndarray:
    """The MobileNetV2's input patches: (files, patches, n_frames, mels), float32."""
    return np.ascontiguousarray(frame_windows(log_mel, n_frames, hop), dtype=np.float32)


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
    return (models or SeededModels(seed)).fit(
        ("mobilenetv2", n_frames, n_mels, n_sections, alpha),
        lambda: build_mobilenetv2_classifier(n_frames, n_mels, n_sections, alpha),
        patches[..., None],
        section_indices,
        learning_rate=learning_rate,
        epochs=epochs,
        batch_size=batch_size,
        validation_split=validation_split,
        verbose=verbose,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


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
    for chunk in file_chunks(log_mel, n_frames, hop, chunk_bytes):
        patches = spectrogram_patches(log_mel[chunk], n_frames, hop)
        files, count = patches.shape[:2]
        flat = patches.reshape(files * count, *patches.shape[2:], 1)
        logits = np.asarray(model.predict(flat, batch_size=batch_size, verbose=0))
        own = np.repeat(section_indices[chunk], count)
        log_p, log_q = section_log_probabilities(logits, own)
        scores[chunk] = negative_logit_score(
            log_p.reshape(files, count), log_q.reshape(files, count), formula)
    return scores


def can_classify_sections(group: ModelGroup) -> bool:
    """A MobileNetV2 section classifier needs at least two sections in its model group."""
    return len(group.sections) >= 2


class MobileNetV2Baseline(Baseline):
    """The MobileNetV2 section classifier behind the :class:`Baseline` interface.

    A model group of one section has nothing to classify: it gets no model, and its files no
    scores (e.g. the DCASE 2023 ToyCar clips with one section per group).
    """

    name = "mobilenetv2"
    settings_type = MobileNetV2Settings

    def skip_reason(self, group: ModelGroup) -> str | None:
        if can_classify_sections(group):
            return None
        return (
            f"training files of one section only ({group.sections}); the baseline classifies "
            "sections, so it has nothing to learn and this group gets no scores"
        )

    def train(self, group: ModelGroup, log_mel: np.ndarray, sections: np.ndarray,
              settings: MobileNetV2Settings, models: SeededModels):
        patches = spectrogram_patches(log_mel, settings.n_frames, settings.train_hop_frames)
        files, count = patches.shape[:2]
        logger.info(
            "mobilenetv2 %s: %d training clips, %d patches", group.key, files, files * count
        )
        return train_mobilenetv2(
            patches.reshape(files * count, *patches.shape[2:]),
            np.repeat(sections, count),
            len(group.sections),
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            validation_split=settings.validation_split,
            alpha=settings.alpha,
            seed=settings.seed,
            verbose=settings.verbose,
            models=models,
        )

    def scores(self, model, group: ModelGroup, log_mel: np.ndarray, sections: np.ndarray,
               settings: MobileNetV2Settings, training: bool) -> np.ndarray:
        """As the official code fits its gamma, the training clips' scores use the training
        patch hop, the other clips the (denser) test hop."""
        n_outputs = int(model.output_shape[-1])
        if n_outputs != len(group.sections):
            raise ValueError(
                f"The MobileNetV2 model of {group.key} has {n_outputs} outputs but the group has "
                f"{len(group.sections)} sections {group.sections}: retrain it on this file index"
            )
        return mobilenetv2_scores(
            model,
            log_mel,
            sections,
            settings.n_frames,
            settings.train_hop_frames if training else settings.test_hop_frames,
            formula=settings.score_formula,
            batch_size=settings.predict_batch_size,
        )
