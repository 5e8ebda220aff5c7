"""The training plan of the scbasis models: scvi-tools' TrainingPlan, cheaper per step."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from scvi.module.base import LossOutput
from scvi.train import TrainingPlan
from scvi.train._trainingplans import _compute_kl_weight
from torch.distributions import Distribution

from scbasis.nn._host_copy import HostCopy


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

    Every step's loss is checked to be finite (``FiniteLossCheck``, :func:`check_finite`), and
    training otherwise stops with the terms, the epoch and the step in the message; no step
    reads a value on the host, so that on a GPU none waits for the device. With
    ``on_step=True`` the step is scvi-tools' own: every metric is logged per step, and there
    is no such check.
    """

    def on_train_epoch_start(self) -> None:
        self._epoch_sums: dict[str, torch.Tensor] = {}
        self._epoch_cells = 0
        self._finite_checks = FiniteLossCheck()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Forward pass and loss; the metrics are accumulated for :meth:`on_train_epoch_end`.

        No value is read on the host: the KL weight is a number, torch's distributions do not
        check their arguments (a NaN reaches the loss, where ``FiniteLossCheck`` finds it),
        so that on a GPU the step never waits for the device.
        """
        if self.on_step:
            return super().training_step(batch, batch_idx)
        if "kl_weight" in self.loss_kwargs:
            self.loss_kwargs.update({"kl_weight": self._kl_weight_value()})
        with _distribution_checks(False):
            _, _, loss_output = self.forward(batch, loss_kwargs=self.loss_kwargs)
        self._finite_checks.submit(loss_output, self.current_epoch, batch_idx)
        self._accumulate(loss_output)
        if loss_output.extra_metrics:
            self.prepare_scib_autotune(loss_output.extra_metrics, "training")
        return loss_output.loss

    def _kl_weight_value(self) -> float:
        """scvi-tools' KL weight of this step, as a number (its ``kl_weight`` is a tensor
        built on the host and copied to the device)."""
        return _compute_kl_weight(
            self.current_epoch,
            self.global_step,
            self.n_epochs_kl_warmup,
            self.n_steps_kl_warmup,
            self.max_kl_weight,
            self.min_kl_weight,
        )

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
        """Check the epoch's last losses; log its training metrics (weighted means over its
        minibatches)."""
        if self.on_step or not self._epoch_cells:
            return
        self._finite_checks.wait()
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


class FiniteLossCheck:
    """Stops training when a step's loss is NaN or infinite, without making the step wait.

    Each step's finiteness is handed to the host as a ``HostCopy`` and checked once it has
    arrived: on the CPU at once, before the optimiser spreads a NaN into every weight; on a
    GPU a step or more later (at the latest at the end of the epoch, :meth:`wait`), so that
    no step synchronises with the device. The error names the terms, the epoch and the step
    (:func:`check_finite`).
    """

    def __init__(self):
        self._pending: deque[tuple[HostCopy, LossOutput, int, int]] = deque()

    def submit(self, loss_output: LossOutput, epoch: int, step: int) -> None:
        """Hand over a step's loss, and check the steps whose finiteness has arrived."""
        finite = HostCopy(torch.isfinite(loss_output.loss))
        self._pending.append((finite, loss_output, epoch, step))
        self._check(wait=False)

    def wait(self) -> None:
        """Check every step handed over so far, waiting for the device if needed."""
        self._check(wait=True)

    def _check(self, wait: bool) -> None:
        while self._pending:
            finite, loss_output, epoch, step = self._pending[0]
            if not finite.arrived():
                if not wait:
                    return
                finite.wait()
            self._pending.popleft()
            if not finite.read():
                check_finite(loss_output, epoch, step)


def check_finite(loss_output: LossOutput, epoch: int, step: int) -> None:
    """Stop training, naming the terms, the epoch and the step, when the loss is NaN or
    infinite.

    One scalar read: free on the CPU, a host synchronisation on a GPU, where
    ``FiniteLossCheck`` reads it only once it is known to be on the host.
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


@contextmanager
def _distribution_checks(enabled: bool) -> Iterator[None]:
    """torch's distributions check their arguments (a host read per distribution) or not."""
    previous = Distribution._validate_args
    Distribution.set_default_validate_args(enabled)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(previous)


_DIVERGENCE_ADVICE = (
    "Train again with a smaller learning rate (e.g. lr=1e-3) or with gradient clipping "
    "(gradient_clip_val=1.0), and check the data for extreme values: Gaussian likelihoods "
    "expect standardised features (e.g. sc.pp.scale(adata)), counts a count likelihood."
)
