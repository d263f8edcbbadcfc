"""The sub-cluster AdaCos head against an independent numpy reading of eq. (1) and of the AdaCos
scale update; mixup; saving and reloading a snapshot model through KerasSnapshotsDataset."""

import math

import keras
import numpy as np
import pytest

from subcluster_adacos_asd.layers import EmbeddingModel, Mixup, SubclusterAdaCos, initial_scale
from subcluster_adacos_asd.resnet import build_embedder

C, S, D, B = 3, 2, 5, 8


def _numpy_probabilities(x, w, s, n_classes, n_sub):
    """Eq. (1) written out with loops: P_ij = sum_{l in M(j)} exp(s cos_il) / sum_k exp(s cos_ik)."""
    p = np.zeros((len(x), n_classes))
    for i in range(len(x)):
        cos = [x[i] @ w[:, k] / np.linalg.norm(x[i]) / np.linalg.norm(w[:, k])
               for k in range(n_classes * n_sub)]
        denominator = sum(math.exp(s * c) for c in cos)
        for j in range(n_classes):
            p[i, j] = sum(math.exp(s * cos[j * n_sub + sub]) for sub in range(n_sub)) / denominator
    return p


def _numpy_scale(x, w, s_old, y, n_classes, n_sub):
    """AdaCos: s = log(B_avg) / cos(min(pi/4, median theta)), with B_avg summing exp(s_old cos)
    over each sample's non-target sub-clusters (weights 1 - y for soft labels) and theta the
    label-weighted angle to each class's nearest sub-cluster."""
    b_sum, thetas = 0.0, []
    for i in range(len(x)):
        cos = np.array([x[i] @ w[:, k] / np.linalg.norm(x[i]) / np.linalg.norm(w[:, k])
                        for k in range(n_classes * n_sub)])
        b_sum += sum((1 - y[i, k // n_sub]) * math.exp(s_old * cos[k]) for k in range(len(cos)))
        class_angle = [min(math.acos(cos[j * n_sub + sub]) for sub in range(n_sub))
                       for j in range(n_classes)]
        thetas.append(sum(y[i, j] * class_angle[j] for j in range(n_classes)) / y[i].sum())
    return math.log(b_sum / len(x)) / math.cos(min(math.pi / 4, float(np.median(thetas))))


def _numpy_subcluster_adacos_scale(x, w, s_old, y, n_classes, n_sub):
    """[11]'s code: B_avg over all centres; theta_i = (number of classes in the label) x the
    label-weighted sum of the angles to every sub-cluster of the labelled classes."""
    b_sum, thetas = 0.0, []
    for i in range(len(x)):
        cos = np.array([x[i] @ w[:, k] / np.linalg.norm(x[i]) / np.linalg.norm(w[:, k])
                        for k in range(n_classes * n_sub)])
        b_sum += sum(math.exp(s_old * c) for c in cos)
        angles = [y[i, k // n_sub] * math.acos(cos[k]) for k in range(len(cos))]
        thetas.append(sum(angles) * np.count_nonzero(y[i]))
    return math.log(b_sum / len(x)) / math.cos(min(math.pi / 4, float(np.median(thetas))))


@pytest.mark.parametrize("soft", [False, True])
def test_subcluster_adacos_scale_update_is_that_of_reference_11(soft):
    rng = np.random.default_rng(8)
    head = SubclusterAdaCos(C, 1, scale_update="subcluster_adacos")
    head.build((None, D))
    w = rng.normal(size=(D, C)).astype(np.float32)
    head.centres.assign(w)
    x = rng.normal(size=(B, D)).astype(np.float32)
    y = np.eye(C, dtype=np.float32)[rng.integers(0, C, B)]
    if soft:
        lam = rng.uniform(size=(B, 1)).astype(np.float32)
        y = lam * y + (1 - lam) * y[rng.permutation(B)]
    s_old = float(head.scale.numpy())
    head([x, y], training=True)
    expected = _numpy_subcluster_adacos_scale(x, w, s_old, y, C, 1)
    assert float(head.scale.numpy()) == pytest.approx(expected, rel=1e-5)
    # several sub-clusters: the summed angle exceeds pi/4, the cap applies
    many = SubclusterAdaCos(C, 4, scale_update="subcluster_adacos")
    many.build((None, D))
    s_old = float(many.scale.numpy())
    w4 = keras.ops.convert_to_numpy(many.centres)
    many([x, y], training=True)
    expected = _numpy_subcluster_adacos_scale(x, w4, s_old, y, C, 4)
    assert float(many.scale.numpy()) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="scale_update must be one of"):
        SubclusterAdaCos(C, 1, scale_update="fixed")


@pytest.fixture
def head_and_data():
    rng = np.random.default_rng(3)
    head = SubclusterAdaCos(C, S, class_names=["a", "b", "c"])
    head.build((None, D))
    w = rng.normal(size=(D, C * S)).astype(np.float32)
    head.centres.assign(w)
    x = rng.normal(size=(B, D)).astype(np.float32)
    return head, x, w


def test_initial_scale_is_sqrt2_log_of_centres_minus_one(head_and_data):
    head, _, _ = head_and_data
    assert float(head.scale.numpy()) == pytest.approx(math.sqrt(2) * math.log(C * S - 1))
    assert initial_scale(16 * 199) == pytest.approx(math.sqrt(2) * math.log(16 * 199 - 1))


def test_inference_probabilities_are_eq1_and_leave_scale_alone(head_and_data):
    head, x, w = head_and_data
    s0 = float(head.scale.numpy())
    y = np.eye(C, dtype=np.float32)[np.arange(B) % C]
    p = keras.ops.convert_to_numpy(head([x, y], training=False))
    np.testing.assert_allclose(p, _numpy_probabilities(x, w, s0, C, S), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert float(head.scale.numpy()) == s0
    # Embeddings alone (no labels) give the same probabilities.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(head(x)), p, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("soft", [False, True])
def test_training_updates_scale_from_old_scale_and_uses_it(head_and_data, soft):
    head, x, w = head_and_data
    rng = np.random.default_rng(5)
    y = np.eye(C, dtype=np.float32)[rng.integers(0, C, B)]
    if soft:  # mixup labels: lambda y_i + (1 - lambda) y_partner
        lam = rng.uniform(size=(B, 1)).astype(np.float32)
        y = lam * y + (1 - lam) * y[rng.permutation(B)]
    s_old = float(head.scale.numpy())
    expected_scale = _numpy_scale(x, w, s_old, y, C, S)
    p = keras.ops.convert_to_numpy(head([x, y], training=True))
    assert float(head.scale.numpy()) == pytest.approx(expected_scale, rel=1e-5)
    assert expected_scale != pytest.approx(s_old, rel=1e-3)
    np.testing.assert_allclose(p, _numpy_probabilities(x, w, expected_scale, C, S), rtol=1e-5,
                               atol=1e-6)
    # The next batch starts from the updated scale.
    second = _numpy_scale(x, w, expected_scale, y, C, S)
    head([x, y], training=True)
    assert float(head.scale.numpy()) == pytest.approx(second, rel=1e-5)


def test_a_single_class_keeps_its_scale_and_probability_one():
    # Real data with one section: no non-target centre, B_avg = 0; the scale must not become inf.
    head = SubclusterAdaCos(1, 4)
    head.build((None, D))
    x = np.random.default_rng(0).normal(size=(B, D)).astype(np.float32)
    s0 = float(head.scale.numpy())
    p = keras.ops.convert_to_numpy(head([x, np.ones((B, 1), np.float32)], training=True))
    assert float(head.scale.numpy()) == s0
    np.testing.assert_allclose(p, 1.0, rtol=1e-6)


def test_scale_gets_no_gradient_and_centres_do():
    head = SubclusterAdaCos(2, 2)
    head.build((None, 4))
    assert [v.name for v in head.trainable_weights] == ["centres"]
    assert [v.name for v in head.non_trainable_weights] == ["scale"]


def test_mixup_is_identity_at_inference():
    x = np.arange(24, dtype=np.float32).reshape(4, 3, 2, 1)
    y = np.eye(4, dtype=np.float32)
    out = Mixup(seed=1)([x, y], training=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out[0]), x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out[1]), y)


def test_mixup_mixes_inputs_and_all_labels_with_one_lambda_and_partner():
    rng = np.random.default_rng(0)
    batch = 16
    x = rng.normal(size=(batch, 3, 2, 1)).astype(np.float32)
    y1 = np.eye(batch, dtype=np.float32)  # one class per sample reveals lambda and partner
    y2 = np.eye(batch, dtype=np.float32)[::-1].copy()
    xm, y1m, y2m = (keras.ops.convert_to_numpy(t) for t in Mixup(seed=7)([x, y1, y2], training=True))
    partners, lambdas = [], []
    for i in range(batch):
        others = [j for j in np.flatnonzero(y1m[i] > 1e-6) if j != i]
        assert len(others) <= 1
        partner = others[0] if others else i
        lam = y1m[i, i] if partner != i else rng.uniform()  # any lambda mixes a sample with itself
        partners.append(partner)
        lambdas.append(lam)
        np.testing.assert_allclose(xm[i], lam * x[i] + (1 - lam) * x[partner], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(y1m[i], lam * y1[i] + (1 - lam) * y1[partner], atol=1e-6)
        np.testing.assert_allclose(y2m[i], lam * y2[i] + (1 - lam) * y2[partner], atol=1e-6)
    assert sorted(partners) == list(range(batch))  # the partners are a permutation
    assert np.all((np.array(lambdas) >= 0) & (np.array(lambdas) <= 1))
    assert np.std(lambdas) > 0.1  # one lambda per sample, not one per batch


def _small_model():
    embedder = build_embedder(32, 32, embedding_dim=8)
    heads = [SubclusterAdaCos(3, 2, class_names=["x", "y", "z"], name="section"),
             SubclusterAdaCos(4, 2, class_names=list("abcd"), name="attribute")]
    model = EmbeddingModel(embedder, heads)
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) * 0.1 + (w.name == "variance")
                       for w in model.weights])
    return model


def test_snapshot_model_save_and_reload_through_dataset_is_identical(tmp_path):
    # Imported here, so the layer tests also run where Kedro is not installed (a GPU machine
    # with JAX only).
    from subcluster_adacos_asd.datasets import KerasSnapshotsDataset

    model = _small_model()
    x = np.random.default_rng(2).normal(size=(5, 32, 32, 1)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    dataset = KerasSnapshotsDataset(filepath=str(tmp_path / "model_snapshots"))
    dataset.save({"epoch_0001": model})
    loaded = dataset.load()["epoch_0001"]
    assert isinstance(loaded, EmbeddingModel)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x, training=False)), expected)
    for original, reloaded in zip(model.heads, loaded.heads, strict=True):
        assert reloaded.name == original.name
        assert reloaded.class_names == original.class_names
        assert reloaded.n_subclusters == original.n_subclusters
        np.testing.assert_array_equal(reloaded.centres.numpy(), original.centres.numpy())
        assert float(reloaded.scale.numpy()) == float(original.scale.numpy())
    assert loaded.head("attribute").n_classes == 4
