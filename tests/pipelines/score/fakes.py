"""Small fake inputs of the score and evaluate pipelines, shaped as docs/data_contracts.md says.

Normal embeddings cluster around a direction per section (shifted per attribute and for the
target domain); anomalies point elsewhere, so a working backend separates them well.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from subcluster_adacos_asd.configurations import TrainingConfiguration

MACHINE_TYPES = ("fan", "valve")
SECTIONS = (0, 1)
SOURCE_ATTRIBUTES = ("speed_1", "speed_2")
TARGET_ATTRIBUTE = "speed_9"


def _row(machine_type, section, domain, split, label, number, attributes):
    folder = split if split == "train" else f"{domain}_test"
    if label == "unknown":
        name = f"section_{section:02d}_{domain}_test_{number:04d}"
    else:
        name = f"section_{section:02d}_{domain}_{split}_{label}_{number:04d}_{attributes}"
    section_class = f"{machine_type}_section_{section:02d}"
    return {
        "file_id": f"{machine_type}/{folder}/{name}",
        "path": f"/fake/{machine_type}/{folder}/{name}.wav",
        "filename": f"{name}.wav",
        "machine_type": machine_type,
        "section": section,
        "domain": domain,
        "split": split,
        "label": label,
        "file_number": number,
        "attributes": attributes,
        "section_class": section_class,
        "attribute_class": f"{section_class}_{attributes}" if attributes else "",
    }


def make_file_index(n_train=8, n_test=5, eval_section=True) -> pd.DataFrame:
    """Per machine type and section: ``n_train`` normal source training files per attribute,
    3 target ones, ``n_test`` normal and anomalous test files per domain; optionally an
    evaluation-like section 2 of fan (training data and unlabelled test files)."""
    rows = []
    for machine_type in MACHINE_TYPES:
        sections = [*SECTIONS, 2] if (eval_section and machine_type == "fan") else SECTIONS
        for section in sections:
            number = 0
            for attributes in SOURCE_ATTRIBUTES:
                for _ in range(n_train):
                    rows.append(_row(machine_type, section, "source", "train", "normal", number,
                                     attributes))
                    number += 1
            for k in range(3):
                rows.append(_row(machine_type, section, "target", "train", "normal", k,
                                 TARGET_ATTRIBUTE))
            for domain in ("source", "target"):
                for k in range(2 * n_test):
                    if section == 2:
                        rows.append(_row(machine_type, section, domain, "test", "unknown", k, ""))
                        continue
                    label = "normal" if k < n_test else "anomaly"
                    attributes = TARGET_ATTRIBUTE if domain == "target" else \
                        SOURCE_ATTRIBUTES[k % 2]
                    rows.append(_row(machine_type, section, domain, "test", label, k,
                                     attributes))
    return pd.DataFrame(rows)


def _directions(names, dim, rng):
    return {name: rng.normal(size=dim) for name in names}


def make_embeddings(file_index, configurations, snapshots=("epoch_0001", "epoch_0002"),
                    dim=8, seed=0):
    """``{configuration name: (embeddings, centres)}`` as the embed pipeline writes them."""
    rng = np.random.default_rng(seed)
    sections = _directions(sorted(file_index["section_class"].unique()), dim, rng)
    attributes = _directions(sorted(a for a in file_index["attribute_class"].unique() if a),
                             dim, rng)
    result = {}
    for configuration in configurations:
        emb_frames, centre_frames = [], []
        for snapshot in snapshots:
            values = []
            for row in file_index.itertuples():
                base = sections[row.section_class].copy()
                if row.attribute_class:
                    base += 0.5 * attributes[row.attribute_class]
                if row.label == "anomaly" or (row.label == "unknown" and row.file_number % 2):
                    base = base + 2.5 * rng.normal(size=dim)
                values.append(base + 0.15 * rng.normal(size=dim))
            values = np.asarray(values)
            emb = pd.DataFrame(values, columns=[f"emb_{i:03d}" for i in range(dim)])
            emb.insert(0, "snapshot", snapshot)
            emb.insert(0, "file_id", file_index["file_id"].to_numpy())
            emb_frames.append(emb)
            heads = [("section", sections)]
            if configuration.variant == "both":
                heads.append(("attribute", attributes))
            for head, directions in heads:
                for class_name, direction in directions.items():
                    for k in range(configuration.sub_clusters):
                        centre = direction + 0.1 * rng.normal(size=dim)
                        centre_frames.append({
                            "snapshot": snapshot, "head": head, "class_name": class_name,
                            "sub_cluster": k, **{f"c_{i:03d}": centre[i] for i in range(dim)},
                        })
        result[configuration.name] = (pd.concat(emb_frames, ignore_index=True),
                                      pd.DataFrame(centre_frames))
    return result


def make_tmax_features(file_index, n_mels=6, seed=1):
    """Temporal maxima: normal files near a per-attribute mean, anomalies shifted."""
    rng = np.random.default_rng(seed)
    means = {a: rng.normal(size=n_mels) for a in file_index["attribute_class"].unique()}
    values = []
    for row in file_index.itertuples():
        value = means[row.attribute_class] + 0.2 * rng.normal(size=n_mels)
        if row.label == "anomaly":
            value += 1.5
        values.append(value)
    frame = pd.DataFrame(np.asarray(values), columns=[f"tmax_{i:03d}" for i in range(n_mels)])
    frame.insert(0, "file_id", file_index["file_id"].to_numpy())
    return frame


def make_baseline_scores(file_index, seed=2):
    """An autoencoder-like baseline: noisy scores, a bit higher for anomalies."""
    rng = np.random.default_rng(seed)
    score = rng.normal(size=len(file_index)) + (file_index["label"] == "anomaly").to_numpy()
    return pd.DataFrame({
        "file_id": file_index["file_id"].to_numpy(),
        "system": "autoencoder",
        "score": score,
        "decision": pd.array((score > 1.0).astype(int), dtype="Int64"),
    })


CONFIGURATIONS = (TrainingConfiguration(1, "both"), TrainingConfiguration(2, "sections"))
