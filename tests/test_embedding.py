"""Embeddings equal the snapshot model's own output; centres are laid out as the contract says."""

import keras
import numpy as np
import pytest

from subcluster_adacos_asd import embedding
from subcluster_adacos_asd.layers import EmbeddingModel, SubclusterAdaCos
from subcluster_adacos_asd.resnet import build_embedder


def _model(seed, section_classes=("s0", "s1", "s2"), attribute_classes=("a0", "a1"), sub=2):
    keras.utils.set_random_seed(seed)
    heads = [SubclusterAdaCos(len(section_classes), sub, list(section_classes), name="section")]
    if attribute_classes:
        heads.append(SubclusterAdaCos(len(attribute_classes), sub, list(attribute_classes),
                                      name="attribute"))
    model = EmbeddingModel(build_embedder(32, 32, embedding_dim=8), heads)
    rng = np.random.default_rng(seed)
    # Non-trivial batch-norm statistics, so a wrong weight order would show.
    model.set_weights([
        np.abs(rng.normal(size=w.shape)).astype(np.float32) + 0.5 if w.name == "moving_variance"
        else rng.normal(size=w.shape).astype(np.float32) * 0.2
        for w in model.weights
    ])
    return model


def test_embeddings_equal_the_models_output_in_file_order():
    features = np.random.default_rng(0).normal(size=(11, 32, 32)).astype(np.float32)
    snapshots = {"epoch_0002": _model(1), "epoch_0001": _model(2)}
    table = embedding.embeddings_table(snapshots, features, [f"f{i}" for i in range(11)],
                                       batch_size=4)  # 11 files: a partial last batch
    assert list(table.columns) == ["file_id", "snapshot"] + [f"emb_{i:03d}" for i in range(8)]
    assert table["snapshot"].tolist() == ["epoch_0001"] * 11 + ["epoch_0002"] * 11
    assert table["file_id"].tolist()[:11] == [f"f{i}" for i in range(11)]
    for name, model in snapshots.items():
        expected = keras.ops.convert_to_numpy(model(features[..., None], training=False))
        got = table.loc[table["snapshot"] == name, "emb_000":"emb_007"].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_embedding_refuses_features_of_another_shape():
    with pytest.raises(ValueError, match="frames, mels"):
        embedding.embed(_model(0), np.zeros((2, 40, 32), dtype=np.float32))


def test_centres_table_has_every_sub_cluster_of_every_class_and_head():
    model = _model(3)
    table = embedding.centres_table({"epoch_0004": model})
    assert list(table.columns[:5]) == ["snapshot", "fingerprint", "head", "class_name",
                                       "sub_cluster"]
    assert list(table.columns[5:]) == [f"c_{i:03d}" for i in range(8)]
    assert set(table["fingerprint"]) == {embedding.snapshot_fingerprint(model)}
    section = table[table["head"] == "section"]
    assert section["class_name"].tolist() == ["s0", "s0", "s1", "s1", "s2", "s2"]
    assert section["sub_cluster"].tolist() == [0, 1, 0, 1, 0, 1]
    w = model.head("attribute").centres.numpy()  # D x C*S, column c*S + l
    a1_sub0 = table[(table["head"] == "attribute") & (table["class_name"] == "a1")
                    & (table["sub_cluster"] == 0)]
    np.testing.assert_array_equal(a1_sub0.iloc[0, 5:].to_numpy(dtype=np.float32), w[:, 2])
    assert len(table) == (3 + 2) * 2
    sections_only = embedding.centres_table({"epoch_0001": _model(4, attribute_classes=())})
    assert set(sections_only["head"]) == {"section"}
