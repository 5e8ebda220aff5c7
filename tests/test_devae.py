"""DeVAE: per-feature shape constraints in every latent dimension, tabular and count data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from anndata import AnnData
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

import scbasis
from scbasis._constants import SCBASIS_MODULE_KEYS
from scbasis.model import DeVAE
from scbasis.module import DeVAEModule
from scbasis.nn import ConstrainedDerivativeDecoder
from scbasis.nn._constrained_decoder import CONSTRAINTS

from .conftest import QUIET

GRID = torch.linspace(-4, 4, 401, dtype=torch.float64)


def _random_decoder(seed, n_latent, weight_scale, quadrature, constraints):
    torch.manual_seed(seed)
    decoder = ConstrainedDerivativeDecoder(
        constraints, n_latent=n_latent, n_hidden=8, quadrature=quadrature
    ).double()
    with torch.no_grad():
        for p in decoder.parameters():
            p.normal_(0.0, weight_scale)
    return decoder


# As for BasisDeVAE's families: the Chebyshev rule keeps the shapes for any weights, the
# papers' Gauss-Legendre rule up to its quadrature error (checked at moderate weights).
decoders = st.sampled_from([("chebyshev", 4.0), ("gauss_legendre", 1.0)]).flatmap(
    lambda rule: st.builds(
        _random_decoder,
        seed=st.integers(0, 10_000),
        n_latent=st.integers(1, 3),
        weight_scale=st.floats(0.1, rule[1]),
        quadrature=st.just(rule[0]),
        constraints=st.lists(st.sampled_from(CONSTRAINTS), min_size=1, max_size=6),
    )
)


@settings(max_examples=40, deadline=None)
@given(decoder=decoders, data=st.data())
def test_constraints_hold_for_any_weights_in_every_latent_dimension(decoder, data):
    n_latent = len(decoder.networks)
    others = data.draw(st.lists(st.floats(-3, 3), min_size=n_latent, max_size=n_latent))
    constraint = np.array(
        ["increasing" if s > 0 else "decreasing" for s in decoder.column_sign.tolist()]
    )
    features = decoder.column_feature.numpy()
    for dim in range(n_latent):
        z = torch.tensor(others, dtype=torch.float64).repeat(len(GRID), 1)
        z[:, dim] = GRID
        with torch.no_grad():
            curves = decoder(z)[..., 0]
        steps = torch.diff(curves, dim=0)
        tolerance = 1e-9 * (1 + curves.abs().max())
        for j in range(curves.shape[1]):
            kinds = set(constraint[features == j])
            if kinds == {"increasing"}:
                assert torch.all(steps[:, j] >= -tolerance), (dim, j, "increasing")
            elif kinds == {"decreasing"}:
                assert torch.all(steps[:, j] <= tolerance), (dim, j, "decreasing")


def test_free_features_can_go_both_ways():
    """A "free" feature is the difference of two monotone parts, so it can rise and fall."""
    decoder = _random_decoder(0, 1, 1.0, "chebyshev", ["free"])
    with torch.no_grad():
        decoder.networks[0].mlp[-2].bias.copy_(torch.tensor([0.0, 0.0]))
        decoder.networks[0].mlp[-2].weight.copy_(torch.zeros(2, 8))
        decoder.networks[0].mlp[-2].weight[0, 0] = 5.0  # rising part: where tanh(.) > 0
        curve = decoder(GRID[:, None])[:, 0, 0]
    steps = torch.diff(curve)
    assert steps.max() > 1e-3 and steps.min() < -1e-3


def _tabular(seed: int = 0, n_obs: int = 400) -> AnnData:
    """Standardised 'volumes': 5 features falling along t, 2 rising, 1 transient; noise 0.1."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 1, n_obs)
    midpoints = np.linspace(0.2, 0.8, 5)
    falling = 1 / (1 + np.exp(10 * (t[:, None] - midpoints)))
    rising = np.column_stack([t, t**2])
    bump = np.exp(-(((t - 0.5) / 0.15) ** 2))[:, None]
    values = np.hstack([falling, rising, bump]) + 0.1 * rng.standard_normal((n_obs, 8))
    values = (values - values.mean(0)) / values.std(0)
    var = pd.DataFrame(
        {"direction": ["decreasing"] * 5 + ["increasing"] * 2 + ["free"]},
        index=[f"region{j}" for j in range(8)],
    )
    obs = pd.DataFrame({"true_time": t}, index=[f"session{i}" for i in range(n_obs)])
    return AnnData(values.astype(np.float32), obs=obs, var=var)


@pytest.fixture(scope="module")
def tabular_model():
    adata = _tabular()
    DeVAE.setup_anndata(adata)
    model = DeVAE(adata, constraint="direction", n_hidden=32)  # an adata.var column
    model.train(max_epochs=60, batch_size=64, **QUIET)
    return adata, model


def test_gaussian_devae_on_standardised_data_recovers_time_and_keeps_shapes(tabular_model):
    adata, model = tabular_model
    assert model.module.likelihood == "gaussian"
    assert abs(spearmanr(model.get_pseudotime(), adata.obs["true_time"])[0]) > 0.95
    for root in (adata.obs["true_time"] < 0.1, adata.obs["true_time"] > 0.9):
        model.orient(root.to_numpy())
        constraints = model.get_feature_constraints()
        trends = model.get_gene_trends(n_points=50)
        steps = np.diff(trends.X, axis=0)
        for j, name in enumerate(trends.var_names):
            if constraints[name] == "increasing":
                assert np.all(steps[:, j] >= -1e-6), name
            elif constraints[name] == "decreasing":
                assert np.all(steps[:, j] <= 1e-6), name
        assert (trends.var["constraint"] == constraints.to_numpy()).all()
    # oriented from late cells the falling regions read as rising
    assert constraints.iloc[:5].eq("increasing").all() and constraints.iloc[-1] == "free"


def test_two_dimensional_latent(tabular_model):
    adata, _ = tabular_model
    DeVAE.setup_anndata(adata)
    model = DeVAE(adata, constraint="decreasing", n_latent=2, n_hidden=16)
    model.train(max_epochs=3, **QUIET)
    assert model.get_pseudotime().shape == (adata.n_obs, 2)
    for dim in (0, 1):
        trends = model.get_gene_trends(n_points=30, latent_dim=dim)
        assert np.all(np.diff(trends.X, axis=0) <= 1e-6)
    with pytest.raises(ValueError, match="1-D pseudotime"):
        model.orient(np.arange(5))


@pytest.mark.parametrize("likelihood", ["nb", "zinb", "poisson"])
def test_count_likelihoods_on_counts(likelihood):
    adata = scbasis.data.simulate_trajectory(200, 15, {"increasing": 1.0}, seed=2)
    DeVAE.setup_anndata(adata)
    model = DeVAE(adata, likelihood=likelihood, n_hidden=16)
    model.train(max_epochs=3, **QUIET)
    assert np.all(np.isfinite(model.history["elbo_train"].to_numpy(dtype=float)))
    trends = model.get_gene_trends(n_points=25)
    assert np.all(trends.X > 0) and np.all(np.diff(trends.X, axis=0) >= -1e-6 * trends.X.max())


def test_constraint_errors_name_the_fix():
    adata = _tabular(n_obs=50)
    DeVAE.setup_anndata(adata)
    with pytest.raises(ValueError, match=r"nor a column of adata\.var"):
        DeVAE(adata, constraint="monotone")
    with pytest.raises(ValueError, match="must be one of"):
        DeVAE(adata, constraint=["monotone"] * adata.n_vars)
    with pytest.raises(ValueError, match="one per feature"):
        DeVAE(adata, constraint=["increasing"] * 3)
    with pytest.raises(ValueError, match="no entry for features"):
        DeVAE(adata, constraint=adata.var["direction"].iloc[:4])
    series = DeVAE(adata, constraint=adata.var["direction"], n_hidden=4)
    assert series.constraints == list(adata.var["direction"])
    with pytest.raises(ValueError, match="Unknown decoder"):
        DeVAE(adata, decoder="cnn")
    with pytest.raises(ValueError, match="no shape constraints"):
        DeVAE(adata, decoder="mlp", constraint="increasing")
    with pytest.raises(ValueError, match="raw counts"):
        DeVAE(adata, likelihood="nb")  # standardised values are not counts


@pytest.mark.parametrize("likelihood_path", ["fused", "reference"])
@pytest.mark.parametrize("likelihood", ["nb", "zinb", "poisson", "gaussian"])
def test_unclustered_module_sums_one_curve_per_feature(likelihood, likelihood_path):
    """DeVAE has no families: no assignments, no clustering terms, and each cell's
    log-likelihood is the plain sum over features of scvi-tools' ``px.log_prob``."""
    torch.manual_seed(0)
    module = DeVAEModule(7, n_hidden=8, likelihood=likelihood, likelihood_path=likelihood_path)
    assert module.phi is None and module.clustering_terms(None) == {}
    assert not any("famil" in name or "clustering" in name for name in module.state_dict())
    x = torch.poisson(torch.full((11, 7), 3.0))
    if likelihood == "gaussian":
        x = torch.log1p(x)
    inference = module.inference(x)
    generative = module.generative(inference["z"], inference["library"])
    parameters = generative[SCBASIS_MODULE_KEYS.PX_FAMILIES_KEY]
    per_cell = module.cell_log_likelihood(x, parameters, module.phi)
    expected = generative["px"].log_prob(x).sum(-1)
    torch.testing.assert_close(per_cell, expected, rtol=1e-4, atol=1e-3)
