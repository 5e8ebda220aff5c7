"""What every scbasis module shares: encoder, library sizes, batch offsets and the ELBO; the
observation model comes from ``_observation.py``."""

from __future__ import annotations

import torch
from scvi import REGISTRY_KEYS
from scvi.module._constants import MODULE_KEYS  # where scvi-tools' own modules import it
from scvi.module.base import BaseModuleClass, LossOutput, auto_move_data
from scvi.nn import Encoder
from torch import nn
from torch.distributions import Distribution, Normal, kl_divergence

from scbasis._constants import SCBASIS_MODULE_KEYS
from scbasis.nn import LIKELIHOODS, DataRange, LibraryTrend
from scbasis.nn._likelihoods import COUNT_LIKELIHOODS, check_likelihood

from ._evaluation import EvaluationMixin
from ._observation import ObservationMixin

#: How the loss computes the likelihood: ``"fused"`` (family-independent terms once, count
#: terms at non-zero counts only) or ``"reference"`` (every family through the distributions).
LIKELIHOOD_PATHS: tuple[str, ...] = ("fused", "reference")
#: How count models take each cell's library size from its total count (see the module).
LIBRARY_SIZES: tuple[str, ...] = ("observed", "trend")
_ZI_LOGIT_INIT = -2.0  # zero-inflation probability 0.12 at the start


class PseudotimeModule(EvaluationMixin, ObservationMixin, BaseModuleClass):
    """Base of the scbasis modules: ``q(z | x)``, curves per feature and family, and the ELBO.

    A subclass provides the decoder through :meth:`decode` (each feature's curve on the
    likelihood's link scale) and the MAP terms of its global parameters through
    :meth:`prior_terms`; :class:`~scbasis.module.ClusteredPseudotimeModule` adds one curve per
    family and the assignments :attr:`phi`. This base adds per-batch, per-feature offsets on
    the link scale and the observation model:

    * counts (``"zinb"``, ``"nb"``, ``"poisson"``): ``log mu = curve + offset + log l_i``, with
      ``l_i`` the cell's library size: its size factor when given, else its total count
      ``T_i`` (``library_size="observed"``) or ``T_i`` corrected for the trend of totals along
      the pseudotime (``"trend"``, :class:`~scbasis.nn.LibraryTrend`), so that genes that carry
      many counts do not bend every other gene's curve; ZINB has one zero-inflation
      probability per gene, so that ``E[x_ij] = (1 - pi_j) mu_ij`` keeps the curve's shape;
    * ``"gaussian"``: ``mean = curve + offset``;
    * ``"bernoulli"``: ``logit = curve + offset``.

    The encoder (scvi-tools' :class:`~scvi.nn.Encoder`) reads ``log1p(counts)`` or the values
    themselves, with layer normalisation for counts (without it, thousands of genes lose the
    trajectory within the first epoch) and without for Gaussian and Bernoulli data (with it, one
    of five seeds of the papers' synthetic benchmark ended with a folded latent).

    The offsets do not depend on ``z``, so each family's shape holds within every batch; the
    first batch is the reference (offset 0), which keeps them identifiable.

    A 1-D latent has a :class:`~scbasis.nn.DataRange`, the running 1st and 99th percentiles of
    the training cells' latent means, in whose frame the library trend (and BasisDeVAE's basis
    decoder) are written; :meth:`grid_log_likelihood` evaluates a cell's likelihood along a
    grid of latent times, for its exact posterior.

    The loss, per training cell, is

    ``mean_i [-sum_j log p(x_ij | z_i) + beta KL(q(z_i) || N(0, I))] + sum(prior_terms) / N``
    (clustered modules: ``-sum_jk phi_jk log p(x_ij | z_i, k)`` and ``gamma
    sum(clustering_terms)`` added to the global terms),

    with ``beta`` and ``gamma`` multiplied by the training plan's annealing weight.

    Parameters
    ----------
    n_input
        Number of features ``d``.
    n_latent
        Latent dimension ``p``.
    n_batch
        Number of batches (1: no offsets).
    n_hidden
        Hidden width of the encoder.
    n_layers_encoder
        Hidden layers of the encoder.
    likelihood
        One of :attr:`likelihoods`.
    library_size
        ``"observed"`` or ``"trend"`` (count likelihoods without size factors; see above).
    mean_log_total
        Mean log total count of the training cells, the starting point of the trend
        (``library_size="trend"``).
    likelihood_path
        ``"fused"`` (default): :func:`~scbasis.nn.cell_log_likelihood`, family-independent
        terms once per entry and count terms only at non-zero counts. ``"reference"``: every
        family through the distributions (:func:`~scbasis.nn.family_log_likelihood`).
    beta
        Weight of ``KL(q(z) || p(z))``.
    gamma
        Weight of the clustering terms.
    """

    #: Likelihoods the module accepts.
    likelihoods: tuple[str, ...] = LIKELIHOODS

    def __init__(
        self,
        n_input: int,
        *,
        n_latent: int = 1,
        n_batch: int = 1,
        n_hidden: int = 64,
        n_layers_encoder: int = 1,
        likelihood: str = "gaussian",
        library_size: str = "observed",
        mean_log_total: float | None = None,
        likelihood_path: str = "fused",
        beta: float = 1.0,
        gamma: float = 1.0,
    ):
        super().__init__()
        self.likelihood = check_likelihood(likelihood, self.likelihoods)
        if library_size not in LIBRARY_SIZES:
            raise ValueError(
                f"Unknown library_size {library_size!r}; choose one of {LIBRARY_SIZES}."
            )
        if likelihood_path not in LIKELIHOOD_PATHS:
            raise ValueError(
                f"Unknown likelihood_path {likelihood_path!r}; choose one of {LIKELIHOOD_PATHS}."
            )
        self.likelihood_path = likelihood_path
        self.is_count_model = likelihood in COUNT_LIKELIHOODS
        self.n_input = n_input
        self.n_latent = n_latent
        self.beta = beta
        self.gamma = gamma
        self.encoder = Encoder(
            n_input,
            n_latent,
            n_cat_list=[n_batch],
            n_layers=n_layers_encoder,
            n_hidden=n_hidden,
            dropout_rate=0.0,
            use_batch_norm=False,
            use_layer_norm=self.is_count_model,
            return_dist=True,
        )
        self.batch_offset_raw = (
            nn.Parameter(torch.zeros(n_batch - 1, n_input)) if n_batch > 1 else None
        )
        self.data_range = DataRange() if n_latent == 1 else None
        self.library_trend = None
        if self.is_count_model and library_size == "trend":
            if mean_log_total is None or n_latent != 1:
                raise ValueError(
                    "library_size='trend' needs a 1-D latent and mean_log_total; use "
                    "library_size='observed'."
                )
            self.library_trend = LibraryTrend(mean_log_total)
        if likelihood in ("nb", "zinb"):
            self.log_theta = nn.Parameter(torch.zeros(n_input))
        if likelihood == "zinb":
            self.zi_logits = nn.Parameter(torch.full((n_input,), _ZI_LOGIT_INIT))
        if likelihood == "gaussian":
            self.scale_raw = nn.Parameter(torch.full((n_input,), -2.0))

    # ------------------------------------------------------------------ subclass hooks
    @property
    def phi(self) -> torch.Tensor | None:
        """Weights of each feature's curves, ``(d, K)``; ``None``: one curve per feature (a
        module without clustering)."""
        return None

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The curves at ``z`` ``(N, p)``: ``(N, d, K)``, one column per family (``K = 1``
        without clustering)."""
        raise NotImplementedError

    def clustering_terms(self, phi: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Terms of the negative ELBO from the assignments, weighted by ``gamma`` (none
        without clustering)."""
        return {}

    def prior_terms(self) -> dict[str, torch.Tensor]:
        """Negative log priors (MAP) of global decoder parameters, unweighted."""
        return {}

    # ------------------------------------------------------------------ shared parts
    @property
    def batch_offsets(self) -> torch.Tensor | None:
        """Per-batch, per-feature offsets on the link scale, ``(n_batch, d)``; first row 0."""
        if self.batch_offset_raw is None:
            return None
        reference = self.batch_offset_raw.new_zeros(1, self.batch_offset_raw.shape[1])
        return torch.cat([reference, self.batch_offset_raw])

    @property
    def gene_likelihood(self) -> str:
        """The likelihood, under the name scvi-tools' expression methods read."""
        return self.likelihood

    def forward(self, tensors: dict[str, torch.Tensor], **kwargs):
        """scvi-tools' forward pass (:meth:`~scvi.module.base.BaseModuleClass.forward`) on
        minibatches of shape ``(N, ...)``: scvi-tools' distributed sampler (several devices)
        yields them with a leading axis of length 1, which is dropped here."""
        tensors = {
            key: value[0]
            if torch.is_tensor(value) and value.dim() == 3 and len(value) == 1
            else value
            for key, value in tensors.items()
        }
        return super().forward(tensors, **kwargs)

    def _get_inference_input(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {
            MODULE_KEYS.X_KEY: tensors[REGISTRY_KEYS.X_KEY],
            MODULE_KEYS.BATCH_INDEX_KEY: tensors.get(REGISTRY_KEYS.BATCH_KEY),
            MODULE_KEYS.SIZE_FACTOR_KEY: tensors.get(REGISTRY_KEYS.SIZE_FACTOR_KEY),
        }

    def _get_generative_input(
        self, tensors: dict[str, torch.Tensor], inference_outputs: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        return {
            MODULE_KEYS.Z_KEY: inference_outputs[MODULE_KEYS.Z_KEY],
            MODULE_KEYS.LIBRARY_KEY: inference_outputs[MODULE_KEYS.LIBRARY_KEY],
            MODULE_KEYS.BATCH_INDEX_KEY: tensors.get(REGISTRY_KEYS.BATCH_KEY),
        }

    @auto_move_data
    def inference(
        self,
        x: torch.Tensor,
        batch_index: torch.Tensor | None = None,
        size_factor: torch.Tensor | None = None,
        n_samples: int = 1,
    ) -> dict[str, torch.Tensor | Normal]:
        """Encode cells into ``q(z | x)`` and sample ``z``.

        Parameters
        ----------
        x
            Data ``(N, d)``: counts, or values for the Gaussian and Bernoulli likelihoods.
        batch_index
            Batch of each cell ``(N, 1)``, an input of the encoder; batch 0 if ``None``.
        size_factor
            Per-cell size factors ``(N, 1)``; the observed total counts are used when ``None``.
        n_samples
            Samples of ``z`` per cell; more than one adds a leading sample axis ``S`` to ``z``
            and ``library``.

        Returns
        -------
        dict
            ``qz`` (Normal over ``(N, p)``), a sample ``z`` (``(N, p)`` or ``(S, N, p)``) and
            the log library size ``library`` (``(N, 1)`` or ``(S, N, 1)``; zeros for non-count
            likelihoods); with the library trend also the log total counts ``log_total``
            ``(N, 1)``.
        """
        encoder_input = torch.log1p(x) if self.is_count_model else x
        if batch_index is None:
            batch_index = x.new_zeros(x.shape[0], 1)
        qz, z = self.encoder(encoder_input, batch_index)
        if self.training and self.data_range is not None:
            self.data_range.update(qz.loc[:, 0])
        library = observed = self.observed_log_library(x, size_factor)
        outputs = {MODULE_KEYS.QZ_KEY: qz}
        if self.library_trend is not None:
            outputs[SCBASIS_MODULE_KEYS.LOG_TOTAL_KEY] = observed
            library = observed - self.library_correction(qz.loc.detach())[:, None]
        if n_samples > 1:
            z = qz.sample((n_samples,))
            library = library.expand(n_samples, -1, -1)
        return outputs | {MODULE_KEYS.Z_KEY: z, MODULE_KEYS.LIBRARY_KEY: library}

    @auto_move_data
    def generative(
        self,
        z: torch.Tensor,
        library: torch.Tensor,
        batch_index: torch.Tensor | None = None,
        transform_batch: int | None = None,
    ) -> dict[str, Distribution | dict[str, torch.Tensor]]:
        """The observation model at ``z``: per family, and per feature under its most probable
        family.

        Parameters
        ----------
        z
            Latent points ``(..., N, p)``.
        library
            Log library sizes ``(..., N, 1)`` (ignored by non-count likelihoods).
        batch_index
            Batch of each cell ``(N, 1)``; the reference batch (no offset) if ``None``.
        transform_batch
            Give every cell this batch's offsets instead (scvi-tools' expression methods).

        Returns
        -------
        dict
            ``px``: ``p(x_ij | z_i)`` with each feature under its most probable family, a
            distribution over ``(..., N, d)`` (:meth:`feature_distribution`: scvi-tools'
            distributions for counts and Gaussian data); ``px_families``: the likelihood's
            parameters under every family, ``(..., N, d, K)`` (:meth:`family_parameters`),
            from which the loss takes ``sum_k phi_jk log p(x_ij | z_i, k)``.
        """
        if transform_batch is not None:
            batch_index = torch.full((z.shape[-2], 1), int(transform_batch), device=z.device)
        parameters = self.family_parameters(z, library, batch_index)
        return {
            MODULE_KEYS.PX_KEY: self.feature_distribution(parameters, library),
            SCBASIS_MODULE_KEYS.PX_FAMILIES_KEY: parameters,
        }

    def loss(
        self,
        tensors: dict[str, torch.Tensor],
        inference_outputs: dict[str, torch.Tensor],
        generative_outputs: dict[str, torch.Tensor],
        kl_weight: float = 1.0,
        n_obs: int = 1,
    ) -> LossOutput:
        """The negative ELBO per training cell (see the class description).

        The papers' losses sum cell-level terms over all ``N`` cells and add the global terms
        once. With minibatches we minimise that loss divided by ``N``: the minibatch mean of
        the cell-level terms plus the global terms over ``N``.

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
        scvi.module.base.LossOutput
            The unweighted terms: ``reconstruction_loss`` and ``kl_local`` per cell,
            ``kl_global`` (the sum of the clustering and prior terms) and each global term in
            ``extra_metrics``.
        """
        x = tensors[REGISTRY_KEYS.X_KEY]
        phi = self.phi
        parameters = generative_outputs[SCBASIS_MODULE_KEYS.PX_FAMILIES_KEY]
        reconstruction = -self.cell_log_likelihood(x, parameters, phi)
        qz = inference_outputs[MODULE_KEYS.QZ_KEY]
        kl_z = kl_divergence(qz, Normal(torch.zeros_like(qz.loc), torch.ones_like(qz.scale)))
        kl_z = kl_z.sum(-1)
        clustering, priors = self.clustering_terms(phi), self.prior_terms()
        clustering_total = sum(clustering.values(), x.new_zeros(()))
        prior_total = sum(priors.values(), x.new_zeros(()))
        weighted_global = self.gamma * kl_weight * clustering_total + prior_total
        loss = torch.mean(reconstruction + self.beta * kl_weight * kl_z) + weighted_global / n_obs
        extra = clustering | priors
        if SCBASIS_MODULE_KEYS.LOG_TOTAL_KEY in inference_outputs:  # fits the trend, not ELBO
            extra["library_trend"] = self.library_trend.loss(
                inference_outputs[SCBASIS_MODULE_KEYS.LOG_TOTAL_KEY],
                self.data_range.normalise(qz.loc[:, 0]),
            )
            loss = loss + extra["library_trend"]
        return LossOutput(
            loss=loss,
            reconstruction_loss=reconstruction,
            kl_local=kl_z,
            kl_global=clustering_total + prior_total,
            extra_metrics={k: v.detach() for k, v in extra.items()},
        )
