"""What every scbasis model shares: registration, training defaults, orientation; the getters
(``_getters.py``) and result writing (``_results.py``) come in as mixins."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scvi import REGISTRY_KEYS, settings
from scvi.data import AnnDataManager
from scvi.model._utils import get_max_epochs_heuristic
from scvi.model.base import BaseModelClass, UnsupervisedTrainingMixin, VAEMixin

from scbasis._constants import RESULT_KEYS, TREND_KEYS, UNS_KEYS, result_key
from scbasis.data._loaders import FileRowsDataLoader, FileRowsDataSplitter
from scbasis.nn._likelihoods import check_likelihood
from scbasis.train import (
    KeepFreedMemory,
    PseudotimeTrainingPlan,
    StopOnInterrupt,
    ThreadsFollowFreeCores,
    fused_adam,
)
from scbasis.train._quiet import progress_bar_is_read, quiet_lightning

from ._data_statistics import MatrixStatistics, matrix_statistics
from ._expression import ExpressionMixin
from ._getters import PseudotimeGettersMixin
from ._orientation import Orientation, Root, orientation_from_root, root_mask
from ._persistence import PersistenceMixin
from ._registration import anndata_fields, setup_dsp
from ._results import ResultKey, ResultsMixin
from ._validation import align_features, validate_data, validate_setup

#: Epochs of a default training (the papers'), up to :data:`EPOCHS_DECAY_AT_N_OBS` cells.
DEFAULT_MAX_EPOCHS = 100
#: Above this many cells a default training takes fewer epochs, ``100 * 80,000 / n_cells``.
EPOCHS_DECAY_AT_N_OBS = 80_000


class PseudotimeModel(
    PersistenceMixin,
    ResultsMixin,
    PseudotimeGettersMixin,
    ExpressionMixin,
    VAEMixin,
    UnsupervisedTrainingMixin,
    BaseModelClass,
):
    """Base of the scbasis models: a latent pseudotime and one curve per feature and family.

    Subclasses set ``_results_key`` and build ``self.module`` (a
    :class:`~scbasis.module.PseudotimeModule`).
    """

    _results_key: str = "pseudotime_model"
    _training_plan_cls = PseudotimeTrainingPlan
    _data_loader_cls = FileRowsDataLoader
    _data_splitter_cls = FileRowsDataSplitter
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
    @setup_dsp.dedent
    def setup_anndata(
        cls,
        adata: AnnData,
        layer: str | None = None,
        batch_key: str | None = None,
        size_factor_key: str | None = None,
        **kwargs,
    ) -> None:
        """Register ``adata`` with this model: where its data, batches and size factors are.

        ``scbasis.model.setup_anndata`` does this for every scbasis model at once.

        Parameters
        ----------
        %(param_adata)s
        %(param_layer)s
        %(param_batch_key)s
        %(param_size_factor_key)s
        """
        validate_setup(adata, layer, batch_key, size_factor_key)
        cls._register_anndata(adata, layer, batch_key, size_factor_key, **kwargs)

    @classmethod
    def _register_anndata(
        cls,
        adata: AnnData,
        layer: str | None,
        batch_key: str | None,
        size_factor_key: str | None,
        **kwargs,
    ) -> None:
        """Register ``adata``'s fields with this model (arguments checked by the caller)."""
        setup_method_args = cls._get_setup_method_args(**locals())
        adata_manager = AnnDataManager(
            fields=anndata_fields(layer, batch_key, size_factor_key),
            setup_method_args=setup_method_args,
        )
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

    @property
    def _feature_names(self) -> pd.Index:
        """The names of the features the model was set up with, in the module's order."""
        x_registry = self.registry_["field_registries"][REGISTRY_KEYS.X_KEY]
        return pd.Index(x_registry["state_registry"]["column_names"])

    def _validate_anndata(
        self, adata: AnnData | None = None, copy_if_view: bool = True
    ) -> AnnData:
        """scvi-tools' check and registration of ``adata``, with its features matched to the
        model's by name (a reordered copy where only their order differs; an error where
        they differ) and a view read through a copy, so the caller's AnnData stays as it was."""
        if adata is not None and adata is not self.adata:
            if adata.is_view:
                adata = adata.copy()
            adata = align_features(adata, self._feature_names)
        return super()._validate_anndata(adata, copy_if_view=copy_if_view)

    def _make_data_loader(
        self,
        adata: AnnData,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
        shuffle: bool = False,
        data_loader_class=None,
        **data_loader_kwargs,
    ):
        """scvi-tools' data loader, refusing what would be read in another order than asked:
        scvi-tools reads each minibatch of a backed AnnData with its cells in ascending order,
        so ``indices`` must ascend within every minibatch there."""
        if adata.isbacked and indices is not None and not shuffle:
            size = batch_size or settings.batch_size
            positions = np.asarray(indices)
            descending = np.diff(positions) < 0
            descending[size - 1 :: size] = False  # steps between minibatches may go down
            if descending.any():
                raise ValueError(
                    "adata is backed, whose minibatches are read with their cells in ascending "
                    "order; pass the cells in ascending order, e.g. np.sort(indices)."
                )
        return super()._make_data_loader(
            adata, indices, batch_size, shuffle, data_loader_class, **data_loader_kwargs
        )

    def _statistics(self) -> MatrixStatistics:
        """:class:`MatrixStatistics` of the model's registered matrix (one pass, kept)."""
        if getattr(self, "_matrix_statistics", None) is None:
            self._matrix_statistics = matrix_statistics(self.adata, self._layer)
        return self._matrix_statistics

    def _validate_data_for(self, likelihood: str) -> None:
        """Check the model's registered values for ``likelihood`` before any work."""
        check_likelihood(likelihood, self._module_cls.likelihoods)
        where = "adata.X" if self._layer is None else f"adata.layers[{self._layer!r}]"
        has_size_factor = self._size_factor_key is not None
        validate_data(self._statistics(), where, self.adata.var_names, likelihood, has_size_factor)

    def _initial_intercepts(self, likelihood: str) -> np.ndarray:
        """Per-feature starting values on the link scale (see
        :meth:`MatrixStatistics.initial_intercepts`)."""
        library_total = None
        if self._size_factor_key is not None:
            library_total = float(self.adata.obs[self._size_factor_key].sum())
        return self._statistics().initial_intercepts(likelihood, library_total)

    # ------------------------------------------------------------------ training
    def default_max_epochs(self) -> int:
        """Epochs of a training without ``max_epochs``: :data:`DEFAULT_MAX_EPOCHS` (the
        papers' 100) up to :data:`EPOCHS_DECAY_AT_N_OBS` cells, above that fewer in proportion
        (scvi-tools' heuristic, ``get_max_epochs_heuristic``), so that a training takes
        about as many minibatches at any size: 80 epochs at 100,000 cells, 8 at a million."""
        return get_max_epochs_heuristic(
            self.adata.n_obs, epochs_cap=DEFAULT_MAX_EPOCHS, decay_at_n_obs=EPOCHS_DECAY_AT_N_OBS
        )

    def train(
        self,
        max_epochs: int | None = None,
        lr: float = 5e-3,
        batch_size: int = 128,
        annealing_fraction: float = 0.2,
        train_size: float | None = None,
        early_stopping: bool = False,
        plan_kwargs: dict | None = None,
        **trainer_kwargs,
    ):
        """Train the model with Adam, annealing ``(beta, gamma)`` linearly from 0.

        Adam runs in PyTorch's fused implementation (:func:`~scbasis.train.fused_adam`), passed
        to scvi-tools' training plan as ``optimizer="Custom"``; ``plan_kwargs`` naming another
        ``optimizer`` (``"Adam"``, ``"AdamW"``) or an ``optimizer_creator`` take precedence.

        Parameters
        ----------
        max_epochs
            Passes through the training cells; ``None``: :meth:`default_max_epochs` (100 up
            to 80,000 cells, fewer above).
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
            Passed to :class:`~scvi.train.Trainer` (e.g. ``accelerator``, ``enable_progress_bar``,
            ``gradient_clip_val``). The progress bar shows by default where it is read (a
            terminal or Jupyter), not when stdout goes to a file or a pipe; Lightning's
            informational lines are not printed.

        Notes
        -----
        While training, torch's thread count follows the cores other processes leave free
        (:class:`~scbasis.train.ThreadsFollowFreeCores`), so that sharing the machine costs
        what sharing its cores costs, and each step reuses the memory the previous one freed
        (:class:`~scbasis.train.KeepFreedMemory`). Ctrl+C stops training after the current step
        (:class:`~scbasis.train.StopOnInterrupt`) and raises ``KeyboardInterrupt``; the model
        keeps its weights and history.
        """
        if not 0 <= annealing_fraction <= 1:
            raise ValueError(f"annealing_fraction must lie in [0, 1], got {annealing_fraction}.")
        if max_epochs is None:
            max_epochs = self.default_max_epochs()
        plan = {
            "lr": lr,
            "eps": 1e-8,
            "weight_decay": 0.0,
            "n_epochs_kl_warmup": round(annealing_fraction * max_epochs) or None,
            "n_steps_kl_warmup": None,
            **(plan_kwargs or {}),
        }
        if plan.setdefault("optimizer", "Custom") == "Custom":
            plan.setdefault(
                "optimizer_creator",
                partial(
                    fused_adam, lr=plan["lr"], eps=plan["eps"], weight_decay=plan["weight_decay"]
                ),
            )
        interrupt = StopOnInterrupt()
        trainer_kwargs["callbacks"] = [
            *trainer_kwargs.get("callbacks", []),
            interrupt,
            ThreadsFollowFreeCores(),
            KeepFreedMemory(),
        ]
        trainer_kwargs.setdefault("enable_progress_bar", progress_bar_is_read())
        with quiet_lightning():
            super().train(
                max_epochs=max_epochs,
                batch_size=batch_size,
                train_size=train_size,
                early_stopping=early_stopping,
                plan_kwargs=plan,
                **trainer_kwargs,
            )
        if interrupt.interrupted_in_epoch is not None:
            raise KeyboardInterrupt(
                f"Training stopped by an interrupt in epoch {interrupt.interrupted_in_epoch}; "
                "the model keeps its weights and its history up to there (model.history)."
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
        int
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

    @property
    def _orientation(self) -> Orientation:
        """The model's :class:`~scbasis.model._orientation.Orientation`, from
        :attr:`orientation_` (the saved state) and :attr:`_mirror_families`."""
        return Orientation(self.orientation_, self._mirror_families)


class ClusteredPseudotimeModel(PseudotimeModel):
    """A :class:`PseudotimeModel` whose features are clustered into :attr:`families`."""

    @property
    def families(self) -> tuple[str, ...]:
        """Family names, in the order of the module's curve columns."""
        return self.module.families

    def get_cluster_probabilities(self) -> pd.DataFrame:
        """Posterior probability of each feature's family, ``q(w_j = k)``.

        Returns
        -------
        pandas.DataFrame
            Features x families (columns named by :attr:`families`), rows summing to 1.
        """
        phi = self.module.phi.detach().cpu().numpy()[:, self._orientation.columns(self.families)]
        return pd.DataFrame(
            phi, index=self.adata_manager.adata.var_names.copy(), columns=list(self.families)
        )

    def _annotate_trends(self, trends: AnnData, mean: np.ndarray, gene_idx: np.ndarray) -> None:
        probs = self.get_cluster_probabilities().iloc[gene_idx]
        trends.var[TREND_KEYS.FAMILY] = pd.Categorical(
            probs.idxmax(axis=1).to_numpy(), categories=list(self.families)
        )
        trends.varm[TREND_KEYS.CLUSTER_PROBS] = probs.to_numpy()
        for k, family in enumerate(self.families):
            trends.layers[family] = mean[..., k]
        trends.uns[TREND_KEYS.FAMILIES] = list(self.families)

    def _feature_results(self, key_added: str) -> dict[ResultKey, Any]:
        probs = self.get_cluster_probabilities()
        return {
            ("varm", result_key(key_added, RESULT_KEYS.CLUSTER_PROBS)): probs.to_numpy(),
            ("var", result_key(key_added, RESULT_KEYS.CLUSTER)): pd.Categorical(
                probs.idxmax(axis=1).to_numpy(), categories=list(self.families)
            ),
            **super()._feature_results(key_added),
        }

    def _uns_results(self) -> dict[str, Any]:
        families = list(self.families)
        return super()._uns_results() | {
            UNS_KEYS.FAMILIES: families,
            UNS_KEYS.CLUSTER_PROBS_COLUMNS: families,
        }
