"""Ctrl+C during training: stop after the current step and keep what was learnt."""

from __future__ import annotations

import signal
import threading

from lightning.pytorch import Callback, LightningModule, Trainer


class StopOnInterrupt(Callback):
    """Turns an interrupt (Ctrl+C, ``SIGINT``) during training into an early stop.

    Lightning answers ``KeyboardInterrupt`` with ``sys.exit(1)`` and leaves ``SIGINT`` ignored
    for the rest of the process; scvi-tools then marks the model as untrained. With this
    callback an interrupt asks the trainer to stop after the current step, as early stopping
    does, so that the model keeps its weights and its history; :attr:`interrupted_in_epoch`
    says that it happened (the model's ``train`` then raises ``KeyboardInterrupt``). A second
    interrupt while the step finishes raises ``KeyboardInterrupt`` at once. The previous
    handler is restored when training ends. Only in the main thread (where Python delivers
    signals).
    """

    def __init__(self):
        super().__init__()
        #: The epoch (from 1) in which training was interrupted; ``None`` if it was not.
        self.interrupted_in_epoch: int | None = None
        self._previous_handler = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.interrupted_in_epoch = None
        if threading.current_thread() is not threading.main_thread():
            return

        def stop(signum, frame):
            if self.interrupted_in_epoch is not None:  # asked twice: stop now
                self._restore()
                raise KeyboardInterrupt
            self.interrupted_in_epoch = trainer.current_epoch + 1
            trainer.should_stop = True

        self._previous_handler = signal.signal(signal.SIGINT, stop)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._restore()

    def on_exception(
        self, trainer: Trainer, pl_module: LightningModule, exception: BaseException
    ) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None
