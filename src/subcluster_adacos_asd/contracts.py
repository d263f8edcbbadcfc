"""The names the datasets between pipelines share (docs/data_contracts.md), defined once.

Column prefixes of the wide tables, the score terms, the domains, the loss variants and their
heads, the systems of the evaluation: every module that reads or writes these tables imports
them from here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DOMAINS = ("source", "target")

#: ``<configuration>.embeddings``: ``emb_000`` ..; ``.centres``: ``c_000`` ..;
#: ``tmax_features``: ``tmax_000`` ..
EMBEDDING_PREFIX = "emb_"
CENTRE_PREFIX = "c_"
TMAX_PREFIX = "tmax_"

#: ``<configuration>.score_terms`` (eqs. 2-3): negative log-likelihoods per file and snapshot.
TERM_COLUMNS = ("section_term", "attribute_term", "target_term")

#: Sub-cluster AdaCos heads; the file-index column that holds each head's class.
SECTION_HEAD = "section"
ATTRIBUTE_HEAD = "attribute"
HEAD_COLUMNS = {SECTION_HEAD: "section_class", ATTRIBUTE_HEAD: "attribute_class"}
#: Loss variants (paper 2.5) and the heads each trains.
VARIANT_HEADS = {"both": (SECTION_HEAD, ATTRIBUTE_HEAD), "sections": (SECTION_HEAD,)}
VARIANTS = tuple(VARIANT_HEADS)

#: Systems of ``system_scores`` from the score pipeline (Tables 2-4).
PROPOSED_SYSTEMS = ("proposed", "loss_both", "loss_sections", "dist_section", "dist_attribute",
                    "dist_target")


def normal_training(frame: pd.DataFrame) -> np.ndarray:
    """The rows of normal training clips (``split == train``, ``label == normal``): what the
    networks learn from, the standardisation and levels come from and thresholds are
    calibrated on."""
    return ((frame["split"] == "train") & (frame["label"] == "normal")).to_numpy()


def numbered_columns(prefix: str, count: int) -> list[str]:
    """``[f"{prefix}000", ...]``: the wide columns of a vector of ``count`` values."""
    return [f"{prefix}{i:03d}" for i in range(count)]


def prefixed_columns(frame: pd.DataFrame, prefix: str, what: str) -> tuple[str, ...]:
    """The ``<prefix>NNN`` columns of a frame in order; an error names the frame if none."""
    columns = tuple(sorted(c for c in frame.columns if str(c).startswith(prefix)))
    if not columns:
        raise ValueError(f"{what} has no '{prefix}*' columns (columns: {list(frame.columns)[:8]})")
    return columns
