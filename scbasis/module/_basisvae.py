"""The BasisVAE torch module (Märtens & Yau, AISTATS 2020): clustered basis functions."""

from __future__ import annotations

import math

import numpy as np
import torch

from scbasis.nn import BasisDecoder

from ._clustered import ClusteredPseudotimeModule


class BasisVAEModule(ClusteredPseudotimeModule):
    """BasisVAE: feature ``j`` follows ``lambda_jk f^(k)(z + delta_jk)`` under basis ``k``.

    The objective is appendix B's beta-weighted ELBO: ``beta`` weighs both
    ``KL(q(z) || p(z))`` and the clustering terms of ``inference`` (see
    :class:`~scbasis.nn.FeatureClustering`). The priors ``delta_jk ~ N(0, 1)`` and
    ``lambda_jk ~ Gamma(1, 1)`` enter as MAP terms.

    Parameters
    ----------
    n_input
        Number of features ``d``.
    n_latent
        Latent dimension ``p``.
    n_batch
        Number of batches (per-batch, per-feature offsets on the link scale).
    n_basis
        Number of basis functions ``K``.
    n_hidden
        Hidden width of the encoder, the basis network.
    n_layers_encoder
        Hidden layers of the encoder.
    activation
        Hidden activation of the basis network.
    basis_network
        ``"mlp"`` (one hidden layer) or ``"linear"`` (the papers' "Linear" baseline).
    likelihood
        ``"gaussian"``, ``"bernoulli"``, ``"nb"``, ``"zinb"`` or ``"poisson"``.
    likelihood_path
        ``"fused"`` (default) or ``"reference"`` (see :class:`PseudotimeModule`).
    scale_invariance, translation_invariance
        Learn ``lambda`` resp. ``delta`` (see :class:`~scbasis.nn.BasisDecoder`).
    inference
        ``"collapsed"``, ``"fixed_pi"`` or ``"non_collapsed"``.
    alpha
        Dirichlet concentration of ``p(pi)``.
    beta
        Weight of ``KL(q(z) || p(z))`` and of the clustering terms.
    max_delta, min_lambda, max_lambda
        Bounds on ``|delta|`` and ``lambda``.
    intercept_init
        Initial per-feature intercepts on the link scale ``(d,)``.
    """

    def __init__(
        self,
        n_input: int,
        *,
        n_latent: int = 1,
        n_batch: int = 1,
        n_basis: int = 3,
        n_hidden: int = 64,
        n_layers_encoder: int = 1,
        activation: str = "tanh",
        basis_network: str = "mlp",
        likelihood: str = "gaussian",
        likelihood_path: str = "fused",
        scale_invariance: bool = True,
        translation_invariance: bool = False,
        inference: str = "collapsed",
        alpha: float = 1.0,
        beta: float = 1.0,
        max_delta: float = 1.5,
        min_lambda: float = 0.25,
        max_lambda: float = 1.75,
        intercept_init: np.ndarray | None = None,
    ):
        super().__init__(
            n_input,
            n_latent=n_latent,
            n_batch=n_batch,
            n_hidden=n_hidden,
            n_layers_encoder=n_layers_encoder,
            likelihood=likelihood,
            likelihood_path=likelihood_path,
            beta=beta,
            gamma=beta,
        )
        self.decoder = BasisDecoder(
            n_input,
            n_latent=n_latent,
            n_basis=n_basis,
            n_hidden=n_hidden,
            activation=activation,
            basis_network=basis_network,
            scale_invariance=scale_invariance,
            translation_invariance=translation_invariance,
            max_delta=max_delta,
            min_lambda=min_lambda,
            max_lambda=max_lambda,
            intercept_init=intercept_init,
        )
        # random starting assignments break the symmetry between the basis functions
        families = tuple(f"basis_{k}" for k in range(n_basis))
        self.add_clustering(families, alpha, inference, logits_init_sd=1.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Every feature under every basis function on the link scale, ``(N, d, K)``."""
        return self.decoder(z)

    def prior_terms(self) -> dict[str, torch.Tensor]:
        """MAP terms ``delta_prior = -sum log N(delta | 0, 1)`` (translation invariance) and
        ``lambda_prior = -sum log Gamma(lambda | 1, 1)`` (scale invariance)."""
        terms = {}
        delta, scaling = self.decoder.delta, self.decoder.scaling
        if delta is not None:
            terms["delta_prior"] = (0.5 * delta.square() + 0.5 * math.log(2 * math.pi)).sum()
        if scaling is not None:
            terms["lambda_prior"] = scaling.sum()
        return terms
