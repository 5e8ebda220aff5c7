"""Training threads that follow the cores other processes leave free."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

#: Environment variable that keeps torch's thread count fixed during training when set to ``0``.
ADAPT_THREADS_ENV = "SCBASIS_ADAPT_THREADS"

_PROC_STAT = Path("/proc/stat")
# /proc/stat's per-CPU columns that count as busy: user, nice, system, irq, softirq, steal
_BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)


class CoreLoad:
    """How many of this process's cores other processes kept busy since the last reading.

    Reads the busy time of the cores this process may run on from ``/proc/stat`` (Linux) and
    subtracts this process's own CPU time. :attr:`available` is ``False`` elsewhere.
    """

    def __init__(self) -> None:
        try:
            self.cores = sorted(os.sched_getaffinity(0))
            self._ticks_per_second = os.sysconf("SC_CLK_TCK")
            self._last = self._sample()
        except (AttributeError, OSError, ValueError):
            self.cores, self._last = [], None

    @property
    def available(self) -> bool:
        return self._last is not None

    def _sample(self) -> tuple[float, float, float]:
        """(wall seconds, busy seconds of our cores, this process's CPU seconds)."""
        names = {f"cpu{core}" for core in self.cores}
        busy = 0
        for line in _PROC_STAT.read_text().splitlines():
            fields = line.split()
            if fields and fields[0] in names:
                busy += sum(int(fields[1 + column]) for column in _BUSY_COLUMNS)
        return time.monotonic(), busy / self._ticks_per_second, time.process_time()

    def seconds_since_reading(self) -> float:
        return time.monotonic() - self._last[0]

    def busy_elsewhere(self) -> float:
        """Cores kept busy by other processes, on average since the previous reading."""
        sample = self._sample()
        wall, busy, own = (now - then for now, then in zip(sample, self._last, strict=True))
        self._last = sample
        return max(busy - own, 0.0) / max(wall, 1e-9)


class FreeCoreThreads:
    """The thread count of :class:`ThreadsFollowFreeCores`, as a context for any training loop:
    entering remembers it, :meth:`follow` (at every step) sets it to the free cores every
    ``interval`` seconds, leaving restores it.

    Parameters
    ----------
    interval
        Seconds between measurements.
    """

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self._threads_on_entry: int | None = None
        self._load: CoreLoad | None = None

    def __enter__(self) -> FreeCoreThreads:
        self._threads_on_entry = torch.get_num_threads()
        adapt = os.environ.get(ADAPT_THREADS_ENV) != "0" and self._threads_on_entry > 1
        load = CoreLoad() if adapt else None
        self._load = load if load is not None and load.available else None
        return self

    def follow(self) -> None:
        """Set the thread count to the free cores, where ``interval`` has passed."""
        if self._load is None or self._load.seconds_since_reading() < self.interval:
            return
        free = len(self._load.cores) - self._load.busy_elsewhere()
        threads = min(max(round(free), 1), self._threads_on_entry)
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)

    def __exit__(self, *exc_info: object) -> None:
        if self._threads_on_entry is not None:
            torch.set_num_threads(self._threads_on_entry)
            self._threads_on_entry, self._load = None, None


class ThreadsFollowFreeCores(Callback):
    """Keeps torch's intra-op threads at the number of cores that other processes leave free,
    from the start of training to its end (or an exception).

    OpenMP threads wait for each other at the end of every parallel operation, spinning for a
    while before they sleep; when another process takes one of their cores, every operation
    waits for the thread that lost its core, and training slows down by 3x or more instead of
    the 2x that sharing the cores costs. Every ``interval`` seconds of training this callback
    measures how many of the process's cores other processes kept busy (from ``/proc/stat``;
    Linux only, elsewhere it does nothing) and sets ``torch.set_num_threads`` to the cores left
    free, at least 1 and at most the number of threads at the start, which it restores at the
    end. The environment variable ``SCBASIS_ADAPT_THREADS=0`` keeps the thread count fixed.

    Parameters
    ----------
    interval
        Seconds between measurements.
    """

    def __init__(self, interval: float = 0.5):
        super().__init__()
        self._threads = FreeCoreThreads(interval)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._threads.__enter__()

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: object, batch_idx: int
    ) -> None:
        self._threads.follow()

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._threads.__exit__()

    def on_exception(
        self, trainer: Trainer, pl_module: LightningModule, exception: BaseException
    ) -> None:
        self._threads.__exit__()
