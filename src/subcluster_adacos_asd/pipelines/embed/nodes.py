"""Nodes of the ``embed`` pipeline: thin wrappers over :mod:`subcluster_adacos_asd.embedding`."""

from __future__ import annotations

import pandas as pd

from subcluster_adacos_asd import embedding, feature_table


def embed_files(
    model_snapshots: dict,
    file_index: pd.DataFrame,
    log_mel,
    feature_stats: pd.DataFrame,
    batch_size: int,
) -> pd.DataFrame:
    """The embedding of every file of ``file_index`` (in its order) by every snapshot."""
    # batch by batch, in file_index order: the data set is never in memory whole
    rows = feature_table.feature_rows(file_index, log_mel)
    features = feature_table.standardised_view(log_mel, feature_stats, rows)
    return embedding.embeddings_table(model_snapshots, features, file_index["file_id"],
                                      int(batch_size))
