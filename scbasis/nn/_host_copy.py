"""Values copied from the device to the host without waiting for the device."""

from __future__ import annotations

import torch


class HostCopy:
    """A copy of a tensor on its way to the host, to be read once it has arrived.

    On a GPU the copy goes into pinned memory behind a CUDA event, so that neither starting
    it nor asking whether it has arrived makes the host wait for the device; a training step
    can hand values to the host and read them a step or more later. Elsewhere the values are
    on the host at once.

    Parameters
    ----------
    values
        The tensor to copy (detached).
    """

    def __init__(self, values: torch.Tensor):
        values = values.detach()
        self._event: torch.cuda.Event | None = None
        if values.device.type == "cuda":
            self._host = torch.empty(values.shape, dtype=values.dtype, pin_memory=True)
            self._host.copy_(values, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record()
        else:  # on the host already (other devices are read directly)
            self._host = values.clone()

    def arrived(self) -> bool:
        """Whether the copy is complete; never waits."""
        return self._event is None or self._event.query()

    def wait(self) -> None:
        """Wait until the copy is complete (a synchronisation, for the end of an epoch)."""
        if self._event is not None:
            self._event.synchronize()

    def read(self) -> list | bool | int | float:
        """The values (as ``tolist`` gives them) of a copy that has arrived.

        Reading a host tensor whose copy is complete does not synchronise with the device,
        though it is a ``tolist`` call: tests that count such calls exempt this method.
        """
        if not self.arrived():
            raise RuntimeError("HostCopy.read called before the copy arrived; call wait().")
        return self._host.tolist()
