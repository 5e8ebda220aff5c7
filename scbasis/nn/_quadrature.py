"""Quadrature rules for the decoder's integrals ``int_0^z f(t) dt``.

Every rule integrates a vector-valued integrand ``f: R -> R^C`` from 0 to each cell's
latent value ``z_i`` and returns ``(N, C)``. They differ in where ``f`` is evaluated:

* :class:`GaussLegendreQuadrature` is the papers' rule: ``n`` nodes per cell, so the
  integrand network runs ``N * n`` times per minibatch.
* :class:`ChebyshevQuadrature` evaluates ``f`` once at ``M`` Chebyshev nodes spanning the
  minibatch's latent range and integrates the interpolant exactly, so the network runs
  ``M`` times per minibatch whatever ``N`` is, and every cell's integral is one row of a
  ``(N, M) @ (M, C)`` product.
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


class GaussLegendreQuadrature(nn.Module):
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

    def forward(self, integrand: Integrand, z: torch.Tensor) -> torch.Tensor:
        """Integrate ``integrand`` from 0 to every entry of ``z``.

        Parameters
        ----------
        integrand
            Maps points ``(P,)`` to values ``(P, C)``.
        z
            Upper limits, shape ``(N,)``.

        Returns
        -------
        Integrals, shape ``(N, C)``.
        """
        half = z[:, None] / 2  # (N, 1)
        points = half * (self.nodes + 1)  # (N, n)
        values = integrand(points.reshape(-1)).reshape(z.shape[0], self.n_nodes, -1)
        return half * torch.einsum("n,inc->ic", self.weights, values)


class ChebyshevQuadrature(nn.Module):
    """Integrate the Chebyshev interpolant of ``f`` on the minibatch's latent range.

    ``f`` is evaluated at the ``M`` Chebyshev points of the first kind on ``[a, b]``, an
    interval holding 0 and every ``z_i`` (widened to at least ``[-1, 1]``). The interpolant's
    antiderivative is exact, so ``int_0^{z_i} f`` is ``W(z) @ f(nodes)`` where ``W(z)``
    ``(N, M)`` depends on ``z`` only through Chebyshev polynomials and is differentiable.
    For the smooth integrands of the decoder (compositions of tanh / softplus layers), the
    error falls geometrically with ``M``; ``benchmarks/epoch_time.py`` measures it against
    per-cell Gauss-Legendre.

    Parameters
    ----------
    n_nodes
        Number ``M`` of interpolation nodes.
    """

    def __init__(self, n_nodes: int = 48):
        super().__init__()
        if n_nodes < 2:
            raise ValueError(f"ChebyshevQuadrature needs at least 2 nodes, got {n_nodes}.")
        self.n_nodes = n_nodes
        m = np.arange(n_nodes)
        nodes = np.cos(np.pi * (m + 0.5) / n_nodes)  # on [-1, 1]
        # values -> Chebyshev coefficients c_k (discrete cosine transform), (M, M)
        k = np.arange(n_nodes)[:, None]
        to_coefficients = 2.0 / n_nodes * np.cos(np.pi * k * (m[None, :] + 0.5) / n_nodes)
        to_coefficients[0] /= 2
        # coefficients of f -> coefficients of its antiderivative in T_0..T_M, (M + 1, M)
        antiderivative = np.stack(
            [np.polynomial.chebyshev.chebint(np.eye(n_nodes)[j]) for j in range(n_nodes)],
            axis=1,
        )
        self.register_buffer("unit_nodes", torch.as_tensor(nodes, dtype=torch.float32))
        self.register_buffer(
            "values_to_antiderivative",
            torch.as_tensor(antiderivative @ to_coefficients, dtype=torch.float32),
        )

    @staticmethod
    def _chebyshev_polynomials(x: torch.Tensor, degree: int) -> torch.Tensor:
        """``T_0(x) .. T_degree(x)`` by the three-term recurrence, ``(*x.shape, degree + 1)``."""
        polys = [torch.ones_like(x), x]
        for _ in range(degree - 1):
            polys.append(2 * x * polys[-1] - polys[-2])
        return torch.stack(polys[: degree + 1], dim=-1)

    def domain(self, z: torch.Tensor) -> tuple[float, float]:
        """Interval ``[a, b]`` holding 0, ``[-1, 1]`` and every entry of ``z``."""
        z = z.detach()
        return min(float(z.min()), -1.0), max(float(z.max()), 1.0)

    def forward(self, integrand: Integrand, z: torch.Tensor) -> torch.Tensor:
        """Integrate ``integrand`` from 0 to every entry of ``z``.

        Parameters
        ----------
        integrand
            Maps points ``(P,)`` to values ``(P, C)``.
        z
            Upper limits, shape ``(N,)``.

        Returns
        -------
        Integrals, shape ``(N, C)``.
        """
        lower, upper = self.domain(z)
        half_width, centre = (upper - lower) / 2, (upper + lower) / 2
        values = integrand(centre + half_width * self.unit_nodes)  # (M, C)
        limits = torch.cat([z, z.new_zeros(1)])
        polys = self._chebyshev_polynomials((limits - centre) / half_width, self.n_nodes)
        weights = (polys[:-1] - polys[-1]) @ self.values_to_antiderivative  # (N, M)
        return half_width * (weights @ values)
