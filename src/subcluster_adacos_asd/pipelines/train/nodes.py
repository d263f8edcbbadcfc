"""Nodes of the ``train`` pipeline: thin wrappers over :mod:`subcluster_adacos_asd.training`."""

from __future__ import annotations

import logging

import pandas as pd

from subcluster_adacos_asd import feature_table, training

logger = logging.getLogger(__name__)


def train_model(
    file_index: pd.DataFrame,
    log_mel,
    feature_stats: pd.DataFrame,
    auxiliary_index: pd.DataFrame,
    auxiliary_log_mel,
    training_parameters: dict,
    *,
    sub_clusters: int,
    variant: str,
    configuration: str,
) -> tuple[dict, pd.DataFrame]:
    """Train one configuration on all normal training files; return its snapshots and history.

    ``sub_clusters``, ``variant`` and ``configuration`` (the namespace, for the log) are bound
    per namespaced node by the pipeline. The auxiliary clips (auxiliary.py; none unless
    ``auxiliary.source`` names some) join the training clips with classes of their own,
    standardised with the user's statistics.
    """
    settings = training.TrainingSettings.from_parameters(training_parameters)
    # read and standardised batch by batch: the data set is never in memory whole
    features = feature_table.standardised_view(log_mel, feature_stats)
    mask = training.training_mask(file_index)
    rows = feature_table.feature_rows(file_index, log_mel)[mask]
    training_files = file_index[mask]
    if len(auxiliary_index):
        auxiliary = feature_table.standardised_view(auxiliary_log_mel, feature_stats)
        features, rows, training_files = training.with_auxiliary(
            features, rows, training_files, auxiliary,
            feature_table.feature_rows(auxiliary_index, auxiliary_log_mel), auxiliary_index)
    labels = training.head_labels(training_files, variant)
    snapshots, history = training.train_subcluster_adacos(
        features, rows, labels, sub_clusters, settings, label=configuration
    )
    history.insert(0, "configuration", configuration)
    return snapshots, history
