"""Nodes of the ``embed`` pipeline: thin wrappers over :mod:`subcluster_adacos_asd.embedding`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from subcluster_adacos_asd import embedding, feature_table


def embed_files(
    model_snapshots: dict,
    file_index: pd.DataFrame,
    log_mel: pd.DataFrame,
    feature_stats: pd.DataFrame,
    batch_size: int,
) -> pd.DataFrame:
    """The embedding of every file of ``file_index`` (in its order) by every snapshot."""
    features = feature_table.standardised_features(log_mel, feature_stats)
    rows = feature_table.feature_rows(file_index, log_mel)
    if not np.array_equal(rows, np.arange(len(features))):
        features = features[rows]  # a reordered copy, only when log_mel is not in file_index order
    return embedding.embeddings_table(model_snapshots, features, file_index["file_id"],
                                      int(batch_size))
