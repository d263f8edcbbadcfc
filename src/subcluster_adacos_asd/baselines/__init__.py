"""The two official DCASE 2021 task 2 baselines, on the project's own log-mel features.

Both baselines of the challenge (Kawaguchi et al., the ``dcase2021_task2_baseline_ae`` and
``dcase2021_task2_baseline_mobile_net_v2`` code) are re-implemented here so that the paper's
Table 2 can be reproduced with the same file index, features and metrics as the proposed system.

Features: the official code computes ``20 / power * log10(max(mel_power, eps))`` with power 2,
i.e. ``10 * log10(mel power)``, with librosa's mel spectrogram (n_fft 1024, hop 512, 128 mels):
the project's raw ``log_mel`` (``power_to_db`` with ref 1, amin 1e-10) is the same quantity up to
the floor (-100 dB here, about -157 dB there), so both baselines reuse it unstandardised, as the
official code does.

- Autoencoder (``autoencoder.py``): per model group (machine type), vectors of 5 consecutive
  frames (640 values); Dense 128 x 4 -> 8 -> 128 x 4 (each Dense + BN + ReLU) -> Dense 640; MSE,
  Adam; the anomaly score of a clip is the mean squared reconstruction error over all its
  vectors.
- MobileNetV2 (``mobilenetv2.py``): per model group, 64-frame patches; Keras' MobileNetV2
  (alpha 0.5, no pretrained weights) on the single channel repeated to three, classifying the
  sections of the group; score = mean over patches of the negative logit of the clip's own
  section probability.
- Decision threshold (``thresholds.py``): the 0.9 quantile of a gamma distribution fitted
  (shape, loc, scale) to the scores of the group's training clips; a clip is anomalous when its
  score exceeds it.

A model group (``groups.py``) is one machine type with all its training sections (the default),
or, as the official code trains separate models on the development and on the additional
training data, one machine type with a configured subset of its sections (``section_groups``).

Each baseline is a :class:`Baseline` (``base.py``): its settings dataclass, ``train`` (one
group's model) and ``scores`` (of clips by a model); the loops over model groups, training and
scoring with thresholds, are shared. ``SYSTEMS`` (``systems.py``) maps the names to them.
``inputs.py`` cuts log-mel into frame windows, ``seeded_models.py`` re-uses compiled models.

No Kedro in here: the ``baselines`` pipeline's nodes wrap these functions.
"""

from subcluster_adacos_asd.baselines.autoencoder import (
    AutoencoderBaseline,
    AutoencoderSettings,
    autoencoder_scores,
    build_autoencoder,
    consecutive_frame_vectors,
    reconstruction_error,
    train_autoencoder,
)
from subcluster_adacos_asd.baselines.base import Baseline
from subcluster_adacos_asd.baselines.groups import (
    ModelGroup,
    check_every_file_in_a_group,
    group_rows,
    log_mel_of_files,
    model_groups,
    n_mels_of,
    section_indices,
    training_ids,
)
from subcluster_adacos_asd.baselines.inputs import CHUNK_BYTES, file_chunks, frame_windows
from subcluster_adacos_asd.baselines.mobilenetv2 import (
    PROBABILITY_FLOOR,
    SCORE_FORMULAS,
    MobileNetV2Baseline,
    MobileNetV2Settings,
    build_mobilenetv2_classifier,
    can_classify_sections,
    mobilenetv2_scores,
    negative_logit_score,
    section_log_probabilities,
    spectrogram_patches,
    train_mobilenetv2,
)
from subcluster_adacos_asd.baselines.seeded_models import SeededModels, detached_copy
from subcluster_adacos_asd.baselines.systems import (
    SYSTEMS,
    baseline,
    fit_autoencoders,
    fit_mobilenetv2s,
    score_baseline,
)
from subcluster_adacos_asd.baselines.thresholds import decide, gamma_threshold

__all__ = [
    "CHUNK_BYTES",
    "PROBABILITY_FLOOR",
    "SCORE_FORMULAS",
    "SYSTEMS",
    "AutoencoderBaseline",
    "AutoencoderSettings",
    "Baseline",
    "MobileNetV2Baseline",
    "MobileNetV2Settings",
    "ModelGroup",
    "SeededModels",
    "autoencoder_scores",
    "baseline",
    "build_autoencoder",
    "build_mobilenetv2_classifier",
    "can_classify_sections",
    "check_every_file_in_a_group",
    "consecutive_frame_vectors",
    "decide",
    "detached_copy",
    "file_chunks",
    "fit_autoencoders",
    "fit_mobilenetv2s",
    "frame_windows",
    "gamma_threshold",
    "group_rows",
    "log_mel_of_files",
    "mobilenetv2_scores",
    "model_groups",
    "n_mels_of",
    "negative_logit_score",
    "reconstruction_error",
    "score_baseline",
    "section_indices",
    "section_log_probabilities",
    "spectrogram_patches",
    "train_autoencoder",
    "train_mobilenetv2",
    "training_ids",
]
