"""What scvi-tools' getters ask a module for besides the loss: the marginal likelihood and
posterior predictive samples."""

from __future__ import annotations

import math

import torch
from scvi import REGISTRY_KEYS
from scvi.module._constants import MODULE_KEYS
from torch.distributions import Normal


class EvaluationMixin:
    """:meth:`marginal_ll` and :meth:`sample` of :class:`~scbasis.module.PseudotimeModule`."""

    @torch.inference_mode()
    def marginal_ll(
        self, tensors: dict[str, torch.Tensor], n_mc_samples: int = 100, return_mean: bool = False
    ) -> torch.Tensor | float:
        """Importance-sampling estimate of ``log p(x_i)`` with ``q(z | x)`` as proposal.

        The likelihood of a cell is taken under the weights :attr:`phi`, as in the training
        objective.

        Returns
        -------
        torch.Tensor or float
            Per-cell estimates ``(N,)``, or their mean when ``return_mean``.
        """
        inference_outputs = self.inference(**self._get_inference_input(tensors))
        qz = inference_outputs[MODULE_KEYS.QZ_KEY]
        library = inference_outputs[MODULE_KEYS.LIBRARY_KEY]
        x = tensors[REGISTRY_KEYS.X_KEY].to(qz.loc.device)
        batch_index = tensors.get(REGISTRY_KEYS.BATCH_KEY)
        log_weights = []
        for _ in range(n_mc_samples):
            z = qz.sample()
            parameters = self.family_parameters(z, library, batch_index)
            log_px = self.cell_log_likelihood(x, parameters, self.phi)
            log_pz = Normal(0.0, 1.0).log_prob(z).sum(-1)
            log_weights.append(log_px + log_pz - qz.log_prob(z).sum(-1))
        log_ml = torch.logsumexp(torch.stack(log_weights), dim=0) - math.log(n_mc_samples)
        return log_ml.mean().item() if return_mean else log_ml

    @torch.inference_mode()
    def sample(
        self,
        tensors: dict[str, torch.Tensor],
        n_samples: int = 1,
        generative_kwargs: dict | None = None,
    ) -> torch.Tensor:
        """Posterior predictive samples: ``z`` from ``q(z | x)``, then ``x`` from ``px`` (each
        feature under its most probable family), as scvi-tools' ``VAE.sample``.

        Returns
        -------
        torch.Tensor
            Samples on the CPU, ``(N, d)`` if ``n_samples == 1``, else ``(N, d, n_samples)``.
        """
        _, generative_outputs = self.forward(
            tensors,
            inference_kwargs={"n_samples": n_samples},
            generative_kwargs=generative_kwargs,
            compute_loss=False,
        )
        samples = generative_outputs[MODULE_KEYS.PX_KEY].sample()
        return (samples.permute(1, 2, 0) if n_samples > 1 else samples).cpu()
