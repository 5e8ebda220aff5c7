"""Minor page faults of training-like steps outside and inside ``KeptHeap`` (switched on and
off) and during a real training, printed as JSON; run in a fresh process by ``tests/test_heap.py``,
because glibc's allocator state is the whole process's."""

from __future__ import annotations

import json
import os
import resource

import torch


def _step() -> None:
    """Like a training step: several 10.7 MB tensors alive at once, then all freed."""
    tensors = [torch.empty(128, 4, 5216).fill_(1.0) for _ in range(4)]
    del tensors


def page_faults_of_steps(n_steps: int = 10) -> int:
    for _ in range(3):  # to warm up
        _step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n_steps):
        _step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def main() -> None:
    from lightning.pytorch.callbacks import Callback

    import scbasis
    from scbasis.train._heap import (
        _DEFAULT_MMAP_THRESHOLD,
        _DEFAULT_TRIM_THRESHOLD,
        _M_MMAP_THRESHOLD,
        _M_TRIM_THRESHOLD,
        KEEP_HEAP_ENV,
        KeptHeap,
        _glibc,
    )

    torch.set_num_threads(2)
    # glibc's defaults, without the adaptation that imports may have set off: every block
    # above 128 KiB is mapped afresh
    libc = _glibc()
    libc.mallopt(_M_MMAP_THRESHOLD, _DEFAULT_MMAP_THRESHOLD)
    libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
    libc.malloc_trim(0)
    faults = {"outside": page_faults_of_steps()}
    os.environ[KEEP_HEAP_ENV] = "0"
    with KeptHeap():
        faults["inside_switched_off"] = page_faults_of_steps()
    del os.environ[KEEP_HEAP_ENV]
    with KeptHeap():
        faults["inside"] = page_faults_of_steps()
        with KeptHeap():
            pass
        faults["inside_after_a_nested_one"] = page_faults_of_steps()

    class FaultsDuringTraining(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            faults["during_training"] = page_faults_of_steps()

    adata = scbasis.data.simulate_trajectory(300, 60, seed=1)
    scbasis.model.setup_anndata(adata)
    model = scbasis.model.DeVAE(adata, likelihood="nb")
    model.train(max_epochs=1, callbacks=[FaultsDuringTraining()], enable_progress_bar=False)
    print(json.dumps(faults))


if __name__ == "__main__":
    main()
