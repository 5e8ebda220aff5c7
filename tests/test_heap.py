"""Training keeps freed memory for the next step (glibc only; elsewhere nothing changes)."""

from __future__ import annotations

import resource

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from scbasis.train._heap import KEEP_HEAP_ENV, KeptHeap, _glibc

from .conftest import QUIET


def _step() -> None:
    """Like a training step: several 10.7 MB tensors alive at once, then all freed."""
    tensors = [torch.empty(128, 4, 5216).fill_(1.0) for _ in range(4)]
    del tensors


def _page_faults_of_steps(n_steps: int = 10) -> int:
    _step()  # to warm up
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n_steps):
        _step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(_glibc() is None, reason="mallopt is glibc's")
def test_steps_inside_the_context_reuse_freed_memory(monkeypatch):
    outside = _page_faults_of_steps()
    with KeptHeap():
        inside = _page_faults_of_steps()
    after = _page_faults_of_steps()
    # 10 x 43 MB in 4 KiB pages is about 104,000 faults when every step maps fresh pages;
    # before the context glibc's thresholds may have adapted, after it they are its defaults
    assert inside < 500 and outside > 10 * inside
    assert after > 50_000
    monkeypatch.setenv(KEEP_HEAP_ENV, "0")
    with KeptHeap():
        assert _page_faults_of_steps() > 50_000


class _FaultsDuringTraining(Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.faults = _page_faults_of_steps()


@pytest.mark.skipif(_glibc() is None, reason="mallopt is glibc's")
def test_training_keeps_freed_memory_and_restores_the_allocator_after(small_counts):
    import scbasis

    scbasis.model.setup_anndata(small_counts)
    model = scbasis.model.DeVAE(small_counts, likelihood="nb")
    during = _FaultsDuringTraining()
    model.train(max_epochs=1, callbacks=[during], **QUIET)
    assert during.faults < 500
    assert _page_faults_of_steps() > 50_000  # glibc's defaults again after training


@pytest.mark.skipif(_glibc() is None, reason="mallopt is glibc's")
def test_nested_contexts_leave_the_restoring_to_the_outermost():
    with KeptHeap():
        with KeptHeap():
            pass
        assert _page_faults_of_steps() < 500
    assert _page_faults_of_steps() > 50_000
