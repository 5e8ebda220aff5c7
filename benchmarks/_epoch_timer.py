"""A Lightning callback that times every training epoch, shared by the benchmark scripts."""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import Callback


class EpochTimer(Callback):
    """Wall-clock seconds of each training epoch (validation excluded), in ``seconds``."""

    def __init__(self):
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        self.seconds.append(time.perf_counter() - self._start)
