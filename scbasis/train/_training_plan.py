"""The training plan of the scbasis models: scvi-tools' TrainingPlan, cheaper per step."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from scvi.module.base import LossOutput
from scvi.train import TrainingPlan


def fused_adam(
    params: Iterable[torch.nn.Parameter], lr: float, eps: float, weight_decay: float
) -> torch.optim.Adam:
    """Adam with scvi-tools' settings, in PyTorch's fused implementation on CPU and CUDA.

    The models train with it through scvi-tools' own route, ``optimizer="Custom"`` with this
    as ``optimizer_creator`` (see :meth:`~scbasis.model.PseudotimeModel.train`). The updates
    are Adam's; the fused step is one kernel over all parameters instead of a loop
    of per-tensor operations (about 1 ms against 4 ms for the 1.7 million parameters of the
    single-cell benchmark on 2 CPU threads). On other devices PyTorch's default is used.
    """
    params = [p for p in params if p.requires_grad]
    fused = all(p.device.type in ("cpu", "cuda") for p in params) or None
    return torch.optim.Adam(params, lr=lr, eps=eps, weight_decay=weight_decay, fused=fused)


class PseudotimeTrainingPlan(TrainingPlan):
    """scvi-tools' :class:`~scvi.train.TrainingPlan`, logging the training metrics per epoch.

    The training metrics (``train_loss``, the ELBO and its terms, the module's extra metrics)
    are accumulated over the epoch and logged once at its end, with the same minibatch-size
    weighting as scvi-tools' per-step ``log`` calls, so the epoch history is unchanged. Each
    Lightning ``log`` call costs about a millisecond; logging nine metrics per step took about
    15 % of an epoch at the single-cell benchmark's scale, which is why this subclass exists.
    ``kl_weight``, which scvi-tools logs per step (the history keeps every
    ``log_every_n_steps``-th value), is logged once per epoch.

    Every step checks that the loss is finite (:func:`check_finite`) and otherwise stops
    training with the terms, the epoch and the step in the message. With ``on_step=True`` the
    step is scvi-tools' own: every metric is logged per step, and there is no such check.
    """

    def on_train_epoch_start(self) -> None:
        self._epoch_sums: dict[str, torch.Tensor] = {}
        self._epoch_cells = 0

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Forward pass and loss; the metrics are accumulated for :meth:`on_train_epoch_end`."""
        if self.on_step:
            return super().training_step(batch, batch_idx)
        if "kl_weight" in self.loss_kwargs:
            self.loss_kwargs.update({"kl_weight": self.kl_weight})
        try:
            _, _, loss_output = self.forward(batch, loss_kwargs=self.loss_kwargs)
        except ValueError as error:  # a distribution given NaN or infinite parameters
            if "invalid values" not in str(error):
                raise
            raise FloatingPointError(
                f"Training diverged in epoch {self.current_epoch + 1}, step {batch_idx + 1}: "
                f"the network gave NaN or infinite values ({str(error).splitlines()[0]}). "
                f"{_DIVERGENCE_ADVICE}"
            ) from error
        check_finite(loss_output, self.current_epoch, batch_idx)
        self._accumulate(loss_output)
        if loss_output.extra_metrics:
            self.prepare_scib_autotune(loss_output.extra_metrics, "training")
        return loss_output.loss

    def _accumulate(self, loss_output: LossOutput) -> None:
        """Update the ELBO metric and the size-weighted sums of the other training metrics."""
        n_cells = loss_output.n_obs_minibatch
        self.train_metrics["elbo_train"].update(
            reconstruction_loss=loss_output.reconstruction_loss_sum,
            kl_local=loss_output.kl_local_sum,
            kl_global=loss_output.kl_global_sum,
            n_obs_minibatch=n_cells,
        )
        values = {"train_loss": loss_output.loss}
        for key, value in loss_output.extra_metrics.items():
            if isinstance(value, torch.Tensor) and value.dim() == 0:
                values[f"{key}_train"] = value
        for key, value in values.items():
            weighted = value.detach() * n_cells
            self._epoch_sums[key] = self._epoch_sums.get(key, 0) + weighted
        self._epoch_cells += n_cells

    def on_train_epoch_end(self) -> None:
        """Log the epoch's training metrics (weighted means over its minibatches)."""
        if self.on_step or not self._epoch_cells:
            return
        sync = self.use_sync_dist
        self.log_dict(self.train_metrics, on_step=False, on_epoch=True, sync_dist=sync)
        for key, total in self._epoch_sums.items():
            self.log(
                key,
                total / self._epoch_cells,
                on_step=False,
                on_epoch=True,
                prog_bar=key == "train_loss",
                sync_dist=sync,
            )
        if "kl_weight" in self.loss_kwargs:
            self.log("kl_weight", self.kl_weight, on_step=False, on_epoch=True, sync_dist=sync)


def check_finite(loss_output: LossOutput, epoch: int, step: int) -> None:
    """Stop training, naming the terms, the epoch and the step, when the loss is NaN or
    infinite (before the optimiser spreads it into every weight).

    One scalar read per step: free on the CPU, a host synchronisation on a GPU.
    """
    if bool(torch.isfinite(loss_output.loss)):
        return
    terms = {
        "reconstruction_loss": loss_output.reconstruction_loss_sum,
        "kl_local": loss_output.kl_local_sum,
        "kl_global": loss_output.kl_global_sum,
        **{k: v for k, v in loss_output.extra_metrics.items() if torch.is_tensor(v)},
    }
    bad = [name for name, value in terms.items() if not bool(torch.isfinite(value).all())]
    raise FloatingPointError(
        f"Training diverged in epoch {epoch + 1}, step {step + 1}: the loss is "
        f"{loss_output.loss.item()} ({', '.join(bad) or 'its total'} not finite). "
        f"{_DIVERGENCE_ADVICE}"
    )


_DIVERGENCE_ADVICE = (
    "Train again with a smaller learning rate (e.g. lr=1e-3) or with gradient clipping "
    "(gradient_clip_val=1.0), and check the data for extreme values: Gaussian likelihoods "
    "expect standardised features (e.g. sc.pp.scale(adata)), counts a count likelihood."
)
