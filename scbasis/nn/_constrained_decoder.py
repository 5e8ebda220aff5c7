"""DeVAE's decoder: ``x(z) = x0 + sum_p int_0^{z_p} f^(p)``, each feature's shape constrained."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ._derivative_network import DerivativeNetwork
from ._quadrature import DEFAULT_QUADRATURE_TOLERANCE, make_quadrature

CONSTRAINTS: tuple[str, ...] = ("increasing", "decreasing", "free")


def check_constraints(constraints: Sequence[str]) -> list[str]:
    """Return ``constraints`` as a list if every entry is one of :data:`CONSTRAINTS`."""
    constraints = [str(c) for c in constraints]
    unknown = sorted(set(constraints) - set(CONSTRAINTS))
    if unknown:
        raise ValueError(f"Unknown constraints {unknown}; each must be one of {CONSTRAINTS}.")
    return constraints


class ConstrainedDerivativeDecoder(nn.Module):
    """Feature curves written in derivative space, additive over latent dimensions.

    ``x_j(z) = x0_j + sum_p int_0^{z_p} f_j^(p)(t) dt`` (DeVAE, paper section 3), where each
    ``f^(p)`` is a network of its own latent coordinate. Each feature's derivative is
    non-negative (``"increasing"``), non-positive (``"decreasing"``) or of either sign
    (``"free"``, written as the difference of two non-negative outputs), in every latent
    dimension; the non-negative integrands are integrated by ``quadrature``, so the shape
    guarantees hold for any network weights.

    Parameters
    ----------
    constraints
        One of ``CONSTRAINTS`` per feature, length ``d``.
    n_latent
        Latent dimension ``p``.
    n_hidden
        Hidden width of the derivative networks.
    n_layers
        Hidden layers of the derivative networks.
    activation
        Hidden activation of the derivative networks.
    quadrature
        ``"chebyshev"`` (:class:`~scbasis.nn.ChebyshevQuadrature`) or ``"gauss_legendre"``
        (:class:`~scbasis.nn.GaussLegendreQuadrature`).
    n_quadrature
        Nodes of the rule; ``None`` takes the rule's default.
    quadrature_tolerance
        Error tolerance of the Chebyshev rule (see :class:`~scbasis.nn.ChebyshevQuadrature`).
    intercept_init
        Initial ``x0`` ``(d,)``; zeros if ``None``.
    """

    def __init__(
        self,
        constraints: Sequence[str],
        n_latent: int = 1,
        n_hidden: int = 64,
        n_layers: int = 1,
        activation: str = "tanh",
        quadrature: str = "chebyshev",
        n_quadrature: int | None = None,
        quadrature_tolerance: float | None = DEFAULT_QUADRATURE_TOLERANCE,
        intercept_init: np.ndarray | None = None,
    ):
        super().__init__()
        constraints = check_constraints(constraints)
        self.n_features = len(constraints)
        # one non-negative integrand column per rising part (+1) and falling part (-1)
        columns = [
            (j, sign)
            for j, c in enumerate(constraints)
            for sign, applies in ((1.0, c != "decreasing"), (-1.0, c != "increasing"))
            if applies
        ]
        feature, sign = zip(*columns, strict=True)
        self.register_buffer("column_feature", torch.as_tensor(feature, dtype=torch.long))
        self.register_buffer("column_sign", torch.as_tensor(sign, dtype=torch.float32))
        self.networks = nn.ModuleList(
            DerivativeNetwork(len(columns), n_hidden, n_layers, activation)
            for _ in range(n_latent)
        )
        self.quadrature = make_quadrature(quadrature, n_quadrature, quadrature_tolerance)
        x0 = (
            torch.zeros(self.n_features)
            if intercept_init is None
            else torch.as_tensor(intercept_init)
        )
        self.x0 = nn.Parameter(x0.float().clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Evaluate every feature at latent points ``z``.

        Parameters
        ----------
        z
            Latent points, ``(N, p)``.

        Returns
        -------
        torch.Tensor
            ``x(z)``, shape ``(N, d, 1)`` (one curve per feature, as a single family).
        """
        signed = sum(
            self.quadrature(network, z[:, p])[0] for p, network in enumerate(self.networks)
        ) * self.column_sign.to(z.dtype)
        change = z.new_zeros(z.shape[0], self.n_features).index_add(1, self.column_feature, signed)
        return (self.x0 + change)[..., None]
