"""The BasisDeVAE torch module: a derivative-space decoder with K = 3 clustered families."""

from __future__ import annotations

import math

import numpy as np
import torch

from scbasis.nn import (
    DEFAULT_QUADRATURE_TOLERANCE,
    FAMILIES,
    DerivativeDecoder,
    FeatureClustering,
)

from ._base import PseudotimeModule


class BasisDeVAEModule(PseudotimeModule):
    """BasisDeVAE: a 1-D latent pseudotime, a derivative-space decoder and collapsed clustering.

    The loss is the paper's eqs. 3-7 (see :class:`PseudotimeModule`): the clustering terms
    are the collapsed Dirichlet-categorical bound and ``E_q log q(w)``, the prior terms the MAP
    priors ``-sum_j [log N(z0_j | 0, 1) + log Gamma(A_j | 1, 1)]`` on the transients' centres
    and amplitudes.

    Parameters
    ----------
    n_input
        Number of genes ``d``.
    n_batch
        Number of batches (per-batch, per-gene offsets on the link scale).
    n_hidden
        Hidden width of the encoder, the derivative network and the zero-inflation network.
    n_layers_encoder
        Hidden layers of the encoder.
    n_layers_decoder
        Hidden layers of the derivative network.
    activation
        Hidden activation of the derivative network (``"tanh"``, ``"softplus"``, ...).
    likelihood
        ``"zinb"``, ``"nb"``, ``"poisson"`` (counts, means scaled by each cell's library size) or
        ``"gaussian"`` (the decoder's curves are the means).
    quadrature
        ``"chebyshev"`` (default, shared nodes per minibatch) or ``"gauss_legendre"``.
    n_quadrature
        Nodes of the rule; ``None`` takes 48 for Chebyshev and the papers' 15 for Gauss-Legendre.
    quadrature_tolerance
        Error tolerance of the Chebyshev rule (see :class:`~scbasis.nn.ChebyshevQuadrature`).
    likelihood_path
        ``"fused"`` (default) or ``"reference"`` (see :class:`PseudotimeModule`).
    alpha
        Dirichlet concentration of the clustering prior (the same for every family).
    beta
        Weight of ``KL(q(z) || p(z))``.
    gamma
        Weight of the collapsed clustering prior and of ``E_q(w) log q(w)``.
    x0_init
        Initial ``x0`` per gene (means for Gaussian data, log-rates for counts).
    amplitude_init
        Initial transient amplitudes per gene.
    baseline_init
        Initial basal levels of the transient family per gene; ``None`` gives the paper's
        transient without a basal level (see :class:`~scbasis.nn.DerivativeDecoder`).
    transient_min_slope
        Minimum slope ``kappa`` of the transient's warp (0: the paper's).
    """

    likelihoods = ("zinb", "nb", "poisson", "gaussian")

    def __init__(
        self,
        n_input: int,
        *,
        n_batch: int = 1,
        n_hidden: int = 64,
        n_layers_encoder: int = 1,
        n_layers_decoder: int = 1,
        activation: str = "tanh",
        likelihood: str = "zinb",
        quadrature: str = "chebyshev",
        n_quadrature: int | None = None,
        quadrature_tolerance: float | None = DEFAULT_QUADRATURE_TOLERANCE,
        likelihood_path: str = "fused",
        alpha: float = 0.1,
        beta: float = 1.0,
        gamma: float = 1.0,
        x0_init: np.ndarray | None = None,
        amplitude_init: np.ndarray | None = None,
        baseline_init: np.ndarray | None = None,
        transient_min_slope: float = 0.0,
    ):
        super().__init__(
            n_input,
            n_latent=1,
            n_batch=n_batch,
            n_hidden=n_hidden,
            n_layers_encoder=n_layers_encoder,
            activation=activation,
            likelihood=likelihood,
            likelihood_path=likelihood_path,
            beta=beta,
            gamma=gamma,
        )
        self.decoder = DerivativeDecoder(
            n_input,
            n_hidden=n_hidden,
            n_layers=n_layers_decoder,
            activation=activation,
            quadrature=quadrature,
            n_quadrature=n_quadrature,
            quadrature_tolerance=quadrature_tolerance,
            x0_init=x0_init,
            amplitude_init=amplitude_init,
            baseline_init=baseline_init,
            transient_min_slope=transient_min_slope,
        )
        self.clustering = FeatureClustering(n_input, len(FAMILIES), alpha, "collapsed")

    @property
    def phi(self) -> torch.Tensor:
        """Cluster probabilities ``q(w_j = k)``, ``(d, 3)``."""
        return self.clustering.phi

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Every gene under every family, ``(N, d, 3)``: log-rates for counts, else means."""
        return self.decoder(z[:, 0], log_transient_scale=self.is_count_model)

    def clustering_terms(self, phi: torch.Tensor) -> dict[str, torch.Tensor]:
        """``-(log B(n + alpha) - log B(alpha))`` and ``E_q log q(w)``."""
        return self.clustering(phi)

    def prior_terms(self) -> dict[str, torch.Tensor]:
        """``transient_prior = -sum_j [log N(z0_j | 0, 1) + log Gamma(A_j | 1, 1)]``."""
        centre = self.decoder.centre
        prior = (0.5 * centre.square() + 0.5 * math.log(2 * math.pi)).sum()
        return {"transient_prior": prior + self.decoder.amplitude.sum()}
