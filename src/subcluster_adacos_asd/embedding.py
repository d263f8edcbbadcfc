"""Embeddings of every file and the learned sub-cluster centres of trained snapshots.

No Kedro here: the ``embed`` pipeline's nodes call these functions. Tables follow
docs/data_contracts.md (``<configuration>.embeddings`` and ``<configuration>.centres``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading

import keras
import numpy as np
import pandas as pd

from subcluster_adacos_asd.contracts import CENTRE_PREFIX, EMBEDDING_PREFIX, numbered_columns
from subcluster_adacos_asd.layers import EmbeddingModel

logger = logging.getLogger(__name__)


def embedding_columns(dim: int) -> list[str]:
    return numbered_columns(EMBEDDING_PREFIX, dim)


def centre_columns(dim: int) -> list[str]:
    return numbered_columns(CENTRE_PREFIX, dim)


def snapshot_fingerprint(model: keras.Model) -> str:
    """A SHA-256 of every weight of a trained snapshot (embedder and heads), 16 hex digits.

    The backends record the fingerprint of the snapshot their embeddings came from, so
    inference can tell a retrained snapshot (same name, new weights) from the one the GMMs were
    fitted on. It depends on the weights only, not on when or where the file was saved.
    """
    digest = hashlib.sha256()
    for weights in model.get_weights():
        values = np.ascontiguousarray(weights)
        digest.update(str((values.dtype.str, values.shape)).encode())
        digest.update(values.tobytes())
    return digest.hexdigest()[:16]


# One compiled predictor per network shape, reused for every snapshot and configuration of a
# run by copying the snapshot's weights into it: tracing the predict function takes longer
# (about 3 s on 2 CPU cores) than embedding a small data set. The lock keeps a threaded runner
# from swapping weights while another node predicts.
_PREDICTORS: dict[tuple, keras.Model] = {}
_PREDICTOR_LOCK = threading.Lock()


def _predictor_for(embedder: keras.Model, frames: int) -> keras.Model:
    """A compiled copy of ``embedder``'s architecture for inputs of ``frames`` frames."""
    config = json.dumps(embedder.get_config(), sort_keys=True, default=str)
    key = (hashlib.sha256(config.encode()).hexdigest(), frames, keras.backend.backend())
    predictor = _PREDICTORS.get(key)
    if predictor is None:
        predictor = keras.models.clone_model(embedder)
        _PREDICTORS[key] = predictor
    return predictor


def embed(model: EmbeddingModel | keras.Model, features: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """The (files, D) embeddings of standardised ``features`` (files, frames, mels), in order.

    Batches are gathered from ``features`` one at a time (no copy of the data set); the last
    batch is zero-padded to the full size, so the predict function is traced once. A network
    built for any length (trained on crops) embeds the whole clips.
    """
    embedder = model.embedder if isinstance(model, EmbeddingModel) else model
    frames, n_mels = embedder.inputs[0].shape[1:3]
    if features.ndim != 3 or features.shape[2] != n_mels or (
            frames is not None and features.shape[1] != frames):
        raise ValueError(
            f"The model embeds (frames, mels) = {(frames, n_mels)}, got features of shape "
            f"{features.shape}"
        )
    n_files = len(features)
    dim = int(embedder.outputs[0].shape[-1])
    out = np.empty((n_files, dim), dtype=np.float32)
    batch = np.zeros((batch_size, features.shape[1], n_mels, 1), dtype=np.float32)
    with _PREDICTOR_LOCK:
        predictor = _predictor_for(embedder, features.shape[1])
        predictor.set_weights(embedder.get_weights())
        for start in range(0, n_files, batch_size):
            stop = min(start + batch_size, n_files)
            batch[: stop - start, ..., 0] = features[start:stop]
            out[start:stop] = keras.ops.convert_to_numpy(predictor.predict_on_batch(batch))[
                : stop - start
            ]
    return out


def embeddings_table(
    snapshots: dict[str, EmbeddingModel],
    features: np.ndarray,
    file_ids,
    batch_size: int = 128,
) -> pd.DataFrame:
    """``file_id``, ``snapshot``, ``emb_000`` .. : one row per file and snapshot."""
    file_ids = pd.Series(file_ids, dtype=str).reset_index(drop=True)
    if len(file_ids) != len(features):
        raise ValueError(f"{len(file_ids)} file ids for {len(features)} feature rows")
    tables = []
    for name in sorted(snapshots):
        vectors = embed(snapshots[name], features, batch_size)
        table = pd.DataFrame(vectors, columns=embedding_columns(vectors.shape[1]))
        table.insert(0, "snapshot", name)
        table.insert(0, "file_id", file_ids)
        tables.append(table)
        logger.info("embedded %d files with snapshot %s", len(features), name)
    return pd.concat(tables, ignore_index=True)


def centres_table(snapshots: dict[str, EmbeddingModel]) -> pd.DataFrame:
    """``snapshot``, ``fingerprint``, ``head``, ``class_name``, ``sub_cluster``, ``c_000`` .. :
    the learned (not normalised) centre of every sub-cluster of every class of every head, and
    the :func:`snapshot_fingerprint` of the snapshot."""
    tables = []
    for name in sorted(snapshots):
        model = snapshots[name]
        if not isinstance(model, EmbeddingModel):
            raise TypeError(
                f"Snapshot {name} is a {type(model).__name__}, not an EmbeddingModel: it carries "
                "no AdaCos centres"
            )
        fingerprint = snapshot_fingerprint(model)
        for head in model.heads:
            if head.class_names is None:
                raise ValueError(f"Snapshot {name}: head {head.name} has no class names")
            centres = keras.ops.convert_to_numpy(head.centres).T  # (C*S, D), row c*S + l
            table = pd.DataFrame(centres, columns=centre_columns(centres.shape[1]))
            table.insert(0, "sub_cluster", np.tile(np.arange(head.n_subclusters), head.n_classes))
            table.insert(0, "class_name", np.repeat(head.class_names, head.n_subclusters))
            table.insert(0, "head", head.name)
            table.insert(0, "fingerprint", fingerprint)
            table.insert(0, "snapshot", name)
            tables.append(table)
    return pd.concat(tables, ignore_index=True)
