"""Quadrature rules against closed forms, and the decoder's integrals against a reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scbasis.nn import (
    ChebyshevQuadrature,
    DerivativeDecoder,
    DerivativeNetwork,
    GaussLegendreQuadrature,
)
from scbasis.nn._quadrature import RefinementCapacity, gauss_legendre

Z = np.array([-3.7, -2.0, -0.5, -1e-3, 0.0, 0.25, 1.0, 2.5, 3.9])


def _integrand(t: torch.Tensor, columns: torch.Tensor | None = None) -> torch.Tensor:
    """Non-negative test functions with known integrals and first moments."""
    values = torch.stack([torch.cos(t) + 2, torch.exp(0.4 * t), t**4, 1 / (1 + 16 * t**2)], dim=-1)
    return values if columns is None else values[:, columns]


def _antiderivative(z: np.ndarray) -> np.ndarray:
    return np.stack(
        [np.sin(z) + 2 * z, (np.exp(0.4 * z) - 1) / 0.4, z**5 / 5, np.arctan(4 * z) / 4], 1
    )


def _first_moment(z: np.ndarray) -> np.ndarray:
    """``int_0^z t f(t) dt`` for the first three test functions."""
    return np.stack(
        [
            np.cos(z) + z * np.sin(z) - 1 + z**2,
            (np.exp(0.4 * z) * (0.4 * z - 1) + 1) / 0.16,
            z**6 / 6,
        ],
        1,
    )


def _relative_error(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Pointwise relative error where the exact value is not negligible for its column."""
    significant = np.abs(exact) > 1e-6 * np.abs(exact).max(axis=0)
    return np.abs(got - exact)[significant] / np.abs(exact)[significant]


@pytest.mark.parametrize(
    ("rule", "columns"),
    [
        # 1 / (1 + 16 t^2) has poles at +-i/4, too close to [0, 3.9] for 15 nodes per cell
        (GaussLegendreQuadrature(15), [0, 1, 2]),
        (ChebyshevQuadrature(48), [0, 1, 2, 3]),
    ],
    ids=["gauss_legendre", "chebyshev"],
)
def test_known_integrals_and_moments_match_closed_forms(rule, columns):
    rule = rule.double().eval()
    integrals, moments = rule(_integrand, torch.as_tensor(Z), moment_columns=slice(0, 3))
    assert np.all(
        _relative_error(integrals.numpy()[:, columns], _antiderivative(Z)[:, columns]) < 1e-6
    )
    assert np.all(_relative_error(moments.numpy(), _first_moment(Z)) < 1e-6)
    np.testing.assert_allclose(integrals.numpy()[Z == 0], 0.0, atol=1e-12)


def test_chebyshev_refines_only_the_columns_that_need_it():
    # Chebyshev interpolation converges geometrically at a rate set by the distance of the
    # integrand's singularities from the interval; 1 / (1 + 16 t^2) has poles at +-i/4, too
    # close for 48 nodes on [-3.9, 3.9] to reach 1e-6. The other three columns are entire.
    requested = []

    def integrand(t: torch.Tensor, columns: torch.Tensor | None = None) -> torch.Tensor:
        requested.append(None if columns is None else columns.tolist())
        return _integrand(t, columns)

    z = torch.as_tensor(Z)
    unrefined, _ = ChebyshevQuadrature(48, tolerance=None).double()(_integrand, z)
    assert _relative_error(unrefined.numpy()[:, 3], _antiderivative(Z)[:, 3]).max() > 1e-6
    # in evaluation mode, exactly the columns whose error estimate exceeds the tolerance
    integrals, moments = ChebyshevQuadrature(48).double().eval()(integrand, z, slice(2, 4))
    assert requested[0] is None and len(requested) > 1
    assert all(columns == [3] for columns in requested[1:])
    assert np.all(_relative_error(integrals.numpy(), _antiderivative(Z)) < 1e-6)
    # the refined column's moment lands in its place among the moment columns
    np.testing.assert_array_equal(
        moments.numpy(),
        ChebyshevQuadrature(48).double().eval()(_integrand, z, slice(2, 4))[1].numpy(),
    )
    np.testing.assert_array_equal(integrals.numpy()[:, :3], unrefined.numpy()[:, :3])


def test_chebyshev_training_steps_refine_as_many_columns_as_recent_steps_needed():
    # a training step does not wait to count the columns that need refining: the first step
    # refines none, and each later one refines as many as the steps before it found (rounded
    # up), those with the largest error estimates
    z = torch.as_tensor(Z)
    exact, exact_moments = ChebyshevQuadrature(48).double().eval()(_integrand, z, slice(2, 4))
    unrefined, _ = ChebyshevQuadrature(48, tolerance=None).double()(_integrand, z, slice(2, 4))
    rule = ChebyshevQuadrature(48).double()  # training mode, as any new module
    integrals, _ = rule(_integrand, z, slice(2, 4))
    np.testing.assert_array_equal(integrals.numpy(), unrefined.numpy())
    assert rule.capacity.columns == [64, 0, 0]  # one column needed 96 nodes
    for _ in range(3):  # one more level per step
        integrals, moments = rule(_integrand, z, slice(2, 4))
    # each refined level evaluates the column with the largest error estimate (the bound on
    # a training step's refinement, 4 / 4^l of the 4 columns, rounded up): as in evaluation
    np.testing.assert_allclose(integrals.numpy(), exact.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(moments.numpy(), exact_moments.numpy(), rtol=1e-10, atol=1e-12)
    assert np.all(_relative_error(integrals.numpy(), _antiderivative(Z)) < 1e-6)


def test_chebyshev_training_refinement_is_bounded_and_refines_the_worst_columns_first():
    # 16 columns too sharp for 48 nodes (poles at +-i / width): in a training step, refinement
    # level l evaluates at most 16 / 4^l columns, those with the largest error estimates
    widths = torch.linspace(8.0, 23.0, 16, dtype=torch.float64)
    requested = []

    def integrand(t: torch.Tensor, columns: torch.Tensor | None = None) -> torch.Tensor:
        chosen = widths if columns is None else widths[columns]
        requested.append(chosen.tolist())
        return 1 / (1 + (chosen * t[:, None]) ** 2)

    z = torch.as_tensor(Z)
    rule = ChebyshevQuadrature(48).double()
    for _ in range(4):  # the capacities follow the counts, one more level per step
        requested.clear()
        integrals, _ = rule(integrand, z)
    assert rule.capacity.columns[0] >= 16  # every column needed refining
    assert [len(columns) for columns in requested] == [16, 4, 1, 1]
    assert sorted(requested[1]) == widths[12:].tolist() and requested[2] == requested[3] == [23.0]
    requested.clear()
    exact, _ = ChebyshevQuadrature(48).double().eval()(integrand, z)
    assert [len(columns) for columns in requested] == [16, 16, 16, 16]  # no bound
    unrefined, _ = ChebyshevQuadrature(48, tolerance=None).double()(integrand, z)
    np.testing.assert_allclose(integrals[:, 15].numpy(), exact[:, 15].numpy(), rtol=1e-12)
    np.testing.assert_array_equal(integrals[:, :12].numpy(), unrefined[:, :12].numpy())
    assert (
        np.abs(integrals[:, 12:15] - exact[:, 12:15]).max()
        < np.abs(unrefined[:, 12:15] - exact[:, 12:15]).max()
    )


def test_refinement_capacity_follows_the_demand_and_rarely_changes():
    capacity = RefinementCapacity(2)
    for counts, expected in [
        ([100, 3], [128, 64]),  # 1.25 x the count, rounded up to a multiple of 64
        ([90, 0], [128, 0]),  # kept while the count stays between half of it and all of it
        ([200, 40], [256, 64]),  # grown as soon as the count exceeds it
        ([140, 40], [256, 64]),
        ([100, 40], [128, 64]),  # shrunk when the count falls below half of it
    ]:
        capacity.record(torch.tensor(counts))
        assert capacity.columns == expected


def test_chebyshev_refinement_is_not_saved_with_the_model():
    # models saved before the refinement existed must still load
    rule = ChebyshevQuadrature(48)
    expected = {"coarse_nodes", "fine_nodes", "coarse_to_fine", "values_to_antiderivative"}
    assert set(rule.state_dict()) == expected
    assert [level.n_nodes for level in rule.refinements] == [96, 192, 384]


def test_derivative_network_evaluates_chosen_columns():
    network = DerivativeNetwork(12, n_hidden=8, n_layers=2).double()
    t = torch.linspace(-2, 2, 5, dtype=torch.float64)
    columns = torch.tensor([7, 0, 3])
    torch.testing.assert_close(network(t, columns), network(t)[:, columns])


def test_gauss_legendre_is_exact_for_degree_2n_minus_1():
    nodes, weights = gauss_legendre(5)
    assert np.isclose((weights * nodes**9).sum(), 0.0)
    assert np.isclose((weights * nodes**8).sum(), 2 / 9)
    with pytest.raises(ValueError, match="positive integer"):
        gauss_legendre(0)


def _reference(decoder: DerivativeDecoder, z: torch.Tensor) -> torch.Tensor:
    """``int_0^z f`` and ``int_0^z t f_3`` by Gauss-Legendre of order 200, written out here."""
    u, w = (torch.as_tensor(a) for a in np.polynomial.legendre.leggauss(200))
    points = z[:, None] / 2 * (u + 1)
    f = decoder.network(points.reshape(-1)).reshape(z.shape[0], 200, -1)
    weights = z[:, None] / 2 * w
    integrals = torch.einsum("in,inc->ic", weights, f)
    moments = torch.einsum("in,inc->ic", weights * points, f[..., 2 * decoder.n_features :])
    return torch.cat([integrals, moments], dim=1)


def _random_decoder(quadrature: str, seed: int, output_std: float = 1.0) -> DerivativeDecoder:
    """A small float64 decoder with N(0, 1) weights; ``output_std`` scales the output layer."""
    torch.manual_seed(seed)
    n_nodes = {"gauss_legendre": 15, "chebyshev": 48}[quadrature]
    decoder = DerivativeDecoder(7, n_hidden=16, quadrature=quadrature, n_quadrature=n_nodes)
    decoder = decoder.double().eval()
    for p in decoder.network.parameters():
        torch.nn.init.normal_(p, std=1.0)
    with torch.no_grad():
        decoder.network.mlp[-2].weight.mul_(output_std)
    return decoder


@pytest.mark.parametrize("quadrature", ["gauss_legendre", "chebyshev"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decoder_integrals_match_high_order_reference(quadrature, seed):
    decoder = _random_decoder(quadrature, seed)
    z = torch.linspace(-3, 3, 41, dtype=torch.float64)
    d = decoder.n_features
    got = torch.cat(decoder.quadrature(decoder.network, z, slice(2 * d, 3 * d)), dim=1)
    reference = _reference(decoder, z)
    assert torch.max(torch.abs(got - reference)) / reference.abs().max() < 1e-5


def _per_column_error(got: torch.Tensor, exact: torch.Tensor) -> float:
    """Largest error over each column's largest value."""
    return float(((got - exact).abs().amax(0) / exact.abs().amax(0)).max().detach())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chebyshev_stays_accurate_on_sharp_networks(seed):
    # training sharpens some of the network's outputs: here they rise by up to 20 orders of
    # magnitude over [-3, 3], which 48 nodes alone resolve only to about 5e-4
    decoder = _random_decoder("chebyshev", seed, output_std=6.0)
    d = decoder.n_features
    z = torch.linspace(-3, 3, 41, dtype=torch.float64, requires_grad=True)
    reference = _reference(decoder, z)
    weights = list(decoder.network.parameters())
    projection = torch.randn(reference.shape[1], dtype=torch.float64)
    expected_grads = torch.autograd.grad(reference @ projection, [z, *weights], torch.ones_like(z))

    unrefined = ChebyshevQuadrature(48, tolerance=None).double()
    got = torch.cat(unrefined(decoder.network, z.detach(), slice(2 * d, 3 * d)), dim=1)
    assert _per_column_error(got, reference.detach()) > 1e-4

    got = torch.cat(decoder.quadrature(decoder.network, z, slice(2 * d, 3 * d)), dim=1)
    assert _per_column_error(got, reference) < 1e-6
    grads = torch.autograd.grad(got @ projection, [z, *weights], torch.ones_like(z))
    for grad, expected in zip(grads, expected_grads, strict=True):
        # the surrogate's error bound (1e-5 of each column's largest f) is that of d/dz
        assert float((grad - expected).abs().max() / expected.abs().max()) < 1e-4
