"""The BasisDeVAE torch module: inference, generative model and loss (paper eqs. 3-7)."""

from __future__ import annotations

import math

import numpy as np
import torch
from scvi import REGISTRY_KEYS
from scvi.module.base import BaseModuleClass, LossOutput, auto_move_data
from scvi.nn import Encoder
from torch import nn
from torch.distributions import Normal, kl_divergence
from torch.nn.functional import softplus

from scbasis.nn import (
    COUNT_LIKELIHOODS,
    FAMILIES,
    DerivativeDecoder,
    cell_log_likelihood,
    collapsed_dirichlet_categorical,
    expected_log_q,
    family_log_likelihood,
)
from scbasis.nn._derivative_network import make_activation
from scbasis.nn._likelihoods import check_likelihood

DEFAULT_N_QUADRATURE = {"chebyshev": 48, "gauss_legendre": 15}
LIKELIHOOD_PATHS = ("fused", "reference")


class BasisDeVAEModule(BaseModuleClass):
    """BasisDeVAE: a 1-D latent pseudotime and a derivative-space decoder with K = 3 families.

    Parameters
    ----------
    n_input
        Number of genes ``d``.
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
    likelihood_path
        ``"fused"`` (default): the loss's ``sum_jk phi_jk log p(x_ij | z_i, k)`` from
        :func:`~scbasis.nn.cell_log_likelihood`, family-independent terms once per
        ``(cell, gene)`` and only at non-zero counts. ``"reference"``: every family through
        scvi-tools' / torch's distributions (:func:`~scbasis.nn.family_log_likelihood`), kept
        for tests and benchmarks.
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

    def __init__(
        self,
        n_input: int,
        *,
        n_hidden: int = 64,
        n_layers_encoder: int = 1,
        n_layers_decoder: int = 1,
        activation: str = "tanh",
        likelihood: str = "zinb",
        quadrature: str = "chebyshev",
        n_quadrature: int | None = None,
        likelihood_path: str = "fused",
        alpha: float = 0.1,
        beta: float = 1.0,
        gamma: float = 1.0,
        x0_init: np.ndarray | None = None,
        amplitude_init: np.ndarray | None = None,
        baseline_init: np.ndarray | None = None,
        transient_min_slope: float = 0.0,
    ):
        super().__init__()
        self.likelihood = check_likelihood(likelihood)
        self.is_count_model = likelihood in COUNT_LIKELIHOODS
        if likelihood_path not in LIKELIHOOD_PATHS:
            raise ValueError(
                f"Unknown likelihood_path {likelihood_path!r}; choose one of {LIKELIHOOD_PATHS}."
            )
        self.likelihood_path = likelihood_path
        self.beta = beta
        self.gamma = gamma
        self.register_buffer("alpha", torch.full((len(FAMILIES),), float(alpha)))
        self.encoder = Encoder(
            n_input,
            1,
            n_layers=n_layers_encoder,
            n_hidden=n_hidden,
            dropout_rate=0.0,
            use_batch_norm=False,
            return_dist=True,
        )
        self.decoder = DerivativeDecoder(
            n_input,
            n_hidden=n_hidden,
            n_layers=n_layers_decoder,
            activation=activation,
            quadrature=quadrature,
            n_quadrature=n_quadrature or DEFAULT_N_QUADRATURE.get(quadrature, 15),
            x0_init=x0_init,
            amplitude_init=amplitude_init,
            baseline_init=baseline_init,
            transient_min_slope=transient_min_slope,
        )
        self.assignment_logits = nn.Parameter(torch.ones(n_input, len(FAMILIES)))
        if likelihood in ("nb", "zinb"):
            self.log_theta = nn.Parameter(torch.zeros(n_input))
        if likelihood == "zinb":
            self.zero_inflation = nn.Sequential(
                nn.Linear(1, n_hidden), make_activation(activation)(), nn.Linear(n_hidden, n_input)
            )
        if likelihood == "gaussian":
            self.scale_raw = nn.Parameter(torch.full((n_input,), -2.0))

    @property
    def phi(self) -> torch.Tensor:
        """Cluster probabilities ``q(w_j = k)``, ``(d, K)``."""
        return torch.softmax(self.assignment_logits, dim=-1)

    def _get_inference_input(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {
            "x": tensors[REGISTRY_KEYS.X_KEY],
            "size_factor": tensors.get(REGISTRY_KEYS.SIZE_FACTOR_KEY),
        }

    def _get_generative_input(
        self, tensors: dict[str, torch.Tensor], inference_outputs: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        return {"z": inference_outputs["z"], "library": inference_outputs["library"]}

    @auto_move_data
    def inference(
        self, x: torch.Tensor, size_factor: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor | Normal]:
        """Encode cells into ``q(z | x)`` and sample ``z``.

        Parameters
        ----------
        x
            Data ``(N, d)``: counts, or values for the Gaussian likelihood.
        size_factor
            Per-cell size factors ``(N, 1)``; the observed total counts are used when ``None``.

        Returns
        -------
        ``qz`` (Normal over ``(N, 1)``), a sample ``z`` ``(N, 1)`` and the log library size
        ``library`` ``(N, 1)`` (zeros for the Gaussian likelihood).
        """
        encoder_input = torch.log1p(x) if self.is_count_model else x
        qz, z = self.encoder(encoder_input)
        if not self.is_count_model:
            library = x.new_zeros(x.shape[0], 1)
        elif size_factor is not None:
            library = torch.log(size_factor)
        else:
            library = torch.log(x.sum(1, keepdim=True))
        return {"qz": qz, "z": z, "library": library}

    @auto_move_data
    def generative(self, z: torch.Tensor, library: torch.Tensor) -> dict[str, torch.Tensor]:
        """Means of every gene under every family at ``z``.

        Parameters
        ----------
        z
            Latent times ``(N, 1)``.
        library
            Log library sizes ``(N, 1)``.

        Returns
        -------
        ``mean`` ``(N, d, K)`` (for counts also ``log_mean``) and the likelihood's other
        parameters: ``theta`` ``(d,)``, ``zi_logits`` ``(N, d)``, ``scale`` ``(d,)`` where they
        apply.
        """
        outputs: dict[str, torch.Tensor] = {}
        if self.is_count_model:
            log_mean = self.decoder(z[:, 0], log_transient_scale=True) + library[..., None]
            outputs["log_mean"] = log_mean
            outputs["mean"] = torch.exp(log_mean)
        else:
            outputs["mean"] = self.decoder(z[:, 0])
            outputs["scale"] = 1e-4 + softplus(self.scale_raw)
        if self.likelihood in ("nb", "zinb"):
            outputs["theta"] = torch.exp(self.log_theta)
        if self.likelihood == "zinb":
            outputs["zi_logits"] = self.zero_inflation(z)
        return outputs

    def family_log_likelihood(
        self, x: torch.Tensor, generative_outputs: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """``log p(x_ij | z_i, family k)`` through the distributions, ``(N, d, K)``."""
        parameters = {k: v for k, v in generative_outputs.items() if k != "log_mean"}
        return family_log_likelihood(x, self.likelihood, **parameters)

    def cell_log_likelihood(
        self,
        x: torch.Tensor,
        generative_outputs: dict[str, torch.Tensor],
        phi: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``sum_jk phi_jk log p(x_ij | z_i, family k)`` per cell, ``(N,)``.

        Taken by the path chosen with ``likelihood_path``; ``phi`` ``(d, K)`` defaults to the
        assignment posterior :attr:`phi`.
        """
        phi = self.phi if phi is None else phi
        if self.likelihood_path == "reference":
            log_p = self.family_log_likelihood(x, generative_outputs)
            return torch.einsum("idk,dk->i", log_p, phi)
        return cell_log_likelihood(x, self.likelihood, phi, **generative_outputs)

    def transient_prior(self) -> torch.Tensor:
        """MAP prior term ``-sum_j [log N(z0_j | 0, 1) + log Gamma(A_j | 1, 1)]``, a scalar."""
        centre = self.decoder.centre
        return (0.5 * centre.square() + 0.5 * math.log(2 * math.pi)).sum() + (
            self.decoder.amplitude.sum()
        )

    def loss(
        self,
        tensors: dict[str, torch.Tensor],
        inference_outputs: dict[str, torch.Tensor],
        generative_outputs: dict[str, torch.Tensor],
        kl_weight: float = 1.0,
        n_obs: int = 1,
    ) -> LossOutput:
        """The BasisDeVAE objective, per cell of the training set.

        The paper's loss (eqs. 3-7) sums cell-level terms over all ``N`` cells and adds the
        global terms once. With minibatches of ``B`` cells we minimise that loss divided by
        ``N``: the minibatch mean of the cell-level terms plus the global terms over ``N``.

        Parameters
        ----------
        tensors, inference_outputs, generative_outputs
            As produced by the forward pass.
        kl_weight
            Annealing factor in ``[0, 1]`` (from the training plan) applied to ``beta`` and
            ``gamma``.
        n_obs
            Number of training cells ``N``, set by the training plan.

        Returns
        -------
        :class:`~scvi.module.base.LossOutput` with the unweighted ELBO terms:
        ``reconstruction_loss`` and ``kl_local`` per cell, ``kl_global`` (collapsed prior,
        ``E_q log q(w)`` and the MAP priors) and every term in ``extra_metrics``.
        """
        x = tensors[REGISTRY_KEYS.X_KEY]
        phi = self.phi
        reconstruction = -self.cell_log_likelihood(x, generative_outputs, phi)
        qz = inference_outputs["qz"]
        kl_z = kl_divergence(qz, Normal(torch.zeros_like(qz.loc), torch.ones_like(qz.scale)))
        kl_z = kl_z.sum(-1)
        collapsed = -collapsed_dirichlet_categorical(phi, self.alpha)
        neg_entropy = expected_log_q(phi)
        prior = self.transient_prior()
        beta, gamma = self.beta * kl_weight, self.gamma * kl_weight
        global_terms = gamma * (collapsed + neg_entropy) + prior
        loss = torch.mean(reconstruction + beta * kl_z) + global_terms / n_obs
        return LossOutput(
            loss=loss,
            reconstruction_loss=reconstruction,
            kl_local=kl_z,
            kl_global=collapsed + neg_entropy + prior,
            extra_metrics={
                "collapsed_prior": collapsed.detach(),
                "expected_log_q_w": neg_entropy.detach(),
                "transient_prior": prior.detach(),
            },
        )

    @torch.inference_mode()
    def marginal_ll(
        self, tensors: dict[str, torch.Tensor], n_mc_samples: int = 100, return_mean: bool = False
    ) -> torch.Tensor | float:
        """Importance-sampling estimate of ``log p(x_i)`` with ``q(z | x)`` as proposal.

        The likelihood of a cell is taken under the assignment posterior, ``sum_jk phi_jk
        log p(x_ij | z, k)``, as in the training objective.

        Returns
        -------
        Per-cell estimates ``(N,)``, or their mean when ``return_mean``.
        """
        inference_outputs = self.inference(**self._get_inference_input(tensors))
        qz, library = inference_outputs["qz"], inference_outputs["library"]
        x = tensors[REGISTRY_KEYS.X_KEY].to(qz.loc.device)
        log_weights = []
        for _ in range(n_mc_samples):
            z = qz.sample()
            generative_outputs = self.generative(z, library)
            log_px = self.cell_log_likelihood(x, generative_outputs)
            log_pz = Normal(0.0, 1.0).log_prob(z).sum(-1)
            log_weights.append(log_px + log_pz - qz.log_prob(z).sum(-1))
        log_ml = torch.logsumexp(torch.stack(log_weights), dim=0) - math.log(n_mc_samples)
        return log_ml.mean().item() if return_mean else log_ml
