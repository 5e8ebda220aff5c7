"""Each cell's exact posterior over a 1-D pseudotime, on a grid, under the fitted decoder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from anndata import AnnData
from scvi import REGISTRY_KEYS
from torch.distributions import Normal

from scbasis.train._heap import KeptHeap

#: Span of the grid in the data range's coordinate (0 and 1 at its 1st and 99th percentiles).
GRID_SPAN: tuple[float, float] = (-0.25, 1.25)
_COARSE_POINTS = 24  # where each cell's posterior lies
_FINE_POINTS = 128  # the grid the posterior is taken on, around that place
_WINDOW = 2  # coarse spacings on either side of a cell's coarse maximum on the fine grid


class PseudotimePosteriorMixin:
    """:meth:`get_pseudotime` from the posterior ``p(z | x) ∝ p(x | z) N(z | 0, 1)`` on a grid.

    An encoder predicts a cell's pseudotime from its counts in one pass; with thousands of
    genes it leaves part of the information unused (the amortisation gap), most at the ends of
    the trajectory, where it matters for the genes' shapes. With a 1-D latent the posterior
    under the fitted decoder can be taken exactly: the likelihood of the ELBO at 24 points over
    the cells' range finds each cell's place, and at the points of a 128-point grid within two
    coarse spacings of it gives the posterior's mean and standard deviation. Each gene enters
    under its most probable family. The posterior of the model's own cells is kept until the
    model is trained again.
    """

    def _latent_grid(self, n_points: int) -> torch.Tensor:
        """``n_points`` latent times spanning :data:`GRID_SPAN` of the data range, ``(G,)``."""
        share = torch.linspace(*GRID_SPAN, n_points, device=self.module.device)
        return self.module.data_range.latent(share)

    @torch.inference_mode()
    def _pseudotime_mean_std(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent ``(n, 1)`` each, in the module's
        own sign."""
        adata = self._validate_anndata(adata)
        own = adata is self.adata and indices is None
        cached = getattr(self, "_own_posterior", None)
        if own and cached is not None:
            return cached[0].copy(), cached[1].copy()
        posterior = self._grid_posterior(adata, indices, batch_size)
        if own:
            self._own_posterior = posterior
            return posterior[0].copy(), posterior[1].copy()
        return posterior

    def _forget_posterior(self) -> None:
        """Drop the kept posterior of the model's own cells (the decoder has changed)."""
        self._own_posterior = None

    def _grid_posterior(
        self, adata: AnnData, indices: Sequence[int] | None, batch_size: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        module = self.module
        families = module.phi.argmax(dim=1)
        coarse_grid, fine_grid = self._latent_grid(_COARSE_POINTS), self._latent_grid(_FINE_POINTS)
        coarse = module.grid_curves(coarse_grid, families)
        fine = module.grid_curves(fine_grid, families)
        prior = Normal(0.0, 1.0)
        ratio = (_FINE_POINTS - 1) / (_COARSE_POINTS - 1)
        half_width = round(_WINDOW * ratio)
        window = torch.arange(2 * half_width + 1, device=module.device)
        coarse_points = torch.arange(_COARSE_POINTS, device=module.device)
        # the results go into arrays made up front: small tensors kept from each minibatch
        # would sit between its large freed ones and make the heap grow with the cells
        n_cells = adata.n_obs if indices is None else len(indices)
        means, stds = np.empty(n_cells, dtype=np.float32), np.empty(n_cells, dtype=np.float32)
        start = 0
        loader = self._make_data_loader(adata=adata, indices=indices, batch_size=batch_size)
        with KeptHeap():  # each minibatch reuses the memory the previous one freed
            for tensors in loader:
                x = tensors[REGISTRY_KEYS.X_KEY].to(module.device)
                size_factor = tensors.get(REGISTRY_KEYS.SIZE_FACTOR_KEY)
                batch_index = tensors.get(REGISTRY_KEYS.BATCH_KEY)
                if size_factor is not None:
                    size_factor = size_factor.to(module.device)
                if batch_index is not None:
                    batch_index = batch_index.to(module.device)
                log_p = module.grid_log_likelihood(
                    x, coarse, coarse_points.expand(x.shape[0], -1), size_factor, batch_index
                )
                best = (log_p + prior.log_prob(coarse_grid)).argmax(dim=1)
                first = torch.round(best * ratio).long() - half_width
                first = first.clamp(0, _FINE_POINTS - len(window))
                points = first[:, None] + window
                log_p = module.grid_log_likelihood(x, fine, points, size_factor, batch_index)
                z = fine_grid[points]
                weights = torch.softmax(log_p + prior.log_prob(z), dim=1)
                mean = (weights * z).sum(1)
                std = torch.sqrt((weights * (z - mean[:, None]).square()).sum(1))
                means[start : start + len(mean)] = mean.cpu().numpy()
                stds[start : start + len(mean)] = std.cpu().numpy()
                start += len(mean)
        return means[:, None], stds[:, None]
