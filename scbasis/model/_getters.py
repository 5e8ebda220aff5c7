"""What a trained model gives back: latent, pseudotime, trends, expression, likelihoods."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from scvi import REGISTRY_KEYS
from scvi.module._constants import MODULE_KEYS  # where scvi-tools' own modules import it

from scbasis._constants import TREND_KEYS
from scbasis.nn._likelihoods import observation_quantiles


class PseudotimeGettersMixin:
    """Getters of :class:`~scbasis.model.PseudotimeModel`."""

    def _latent_mean_std(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of z in the module's own sign, ``(n, p)``:
        scvi-tools' getter before :meth:`get_latent_representation` orients it."""
        mean, variance = super().get_latent_representation(
            adata=adata, indices=indices, batch_size=batch_size, return_dist=True
        )
        return mean, np.sqrt(variance)

    def _encode(
        self, adata: AnnData, indices: Sequence[int] | None, batch_size: int | None
    ) -> Iterator[tuple[dict[str, torch.Tensor], dict[str, Any]]]:
        """Minibatches of a validated ``adata`` with the encoder's outputs for each."""
        dataloader = self._make_data_loader(adata=adata, indices=indices, batch_size=batch_size)
        for tensors in dataloader:
            yield tensors, self.module.inference(**self.module._get_inference_input(tensors))

    def _log_library(self, z: torch.Tensor, library_size: float) -> torch.Tensor:
        """Log library size ``(N, 1)`` for every row of ``z`` (0 for non-count likelihoods)."""
        value = float(np.log(library_size)) if self.module.is_count_model else 0.0
        return torch.full_like(z[:, :1], value)

    def _batch_index(self, batch: str | None, n: int) -> torch.Tensor | None:
        """Index tensor ``(n, 1)`` of batch ``batch``; ``None`` (reference batch) if ``None``."""
        if batch is None:
            return None
        categories = self._batch_categories
        if str(batch) not in categories:
            raise ValueError(f"Unknown batch {batch!r}; the model's batches are {categories}.")
        return torch.full((n, 1), categories.index(str(batch)), device=self.device)

    @torch.inference_mode()
    def get_latent_representation(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        give_mean: bool = True,
        mc_samples: int = 5_000,
        batch_size: int | None = None,
        return_dist: bool = False,
        dataloader: Iterator[dict[str, torch.Tensor | None]] | None = None,
        **data_loader_kwargs,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The encoder's posterior of ``z`` per cell, in the oriented frame.

        scvi-tools' :meth:`~scvi.model.base.VAEMixin.get_latent_representation` with the sign
        set by :meth:`orient` applied; its arguments mean what they mean there. For the
        pseudotime a 1-D model writes (for BasisDeVAE each cell's exact posterior under the
        fitted decoder), use :meth:`get_pseudotime`.

        Parameters
        ----------
        adata
            AnnData with the model's features; the model's own if ``None``.
        indices
            Cells of ``adata`` to use; all if ``None``.
        give_mean
            The posterior mean; ``False`` draws one sample per cell.
        mc_samples
            Unused (scvi-tools' estimate for non-Gaussian latents).
        batch_size
            Minibatch size for the forward passes.
        return_dist
            Return the posterior mean and variance instead.
        dataloader
            Minibatches to use instead of ``adata`` and ``indices``.
        **data_loader_kwargs
            Passed to the data loader.

        Returns
        -------
        numpy.ndarray or tuple of numpy.ndarray
            ``(n_cells, n_latent)``; with ``return_dist``, the means and the variances.
        """
        result = super().get_latent_representation(
            adata=adata,
            indices=indices,
            give_mean=give_mean,
            mc_samples=mc_samples,
            batch_size=batch_size,
            return_dist=return_dist,
            dataloader=dataloader,
            **data_loader_kwargs,
        )
        if return_dist:
            mean, variance = result
            return self._orientation.latent(mean), variance
        return self._orientation.latent(result)

    def _pseudotime_mean_std(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The latent that results are written from, mean and std ``(n, p)`` in the module's own
        sign: the encoder's posterior here; models that take each cell's exact posterior
        override it."""
        return self._latent_mean_std(adata, indices, batch_size)

    def get_pseudotime(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        give_std: bool = False,
        batch_size: int | None = None,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The pseudotime written by :meth:`write_results`, in the oriented frame.

        For BasisDeVAE the mean of each cell's exact posterior under the fitted decoder (see
        :class:`~scbasis.model.BasisDeVAE`), for the other models the encoder's posterior mean
        (the mean of :meth:`get_latent_representation`).

        Parameters
        ----------
        adata
            AnnData with the model's features; the model's own if ``None``.
        indices
            Cells of ``adata`` to use; all if ``None``.
        give_std
            Also return the posterior standard deviation.
        batch_size
            Minibatch size.

        Returns
        -------
        numpy.ndarray or tuple of numpy.ndarray
            Pseudotimes ``(n_cells,)`` for a 1-D latent (``(n_cells, p)`` otherwise), and their
            standard deviations when ``give_std``.
        """
        self._check_if_trained(warn=False)
        mean, std = self._oriented(*self._pseudotime_mean_std(adata, indices, batch_size))
        return (mean, std) if give_std else mean

    def _oriented(self, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std ``(n, p)`` in the oriented frame, 1-D when ``p = 1``."""
        mean = self._orientation.latent(mean)
        if mean.shape[1] == 1:
            mean, std = mean[:, 0], std[:, 0]
        return mean, std

    def get_batch_offsets(self) -> pd.DataFrame:
        """Fitted per-batch, per-feature offsets on the likelihood's link scale.

        Log fold changes of each batch against the first (reference) batch for count
        likelihoods, additive shifts for Gaussian data, logit shifts for Bernoulli data.

        Returns
        -------
        pandas.DataFrame
            Features x batches; the reference batch's column is 0.
        """
        offsets = self.module.batch_offsets
        if offsets is None:
            raise ValueError(
                "The model has no batch offsets: register a batch column with "
                "setup_anndata(adata, batch_key=...) before building the model."
            )
        return pd.DataFrame(
            offsets.detach().cpu().numpy().T,
            index=self.adata_manager.adata.var_names.copy(),
            columns=self._batch_categories,
        )

    @torch.inference_mode()
    def get_conditional_log_likelihood(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
        return_per_cell: bool = False,
    ) -> float | np.ndarray:
        """The papers' test metric ``log p(X | Z = posterior mean, theta*)``.

        Each cell's latent is fixed at its posterior mean and the likelihood is taken under
        the assignment posterior, ``sum_jk phi_jk log p(x_ij | z_i, k)``, as in the reference
        implementations.

        Parameters
        ----------
        adata
            AnnData with the model's features (e.g. held-out cells); the model's own if ``None``.
        indices
            Cells of ``adata`` to use; all if ``None``.
        batch_size
            Minibatch size.
        return_per_cell
            Return the per-cell values ``(n_cells,)`` instead of their sum.
        """
        adata = self._validate_anndata(adata)
        values = []
        for tensors, inference_outputs in self._encode(adata, indices, batch_size):
            z = inference_outputs[MODULE_KEYS.QZ_KEY].loc
            parameters = self.module.family_parameters(
                z, inference_outputs[MODULE_KEYS.LIBRARY_KEY], tensors.get(REGISTRY_KEYS.BATCH_KEY)
            )
            x = tensors[REGISTRY_KEYS.X_KEY].to(z.device)
            values.append(self.module.cell_log_likelihood(x, parameters, self.module.phi).cpu())
        per_cell = torch.cat(values).numpy()
        return per_cell if return_per_cell else float(per_cell.sum())

    def _median_library_size(self) -> float:
        """Median library size of the model's cells (1 for non-count likelihoods)."""
        if not self.module.is_count_model:
            return 1.0
        if self._size_factor_key is not None:
            return float(np.median(self.adata_manager.adata.obs[self._size_factor_key]))
        return float(np.median(self._statistics().row_total))

    def _best_family(self) -> np.ndarray:
        """Index (module order) of each feature's most probable family, ``(d,)``; zeros for
        a module without clustering (one curve per feature)."""
        phi = self.module.phi
        if phi is None:
            return np.zeros(self.module.n_input, dtype=np.int64)
        return phi.argmax(dim=1).cpu().numpy()

    def _gene_indices(self, genes: Sequence[str] | None) -> np.ndarray:
        var_names = self.adata_manager.adata.var_names
        if genes is None:
            return np.arange(len(var_names))
        genes = [genes] if isinstance(genes, str) else list(genes)
        missing = [g for g in genes if g not in var_names]
        if missing:
            raise ValueError(f"Genes {missing[:5]} are not among the model's var_names.")
        return var_names.get_indexer(genes)

    @torch.inference_mode()
    def get_gene_trends(
        self,
        genes: Sequence[str] | None = None,
        n_points: int = 100,
        library_size: float | None = None,
        batch: str | None = None,
        latent_dim: int = 0,
        grid: np.ndarray | None = None,
        interval: float | None = 0.8,
    ) -> AnnData:
        """Expected expression of features along a pseudotime grid.

        The grid spans the posterior means of the model's cells (oriented pseudotime) in
        latent dimension ``latent_dim`` unless given, the other dimensions held at 0. Count
        models give the mean of the (zero-inflated) negative binomial or Poisson before
        zero-inflation, for a cell of ``library_size`` counts; Bernoulli models give
        probabilities.

        Parameters
        ----------
        genes
            Features to return; all if ``None``.
        n_points
            Number of grid points.
        library_size
            Library size of the expression; the median of the model's cells if ``None``.
        batch
            Batch whose offsets apply; the reference (first) batch if ``None``.
        latent_dim
            Latent dimension along which the grid runs (models with ``n_latent > 1``).
        grid
            Pseudotime values (oriented) of the grid, ``(n_points,)``; ``n_points`` values
            spanning the model's cells if ``None``.
        interval
            Probability of the central interval of the observation model added around each
            trend (for counts: the counts a cell of ``library_size`` shows there, zero
            inflation included); ``None`` adds none. Bernoulli models add none.

        Returns
        -------
        anndata.AnnData
            Grid points x features: ``X`` the trend of each feature (under its most probable
            family for clustered models), ``obs["pseudotime"]`` the grid, with an ``interval`` the
            layers ``"interval_lower"`` and ``"interval_upper"`` (its bounds) and
            ``uns["interval"]``. Clustered models add ``layers[family]`` (the trend under every
            family), ``var["family"]`` and ``varm["cluster_probs"]``.
        """
        if grid is None and n_points < 2:
            raise ValueError(f"n_points must be at least 2, got {n_points}.")
        if interval is not None and not 0 < interval < 1:
            raise ValueError(f"interval must lie in (0, 1) or be None, got {interval}.")
        if not 0 <= latent_dim < self.module.n_latent:
            raise ValueError(
                f"latent_dim must lie in [0, {self.module.n_latent}), got {latent_dim}."
            )
        gene_idx = self._gene_indices(genes)
        if grid is None:
            latent = self.get_pseudotime().reshape(self.adata.n_obs, -1)[:, latent_dim]
            grid = np.linspace(latent.min(), latent.max(), n_points)
        grid = np.asarray(grid, dtype=np.float32)
        n_points = len(grid)
        size = self._median_library_size() if library_size is None else library_size
        z = torch.zeros(n_points, self.module.n_latent, device=self.device)
        z[:, latent_dim] = torch.as_tensor(self._orientation.latent(grid), device=self.device)
        parameters = self.module.family_parameters(
            z, self._log_library(z, size), self._batch_index(batch, n_points)
        )
        mean = self.module.mean(parameters).cpu().numpy()[:, gene_idx]  # module's family columns
        best = self._best_family()[gene_idx]
        trends = AnnData(
            X=np.take_along_axis(mean, best[None, :, None], axis=2)[..., 0],
            obs=pd.DataFrame(
                {TREND_KEYS.PSEUDOTIME: grid}, index=[f"t{i}" for i in range(n_points)]
            ),
            var=pd.DataFrame(index=self.adata_manager.adata.var_names[gene_idx].copy()),
        )
        self._annotate_trends(
            trends, mean[..., self._orientation.columns(self.families)], gene_idx
        )
        if interval is not None:
            self._add_interval(trends, parameters, gene_idx, interval)
        return trends

    def _add_interval(
        self,
        trends: AnnData,
        parameters: dict[str, torch.Tensor],
        gene_idx: np.ndarray,
        interval: float,
    ) -> None:
        """Add the observation model's central ``interval`` around ``trends.X`` (the trends
        under each feature's most probable family) from the module's ``parameters``."""
        others = {
            name: parameters[name].detach().cpu().numpy()[..., gene_idx]
            for name in ("theta", "zi_logits", "scale")
            if name in parameters
        }
        tail = (1 - interval) / 2
        bounds = observation_quantiles(
            self.module.likelihood, (tail, 1 - tail), mean=np.asarray(trends.X), **others
        )
        if bounds is None:
            return
        trends.layers[TREND_KEYS.INTERVAL_LOWER], trends.layers[TREND_KEYS.INTERVAL_UPPER] = bounds
        trends.uns[TREND_KEYS.INTERVAL] = interval

    def _annotate_trends(self, trends: AnnData, mean: np.ndarray, gene_idx: np.ndarray) -> None:
        """Add model-specific annotations to the AnnData of :meth:`get_gene_trends`."""
