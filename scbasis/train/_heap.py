"""Training steps that reuse the memory of the previous step instead of asking the kernel."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import lru_cache

from lightning.pytorch import Callback, LightningModule, Trainer

#: Environment variable that leaves the C allocator's settings alone when set to ``0``.
KEEP_HEAP_ENV = "SCBASIS_KEEP_HEAP"

# glibc's mallopt parameters and their defaults (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_THRESHOLD = 128 * 1024, 128 * 1024
#: While training: blocks up to this size come from the heap, and freed memory up to this much
#: at the heap's top stays with the process.
_TRAINING_MMAP_THRESHOLD = 256 * 1024**2
_TRAINING_TRIM_THRESHOLD = 1024**3


@lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (``mallopt`` and ``malloc_trim``), else ``None``."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 (present in glibc only)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except (OSError, AttributeError):
        return None


class KeptHeap:
    """Context in which glibc keeps freed memory for reuse, restored and trimmed at its end.

    A training step allocates and frees the same large tensors every time (128 cells x 5,216
    genes x 4 families is 10.7 MB). glibc serves blocks above 128 KiB (up to 32 MiB as it
    adapts) with fresh ``mmap`` pages and returns freed memory at the heap's top to the kernel
    beyond twice that, so every step pays for page faults on memory it just gave back: 13 to
    27 % of a step at the single-cell scale (8,509 x 5,216, 2 threads). Inside this context
    blocks up to 256 MiB come from the heap and up to 1 GiB of freed memory stays with the
    process; at its end glibc's default thresholds are set again and the freed memory is
    returned (``malloc_trim``); nested contexts leave this to the outermost. Does nothing
    outside glibc or with ``SCBASIS_KEEP_HEAP=0``.
    """

    _depth = 0  # contexts open in this process: the outermost one sets and restores

    def __enter__(self) -> KeptHeap:
        self._libc = _glibc() if os.environ.get(KEEP_HEAP_ENV, "1") != "0" else None
        if self._libc is not None:
            if KeptHeap._depth == 0:
                self._libc.mallopt(_M_MMAP_THRESHOLD, _TRAINING_MMAP_THRESHOLD)
                self._libc.mallopt(_M_TRIM_THRESHOLD, _TRAINING_TRIM_THRESHOLD)
            KeptHeap._depth += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        libc, self._libc = getattr(self, "_libc", None), None
        if libc is None:
            return
        KeptHeap._depth -= 1
        if KeptHeap._depth == 0:
            libc.mallopt(_M_MMAP_THRESHOLD, _DEFAULT_MMAP_THRESHOLD)
            libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
            libc.malloc_trim(0)


class KeepFreedMemory(Callback):
    """:class:`KeptHeap` from the start of training to its end (or an exception): each step
    reuses the memory the previous one freed instead of faulting in fresh pages."""

    def __init__(self):
        super().__init__()
        self._heap = KeptHeap()

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._heap.__enter__()

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._heap.__exit__()

    def on_exception(
        self, trainer: Trainer, pl_module: LightningModule, exception: BaseException
    ) -> None:
        self._heap.__exit__()
