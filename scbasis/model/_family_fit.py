"""Fit every behaviour family to every gene, then weigh the families by what the data say."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scvi
import torch
from scvi import REGISTRY_KEYS

from scbasis.nn._clustering import family_posterior
from scbasis.train import fused_adam
from scbasis.train._heap import KeptHeap
from scbasis.train._threads import FreeCoreThreads

from ._base import EPOCHS_DECAY_AT_N_OBS
from ._data_statistics import row_blocks

#: Learning rate at the start of the family fit (Adam): the curves' weights start far from
#: their optimum.
DEFAULT_FAMILY_LR = 3e-2
#: Most minibatches of a default family fit: at 160,000 cells 5 epochs (5,625 minibatches)
#: gave calls as good as the 15 that 30 % of the joint epochs took, in a third of the time.
MAX_FAMILY_STEPS = 5600
_PEAK_BINS = 20  # equal-count bins along the pseudotime in which the transients' peaks start
#: Log-likelihood a family must gain per shape parameter it adds to a flat gene (Akaike's
#: criterion takes 1; 2 was better calibrated on simulations, see ``docs/model.md``).
FAMILY_PENALTY = 2.0


def _steps_per_epoch(cells: np.ndarray, batch_size: int) -> int:
    """Minibatches in one pass of the family fit over ``cells`` (``FamilyFitMixin._batches``)."""
    return math.ceil(len(cells) / batch_size)


class FamilyFitMixin:
    """:meth:`fit_families` for models whose module has ``family_shape_parameters``
    (:class:`~scbasis.module.BasisDeVAEModule` with its basis decoder).

    Joint training assigns each gene to a family early and then fits, in effect, only that
    family's curve to it, so the other families are compared at curves that were never fitted.
    :meth:`fit_families` places every cell at its exact posterior pseudotime
    (:meth:`get_pseudotime`), fits every family's curve to every gene there, and sets the
    assignment probabilities to the maximum of the collapsed bound at those curves, each
    family's log-likelihood less :data:`FAMILY_PENALTY` times the number ``m_k`` of shape
    parameters it adds to a flat gene (:data:`~scbasis.module.FAMILY_SHAPE_PARAMETERS`), like
    Akaike weights ``exp(log L - m)`` with a doubled penalty: a transient that fits a rising
    gene no better than the increasing family does not win it by its extra freedom.
    """

    def fit_families(
        self,
        max_epochs: int = 30,
        lr: float = DEFAULT_FAMILY_LR,
        batch_size: int = 128,
    ) -> None:
        """Fit every family to every gene at the cells' pseudotimes; set the probabilities.

        Uses the cells the model was trained on, so that held-out cells stay held out. The
        learning rate falls from ``lr`` to 0 along a cosine over the fit, so that the curves
        settle at their optima. The loss of each epoch and the learning rate at its end are
        kept in ``family_fit_history_``.

        Parameters
        ----------
        max_epochs
            Passes over the training cells; 0 only recomputes the probabilities.
        lr
            Adam's learning rate at the start of the fit.
        batch_size
            Minibatch size.
        """
        module = self.module
        if module.family_shape_parameters is None:
            raise ValueError(
                "fit_families needs the basis decoder (decoder='basis'); the papers' network "
                "decoder's transient also takes monotone shapes, so its fitted families cannot "
                "be compared."
            )
        train = self._training_cells()
        latent = self._pseudotime_mean_std(indices=train, batch_size=batch_size)[0][:, 0]
        if max_epochs > 0:
            module.data_range.set(torch.as_tensor(latent, device=module.device))
            self._fit_library_trend(train, latent)
            module.decoder.set_peak(
                module.data_range.normalise(self._binned_peaks(train, latent).to(module.device))
            )
            module.decoder.share_fits(module.phi.argmax(dim=1))
            self._fit_family_curves(train, latent, max_epochs, lr, batch_size)
        log_likelihood, covariance = self._family_log_likelihood(train, latent, batch_size)
        penalty = FAMILY_PENALTY * module.family_shape_parameters.astype(np.float64)
        alpha = module.clustering.alpha.double()
        phi = family_posterior(
            log_likelihood, torch.as_tensor(penalty).to(alpha), alpha, covariance, seed=0
        )
        with torch.no_grad():
            module.clustering.logits.copy_(torch.log(phi.clamp_min(1e-12)))
        self._forget_posterior()  # the curves and each gene's family may have changed

    def default_family_epochs(self, max_epochs: int, batch_size: int = 128) -> int:
        """Epochs of :meth:`fit_families` after a joint training of ``max_epochs``: 30 % of
        them, but no more than :data:`MAX_FAMILY_STEPS` minibatches of ``batch_size`` training
        cells take, and at least 10, a floor that above 80,000 cells falls in proportion to the
        cells (at least 1), as :meth:`default_max_epochs` does."""
        # scvi-tools' get_max_epochs_heuristic with a cap of 10, written out: at 1 it warns
        # that the training's maximum epochs were set to 1, which this floor is not
        at_least = max(1, min(10, round(10 * EPOCHS_DECAY_AT_N_OBS / self.adata.n_obs)))
        at_most = math.ceil(
            MAX_FAMILY_STEPS / _steps_per_epoch(self._training_cells(), batch_size)
        )
        return max(at_least, min(round(0.3 * max_epochs), at_most))

    def _fit_library_trend(self, cells: np.ndarray, latent: np.ndarray) -> None:
        """Refit the trend of log total counts at the cells' pseudotimes (least squares)."""
        module = self.module
        if module.library_trend is None:
            return
        totals = self._statistics().row_total[cells]
        log_total = torch.as_tensor(np.log(np.maximum(totals, 1)), device=module.device)
        u = module.data_range.normalise(torch.as_tensor(latent, device=module.device))
        module.library_trend.fit(log_total, u)

    def _training_cells(self) -> np.ndarray:
        indices = getattr(self, "train_indices", None)
        if indices is None:
            return np.arange(self.adata.n_obs)
        return np.sort(np.asarray(indices))

    def _batches(
        self,
        cells: np.ndarray,
        latent: np.ndarray,
        batch_size: int,
        rng: np.random.Generator | None = None,
    ):
        """Minibatches of ``cells`` with each cell's latent ``(n, 1)``, shuffled by ``rng``.

        Each minibatch lists its cells in ascending order, the order in which scvi-tools reads
        a backed AnnData's rows, so that the latents stay with their cells there too.
        """
        order = np.arange(len(cells)) if rng is None else rng.permutation(len(cells))
        starts = range(0, len(cells), batch_size)
        order = np.concatenate([np.sort(order[start : start + batch_size]) for start in starts])
        loader = self._make_data_loader(
            adata=self.adata, indices=cells[order], batch_size=batch_size, shuffle=False
        )
        device = self.module.device
        for start, tensors in zip(range(0, len(cells), batch_size), loader, strict=True):
            z = torch.as_tensor(latent[order[start : start + batch_size]], device=device)
            yield {k: v.to(device) for k, v in tensors.items()}, z[:, None].float()

    def _parameters_at(
        self, tensors: dict[str, torch.Tensor], z: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The likelihood's parameters under every family with the cells held at ``z``."""
        module = self.module
        observed = module.observed_log_library(
            tensors[REGISTRY_KEYS.X_KEY], tensors.get(REGISTRY_KEYS.SIZE_FACTOR_KEY)
        )
        library = observed - module.library_correction(z)[:, None]
        return module.family_parameters(z, library, tensors.get(REGISTRY_KEYS.BATCH_KEY))

    def _fit_family_curves(
        self, cells: np.ndarray, latent: np.ndarray, max_epochs: int, lr: float, batch_size: int
    ) -> None:
        """Train the decoder and the likelihood's parameters with every family weighted equally,
        the cells held at ``latent``; the encoder, the library trend and the assignments stay.

        The learning rate falls from ``lr`` to 0 along a cosine over the fit's steps. At a
        constant rate Adam's minibatch noise leaves each curve off its optimum by an amount
        that does not shrink with the cells, while the log-likelihood that this costs grows
        with them: at 160,000 cells it decided between families, and bagging cannot see it."""
        module = self.module
        held = {id(p) for part in (module.encoder, module.clustering) for p in part.parameters()}
        if module.library_trend is not None:
            held |= {id(p) for p in module.library_trend.parameters()}
        parameters = [p for p in module.parameters() if id(p) not in held and p.requires_grad]
        optimizer = fused_adam(parameters, lr=lr, eps=1e-8, weight_decay=0.0)
        n_steps = max_epochs * _steps_per_epoch(cells, batch_size)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=n_steps)
        equal = torch.full_like(module.phi, 1 / module.phi.shape[1]).detach()
        losses, rates = [], []
        was_training = module.training
        module.train()
        rng = np.random.default_rng(scvi.settings.seed)
        with FreeCoreThreads() as threads, KeptHeap():
            for _ in range(max_epochs):
                total, n_cells = 0.0, 0
                for tensors, z in self._batches(cells, latent, batch_size, rng):
                    threads.follow()
                    parameters = self._parameters_at(tensors, z)
                    x = tensors[REGISTRY_KEYS.X_KEY]
                    loss = -module.cell_log_likelihood(x, parameters, equal).mean()
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    total, n_cells = total + float(loss.detach()) * len(x), n_cells + len(x)
                losses.append(total / n_cells)
                rates.append(optimizer.param_groups[0]["lr"])
        module.train(was_training)
        #: Mean negative log-likelihood per cell of each epoch of the last family fit, and the
        #: learning rate at the epoch's end.
        self.family_fit_history_ = pd.DataFrame(
            {"family_fit_loss": losses, "lr": rates}, index=pd.RangeIndex(max_epochs, name="epoch")
        )

    def _binned_peaks(self, cells: np.ndarray, latent: np.ndarray) -> torch.Tensor:
        """Where each gene's library-normalised expression is highest along the pseudotime:
        the mean latent of the equal-count bin with the largest pooled rate, ``(d,)``."""
        order = np.argsort(latent, kind="stable")
        bins = np.array_split(order, min(_PEAK_BINS, len(order)))
        cell_bin = np.full(self.adata.n_obs, -1)  # bin of each of the model's cells, -1: none
        for k, members in enumerate(bins):
            cell_bin[cells[members]] = k
        counts = np.zeros((len(bins), self.adata.n_vars))  # pooled counts per bin and gene
        for start, block in row_blocks(self.adata, self._layer):
            rows = cell_bin[start : start + block.shape[0]]
            kept = np.flatnonzero(rows >= 0)
            indicator = sp.csr_matrix(
                (np.ones(len(kept)), (rows[kept], kept)), shape=(len(bins), block.shape[0])
            )
            pooled = indicator @ block
            counts += pooled.toarray() if sp.issparse(pooled) else pooled
        totals = np.maximum(counts.sum(axis=1, keepdims=True), 1)
        centres = np.array([latent[b].mean() for b in bins])
        return torch.as_tensor(centres[(counts / totals).argmax(axis=0)], dtype=torch.float32)

    @torch.inference_mode()
    def _family_log_likelihood(
        self, cells: np.ndarray, latent: np.ndarray, batch_size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``sum_i log p(x_ij | z_i, family k)`` over ``cells`` held at ``latent``, ``(d, K)``,
        and its covariance over bootstrap resamplings of the cells, ``(d, K, K)``."""
        module = self.module
        total = products = None
        for tensors, z in self._batches(cells, latent, batch_size):
            parameters = self._parameters_at(tensors, z)
            per_cell = module.family_log_likelihood(tensors[REGISTRY_KEYS.X_KEY], parameters)
            # (N, d, K), cell-major: einsum copies each gene's slice of other layouts apart
            per_cell = per_cell.to(torch.float64, memory_format=torch.contiguous_format)
            batch_total = per_cell.sum(0)
            batch_products = torch.einsum("ndk,ndl->dkl", per_cell, per_cell)
            if total is None:
                total, products = batch_total, batch_products
            else:
                total, products = total + batch_total, products + batch_products
        n_cells = len(cells)
        mean = total / n_cells
        cell_covariance = (products / n_cells - mean[:, :, None] * mean[:, None, :]) * (
            n_cells / max(n_cells - 1, 1)
        )
        return total, n_cells * cell_covariance
