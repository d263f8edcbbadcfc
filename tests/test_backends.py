"""GMM backends: each score term on toy cases whose answer is known in closed form (scipy,
sklearn.covariance), the paper's settings and the options, pickling for inference, errors."""

import pickle

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal
from sklearn.covariance import LedoitWolf

from subcluster_adacos_asd import backends
from subcluster_adacos_asd.backends import BackendSettings
from subcluster_adacos_asd.mixtures import MixtureSettings, fit_mixture
from tests.pipelines.score.fakes import CONFIGURATIONS, make_embeddings, make_file_index

REG = 1e-3
PAPER = BackendSettings(gmm=MixtureSettings(covariance="full", reg_covar=REG))


def test_underflowing_component_is_minus_infinity_and_max_stays_exact():
    x = np.array([[0.0], [0.1], [100.0], [100.1]])
    model = fit_mixture(x, MixtureSettings(reg_covar=REG), n_components=2)
    got = model.weighted_log_likelihoods(np.array([[0.05]]))
    k = int(np.argmin(np.abs(model.means[:, 0] - 0.05)))
    variance = 1.0 / model.precisions_cholesky[k, 0, 0] ** 2
    exact = np.log(model.weights[k]) + multivariate_normal(model.means[k], variance).logpdf([0.05])
    assert got.max() == pytest.approx(exact, rel=1e-12)
    assert got.min() < -1e5  # the far component: tiny, and still a finite log-likelihood


def _toy(dim=3, seed=0):
    """One machine type, sections 0 and 1; section 0 has attributes a and b; 3 target files."""
    rng = np.random.default_rng(seed)
    rows, values = [], []

    def add(section, domain, split, label, attributes, value):
        n = len(rows)
        sc = f"fan_section_{section:02d}"
        rows.append(dict(file_id=f"f{n}", machine_type="fan", section=section, domain=domain,
                         split=split, label=label, section_class=sc,
                         attribute_class=f"{sc}_{attributes}" if attributes else ""))
        values.append(value)

    direction = {0: np.eye(dim)[0], 1: np.eye(dim)[1]}
    for section in (0, 1):
        for attributes, shift in (("a", 0.2), ("b", -0.2)):
            for _ in range(12):
                add(section, "source", "train", "normal", attributes,
                    direction[section] + shift * np.eye(dim)[2] + 0.1 * rng.normal(size=dim))
        for _ in range(3):
            add(section, "target", "train", "normal", "t",
                direction[section] + 0.5 * rng.normal(size=dim))
        for domain in ("source", "target"):
            for label in ("normal", "anomaly"):
                add(section, domain, "test", label, "a" if domain == "source" else "t",
                    rng.normal(size=dim))
    index = pd.DataFrame(rows)
    emb = pd.DataFrame(np.asarray(values), columns=[f"emb_{i:03d}" for i in range(dim)])
    emb.insert(0, "file_id", index["file_id"])
    return index, emb


def _centres(classes, head, dim, sub_clusters=1, seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    for name in classes:
        for k in range(sub_clusters):
            c = rng.normal(size=dim)
            rows.append({"head": head, "class_name": name, "sub_cluster": k,
                         **{f"c_{i:03d}": c[i] for i in range(dim)}})
    return pd.DataFrame(rows)


def _gaussian_logpdf(train, queries):
    """Independent single-Gaussian MLE (biased covariance + reg on the diagonal)."""
    mean = train.mean(axis=0)
    cov = np.cov(train, rowvar=False, bias=True) + REG * np.eye(train.shape[1])
    return multivariate_normal(mean, cov).logpdf(queries)


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def toy():
    index, emb = _toy()
    sections = sorted(index["section_class"].unique())
    attributes = sorted(a for a in index["attribute_class"].unique() if a)
    centres = pd.concat([_centres(sections, "section", 3), _centres(attributes, "attribute", 3)],
                        ignore_index=True)
    fitted = backends.fit_backends(emb, centres, index, PAPER)
    terms = backends.score_terms(fitted, emb, index)
    return index, emb, centres, fitted, terms


def test_section_and_attribute_terms_with_one_sub_cluster_are_gaussian_log_likelihoods(toy):
    index, emb, _, fitted, terms = toy
    x = _unit(emb.filter(like="emb_").to_numpy())
    for section in (0, 1):
        sc = f"fan_section_{section:02d}"
        train = ((index["section_class"] == sc) & (index["split"] == "train")
                 & (index["domain"] == "source")).to_numpy()
        rows = (index["section_class"] == sc).to_numpy()
        np.testing.assert_allclose(terms["section_term"][rows],
                                   -_gaussian_logpdf(x[train], x[rows]), rtol=1e-6)
        source = rows & (index["domain"] == "source").to_numpy()
        per_attribute = [
            _gaussian_logpdf(x[train & (index["attribute_class"] == f"{sc}_{a}").to_numpy()],
                             x[source])
            for a in ("a", "b")
        ]
        np.testing.assert_allclose(terms["attribute_term"][source],
                                   -np.max(per_attribute, axis=0), rtol=1e-6)
        assert fitted.attributes_of_section[sc] == (f"{sc}_a", f"{sc}_b")
    assert terms.loc[index["domain"] == "target", "attribute_term"].isna().all()
    assert terms.loc[index["domain"] == "source", "target_term"].isna().all()


def test_target_term_is_distance_to_closest_target_sample(toy):
    index, emb, _, _, terms = toy
    x = _unit(emb.filter(like="emb_").to_numpy())
    dim = x.shape[1]
    for section in (0, 1):
        sc = f"fan_section_{section:02d}"
        samples = x[((index["section_class"] == sc) & (index["split"] == "train")
                     & (index["domain"] == "target")).to_numpy()]
        rows = ((index["section_class"] == sc) & (index["domain"] == "target")).to_numpy()
        squared = ((x[rows][:, None, :] - samples[None]) ** 2).sum(-1)
        # 3 components, weight 1/3, covariance REG * I (one sample per component)
        expected = -(np.log(1 / 3) - dim / 2 * np.log(2 * np.pi * REG)
                     - squared.min(axis=1) / (2 * REG))
        np.testing.assert_allclose(terms["target_term"][rows], expected, rtol=1e-6)


def test_gmms_start_at_the_learned_centres_one_component_per_sub_cluster(monkeypatch):
    import subcluster_adacos_asd.mixtures as mixtures

    starts = []

    class Recording(mixtures.GaussianMixture):
        def fit(self, values, y=None):
            starts.append((self.n_components, self.covariance_type, self.reg_covar,
                           None if self.means_init is None else np.array(self.means_init)))
            return super().fit(values, y)

    monkeypatch.setattr(mixtures, "GaussianMixture", Recording)
    index, emb = _toy(dim=4)
    sections = sorted(index["section_class"].unique())
    centres = _centres(sections, "section", 4, sub_clusters=2)
    sc = sections[0]
    expected = _unit(centres[centres["class_name"] == sc].sort_values("sub_cluster")
                     .filter(like="c_").to_numpy())
    fitted = backends.fit_backends(emb, centres, index, PAPER)  # no attribute head
    # per section in order: the section GMM, then its attribute GMMs (a, b); targets last
    n_components, covariance_type, reg_covar, means_init = starts[0]
    assert (n_components, covariance_type, reg_covar) == (2, "full", REG)
    np.testing.assert_allclose(means_init, expected)
    assert fitted.section_models[sc].n_components == 2
    # the sections variant: attribute GMMs start from the section's centres
    np.testing.assert_allclose(starts[1][3], expected)
    starts.clear()
    kmeans = backends.fit_backends(emb, centres, index, BackendSettings(
        gmm=PAPER.gmm, attribute_means="kmeans"))
    assert starts[1][3] is None and starts[1][0] == 2
    assert kmeans.attribute_models[f"{sc}_a"].n_components == 2


def test_section_gmm_on_source_and_target_clips():
    index, emb = _toy(dim=3)
    sections = sorted(index["section_class"].unique())
    centres = _centres(sections, "section", 3)
    both = BackendSettings(gmm=PAPER.gmm, section_domains=["source", "target"])
    fitted = backends.fit_backends(emb, centres, index, both)
    x = _unit(emb.filter(like="emb_").to_numpy())
    train = ((index["section"] == 0) & (index["split"] == "train")).to_numpy()  # 24 + 3 clips
    rows = (index["section"] == 0).to_numpy()
    terms = backends.score_terms(fitted, emb, index)
    np.testing.assert_allclose(terms["section_term"][rows], -_gaussian_logpdf(x[train], x[rows]),
                               rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="section_domains must be"):
        BackendSettings(section_domains=["test"])


def test_shrunk_section_term_is_ledoit_wolf_and_target_components_share_it():
    index, emb = _toy(dim=3)
    sections = sorted(index["section_class"].unique())
    centres = _centres(sections, "section", 3)
    shrunk = BackendSettings(gmm=MixtureSettings(covariance="shrunk", reg_covar=1e-6),
                             section_domains=["source", "target"])
    fitted = backends.fit_backends(emb, centres, index, shrunk)
    terms = backends.score_terms(fitted, emb, index)
    x = _unit(emb.filter(like="emb_").to_numpy())
    section = (index["section"] == 1).to_numpy()
    train = section & (index["split"] == "train").to_numpy()
    reference = LedoitWolf().fit(x[train])
    covariance = reference.covariance_ + 1e-6 * np.eye(3)
    gauss = multivariate_normal(reference.location_, covariance)
    np.testing.assert_allclose(terms["section_term"][section], -gauss.logpdf(x[section]),
                               rtol=1e-9, atol=1e-9)
    targets = x[train & (index["domain"] == "target").to_numpy()]
    rows = section & (index["domain"] == "target").to_numpy()
    expected = -np.max([np.log(1 / 3) + multivariate_normal(t, covariance).logpdf(x[rows])
                        for t in targets], axis=0)
    np.testing.assert_allclose(terms["target_term"][rows], expected, rtol=1e-9, atol=1e-9)


def test_stored_backends_hold_only_what_scoring_needs(toy):
    _, _, _, fitted, _ = toy
    models = [*fitted.section_models.values(), *fitted.attribute_models.values(),
              *fitted.target_models.values()]
    assert all(set(vars(m)) == {"weights", "means", "precisions_cholesky"} for m in models)
    assert len(pickle.dumps(fitted)) < 2 * fitted.nbytes + 20_000


def test_terms_do_not_depend_on_embedding_length(toy):
    index, emb, centres, fitted, terms = toy
    scaled = emb.copy()
    columns = [c for c in emb.columns if c.startswith("emb_")]
    scaled[columns] = scaled[columns] * np.linspace(0.5, 3, len(emb))[:, None]
    pd.testing.assert_frame_equal(backends.score_terms(fitted, scaled, index), terms)


def test_fewer_files_than_sub_clusters_keeps_the_most_used_centres(caplog):
    index, emb = _toy(dim=3)
    sections = sorted(index["section_class"].unique())
    attributes = sorted(a for a in index["attribute_class"].unique() if a)
    centres = pd.concat([_centres(sections, "section", 3, sub_clusters=16),
                         _centres(attributes, "attribute", 3, sub_clusters=16)])
    fitted = backends.fit_backends(emb, centres, index, PAPER)
    assert fitted.section_models[sections[0]].n_components == 16  # 24 files
    assert fitted.attribute_models[attributes[0]].n_components == 12  # 12 files
    assert "fewer training files than sub-clusters" in caplog.text
    assert np.isfinite(backends.score_terms(fitted, emb, index)[
        ["section_term"]].to_numpy()).all()


def test_fitted_backends_pickle_and_score_new_files_identically(toy):
    index, emb, _, fitted, terms = toy
    restored = pickle.loads(pickle.dumps(fitted))
    subset = emb.iloc[::3]
    expected = terms.iloc[::3].reset_index(drop=True)
    pd.testing.assert_frame_equal(backends.score_terms(restored, subset, index), expected)


def test_configuration_level_functions_cover_every_snapshot():
    index = make_file_index(n_train=4, n_test=2, eval_section=False)
    emb, centres = make_embeddings(index, CONFIGURATIONS[:1], dim=4)["sc01_both"]
    fitted = backends.fit_configuration_backends(emb, centres, index, PAPER)
    assert sorted(fitted) == ["epoch_0001", "epoch_0002"]
    terms = backends.configuration_score_terms(fitted, emb, index)
    assert list(terms.columns) == ["file_id", "snapshot", *backends.TERM_COLUMNS]
    assert len(terms) == 2 * len(index)
    one = emb[emb["snapshot"] == "epoch_0002"]
    direct = backends.score_terms(fitted["epoch_0002"], one, index)
    np.testing.assert_allclose(
        terms[terms["snapshot"] == "epoch_0002"]["section_term"], direct["section_term"])


def test_errors_name_what_is_wrong(toy):
    index, emb, centres, fitted, _ = toy
    with pytest.raises(ValueError, match="not in the file index"):
        backends.score_terms(fitted, emb.assign(file_id=emb["file_id"] + "x"), index)
    no_section = centres[centres["class_name"] != "fan_section_01"]
    with pytest.raises(ValueError, match="fan_section_01"):
        backends.fit_backends(emb, no_section, index, PAPER)
    no_attr = centres[centres["class_name"] != "fan_section_00_b"]
    with pytest.raises(ValueError, match="fan_section_00_b"):
        backends.fit_backends(emb, no_attr, index, PAPER)
    other = index.copy()
    other.loc[other["section"] == 1, "section_class"] = "fan_section_07"
    with pytest.raises(ValueError, match="fan_section_07"):
        backends.score_terms(fitted, emb, other)
    with pytest.raises(ValueError, match=r"unknown keys \['reg_covr'\]"):
        BackendSettings.from_parameters({"gmm": {"reg_covr": 1e-3}})
    with pytest.raises(ValueError, match=r"unknown keys \['sections_domains'\]"):
        BackendSettings.from_parameters({"sections_domains": ["source"]})


def test_tmax_term_is_best_attribute_gaussian_for_listed_types_source_only():
    index, emb = _toy(dim=3)
    index.loc[index["section"] == 1, "machine_type"] = "valve"
    tmax = emb.rename(columns=lambda c: c.replace("emb_", "tmax_"))
    backend = backends.fit_tmax_backend(tmax, index, ["valve"], PAPER.gmm)
    assert set(backend.gaussians) == {"fan_section_01_a", "fan_section_01_b"}
    terms = backends.tmax_terms(backend, tmax, index)
    x = tmax.filter(like="tmax_").to_numpy()
    use = ((index["machine_type"] == "valve") & (index["domain"] == "source")).to_numpy()
    train = use & (index["split"] == "train").to_numpy()
    expected = -np.max([
        _gaussian_logpdf(x[train & (index["attribute_class"] == a).to_numpy()], x[use])
        for a in ("fan_section_01_a", "fan_section_01_b")
    ], axis=0)
    np.testing.assert_allclose(terms["tmax_term"][use], expected, rtol=1e-6)
    assert terms["tmax_term"][~use].isna().all()
    empty = backends.fit_tmax_backend(tmax, index, [])
    assert backends.tmax_terms(empty, tmax, index)["tmax_term"].isna().all()
