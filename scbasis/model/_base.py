"""What every scbasis model shares: registration, training defaults, getters, results."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from anndata import AnnData
from scvi import REGISTRY_KEYS
from scvi.data import AnnDataManager
from scvi.data.fields import CategoricalObsField, LayerField, NumericalObsField
from scvi.model.base import BaseModelClass, UnsupervisedTrainingMixin, VAEMixin

from scbasis import __version__
from scbasis.nn import COUNT_LIKELIHOODS, check_likelihood
from scbasis.train import PseudotimeTrainingPlan

from ._orientation import Root, orientation_from_root, root_mask

#: Where a result goes: ``(AnnData attribute, key)``.
ResultKey = tuple[str, str]


def registered_matrix(adata: AnnData, layer: str | None):
    """The matrix registered by ``setup_anndata``: ``adata.X`` or ``adata.layers[layer]``."""
    return adata.X if layer is None else adata.layers[layer]


def validate_setup(
    adata: AnnData, layer: str | None, batch_key: str | None, size_factor_key: str | None
) -> None:
    """Check the arguments of ``setup_anndata`` before anything is registered."""
    if layer is not None and layer not in adata.layers:
        raise ValueError(
            f"layer={layer!r} is not in adata.layers (which has {list(adata.layers)}); "
            "pass the layer holding the raw counts, or layer=None for adata.X."
        )
    if batch_key is not None and batch_key not in adata.obs:
        raise ValueError(
            f"batch_key={batch_key!r} is not a column of adata.obs; pass the column naming "
            "each cell's batch or sample, or batch_key=None."
        )
    if size_factor_key is not None:
        if size_factor_key not in adata.obs:
            raise ValueError(
                f"size_factor_key={size_factor_key!r} is not a column of adata.obs; add the "
                "per-cell size factors there or pass size_factor_key=None to use total counts."
            )
        values = pd.to_numeric(adata.obs[size_factor_key], errors="coerce").to_numpy()
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(
                f"adata.obs[{size_factor_key!r}] must hold finite, positive size factors."
            )


def validate_data(adata: AnnData, layer: str | None, likelihood: str, has_size_factor: bool):
    """Check that the registered values suit ``likelihood`` (and that no cell is empty)."""
    matrix = registered_matrix(adata, layer)
    values = matrix.data if sp.issparse(matrix) else np.asarray(matrix)
    where = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{where} holds NaN or infinite values; remove or impute them first.")
    if likelihood == "bernoulli" and not np.all((values == 0) | (values == 1)):
        raise ValueError(
            f"likelihood='bernoulli' models binary data, but {where} holds values other than "
            "0 and 1; binarise it first, e.g. (X > 0), or choose another likelihood."
        )
    if likelihood not in COUNT_LIKELIHOODS:
        return
    if values.size and (values.min() < 0 or not np.all(np.equal(np.mod(values, 1), 0))):
        raise ValueError(
            f"likelihood={likelihood!r} models raw counts, but {where} holds negative or "
            "non-integer values (log-normalised or scaled data?). Register the raw counts with "
            "setup_anndata(adata, layer='counts'), or use likelihood='gaussian'."
        )
    if not has_size_factor:
        totals = np.asarray(matrix.sum(axis=1)).ravel()
        if np.any(totals <= 0):
            raise ValueError(
                f"{int((totals <= 0).sum())} cells have no counts in {where}; remove them "
                "first, e.g. sc.pp.filter_cells(adata, min_counts=1)."
            )


def initial_intercepts(
    adata: AnnData, layer: str | None, likelihood: str, size_factor_key: str | None
) -> np.ndarray:
    """Per-feature starting values on the link scale, ``(d,)``.

    The mean for Gaussian data, the logit of the mean (clipped to ``[1e-3, 1 - 1e-3]``) for
    Bernoulli data, the log pooled rate ``log((counts_j + 1) / total library)`` for counts.
    """
    matrix = registered_matrix(adata, layer)
    totals = np.asarray(matrix.sum(axis=0)).ravel().astype(np.float64)
    if likelihood in COUNT_LIKELIHOODS:
        if size_factor_key is not None:
            library_total = float(adata.obs[size_factor_key].sum())
        else:
            library_total = float(totals.sum())
        return np.log((totals + 1.0) / library_total).astype(np.float32)
    mean = totals / adata.n_obs
    if likelihood == "bernoulli":
        mean = np.clip(mean, 1e-3, 1 - 1e-3)
        return np.log(mean / (1 - mean)).astype(np.float32)
    return mean.astype(np.float32)


class PseudotimeModel(VAEMixin, UnsupervisedTrainingMixin, BaseModelClass):
    """Base of the scbasis models: a latent pseudotime and one curve per feature and family.

    Subclasses set :attr:`_results_key`, :attr:`families` and build ``self.module`` (a
    :class:`~scbasis.module.PseudotimeModule`).
    """

    _results_key: str = "pseudotime_model"
    _training_plan_cls = PseudotimeTrainingPlan
    #: Family names, in the order of the module's curve columns; empty for unclustered models.
    families: tuple[str, ...] = ()
    #: Pairs of families that swap when the pseudotime is reversed.
    _mirror_families: tuple[tuple[str, str], ...] = ()

    def __init__(self, adata: AnnData | None = None, registry: dict | None = None):
        super().__init__(adata, registry)
        #: +1 keeps the module's latent sign, -1 reverses it (set by :meth:`orient`).
        self.orientation_ = 1

    # ------------------------------------------------------------------ registration
    @classmethod
    def setup_anndata(
        cls,
        adata: AnnData,
        layer: str | None = None,
        batch_key: str | None = None,
        size_factor_key: str | None = None,
        **kwargs,
    ) -> None:
        """Register an AnnData object with the model.

        Parameters
        ----------
        adata
            Cells x features. Count likelihoods need raw counts (in ``adata.X`` or ``layer``);
            the Gaussian likelihood takes any real values (e.g. standardised measurements).
        layer
            Layer holding the data; ``None`` uses ``adata.X``.
        batch_key
            Column of ``adata.obs`` naming each cell's batch or sample. Each batch gets
            per-feature offsets on the link scale, and the encoder sees the batch, so that all
            batches share one pseudotime; the first category is the reference (offset 0).
        size_factor_key
            Column of ``adata.obs`` with per-cell size factors that replace the observed
            total counts as library sizes.
        """
        validate_setup(adata, layer, batch_key, size_factor_key)
        setup_method_args = cls._get_setup_method_args(**locals())
        fields = [
            LayerField(REGISTRY_KEYS.X_KEY, layer, is_count_data=False),
            CategoricalObsField(REGISTRY_KEYS.BATCH_KEY, batch_key),
            NumericalObsField(REGISTRY_KEYS.SIZE_FACTOR_KEY, size_factor_key, required=False),
        ]
        adata_manager = AnnDataManager(fields=fields, setup_method_args=setup_method_args)
        adata_manager.register_fields(adata, **kwargs)
        cls.register_manager(adata_manager)

    @property
    def _layer(self) -> str | None:
        return self.registry_["setup_args"]["layer"]

    @property
    def _size_factor_key(self) -> str | None:
        return self.registry_["setup_args"]["size_factor_key"]

    @property
    def _batch_categories(self) -> list[str]:
        """Batch names in the order of the module's batch indices."""
        mapping = self.adata_manager.get_state_registry(
            REGISTRY_KEYS.BATCH_KEY
        ).categorical_mapping
        return [str(c) for c in mapping]

    def _validate_data_for(self, adata: AnnData, likelihood: str) -> None:
        check_likelihood(likelihood, self._module_cls.likelihoods)
        validate_data(adata, self._layer, likelihood, self._size_factor_key is not None)

    def _initial_intercepts(self, likelihood: str) -> np.ndarray:
        return initial_intercepts(self.adata, self._layer, likelihood, self._size_factor_key)

    # ------------------------------------------------------------------ training
    def train(
        self,
        max_epochs: int = 100,
        lr: float = 5e-3,
        batch_size: int = 128,
        annealing_fraction: float = 0.2,
        train_size: float | None = None,
        early_stopping: bool = False,
        plan_kwargs: dict | None = None,
        **trainer_kwargs,
    ):
        """Train the model with Adam, annealing ``(beta, gamma)`` linearly from 0.

        Parameters
        ----------
        max_epochs
            Passes through the training cells.
        lr
            Adam learning rate (the papers: 5e-3).
        batch_size
            Minibatch size.
        annealing_fraction
            Fraction of ``max_epochs`` over which ``beta`` and ``gamma`` grow linearly from 0
            to their values (the papers: 0.2); 0 disables annealing.
        train_size
            Fraction of cells used for training (the rest for validation); ``None`` is
            scvi-tools' default (0.9).
        early_stopping
            Stop when the validation ELBO stops improving.
        plan_kwargs
            Further :class:`~scbasis.train.PseudotimeTrainingPlan` (scvi-tools'
            :class:`~scvi.train.TrainingPlan`) arguments; they override the above.
        **trainer_kwargs
            Passed to :class:`~scvi.train.Trainer` (e.g. ``accelerator``, ``enable_progress_bar``).
        """
        if not 0 <= annealing_fraction <= 1:
            raise ValueError(f"annealing_fraction must lie in [0, 1], got {annealing_fraction}.")
        plan = {
            "lr": lr,
            "eps": 1e-8,
            "weight_decay": 0.0,
            "n_epochs_kl_warmup": round(annealing_fraction * max_epochs) or None,
            "n_steps_kl_warmup": None,
            **(plan_kwargs or {}),
        }
        return super().train(
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_size=train_size,
            early_stopping=early_stopping,
            plan_kwargs=plan,
            **trainer_kwargs,
        )

    # ------------------------------------------------------------------ orientation
    def orient(self, root: Root, adata: AnnData | None = None) -> int:
        """Choose the pseudotime's sign so that it grows away from ``root``.

        Reversing the pseudotime also swaps mirrored families (increasing <-> decreasing) in
        every getter and in :meth:`write_results`. Only for a 1-D latent.

        Parameters
        ----------
        root
            Root cells of ``adata``: obs names, positions, a boolean mask, or
            ``(obs_key, value)``.
        adata
            AnnData the root refers to; the model's own if ``None``.

        Returns
        -------
        The orientation, ``+1`` or ``-1`` relative to the module's latent axis.
        """
        self._check_orientable()
        adata = self._validate_anndata(adata)
        mask = root_mask(adata, root)
        latent = self._pseudotime_mean_std(adata)[0]
        self.orientation_ = orientation_from_root(latent, mask)
        return self.orientation_

    def _check_orientable(self) -> None:
        if self.module.n_latent != 1:
            raise ValueError(
                f"A root orients a 1-D pseudotime; this model has n_latent="
                f"{self.module.n_latent}. Pass root=None, or train with n_latent=1."
            )

    def _mirrored(self, names: Sequence[str]) -> list[str]:
        """``names`` (families or constraints) as they read in the oriented frame."""
        swap = {a: b for pair in self._mirror_families for a, b in (pair, pair[::-1])}
        return [swap.get(n, n) if self.orientation_ == -1 else n for n in names]

    def _family_order(self) -> list[int]:
        """Column order of the families in the oriented frame."""
        if not self.families:
            return [0]
        return [self.families.index(name) for name in self._mirrored(self.families)]

    # ------------------------------------------------------------------ getters
    @torch.inference_mode()
    def _latent_mean_std(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of z in the module's own sign, ``(n, p)``."""
        adata = self._validate_anndata(adata)
        means, stds = [], []
        for _, inference_outputs in self._encode(adata, indices, batch_size):
            qz = inference_outputs["qz"]
            means.append(qz.loc.cpu())
            stds.append(qz.scale.cpu())
        return torch.cat(means).numpy(), torch.cat(stds).numpy()

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

    def get_latent_representation(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        give_std: bool = False,
        batch_size: int | None = None,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Pseudotime: the posterior mean of ``z`` per cell, in the oriented frame.

        Parameters
        ----------
        adata
            AnnData with the model's features; the model's own if ``None``.
        indices
            Cells of ``adata`` to use; all if ``None``.
        give_std
            Also return the posterior standard deviation.
        batch_size
            Minibatch size for the forward passes.

        Returns
        -------
        Means ``(n_cells,)`` for a 1-D latent (``(n_cells, p)`` otherwise), and the standard
        deviations of the same shape when ``give_std``.
        """
        self._check_if_trained(warn=False)
        mean, std = self._oriented(*self._latent_mean_std(adata, indices, batch_size))
        return (mean, std) if give_std else mean

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
        (as :meth:`get_latent_representation`).

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
        Pseudotimes ``(n_cells,)`` for a 1-D latent (``(n_cells, p)`` otherwise), and their
        standard deviations when ``give_std``.
        """
        self._check_if_trained(warn=False)
        mean, std = self._oriented(*self._pseudotime_mean_std(adata, indices, batch_size))
        return (mean, std) if give_std else mean

    def _oriented(self, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std ``(n, p)`` in the oriented frame, 1-D when ``p = 1``."""
        mean = mean * self.orientation_
        if mean.shape[1] == 1:
            mean, std = mean[:, 0], std[:, 0]
        return mean, std

    def get_batch_offsets(self) -> pd.DataFrame:
        """Fitted per-batch, per-feature offsets on the likelihood's link scale.

        Log fold changes of each batch against the first (reference) batch for count
        likelihoods, additive shifts for Gaussian data, logit shifts for Bernoulli data.

        Returns
        -------
        DataFrame features x batches; the reference batch's column is 0.
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
            z = inference_outputs["qz"].loc
            generative_outputs = self.module.generative(
                z, inference_outputs["library"], tensors.get(REGISTRY_KEYS.BATCH_KEY)
            )
            x = tensors[REGISTRY_KEYS.X_KEY].to(z.device)
            values.append(self.module.cell_log_likelihood(x, generative_outputs).cpu())
        per_cell = torch.cat(values).numpy()
        return per_cell if return_per_cell else float(per_cell.sum())

    def _median_library_size(self) -> float:
        """Median library size of the model's cells (1 for non-count likelihoods)."""
        if not self.module.is_count_model:
            return 1.0
        adata = self.adata_manager.adata
        if self._size_factor_key is not None:
            return float(np.median(adata.obs[self._size_factor_key]))
        return float(np.median(np.asarray(registered_matrix(adata, self._layer).sum(axis=1))))

    def _best_family(self) -> np.ndarray:
        """Index (module order) of each feature's most probable family, ``(d,)``."""
        return self.module.phi.argmax(dim=1).cpu().numpy()

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
    ) -> AnnData:
        """Expected expression of features along a pseudotime grid.

        The grid spans the posterior means of the model's cells (oriented pseudotime) in
        latent dimension ``latent_dim``, the other dimensions held at 0. Count models give the
        mean of the (zero-inflated) negative binomial or Poisson before zero-inflation, for a
        cell of ``library_size`` counts; Bernoulli models give probabilities.

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

        Returns
        -------
        AnnData grid points x features: ``X`` the trend of each feature (under its most
        probable family for clustered models), ``obs["pseudotime"]`` the grid. Clustered models
        add ``layers[family]`` (the trend under every family), ``var["family"]`` and
        ``varm["cluster_probs"]``.
        """
        if n_points < 2:
            raise ValueError(f"n_points must be at least 2, got {n_points}.")
        if not 0 <= latent_dim < self.module.n_latent:
            raise ValueError(
                f"latent_dim must lie in [0, {self.module.n_latent}), got {latent_dim}."
            )
        gene_idx = self._gene_indices(genes)
        latent = self.get_pseudotime().reshape(self.adata.n_obs, -1)[:, latent_dim]
        grid = np.linspace(latent.min(), latent.max(), n_points, dtype=np.float32)
        size = self._median_library_size() if library_size is None else library_size
        z = torch.zeros(n_points, self.module.n_latent, device=self.device)
        z[:, latent_dim] = torch.as_tensor(grid * self.orientation_, device=self.device)
        outputs = self.module.generative(
            z, self._log_library(z, size), self._batch_index(batch, n_points)
        )
        mean = self.module.mean(outputs).cpu().numpy()[:, gene_idx]  # module's family columns
        best = self._best_family()[gene_idx]
        trends = AnnData(
            X=np.take_along_axis(mean, best[None, :, None], axis=2)[..., 0],
            obs=pd.DataFrame({"pseudotime": grid}, index=[f"t{i}" for i in range(n_points)]),
            var=pd.DataFrame(index=self.adata_manager.adata.var_names[gene_idx].copy()),
        )
        self._annotate_trends(trends, mean[..., self._family_order()], gene_idx)
        return trends

    def _annotate_trends(self, trends: AnnData, mean: np.ndarray, gene_idx: np.ndarray) -> None:
        """Add model-specific annotations to the AnnData of :meth:`get_gene_trends`."""

    @torch.inference_mode()
    def get_normalized_expression(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        gene_list: Sequence[str] | None = None,
        library_size: float = 1.0,
        transform_batch: str | None = None,
        batch_size: int | None = None,
    ) -> pd.DataFrame:
        """Denoised expression of each cell at its posterior-mean pseudotime.

        Each feature follows its most probable family. Count models give the mean before
        zero-inflation for a cell of ``library_size`` counts (1: expression frequencies);
        Gaussian models give the decoder's mean, Bernoulli models probabilities.

        Parameters
        ----------
        adata
            AnnData with the model's features; the model's own if ``None``.
        indices
            Cells of ``adata`` to use; all if ``None``.
        gene_list
            Features to return; all if ``None``.
        library_size
            Library size of the expression (count models).
        transform_batch
            Give every cell this batch's offsets; each cell's own batch if ``None``.
        batch_size
            Minibatch size.

        Returns
        -------
        DataFrame cells x features.
        """
        adata = self._validate_anndata(adata)
        gene_idx = self._gene_indices(gene_list)
        best = torch.as_tensor(self._best_family())
        chunks = []
        for tensors, inference_outputs in self._encode(adata, indices, batch_size):
            z = inference_outputs["qz"].loc
            batch_index = (
                tensors.get(REGISTRY_KEYS.BATCH_KEY)
                if transform_batch is None
                else self._batch_index(transform_batch, z.shape[0])
            )
            outputs = self.module.generative(z, self._log_library(z, library_size), batch_index)
            mean = self.module.mean(outputs).cpu()
            chunks.append(mean.gather(2, best.expand(mean.shape[0], -1)[..., None])[..., 0])
        values = torch.cat(chunks).numpy()[:, gene_idx]
        obs_names = adata.obs_names if indices is None else adata.obs_names[np.asarray(indices)]
        return pd.DataFrame(
            values, index=obs_names, columns=self.adata_manager.adata.var_names[gene_idx]
        )

    # ------------------------------------------------------------------ results
    def _latent_keys(self, key_added: str) -> dict[str, ResultKey]:
        if self.module.n_latent == 1:
            return {
                "pseudotime": ("obs", f"{key_added}_pseudotime"),
                "pseudotime_std": ("obs", f"{key_added}_pseudotime_std"),
            }
        return {
            "pseudotime": ("obsm", f"{key_added}_latent"),
            "pseudotime_std": ("obsm", f"{key_added}_latent_std"),
        }

    def _feature_results(self, key_added: str) -> dict[ResultKey, Any]:
        """Feature-level results to write, keyed by ``(attribute, key)``."""
        if self.module.batch_offsets is None:
            return {}
        return {("varm", f"{key_added}_batch_offsets"): self.get_batch_offsets().to_numpy()}

    def _uns_results(self) -> dict[str, Any]:
        """Entries of ``uns[key_added]``."""
        uns = {
            "model": type(self).__name__,
            "orientation": int(self.orientation_),
            "settings": self._settings(),
            "version": __version__,
        }
        if self.module.batch_offsets is not None:
            uns["batch_offsets_columns"] = self._batch_categories
        return uns

    def _settings(self) -> dict[str, Any]:
        """Model settings recorded in ``adata.uns``: scalars of the init parameters."""
        params = self.init_params_.get("non_kwargs", {}) | self.init_params_.get("kwargs", {})
        return {k: v for k, v in params.items() if isinstance(v, str | int | float | bool)}

    def write_results(
        self,
        adata: AnnData | None = None,
        key_added: str | None = None,
        root: Root | None = None,
        overwrite: bool = False,
    ) -> None:
        """Write the pseudotime and feature-level results into ``adata``.

        Writes ``obs["<key>_pseudotime"]`` and ``obs["<key>_pseudotime_std"]`` (for a p-D
        latent ``obsm["<key>_latent"]`` and ``obsm["<key>_latent_std"]``), ``uns["<key>"]``
        (model, settings, version, orientation) and the model's feature-level results:
        ``varm["<key>_cluster_probs"]`` and ``var["<key>_cluster"]`` for clustered models,
        ``var["<key>_constraint"]`` for DeVAE, ``varm["<key>_batch_offsets"]`` with a
        ``batch_key``.

        Parameters
        ----------
        adata
            AnnData with the model's features; the model's own if ``None``.
        key_added
            Prefix of the keys; the model's name in lower case if ``None``.
        root
            Root cells (see :meth:`orient`); orients the pseudotime before writing.
        overwrite
            Replace existing keys; otherwise existing keys raise an error and nothing is written.
        """
        key_added = key_added or self._results_key
        target = self.adata if adata is None else adata
        latent_keys = self._latent_keys(key_added)
        keys = [*latent_keys.values(), ("uns", key_added), *self._feature_results(key_added)]
        existing = [f"{attr}[{name!r}]" for attr, name in keys if name in getattr(target, attr)]
        if existing and not overwrite:
            raise ValueError(
                f"adata already has {', '.join(existing)}; pass overwrite=True to replace them "
                "or choose another key_added."
            )
        if root is not None:
            self._check_orientable()
        adata = self._validate_anndata(adata)
        mask = None if root is None else root_mask(adata, root)
        mean, std = self._pseudotime_mean_std(adata)  # one pass orients and writes
        if mask is not None:
            self.orientation_ = orientation_from_root(mean, mask)
        pseudotime, pseudotime_std = self._oriented(mean, std)
        # feature results again: their values (not their keys) depend on the orientation
        for (attr, name), value in (
            (latent_keys["pseudotime"], pseudotime),
            (latent_keys["pseudotime_std"], pseudotime_std),
            *self._feature_results(key_added).items(),
        ):
            getattr(adata, attr)[name] = value
        adata.uns[key_added] = self._uns_results()


class ClusteredPseudotimeModel(PseudotimeModel):
    """A :class:`PseudotimeModel` whose features are clustered into :attr:`families`."""

    def get_cluster_probabilities(self) -> pd.DataFrame:
        """Posterior probability of each feature's family, ``q(w_j = k)``.

        Returns
        -------
        DataFrame features x families (columns named by :attr:`families`), rows summing to 1.
        """
        phi = self.module.phi.detach().cpu().numpy()[:, self._family_order()]
        return pd.DataFrame(
            phi, index=self.adata_manager.adata.var_names.copy(), columns=list(self.families)
        )

    def _annotate_trends(self, trends: AnnData, mean: np.ndarray, gene_idx: np.ndarray) -> None:
        probs = self.get_cluster_probabilities().iloc[gene_idx]
        trends.var["family"] = pd.Categorical(
            probs.idxmax(axis=1).to_numpy(), categories=list(self.families)
        )
        trends.varm["cluster_probs"] = probs.to_numpy()
        for k, family in enumerate(self.families):
            trends.layers[family] = mean[..., k]
        trends.uns["families"] = list(self.families)

    def _feature_results(self, key_added: str) -> dict[ResultKey, Any]:
        probs = self.get_cluster_probabilities()
        return {
            ("varm", f"{key_added}_cluster_probs"): probs.to_numpy(),
            ("var", f"{key_added}_cluster"): pd.Categorical(
                probs.idxmax(axis=1).to_numpy(), categories=list(self.families)
            ),
            **super()._feature_results(key_added),
        }

    def _uns_results(self) -> dict[str, Any]:
        families = list(self.families)
        return super()._uns_results() | {
            "families": families,
            "cluster_probs_columns": families,
        }
