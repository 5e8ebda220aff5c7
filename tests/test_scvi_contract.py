"""The scvi-tools API every scbasis model inherits, called as scvi-tools and its users call it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scvi.model.base import VAEMixin

import scbasis
from scbasis.model import BasisDeVAE, BasisVAE, DeVAE

from .conftest import QUIET

# model -> its keyword arguments: count likelihoods, so that one registration serves all three
MODELS = {
    BasisDeVAE: {},
    DeVAE: {"likelihood": "nb"},
    BasisVAE: {"likelihood": "zinb", "n_basis": 3},
}


@pytest.fixture(scope="module")
def trained():
    """Three models on one AnnData registered by one ``scbasis.model.setup_anndata`` call."""
    adata = scbasis.data.simulate_trajectory(
        200, 20, {"increasing": 0.5, "decreasing": 0.5}, seed=3
    )
    scbasis.model.setup_anndata(adata)
    models = {}
    for model_cls, kwargs in MODELS.items():
        model = model_cls(adata, n_hidden=16, **kwargs)
        model.train(max_epochs=3, batch_size=64, **QUIET)
        models[model_cls] = model
    return adata, models


@pytest.mark.parametrize("model_cls", list(MODELS), ids=lambda c: c.__name__)
def test_one_setup_serves_every_model(model_cls):
    adata = scbasis.data.simulate_trajectory(60, 8, {"increasing": 1.0}, seed=0)
    scbasis.model.setup_anndata(adata)
    model = model_cls(adata, n_hidden=8, **MODELS[model_cls])
    assert model.adata is adata


def test_one_setup_checks_before_registering_any_model():
    adata = scbasis.data.simulate_trajectory(60, 8, {"increasing": 1.0}, seed=0)
    before = (set(adata.obs.columns), set(adata.uns))
    with pytest.raises(ValueError, match=r"batch_key='sample' is not a column of adata.obs"):
        scbasis.model.setup_anndata(adata, batch_key="sample")
    assert (set(adata.obs.columns), set(adata.uns)) == before
    for model_cls in MODELS:
        with pytest.raises(ValueError, match="setup_anndata"):
            model_cls(adata)


@pytest.mark.parametrize("model_cls", list(MODELS), ids=lambda c: c.__name__)
def test_latent_representation_keeps_vaemixin_signature(trained, model_cls):
    adata, models = trained
    model = models[model_cls]
    n_latent = model.module.n_latent
    mean = model.get_latent_representation()
    assert mean.shape == (adata.n_obs, n_latent)
    loc, variance = model.get_latent_representation(return_dist=True)
    np.testing.assert_allclose(loc, mean, rtol=1e-6)
    assert variance.shape == mean.shape and np.all(variance > 0)
    sample = model.get_latent_representation(give_mean=False)
    assert sample.shape == mean.shape and not np.allclose(sample, mean)
    subset = model.get_latent_representation(indices=np.arange(10), batch_size=4)
    np.testing.assert_allclose(subset, mean[:10], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model_cls", list(MODELS), ids=lambda c: c.__name__)
def test_latent_representation_follows_orientation(trained, model_cls):
    _, models = trained
    model = models[model_cls]
    assert model.orientation_ == 1
    before = model.get_latent_representation()
    pseudotime = model.get_pseudotime()
    # root at the cells with the largest pseudotime: the axis must turn round
    root = pseudotime >= np.quantile(pseudotime, 0.9)
    try:
        assert model.orient(root) == -1
        np.testing.assert_allclose(model.get_latent_representation(), -before, rtol=1e-6)
        loc, _ = model.get_latent_representation(return_dist=True)
        np.testing.assert_allclose(loc, -before, rtol=1e-6)
        np.testing.assert_allclose(model.get_pseudotime(), -pseudotime, rtol=1e-5, atol=1e-6)
    finally:
        model.orientation_ = 1


@pytest.mark.skipif(
    not hasattr(VAEMixin, "get_aggregated_posterior"),
    reason="get_aggregated_posterior is new in scvi-tools 1.4.2 (runs on the newest release)",
)
@pytest.mark.parametrize("model_cls", list(MODELS), ids=lambda c: c.__name__)
def test_aggregated_posterior(trained, model_cls):
    # calls get_latent_representation(return_dist=True, dataloader=...) as scvi-tools does
    _, models = trained
    model = models[model_cls]
    posterior = model.get_aggregated_posterior()
    z = torch.as_tensor(model.get_latent_representation()[:5], dtype=torch.float32)
    assert torch.all(torch.isfinite(posterior.log_prob(z.to(posterior.mean.device))))


@pytest.mark.parametrize("model_cls", list(MODELS), ids=lambda c: c.__name__)
def test_inherited_vaemixin_metrics(trained, model_cls):
    _, models = trained
    model = models[model_cls]
    assert np.isfinite(model.get_elbo())
    assert np.isfinite(model.get_marginal_ll(n_mc_samples=2))
    reconstruction = model.get_reconstruction_error()
    assert all(np.isfinite(v) for v in reconstruction.values())


@pytest.mark.parametrize("model_cls", list(MODELS), ids=lambda c: c.__name__)
def test_expression_methods_read_px(trained, model_cls):
    """RNASeqMixin's methods on px: each gene under its most probable family."""
    adata, models = trained
    model = models[model_cls]
    torch.manual_seed(0)
    frequencies = model.get_normalized_expression(library_size=1, return_numpy=True)
    torch.manual_seed(0)  # the same draws of z
    parameters = model.get_likelihood_parameters()
    assert frequencies.shape == parameters["mean"].shape == adata.shape
    assert parameters["dispersions"].shape == adata.shape
    # the mean is the normalised expression times one library size per cell
    library = parameters["mean"] / frequencies
    np.testing.assert_allclose(library, library[:, :1].repeat(adata.n_vars, 1), rtol=1e-4)
    if model.module.library_trend is None:  # observed library: the cell's total count
        totals = np.asarray(adata.X.sum(1)).ravel()
        np.testing.assert_allclose(library[:, 0], totals, rtol=1e-4)
    if model.module.likelihood == "zinb":
        assert parameters["dropout"].shape == adata.shape
    frame = model.get_normalized_expression(library_size=1e4, n_samples=3)
    assert list(frame.columns) == list(adata.var_names) and np.all(frame.to_numpy() > 0)


@pytest.mark.parametrize("model_cls", list(MODELS), ids=lambda c: c.__name__)
def test_posterior_predictive_sample(trained, model_cls):
    adata, models = trained
    samples = models[model_cls].posterior_predictive_sample(n_samples=2).todense()
    assert samples.shape == (adata.n_obs, adata.n_vars, 2)
    assert np.all(samples >= 0) and np.all(samples == np.round(samples))
    # counts of the same order as the data's, gene by gene
    observed = np.asarray(adata.X.mean(0)).ravel()
    simulated = samples.mean(axis=(0, 2))
    assert np.corrcoef(np.log1p(observed), np.log1p(simulated))[0, 1] > 0.8


@pytest.mark.parametrize("model_cls", list(MODELS), ids=lambda c: c.__name__)
def test_differential_expression(trained, model_cls):
    adata, models = trained
    adata.obs["phase"] = np.where(adata.obs["true_time"] > 0.5, "late", "early")
    result = models[model_cls].differential_expression(
        groupby="phase", group1="late", group2="early", mode="change"
    )
    assert set(result.index) == set(adata.var_names)
    assert np.all(np.isfinite(result["lfc_mean"])) and np.all(result["proba_de"].between(0, 1))


def test_expression_methods_refuse_other_likelihoods():
    adata = scbasis.data.simulate_trajectory(80, 6, {"increasing": 1.0}, seed=1)
    adata.X = np.log1p(adata.X.toarray())
    DeVAE.setup_anndata(adata)
    model = DeVAE(adata, n_hidden=8, likelihood="gaussian")
    with pytest.raises(NotImplementedError, match=r"likelihood='gaussian'.*get_gene_trends"):
        model.get_likelihood_parameters()
    with pytest.raises(NotImplementedError, match="differential_expression"):
        model.differential_expression(groupby="batch")
    with pytest.raises(NotImplementedError, match="observed"):
        model.get_latent_library_size()
    # Gaussian px: the normalised expression is the decoder's mean
    assert model.get_normalized_expression().shape == adata.shape
    assert model.posterior_predictive_sample().shape == adata.shape
