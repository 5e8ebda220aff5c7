"""Quadrature rules for the decoder's integrals ``int_0^z f(t) dt``.

Every rule integrates a vector-valued integrand ``f: R -> R^C`` from 0 to each cell's
latent value ``z_i`` and returns ``(N, C)``. They differ in where ``f`` is evaluated:

* :class:`GaussLegendreQuadrature` is the papers' rule: ``n`` nodes per cell, so the
  integrand network runs ``N * n`` times per minibatch.
* :class:`ChebyshevQuadrature` evaluates ``f`` once at ``M`` Chebyshev nodes spanning the
  minibatch's latent range and integrates a non-negative polynomial surrogate exactly, so the
  network runs ``M`` times per minibatch whatever ``N`` is, and every cell's integral is one
  row of a ``(N, 2M) @ (2M, C)`` product.

Both return the integrals and, for chosen columns, the first moments ``int_0^z t f(t) dt``
(the transient family needs ``int_0^z (t - z0) f = moment - z0 integral``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
from torch import nn

Integrand = Callable[[torch.Tensor], torch.Tensor]


@lru_cache(maxsize=16)
def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights of order ``n`` on ``[-1, 1]``.

    Parameters
    ----------
    n
        Number of nodes; the rule is exact for polynomials of degree ``2n - 1``.

    Returns
    -------
    nodes, weights
        Arrays of shape ``(n,)`` (float64).
    """
    if n < 1:
        raise ValueError(f"The quadrature order must be a positive integer, got n={n}.")
    return np.polynomial.legendre.leggauss(n)


class QuadratureRule(nn.Module):
    """Interface of the quadrature rules.

    ``rule(integrand, z, moment_columns)`` returns the integrals ``int_0^z f`` ``(N, C)`` and,
    for ``moment_columns``, the first moments ``int_0^z t f(t) dt`` ``(N, C_m)``, where
    ``integrand`` maps points ``(P,)`` to non-negative values ``(P, C)`` and ``z`` holds the
    upper limits ``(N,)``.
    """

    n_nodes: int

    def forward(
        self, integrand: Integrand, z: torch.Tensor, moment_columns: slice = slice(0, 0)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class GaussLegendreQuadrature(QuadratureRule):
    """Per-cell Gauss-Legendre rule: ``int_0^z f = z/2 sum_i w_i f(z/2 (u_i + 1))``.

    Parameters
    ----------
    n_nodes
        Order ``n`` of the rule (the papers use 15).
    """

    def __init__(self, n_nodes: int = 15):
        super().__init__()
        nodes, weights = gauss_legendre(n_nodes)
        self.n_nodes = n_nodes
        self.register_buffer("nodes", torch.as_tensor(nodes, dtype=torch.float32))
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))

    def forward(
        self, integrand: Integrand, z: torch.Tensor, moment_columns: slice = slice(0, 0)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-cell Gauss-Legendre integrals and moments (see :class:`QuadratureRule`)."""
        half = z[:, None] / 2  # (N, 1)
        points = half * (self.nodes + 1)  # (N, n)
        values = integrand(points.reshape(-1)).reshape(z.shape[0], self.n_nodes, -1)
        weights = half * self.weights  # (N, n)
        integrals = torch.einsum("in,inc->ic", weights, values)
        moments = torch.einsum("in,inc->ic", weights * points, values[..., moment_columns])
        return integrals, moments


class ChebyshevQuadrature(QuadratureRule):
    """Exact integrals of a non-negative polynomial surrogate of ``f`` on the batch's range.

    ``f >= 0`` is evaluated once per minibatch at the ``M`` Chebyshev points of the first kind
    on ``[a, b]``, an interval holding 0 and every ``z_i`` (widened to at least ``[-1, 1]``).
    ``p``, the degree ``M - 1`` interpolant of ``sqrt(f)``, gives the surrogate ``p^2 >= 0``,
    whose integrals ``int_0^z p^2`` and moments ``int_0^z t p^2`` are polynomials computed
    exactly from ``p^2`` at ``2 M`` finer Chebyshev points: ``W(z) @ p^2(nodes)`` with a
    differentiable ``W(z)`` ``(N, 2M)``. Because the surrogate itself is non-negative, the
    integrals are non-decreasing in ``z`` for any network weights, so the families' shape
    guarantees hold exactly, not only up to quadrature error. For the smooth integrands of the
    decoder the error against ``f`` falls geometrically with ``M``.

    Parameters
    ----------
    n_nodes
        Number ``M`` of nodes at which ``f`` is evaluated.
    """

    def __init__(self, n_nodes: int = 48):
        super().__init__()
        if n_nodes < 2:
            raise ValueError(f"ChebyshevQuadrature needs at least 2 nodes, got {n_nodes}.")
        self.n_nodes = n_nodes
        coarse, fine = _chebyshev_points(n_nodes), _chebyshev_points(2 * n_nodes)
        # values of sqrt(f) at the coarse points -> values of its interpolant at the fine points
        coarse_to_fine = _chebyshev_vandermonde(fine, n_nodes - 1) @ _values_to_coefficients(
            n_nodes
        )
        # values at the fine points -> coefficients of the antiderivative in T_0 .. T_2M
        n_fine = 2 * n_nodes
        antiderivative = np.stack(
            [np.polynomial.chebyshev.chebint(np.eye(n_fine)[j]) for j in range(n_fine)], axis=1
        )
        # kept in float64: the weights of cells near z = 0 are differences of nearly equal
        # polynomial values, so rounding these matrices to float32 would cost accuracy
        for name, array in {
            "coarse_nodes": coarse,
            "fine_nodes": fine,
            "coarse_to_fine": coarse_to_fine,
            "values_to_antiderivative": antiderivative @ _values_to_coefficients(n_fine),
        }.items():
            self.register_buffer(name, torch.as_tensor(array, dtype=torch.float64))

    def domain(self, z: torch.Tensor) -> tuple[float, float]:
        """Interval ``[a, b]`` holding 0, ``[-1, 1]`` and every entry of ``z``."""
        z = z.detach()
        return min(float(z.min()), -1.0), max(float(z.max()), 1.0)

    def forward(
        self, integrand: Integrand, z: torch.Tensor, moment_columns: slice = slice(0, 0)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact integrals and moments of the surrogate ``p^2`` (see :class:`QuadratureRule`)."""
        lower, upper = self.domain(z)
        half_width, centre = (upper - lower) / 2, (upper + lower) / 2
        values = integrand((centre + half_width * self.coarse_nodes).to(z.dtype))  # (M, C)
        root = torch.sqrt(values.clamp_min(1e-30))
        surrogate = (self.coarse_to_fine.to(z.dtype) @ root).square()  # p^2 at fine points
        fine_points = (centre + half_width * self.fine_nodes).to(z.dtype)
        limits = torch.cat([z, z.new_zeros(1)]).double()
        polys = _chebyshev_polynomials((limits - centre) / half_width, 2 * self.n_nodes)
        weights = half_width * ((polys[:-1] - polys[-1]) @ self.values_to_antiderivative)
        weights = weights.to(z.dtype)  # (N, 2M)
        moments = weights @ (fine_points[:, None] * surrogate[:, moment_columns])
        return weights @ surrogate, moments


QUADRATURES: tuple[str, ...] = ("chebyshev", "gauss_legendre")
#: Nodes per rule when none are given: 48 Chebyshev nodes, the papers' Gauss-Legendre order 15.
DEFAULT_N_QUADRATURE: dict[str, int] = {"chebyshev": 48, "gauss_legendre": 15}


def make_quadrature(name: str, n_nodes: int | None = None) -> QuadratureRule:
    """Build the quadrature rule ``name`` (one of :data:`QUADRATURES`).

    Parameters
    ----------
    name
        ``"chebyshev"`` (:class:`ChebyshevQuadrature`) or ``"gauss_legendre"``
        (:class:`GaussLegendreQuadrature`).
    n_nodes
        Nodes of the rule; ``None`` takes :data:`DEFAULT_N_QUADRATURE`.
    """
    if name not in QUADRATURES:
        raise ValueError(f"Unknown quadrature {name!r}; choose one of {QUADRATURES}.")
    n_nodes = DEFAULT_N_QUADRATURE[name] if n_nodes is None else n_nodes
    rule = ChebyshevQuadrature if name == "chebyshev" else GaussLegendreQuadrature
    return rule(n_nodes)


def _chebyshev_points(n: int) -> np.ndarray:
    """Chebyshev points of the first kind on ``[-1, 1]``, ``(n,)``."""
    return np.cos(np.pi * (np.arange(n) + 0.5) / n)


def _values_to_coefficients(n: int) -> np.ndarray:
    """Matrix ``(n, n)`` from values at the ``n`` points to Chebyshev coefficients."""
    k, m = np.arange(n)[:, None], np.arange(n)[None, :]
    matrix = 2.0 / n * np.cos(np.pi * k * (m + 0.5) / n)
    matrix[0] /= 2
    return matrix


def _chebyshev_vandermonde(x: np.ndarray, degree: int) -> np.ndarray:
    """``T_0(x) .. T_degree(x)``, ``(len(x), degree + 1)``."""
    return np.polynomial.chebyshev.chebvander(x, degree)


def _chebyshev_polynomials(x: torch.Tensor, degree: int) -> torch.Tensor:
    """``T_0(x) .. T_degree(x)``, ``(len(x), degree + 1)``, for a 1-D ``x``.

    The values come from numpy's Chebyshev Vandermonde matrix rather than from hundreds of
    tiny recorded torch operations; the first derivative ``T_k'(x) = k U_{k-1}(x)`` (``U``:
    Chebyshev polynomials of the second kind) is attached so that gradients with respect to
    ``x`` are exact.
    """
    points = x.detach().cpu().double().numpy()
    second_kind = [np.ones_like(points), 2 * points]
    for _ in range(degree - 2):
        second_kind.append(2 * points * second_kind[-1] - second_kind[-2])
    slopes = np.arange(degree + 1) * np.column_stack(
        [np.zeros_like(points), *second_kind[:degree]]
    )
    values, slopes = (
        torch.as_tensor(array, dtype=x.dtype, device=x.device)
        for array in (_chebyshev_vandermonde(points, degree), slopes)
    )
    if not x.requires_grad:
        return values
    # value T(x), gradient T'(x): (x - x) is zero but carries x's gradient
    return values + (x - x.detach())[:, None] * slopes
