"""BasisVAE: bounded shifts and scales, the three inference modes, the toy's clusters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special
from sklearn.metrics import v_measure_score

import scbasis
from scbasis.model import BasisVAE
from scbasis.module import BasisVAEModule
from scbasis.nn import BasisDecoder, FeatureClustering

from .conftest import QUIET


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    raw_scale=st.floats(0.1, 1e3),
    max_delta=st.floats(0.1, 3.0),
    bounds=st.sampled_from([(0.25, 1.75), (0.1, 3.0)]),
    n_basis=st.sampled_from([1, 3, 20]),
)
def test_delta_and_lambda_stay_in_bounds(seed, raw_scale, max_delta, bounds, n_basis):
    torch.manual_seed(seed)
    decoder = BasisDecoder(
        7,
        n_basis=n_basis,
        n_hidden=5,
        scale_invariance=True,
        translation_invariance=True,
        max_delta=max_delta,
        min_lambda=bounds[0],
        max_lambda=bounds[1],
    )
    with torch.no_grad():
        decoder.shift_raw.normal_(0.0, raw_scale)
        decoder.scaling_raw.normal_(0.0, raw_scale)
    delta, scaling = decoder.delta, decoder.scaling
    assert delta.shape == (7, n_basis, 1) and scaling.shape == (7, n_basis)
    assert torch.all(delta.abs() <= max_delta)
    assert torch.all((scaling >= bounds[0]) & (scaling <= bounds[1]))
    assert decoder(torch.randn(4, 1)).shape == (4, 7, n_basis)


def test_curves_are_scaled_and_shifted_basis_functions():
    torch.manual_seed(0)
    decoder = BasisDecoder(3, n_basis=2, n_hidden=6, translation_invariance=True).double()
    with torch.no_grad():
        decoder.shift_raw.normal_()
        decoder.scaling_raw.normal_()
        decoder.intercept.normal_()
    z = torch.linspace(-2, 2, 9, dtype=torch.float64)[:, None]
    curves = decoder(z)
    for j in range(3):
        for k in range(2):
            shifted = decoder.basis(z + decoder.delta[j, k])[:, k]
            expected = decoder.intercept[j] + decoder.scaling[j, k] * shifted
            torch.testing.assert_close(curves[:, j, k], expected)
    linear = BasisDecoder(3, n_basis=2, basis_network="linear", translation_invariance=True)
    values = linear(torch.linspace(-2, 2, 9)[:, None])
    torch.testing.assert_close(
        torch.diff(values, n=2, dim=0), torch.zeros(7, 3, 2), atol=1e-5, rtol=0
    )


def _phi_and_alpha(seed: int, inference: str):
    torch.manual_seed(seed)
    clustering = FeatureClustering(12, 4, alpha=0.3, inference=inference).double()
    with torch.no_grad():
        clustering.logits.normal_(0.0, 2.0)
        if inference == "non_collapsed":
            clustering.concentration_raw.normal_(1.0, 1.0)
    return clustering


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("inference", ["collapsed", "fixed_pi", "non_collapsed"])
def test_clustering_terms_match_independent_computation(inference, seed):
    clustering = _phi_and_alpha(seed, inference)
    phi = clustering.phi.detach().numpy()
    alpha = np.full(4, 0.3)
    neg_entropy = np.sum(phi * np.log(phi))
    if inference == "collapsed":
        n = phi.sum(0)

        def log_beta(a):
            return special.gammaln(a).sum() - special.gammaln(a.sum())

        expected = -(log_beta(n + alpha) - log_beta(alpha)) + neg_entropy
    elif inference == "fixed_pi":
        expected = np.sum(phi * (np.log(phi) - np.log(1 / 4)))  # KL(q(w) || Cat(1/K))
    else:
        a = clustering.concentration.detach().numpy()
        # KL(Dir(a) || Dir(alpha)) in closed form, and E_q log pi by Monte Carlo
        kl_dirichlet = (
            special.gammaln(a.sum())
            - special.gammaln(a).sum()
            - special.gammaln(alpha.sum())
            + special.gammaln(alpha).sum()
            + np.sum((a - alpha) * (special.digamma(a) - special.digamma(a.sum())))
        )
        samples = np.random.default_rng(seed).dirichlet(a, size=400_000)
        expected_log_pi = np.log(samples).mean(0)
        expected = kl_dirichlet + neg_entropy - np.sum(phi.sum(0) * expected_log_pi)
    terms = clustering()
    total = sum(terms.values()).item()
    tolerance = 1e-8 if inference != "non_collapsed" else 5e-3
    assert total == pytest.approx(expected, rel=tolerance, abs=tolerance)
    assert terms["expected_log_q_w"].item() == pytest.approx(neg_entropy, rel=1e-8)


def test_module_loss_adds_beta_weighted_clustering_and_map_priors():
    torch.manual_seed(0)
    module = BasisVAEModule(
        5, n_basis=3, n_hidden=4, translation_invariance=True, beta=2.0
    ).double()
    x = torch.randn(6, 5, dtype=torch.float64)
    _, _, loss = module({"X": x}, loss_kwargs={"kl_weight": 0.5, "n_obs": 40})
    delta = module.decoder.delta.detach().numpy()
    scaling = module.decoder.scaling.detach().numpy()
    priors = np.sum(0.5 * delta**2 + 0.5 * np.log(2 * np.pi)) + scaling.sum()
    clustering = sum(module.clustering().values()).item()
    assert loss.extra_metrics["delta_prior"] + loss.extra_metrics["lambda_prior"] == (
        pytest.approx(priors)
    )
    rec = loss.reconstruction_loss["reconstruction_loss"].detach().numpy()
    kl = loss.kl_local["kl_local"].detach().numpy()
    expected = np.mean(rec + 2.0 * 0.5 * kl) + (2.0 * 0.5 * clustering + priors) / 40
    assert loss.loss.item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("inference", ["collapsed", "fixed_pi", "non_collapsed"])
def test_each_inference_mode_trains(inference):
    adata = scbasis.data.basisvae_toy(n_obs=120, n_per_group=3)
    BasisVAE.setup_anndata(adata)
    model = BasisVAE(adata, n_basis=20, inference=inference, n_hidden=16)
    model.train(max_epochs=3, batch_size=32, **QUIET)
    history = model.history
    assert np.all(np.isfinite(history["elbo_train"].to_numpy(dtype=float)))
    assert np.all(np.isfinite(history["expected_log_q_w_train"].to_numpy(dtype=float)))
    assert model.get_cluster_probabilities().shape == (12, 20)


@pytest.mark.parametrize("likelihood", ["bernoulli", "nb", "zinb"])
def test_other_likelihoods_train(likelihood):
    adata = scbasis.data.simulate_trajectory(150, 12, seed=3)
    if likelihood == "bernoulli":
        adata.X = (adata.X > 0).astype(np.float32)
    BasisVAE.setup_anndata(adata)
    model = BasisVAE(adata, likelihood=likelihood, translation_invariance=True, n_hidden=8)
    model.train(max_epochs=2, **QUIET)
    trends = model.get_gene_trends(n_points=10)
    assert np.all(np.isfinite(trends.X)) and np.all(trends.X >= 0)
    if likelihood == "bernoulli":
        assert np.all(trends.X <= 1)


def test_scale_only_basisvae_recovers_the_toy_groups():
    """The reference implementation's toy: 4 groups, 10 scaled copies each, noise 0.2."""
    adata = scbasis.data.basisvae_toy(seed=0)
    BasisVAE.setup_anndata(adata)
    model = BasisVAE(adata, n_basis=4, scale_invariance=True, translation_invariance=False)
    model.train(max_epochs=200, batch_size=32, lr=1e-2, train_size=1.0, **QUIET)
    labels = model.get_cluster_probabilities().to_numpy().argmax(1)
    assert v_measure_score(adata.var["true_group"], labels) >= 0.9


def test_bad_settings_are_rejected():
    adata = scbasis.data.basisvae_toy(n_obs=20, n_per_group=2)
    BasisVAE.setup_anndata(adata)
    with pytest.raises(ValueError, match="inference"):
        BasisVAE(adata, inference="mean_field")
    with pytest.raises(ValueError, match="min_lambda < max_lambda"):
        BasisVAE(adata, min_lambda=2.0, max_lambda=1.0)
    with pytest.raises(ValueError, match="basis_network"):
        BasisVAE(adata, basis_network="cnn")
    with pytest.raises(ValueError, match="binary"):
        BasisVAE(adata, likelihood="bernoulli")
