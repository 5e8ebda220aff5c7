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


#: Below this, ``log softplus(x)`` is ``x`` to within ``exp(x) / 2 < 1.6e-7``.
_LOG_SOFTPLUS_LINEAR_BELOW = -15.0


def log_softplus(x: torch.Tensor) -> torch.Tensor:
    """``log(softplus(x))`` without underflow: ``softplus(x)`` rounds to 0 in float32 below
    about ``x = -88``, where its log would be ``-inf`` and its gradient infinite."""
    linear = x < _LOG_SOFTPLUS_LINEAR_BELOW
    return torch.where(linear, x, torch.log(softplus(x.clamp_min(_LOG_SOFTPLUS_LINEAR_BELOW))))


class DerivativeDecoder(nn.Module):
    """Gene curves ``g_jk(z)`` for the increasing, decreasing and transient families.

    A single network ``f_theta: R -> R^{d x 3}`` (softplus output) gives the derivatives; the
    integrals are taken by ``quadrature``. Per gene ``j`` the decoder also holds the value at 0
    ``x0_j`` (shared by the two monotone families), the transient's centre ``z0_j``, offset
    ``c_j`` and amplitude ``A_j > 0``.

    Parameters
    ----------
    n_features
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
    intercept_init
        Initial ``x0`` ``(d,)`` (e.g. the gene means on the decoder's scale); zeros if ``None``.
    amplitude_init
        Initial transient amplitudes ``A`` ``(d,)``; ``softplus(0)`` if ``None`` (the papers').
    basal_level
        Give the transient family a non-negative per-gene basal level,
        ``g_3 = b + A exp(-h^2)``. The shape is unchanged (single maximum at ``z0``, decay on
        both sides), but the gene may decay to a basal level rather than to 0, as transiently
        induced genes do in count data. ``False``: the papers' transient.
    baseline_init
        Initial basal levels ``b`` ``(d,)`` (``basal_level``); ``softplus(0)`` if ``None``.
    log_transient
        Return ``log g_3`` instead of ``g_3`` for the transient family (count likelihoods
        use the monotone curves and ``log g_3`` as log-rates).
    transient_min_slope
        ``kappa`` in the transient's warp ``h = (z - z0) (kappa + softplus(...))``: the
        transient falls at least like ``exp(-kappa^2 (z - z0)^2)``, so a gene that stays on a
        plateau is explained by a monotone family rather than by a slow transient.
    """

    n_families = len(FAMILIES)

    def __init__(
        self,
        n_features: int,
        n_hidden: int = 64,
        n_layers: int = 1,
        activation: str = "tanh",
        quadrature: str = "chebyshev",
        n_quadrature: int | None = None,
        quadrature_tolerance: float | None = DEFAULT_QUADRATURE_TOLERANCE,
        intercept_init: np.ndarray | None = None,
        amplitude_init: np.ndarray | None = None,
        basal_level: bool = False,
        baseline_init: np.ndarray | None = None,
        log_transient: bool = False,
        transient_min_slope: float = 0.0,
    ):
        super().__init__()
        self.n_features = n_features
        self.log_transient = log_transient
        self.transient_min_slope = transient_min_slope
        self.network = DerivativeNetwork(
            n_features * self.n_families, n_hidden, n_layers, activation
        )
        self.quadrature = make_quadrature(quadrature, n_quadrature, quadrature_tolerance)
        self.x0 = nn.Parameter(_per_feature(intercept_init, n_features, 0.0))
        self.centre = nn.Parameter(torch.zeros(n_features))
        self.offset = nn.Parameter(torch.zeros(n_features))
        softplus_zero = float(np.log(2.0))
        amplitude = _per_feature(amplitude_init, n_features, softplus_zero)
        self.amplitude_raw = nn.Parameter(inverse_softplus(amplitude))
        self.baseline_raw = None
        if basal_level:
            baseline = _per_feature(baseline_init, n_features, softplus_zero)
            self.baseline_raw = nn.Parameter(inverse_softplus(baseline))

    @property
    def amplitude(self) -> torch.Tensor:
        """Transient amplitudes ``A_j = softplus(a_j) > 0``, ``(d,)``."""
        return softplus(self.amplitude_raw)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Evaluate every gene under every family at latent times ``z``.

        Parameters
        ----------
        z
            Latent times, ``(N,)``.

        Returns
        -------
        torch.Tensor
            Curves, ``(N, d, 3)`` in the order of :data:`~scbasis.nn.FAMILIES` (see
            :func:`~scbasis.nn.families`).
        """
        d = self.n_features
        transient = FAMILIES.index("transient")
        integrals, moment = self.quadrature(
            self.network, z, moment_columns=slice(transient * d, (transient + 1) * d)
        )
        log_baseline = None
        if self.baseline_raw is not None:
            log_baseline = log_softplus(self.baseline_raw)
        return families(
            z,
            integrals,
            moment,
            self.x0,
            self.centre,
            self.offset,
            log_softplus(self.amplitude_raw),
            log_baseline,
            self.transient_min_slope,
            self.log_transient,
        )


def _per_feature(values: np.ndarray | None, n_features: int, default: float) -> torch.Tensor:
    """``values`` as a float32 tensor ``(d,)``, or ``default`` for every feature if ``None``."""
    if values is None:
        return torch.full((n_features,), default)
    return torch.as_tensor(values, dtype=torch.float32).clone()
