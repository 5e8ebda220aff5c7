"""Quadrature rules against closed forms, and the decoder's integrals against a reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scbasis.nn import ChebyshevQuadrature, DerivativeDecoder, GaussLegendreQuadrature
from scbasis.nn._quadrature import gauss_legendre

Z = np.array([-3.7, -2.0, -0.5, -1e-3, 0.0, 0.25, 1.0, 2.5, 3.9])


def _integrand(t: torch.Tensor) -> torch.Tensor:
    """Non-negative test functions with known integrals and first moments."""
    return torch.stack([torch.cos(t) + 2, torch.exp(0.4 * t), t**4, 1 / (1 + t**2)], dim=-1)


def _antiderivative(z: np.ndarray) -> np.ndarray:
    return np.stack([np.sin(z) + 2 * z, (np.exp(0.4 * z) - 1) / 0.4, z**5 / 5, np.arctan(z)], 1)


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
        (GaussLegendreQuadrature(15), [0, 1, 2, 3]),
        # Chebyshev interpolation converges geometrically at a rate set by the distance of the
        # integrand's singularities from the interval; 1 / (1 + t^2) has poles at +-i, too close
        # for 48 nodes on [-3.9, 3.9] to reach 1e-6, so the rule is held to entire functions.
        (ChebyshevQuadrature(48), [0, 1, 2]),
    ],
    ids=["gauss_legendre", "chebyshev"],
)
def test_known_integrals_and_moments_match_closed_forms(rule, columns):
    integrals, moments = rule.double()(_integrand, torch.as_tensor(Z), moment_columns=slice(0, 3))
    assert np.all(
        _relative_error(integrals.numpy()[:, columns], _antiderivative(Z)[:, columns]) < 1e-6
    )
    assert np.all(_relative_error(moments.numpy(), _first_moment(Z)) < 1e-6)
    np.testing.assert_allclose(integrals.numpy()[Z == 0], 0.0, atol=1e-12)


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
    moments = torch.einsum("in,inc->ic", weights * points, f[..., 2 * decoder.n_genes :])
    return torch.cat([integrals, moments], dim=1)


@pytest.mark.parametrize("quadrature", ["gauss_legendre", "chebyshev"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decoder_integrals_match_high_order_reference(quadrature, seed):
    torch.manual_seed(seed)
    n_nodes = {"gauss_legendre": 15, "chebyshev": 48}[quadrature]
    decoder = DerivativeDecoder(7, n_hidden=16, quadrature=quadrature, n_quadrature=n_nodes)
    decoder = decoder.double()
    for p in decoder.network.parameters():
        torch.nn.init.normal_(p, std=1.0)
    z = torch.linspace(-3, 3, 41, dtype=torch.float64)
    d = decoder.n_genes
    got = torch.cat(decoder.quadrature(decoder.network, z, slice(2 * d, 3 * d)), dim=1)
    reference = _reference(decoder, z)
    assert torch.max(torch.abs(got - reference)) / reference.abs().max() < 1e-5
