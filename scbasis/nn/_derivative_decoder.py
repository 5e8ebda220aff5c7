"""BasisDeVAE's decoder: every gene under every behaviour family, from one derivative network."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.functional import softplus

from ._derivative_network import DerivativeNetwork
from ._families import FAMILIES, families
from ._quadrature import DEFAULT_QUADRATURE_TOLERANCE, make_quadrature


def inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    """``softplus^{-1}(y) = log(expm1(y))``, stable for small and large ``y > 0``."""
    return y + torch.log(-torch.expm1(-y))


class DerivativeDecoder(nn.Module):
    """Gene curves ``g_jk(z)`` for the increasing, decreasing and transient families.

    A single network ``f_theta: R -> R^{d x 3}`` (softplus output) gives the derivatives; the
    integrals are taken by ``quadrature``. Per gene ``j`` the decoder also holds the value at 0
    ``x0_j`` (shared by the two monotone families), the transient's centre ``z0_j``, offset
    ``c_j`` and amplitude ``A_j > 0``.

    Parameters
    ----------
    n_genes
        Number of genes ``d``.
    n_hidden
        Hidden width of the derivative network.
    n_layers
        Hidden layers of the derivative network.
    activation
        Hidden activation of the derivative network.
    quadrature
        ``"chebyshev"`` (shared nodes per minibatch, fast) or ``"gauss_legendre"`` (per cell,
        the papers' rule).
    n_quadrature
        Nodes of the rule: the Gauss-Legendre order, or the number of Chebyshev nodes;
        ``None`` takes the rule's default (48 Chebyshev nodes, or 15 Gauss-Legendre nodes).
    quadrature_tolerance
        Error tolerance of the Chebyshev rule, which refines the outputs that need it (see
        :class:`~scbasis.nn.ChebyshevQuadrature`); ``None`` keeps ``n_quadrature`` nodes.
    x0_init
        Initial ``x0`` ``(d,)`` (e.g. the gene means on the decoder's scale); zeros if ``None``.
    amplitude_init
        Initial transient amplitudes ``A`` ``(d,)``; ``softplus(0)`` if ``None`` (the papers').
    baseline_init
        If given, the transient family gets a non-negative per-gene baseline,
        ``g_3 = b + A exp(-h^2)``, initialised to these values ``(d,)``. The shape is unchanged
        (single maximum at ``z0``, decay on both sides), but the gene may decay to a basal level
        rather than to 0, as transiently induced genes do in count data.
    transient_min_slope
        ``kappa`` in the transient's warp ``h = (z - z0) (kappa + softplus(...))``: the
        transient falls at least like ``exp(-kappa^2 (z - z0)^2)``, so a gene that stays on a
        plateau is explained by a monotone family rather than by a slow transient.
    """

    n_families = len(FAMILIES)

    def __init__(
        self,
        n_genes: int,
        n_hidden: int = 64,
        n_layers: int = 1,
        activation: str = "tanh",
        quadrature: str = "chebyshev",
        n_quadrature: int | None = None,
        quadrature_tolerance: float | None = DEFAULT_QUADRATURE_TOLERANCE,
        x0_init: np.ndarray | None = None,
        amplitude_init: np.ndarray | None = None,
        baseline_init: np.ndarray | None = None,
        transient_min_slope: float = 0.0,
    ):
        super().__init__()
        self.n_genes = n_genes
        self.transient_min_slope = transient_min_slope
        self.network = DerivativeNetwork(n_genes * self.n_families, n_hidden, n_layers, activation)
        self.quadrature = make_quadrature(quadrature, n_quadrature, quadrature_tolerance)
        x0 = torch.zeros(n_genes) if x0_init is None else torch.as_tensor(x0_init).float()
        amplitude = (
            torch.full((n_genes,), np.log(2.0))
            if amplitude_init is None
            else torch.as_tensor(amplitude_init).float()
        )
        self.x0 = nn.Parameter(x0.clone())
        self.centre = nn.Parameter(torch.zeros(n_genes))
        self.offset = nn.Parameter(torch.zeros(n_genes))
        self.amplitude_raw = nn.Parameter(inverse_softplus(amplitude))
        self.baseline_raw = (
            None
            if baseline_init is None
            else nn.Parameter(inverse_softplus(torch.as_tensor(baseline_init).float()))
        )

    @property
    def amplitude(self) -> torch.Tensor:
        """Transient amplitudes ``A_j = softplus(a_j) > 0``, ``(d,)``."""
        return softplus(self.amplitude_raw)

    def forward(self, z: torch.Tensor, log_transient_scale: bool = False) -> torch.Tensor:
        """Evaluate every gene under every family at latent times ``z``.

        Parameters
        ----------
        z
            Latent times, ``(N,)``.
        log_transient_scale
            Return ``log g_3`` instead of ``g_3`` for the transient family (count likelihoods
            use the monotone curves and ``log g_3`` as log-rates).

        Returns
        -------
        Curves, ``(N, d, 3)`` in the order of :data:`~scbasis.nn.FAMILIES` (see
        :func:`~scbasis.nn.families`).
        """
        d = self.n_genes
        integrals, moment = self.quadrature(self.network, z, moment_columns=slice(2 * d, 3 * d))
        log_baseline = None
        if self.baseline_raw is not None:
            log_baseline = torch.log(softplus(self.baseline_raw))
        return families(
            z,
            integrals,
            moment,
            self.x0,
            self.centre,
            self.offset,
            torch.log(self.amplitude),
            log_baseline,
            self.transient_min_slope,
            log_transient_scale,
        )
