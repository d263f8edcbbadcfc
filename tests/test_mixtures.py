"""Backend mixtures: stored parameters score exactly as sklearn and scipy, shrinkage equals
sklearn.covariance.LedoitWolf, component counts follow the clips, unknown settings are errors."""

import pickle

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.covariance import LedoitWolf
from sklearn.mixture import GaussianMixture

from subcluster_adacos_asd.mixtures import (
    MixtureSettings,
    fit_mixture,
    from_sklearn,
    keep_most_used_means,
)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_weighted_log_likelihoods_equal_scipy_and_sklearn(covariance_type):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (40, 4)), rng.normal(2, 1, (40, 4))])
    gmm = GaussianMixture(3, covariance_type=covariance_type, reg_covar=1e-3,
                          random_state=0).fit(x)
    queries = rng.normal(1, 1.5, (25, 4))
    covariances = gmm.covariances_ if covariance_type == "full" else [
        np.diag(c) for c in gmm.covariances_]
    expected = np.stack([
        np.log(w) + multivariate_normal(mean=m, cov=c).logpdf(queries)
        for w, m, c in zip(gmm.weights_, gmm.means_, covariances, strict=True)
    ], axis=1)
    model = from_sklearn(gmm)
    got = model.weighted_log_likelihoods(queries)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(model.best_log_likelihood(queries), expected.max(axis=1),
                               rtol=1e-9, atol=1e-9)
    # sklearn's own total likelihood is the log-sum-exp of the weighted components
    np.testing.assert_allclose(np.logaddexp.reduce(got, axis=1), gmm.score_samples(queries),
                               rtol=1e-9, atol=1e-9)


def test_stored_model_is_a_fraction_of_the_pickled_estimator():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 32))
    gmm = GaussianMixture(4, reg_covar=1e-3, random_state=0).fit(x)
    model = from_sklearn(gmm)
    assert len(pickle.dumps(model)) < 0.4 * len(pickle.dumps(gmm))
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.weighted_log_likelihoods(x), model.weighted_log_likelihoods(x))


def test_shrunk_single_component_is_ledoit_wolf_plus_reg_covar():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(13, 20)) @ rng.normal(size=(20, 20))  # fewer clips than dimensions
    model = fit_mixture(x, MixtureSettings(covariance="shrunk", reg_covar=1e-3), n_components=1)
    reference = LedoitWolf().fit(x)
    covariance = reference.covariance_ + 1e-3 * np.eye(20)
    queries = rng.normal(size=(7, 20))
    expected = multivariate_normal(mean=reference.location_, cov=covariance).logpdf(queries)
    np.testing.assert_allclose(model.best_log_likelihood(queries), expected, rtol=1e-9, atol=1e-9)
    assert model.weights.tolist() == [1.0]


def test_shrunk_components_follow_the_em_assignment():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 0.1, (30, 5)), rng.normal(3, 0.1, (10, 5))
    model = fit_mixture(np.concatenate([a, b]), MixtureSettings(covariance="shrunk"),
                        means_init=np.array([np.zeros(5), np.full(5, 3.0)]))
    np.testing.assert_allclose(sorted(model.weights), [0.25, 0.75])
    order = np.argsort(model.weights)
    np.testing.assert_allclose(model.means[order[1]], a.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(model.means[order[0]], b.mean(axis=0), atol=1e-12)


def test_components_are_limited_by_the_clips():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(9, 3))
    assert fit_mixture(x, MixtureSettings(), n_components=16).n_components == 9
    limited = MixtureSettings(min_clips_per_component=4)
    assert fit_mixture(x, limited, n_components=16).n_components == 2
    assert fit_mixture(x[:3], limited, means_init=rng.normal(size=(8, 3))).n_components == 1


def test_most_used_means_are_kept_in_their_order():
    means = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    values = np.array([[0.1, 1.0], [0.0, 0.9], [-1.0, 0.1]])
    np.testing.assert_array_equal(keep_most_used_means(values, means, 2), means[[1, 2]])


def test_unknown_and_bad_settings_are_errors():
    with pytest.raises(ValueError, match=r"unknown keys \['reg_covr'\]"):
        MixtureSettings.from_parameters({"reg_covr": 1e-2}, "params:score.gmm")
    with pytest.raises(ValueError, match="covariance must be one of"):
        MixtureSettings(covariance="tied")


@pytest.mark.parametrize("covariance", ["full", "diag", "shrunk"])
def test_a_class_of_one_clip_gets_a_component_at_it_with_reg_covar(covariance):
    """A cross-fitting fold can leave an attribute class one clip; scikit-learn refuses it."""
    rng = np.random.default_rng(3)
    clip, new = rng.normal(size=(1, 6)), rng.normal(size=(4, 6))
    settings = MixtureSettings(covariance=covariance, reg_covar=1e-2)
    model = fit_mixture(clip, settings, means_init=rng.normal(size=(4, 6)))
    assert model.n_components == 1
    expected = multivariate_normal(clip[0], 1e-2 * np.eye(6)).logpdf(new)
    np.testing.assert_allclose(model.best_log_likelihood(new), expected, rtol=1e-9, atol=1e-6)
