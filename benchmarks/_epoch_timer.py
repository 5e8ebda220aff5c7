"""A Lightning callback that times every training epoch, shared by the benchmark scripts."""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import Callback


class EpochTimer(Callback):
    """Wall-clock seconds of each training epoch (validation excluded), in ``seconds``, and of
    each training step after an epoch's first, from the end of one to the end of the next (so
    with its minibatch's reading), in ``step_seconds``."""

    def __init__(self):
        self.seconds: list[float] = []
        self.step_seconds: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self._start = time.perf_counter()
        self._last_step_end = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        now = time.perf_counter()
        if self._last_step_end is not None:
            self.step_seconds.append(now - self._last_step_end)
        self._last_step_end = now

    def on_train_epoch_end(self, trainer, pl_module):
        self.seconds.append(time.perf_counter() - self._start)
