"""Property tests at the extremes: decoders under extreme weights and latent values, the
likelihoods at extreme counts, means and dispersions, and results written to ``.h5ad`` and
read back, for any order of cells and genes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import scbasis
from scbasis.model import BasisDeVAE
from scbasis.nn import (
    ConstrainedDerivativeDecoder,
    DerivativeDecoder,
    cell_log_likelihood,
    family_log_likelihood,
    native_kernel_available,
)

from .conftest import QUIET

#: float32 runs the compiled kernels on the CPU where they are available, float64 the torch
#: operations: both paths are checked.
DTYPES = [torch.float32, torch.float64]

latent_values = st.floats(-1e3, 1e3, allow_nan=False, width=32)


def _extreme_weights(module: torch.nn.Module, seed: int, weight_scale: float) -> None:
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, weight_scale)


@st.composite
def latent_times(draw, max_cells: int = 6) -> np.ndarray:
    """Latent times: far from 0, all equal, or exactly 0 included."""
    z = draw(arrays(np.float32, st.integers(1, max_cells), elements=latent_values))
    if draw(st.booleans()):
        z[0] = 0.0
    return z


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    weight_scale=st.floats(0.01, 30.0),
    z=latent_times(),
    dtype=st.sampled_from(DTYPES),
    basal_level=st.booleans(),
    log_transient=st.booleans(),
)
# a transient amplitude whose softplus underflows to 0 in float32 (raw -89.8), found by hypothesis
@example(171, 25.0, np.zeros(1, np.float32), torch.float32, False, True)
def test_derivative_decoder_stays_finite_under_extreme_weights_and_times(
    seed, weight_scale, z, dtype, basal_level, log_transient
):
    n_genes = 4
    decoder = DerivativeDecoder(
        n_genes, n_hidden=8, basal_level=basal_level, log_transient=log_transient
    )
    decoder = decoder.double() if dtype == torch.float64 else decoder
    _extreme_weights(decoder, seed, weight_scale)
    z = torch.tensor(z, dtype=dtype, requires_grad=True)
    curves = decoder(z)
    assert curves.shape == (len(z), n_genes, 3)
    # exp(-h^2) may underflow to 0 (finite); log g_3 is finite where the transient is on the
    # log scale or has a basal level, since both keep it away from log 0
    assert torch.isfinite(curves).all(), curves
    curves.sum().backward()
    for name, p in [("z", z), *decoder.named_parameters()]:
        assert p.grad is None or torch.isfinite(p.grad).all(), f"non-finite gradient of {name}"


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    weight_scale=st.floats(0.01, 30.0),
    n_latent=st.integers(1, 3),
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
)
def test_constrained_decoder_stays_finite_under_extreme_weights_and_latents(
    seed, weight_scale, n_latent, data, dtype
):
    constraints = ["increasing", "decreasing", "free"]
    decoder = ConstrainedDerivativeDecoder(constraints, n_latent=n_latent, n_hidden=8)
    decoder = decoder.double() if dtype == torch.float64 else decoder
    _extreme_weights(decoder, seed, weight_scale)
    n_cells = data.draw(st.integers(1, 5))
    z = data.draw(arrays(np.float32, (n_cells, n_latent), elements=latent_values))
    z = torch.tensor(z, dtype=dtype, requires_grad=True)
    curves = decoder(z)
    assert curves.shape[:2] == (n_cells, len(constraints))
    assert torch.isfinite(curves).all(), curves
    curves.sum().backward()
    assert torch.isfinite(z.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in decoder.parameters() if p.grad is not None)


# --- likelihoods -------------------------------------------------------------------------

counts = st.one_of(st.just(0.0), st.integers(0, 20).map(float), st.floats(0, 1e6).map(round))


@st.composite
def count_problems(draw):
    """Counts, log means per family, dispersions, zero-inflation logits and weights."""
    n_cells, n_genes, n_families = draw(st.integers(1, 4)), draw(st.integers(1, 4)), 3
    x = draw(arrays(np.float64, (n_cells, n_genes), elements=counts))
    log_mean = draw(
        arrays(np.float64, (n_cells, n_genes, n_families), elements=st.floats(-40, 40))
    )
    theta = draw(arrays(np.float64, n_genes, elements=st.floats(-4, 5).map(lambda e: 10**e)))
    zi_logits = draw(arrays(np.float64, (n_cells, n_genes), elements=st.floats(-30, 30)))
    weights = draw(
        arrays(np.float64, (n_genes, n_families), elements=st.floats(0, 1) | st.just(0.0))
    )
    weights[:, 0] += 1e-3  # rows that sum to 1, one-hot ones included
    weights /= weights.sum(1, keepdims=True)
    return x, log_mean, theta, zi_logits, weights


def _tensors(problem: tuple[np.ndarray, ...], dtype: torch.dtype) -> list[torch.Tensor]:
    """The problem as tensors, with gradients for the log means, dispersions and logits."""
    x, *parameters, weights = problem
    parameters = [torch.tensor(a, dtype=dtype, requires_grad=True) for a in parameters]
    return [torch.tensor(x, dtype=dtype), *parameters, torch.tensor(weights, dtype=dtype)]


def _assert_finite_gradients(*tensors: torch.Tensor) -> None:
    for tensor in tensors:
        assert tensor.grad is None or torch.isfinite(tensor.grad).all(), tensor.grad


@settings(max_examples=80, deadline=None)
@given(problem=count_problems(), likelihood=st.sampled_from(["zinb", "nb", "poisson"]))
def test_count_likelihoods_are_finite_probabilities_at_extremes(problem, likelihood):
    x, log_mean, theta, zi_logits, weights = _tensors(problem, torch.float64)
    parameters = {"log_mean": log_mean, "theta": theta, "zi_logits": zi_logits}
    ll = cell_log_likelihood(x, likelihood, weights, **parameters)
    assert ll.shape == (x.shape[0],)
    assert torch.isfinite(ll).all(), ll
    # a log probability mass: at most 0, up to rounding of terms as large as lgamma(x + theta)
    scale = (x + theta).add(2).log().mul(x + theta).sum(1)
    assert torch.all(ll <= 1e-12 * scale + 1e-12), ll
    ll.sum().backward()
    _assert_finite_gradients(log_mean, theta, zi_logits)

    # scvi-tools' distributions give the same values up to their eps = 1e-8 in the logarithms
    # (see cell_log_likelihood), where that eps is small beside the means and dispersions
    mean, theta, zi_logits = log_mean.detach().exp(), theta.detach(), zi_logits.detach()
    if mean.min() > 1e-2 and theta.min() > 1e-2:
        reference = torch.einsum(
            "idk,dk->i",
            family_log_likelihood(x, likelihood, mean=mean, theta=theta, zi_logits=zi_logits),
            weights,
        )
        torch.testing.assert_close(ll.detach(), reference, rtol=1e-5, atol=1e-3)


@pytest.mark.skipif(
    not native_kernel_available(), reason="the compiled kernels do not run on this machine"
)
@settings(max_examples=80, deadline=None)
@given(problem=count_problems(), likelihood=st.sampled_from(["zinb", "nb"]))
def test_compiled_count_likelihood_matches_float64_at_extremes(problem, likelihood):
    """float32 on the CPU runs the compiled kernel; it must stay finite and agree with the
    float64 torch operations to float32's precision of the largest terms."""
    x, log_mean, theta = problem[:3]
    values = {}
    for dtype in DTYPES:
        x_t, log_mean_t, theta_t, zi_t, w_t = _tensors(problem, dtype)
        ll = cell_log_likelihood(
            x_t, likelihood, w_t, log_mean=log_mean_t, theta=theta_t, zi_logits=zi_t
        )
        assert torch.isfinite(ll).all(), (dtype, ll)
        ll.sum().backward()
        _assert_finite_gradients(log_mean_t, theta_t, zi_t)
        values[dtype] = ll.detach().double()
    # float32 keeps 7 digits of the largest term in each cell's sum
    magnitude = np.abs(x * log_mean.max(2)).sum(1) + ((x + theta) * np.log(x + theta + 2)).sum(1)
    tolerance = torch.tensor(1e-5 * magnitude + 1e-3, dtype=torch.float64)
    assert torch.all((values[torch.float32] - values[torch.float64]).abs() <= tolerance)


@settings(max_examples=60, deadline=None)
@given(
    x=arrays(np.float64, (3, 4), elements=st.floats(-1e6, 1e6)),
    mean=arrays(np.float64, (3, 4, 3), elements=st.floats(-1e6, 1e6)),
    log_scale=arrays(np.float64, 4, elements=st.floats(-10, 10)),
    logits=arrays(np.float64, (3, 4, 3), elements=st.floats(-1e3, 1e3)),
    binary=arrays(np.float64, (3, 4), elements=st.sampled_from([0.0, 1.0])),
)
def test_gaussian_and_bernoulli_likelihoods_are_finite_at_extremes(
    x, mean, log_scale, logits, binary
):
    weights = torch.full((4, 3), 1 / 3, dtype=torch.float64)
    scale = torch.tensor(log_scale).exp()
    gaussian = cell_log_likelihood(
        torch.tensor(x), "gaussian", weights, mean=torch.tensor(mean), scale=scale
    )
    assert torch.isfinite(gaussian).all()
    bernoulli = cell_log_likelihood(
        torch.tensor(binary), "bernoulli", weights, logits=torch.tensor(logits)
    )
    assert torch.isfinite(bernoulli).all() and torch.all(bernoulli <= 0)


# --- results through .h5ad -------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    adata = scbasis.data.simulate_trajectory(90, 12, {"increasing": 0.5, "transient": 0.5}, seed=3)
    BasisDeVAE.setup_anndata(adata)
    model = BasisDeVAE(adata, n_hidden=8)
    model.train(max_epochs=2, batch_size=45, family_epochs=0, **QUIET)
    reference = adata.copy()
    model.write_results(reference)
    return model, adata, reference


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_results_written_to_h5ad_read_back_identical_for_any_cell_and_gene_order(trained, data):
    model, adata, reference = trained
    cells = data.draw(st.permutations(range(adata.n_obs)))
    n_cells = data.draw(st.integers(1, adata.n_obs))
    genes = data.draw(st.permutations(range(adata.n_vars)))
    query = adata[cells[:n_cells], genes].copy()
    model.write_results(query)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "results.h5ad"
        query.write_h5ad(path)
        back = anndata.read_h5ad(path)
    for attr in ("obs", "var"):
        keys = [k for k in getattr(query, attr) if k.startswith("basisdevae")]
        assert keys
        written, read = getattr(query, attr)[keys], getattr(back, attr)[keys]
        pd.testing.assert_frame_equal(read, written)
        # each cell's and gene's result is the one it has in the training order
        expected = getattr(reference, attr)[keys].loc[written.index]
        if attr == "obs":  # computed on other minibatches: equal up to float32 rounding
            np.testing.assert_allclose(written.to_numpy(), expected.to_numpy(), rtol=1e-5)
        else:
            pd.testing.assert_frame_equal(written, expected)
    # the trends span the written cells' pseudotime: the model's trends on that grid
    grid = query.uns["basisdevae"]["trend_pseudotime"]
    np.testing.assert_array_equal(back.uns["basisdevae"]["trend_pseudotime"], grid)
    trends = model.get_gene_trends(grid=grid)
    on_grid = trends[:, query.var_names]
    expected = {
        "basisdevae_trends": np.asarray(on_grid.X).T,
        "basisdevae_trends_lower": on_grid.layers["interval_lower"].T,
        "basisdevae_trends_upper": on_grid.layers["interval_upper"].T,
    }
    for key in query.varm:
        np.testing.assert_array_equal(back.varm[key], query.varm[key])
        rows = reference.var_names.get_indexer(query.var_names)
        np.testing.assert_array_equal(
            query.varm[key], expected.get(key, reference.varm[key][rows])
        )
    assert back.uns["basisdevae"]["orientation"] == reference.uns["basisdevae"]["orientation"]
