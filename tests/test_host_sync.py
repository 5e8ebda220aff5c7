"""A training step makes no host synchronisation: counted on any machine, checked by CUDA's
own sync debug mode where a GPU is present."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch.callbacks import Callback

import scbasis
from tests._host_sync import CountingMode, HostSyncCounter

from .conftest import QUIET

MODELS = {
    "basisdevae": lambda adata: scbasis.model.BasisDeVAE(adata),
    # a tolerance no output meets: every refinement level runs in every step
    "basisdevae_network": lambda adata: scbasis.model.BasisDeVAE(
        adata, decoder="network", quadrature_tolerance=1e-12
    ),
    "devae": lambda adata: scbasis.model.DeVAE(adata, likelihood="zinb"),
    "basisvae": lambda adata: scbasis.model.BasisVAE(adata, likelihood="zinb"),
}


def _adata():
    adata = scbasis.data.simulate_trajectory(300, 40, seed=3)
    scbasis.model.setup_anndata(adata)
    return adata


def test_the_counter_counts_host_reads_and_data_dependent_shapes():
    calls: list[str] = []
    x = torch.arange(6.0)
    with CountingMode(calls):
        x.sum().item()
        bool(x.max() > 2)
        x[x > 2]
        torch.nonzero(x)
        torch.tensor([1.0, 2.0])
        x.to("cpu")
        x.exp().sum(), x[2:], x.to(torch.float64)  # none of these
    assert [call.split(" @ ")[0] for call in calls] == [
        "item",
        "__bool__",
        "__getitem__",
        "nonzero",
        "tensor",
        "to",
    ]


@pytest.mark.parametrize("name", list(MODELS))
def test_training_steps_make_no_host_synchronisation(name, monkeypatch):
    # the torch path, which a GPU runs (the compiled kernels are for the CPU)
    monkeypatch.setenv("SCBASIS_NATIVE_KERNEL", "0")
    model = MODELS[name](_adata())
    counter = HostSyncCounter()
    options = {"family_epochs": 0} if name == "basisdevae" else {}
    model.train(max_epochs=2, batch_size=64, callbacks=[counter], **QUIET, **options)
    assert len(counter.calls) >= 8
    assert [call for step in counter.calls for call in step] == []


class _SyncDebugMode(Callback):
    """CUDA's sync debug mode set to "error" from each training batch's start to its end."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        torch.cuda.set_sync_debug_mode("error")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", list(MODELS))
def test_training_steps_on_a_gpu_never_wait_for_it(name):
    model = MODELS[name](_adata())
    options = {"family_epochs": 0} if name == "basisdevae" else {}
    try:
        model.train(
            max_epochs=2,
            batch_size=64,
            accelerator="gpu",
            devices=1,
            callbacks=[_SyncDebugMode()],
            **QUIET,
            **options,
        )
    finally:
        torch.cuda.set_sync_debug_mode("default")
