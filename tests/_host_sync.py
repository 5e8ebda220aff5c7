"""A count of the calls that make a GPU wait for the host, taken on any device.

On a GPU, reading a tensor's value on the host (``item()``, ``bool(t)``, ``float(t)``,
``tolist()``, ``numpy()``, a copy to the CPU) and every operation whose output shape depends on
the data (``nonzero``, boolean-mask indexing, ``unique``, ...) blocks the host until the GPU has
caught up, and a blocking copy of host data to the device (``torch.tensor(values,
device=...)``, ``t.to(device)``) waits for it too. ``torch.cuda.set_sync_debug_mode("error")``
finds them only where a GPU is present;
:class:`HostSyncCounter` counts the same calls through a ``TorchFunctionMode`` on the CPU too,
so a test can show that a training step makes none.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback
from torch.overrides import TorchFunctionMode

#: Tensor methods and torch functions that read values on the host or give data-dependent shapes.
SYNCHRONISING = frozenset(
    {
        "__bool__",
        "__float__",
        "__int__",
        "__index__",
        "item",
        "tolist",
        "numpy",
        "cpu",
        "nonzero",
        "argwhere",
        "masked_select",
        "unique",
        "unique_consecutive",
        "equal",
        "allclose",
        "is_nonzero",
    }
)


def _is_synchronising(name: str, args: tuple, kwargs: dict) -> bool:
    if name in SYNCHRONISING:
        return True
    if name == "to":  # a blocking copy between the host and the device
        targets = [*args[1:], kwargs.get("device")]
        moves = any(isinstance(t, str | torch.device) for t in targets)
        return moves and not kwargs.get("non_blocking", False)
    if name in ("tensor", "new_tensor") or (name == "as_tensor" and not torch.is_tensor(args[0])):
        return True  # host data copied to the device
    if name == "repeat_interleave":  # the output's size is read unless given
        return "output_size" not in kwargs
    if name in ("__getitem__", "__setitem__", "index_put_", "index_put"):
        indices = args[1] if len(args) > 1 else ()
        indices = indices if isinstance(indices, tuple | list) else (indices,)
        return any(torch.is_tensor(i) and i.dtype == torch.bool for i in indices)
    return False


def _caller() -> str:
    """``file:function`` of the innermost frame outside torch and this file."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if f"{Path('torch')}/" not in frame.filename and not frame.filename.endswith(__file__):
            return f"{Path(frame.filename).name}:{frame.name}"
    return "?"


#: The one host read a step may make: :meth:`scbasis.nn._host_copy.HostCopy.read` reads a host
#: copy whose transfer has completed (on a GPU, pinned memory behind a CUDA event it queried),
#: which does not wait for the device.
EXEMPT = frozenset({"_host_copy.py:read"})


class CountingMode(TorchFunctionMode):
    """Appends ``"name @ file:function"`` to ``calls`` for each synchronising call."""

    def __init__(self, calls: list[str]):
        super().__init__()
        self.calls = calls

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        if _is_synchronising(name, args, kwargs):
            caller = _caller()
            if caller not in EXEMPT:
                self.calls.append(f"{name} @ {caller}")
        return func(*args, **kwargs)


class HostSyncCounter(Callback):
    """Lightning callback: the synchronising calls made between each training batch's start
    and end (forward, loss, backward, optimiser step, the plan's bookkeeping), in ``calls``,
    one list per step, as ``"name @ file:function"``."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self._mode: CountingMode | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.calls.append([])
        self._mode = CountingMode(self.calls[-1])
        self._mode.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._mode.__exit__(None, None, None)
        self._mode = None
