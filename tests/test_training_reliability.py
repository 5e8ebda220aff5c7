"""Training that is reproducible and survives an interrupt; saves that cannot lose a model."""

from __future__ import annotations

import os
import signal
import zipfile
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest
import scvi
import torch
from lightning.pytorch import Callback

import scbasis
from scbasis.model import BasisDeVAE

from .conftest import QUIET


def _fit(adata, **train_kwargs) -> BasisDeVAE:
    scvi.settings.seed = 0
    model = BasisDeVAE(adata, n_hidden=16)
    model.train(max_epochs=4, batch_size=50, family_epochs=2, **QUIET, **train_kwargs)
    return model


def test_two_runs_with_the_same_seed_are_identical():
    adata = scbasis.data.simulate_trajectory(
        150, 16, {"increasing": 0.5, "transient": 0.5}, seed=4
    )
    BasisDeVAE.setup_anndata(adata)
    first, second = _fit(adata), _fit(adata)
    for name, value in first.module.state_dict().items():
        np.testing.assert_array_equal(
            value.numpy(), second.module.state_dict()[name].numpy(), name
        )
    np.testing.assert_array_equal(first.get_pseudotime(), second.get_pseudotime())
    for key, frame in first.history.items():
        np.testing.assert_array_equal(frame.to_numpy(), second.history[key].to_numpy(), key)


class _InterruptAfterEpoch(Callback):
    """Sends this process a real SIGINT (Ctrl+C) at the end of an epoch."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)


def test_an_interrupt_stops_training_and_keeps_a_usable_model():
    adata = scbasis.data.simulate_trajectory(
        150, 16, {"increasing": 0.5, "transient": 0.5}, seed=4
    )
    BasisDeVAE.setup_anndata(adata)
    model = BasisDeVAE(adata, n_hidden=16)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match=r"interrupt in epoch 2.*model.history"):
        model.train(max_epochs=4, batch_size=50, callbacks=[_InterruptAfterEpoch(1)], **QUIET)
    assert signal.getsignal(signal.SIGINT) is handler  # Ctrl+C works again
    assert model.is_trained_
    assert len(model.history["elbo_train"]) == 2  # epochs 1 and 2, of 4
    pseudotime = model.get_pseudotime()
    assert pseudotime.shape == (adata.n_obs,) and np.all(np.isfinite(pseudotime))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A trained model saved to disk, with its AnnData and written results."""
    adata = scbasis.data.simulate_trajectory(
        150, 16, {"increasing": 0.5, "transient": 0.5}, seed=6
    )
    BasisDeVAE.setup_anndata(adata)
    model = _fit(adata)
    model.write_results(root=adata.obs["true_time"].to_numpy() < 0.1)
    path = tmp_path_factory.mktemp("saved") / "model"
    model.save(path, save_anndata=True)
    return model, path


def _files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_round_trip_keeps_parameters_orientation_settings_and_history(saved):
    model, path = saved
    loaded = BasisDeVAE.load(path)
    for name, value in model.module.state_dict().items():
        np.testing.assert_array_equal(loaded.module.state_dict()[name].numpy(), value.numpy())
    assert loaded.orientation_ == model.orientation_
    assert loaded.init_params_ == model.init_params_
    for key, frame in model.history.items():
        np.testing.assert_array_equal(loaded.history[key].to_numpy(), frame.to_numpy(), key)
    np.testing.assert_array_equal(loaded.get_pseudotime(), model.get_pseudotime())


def test_existing_files_are_protected_without_overwrite(saved):
    model, path = saved
    before = _files(path)
    with pytest.raises(ValueError, match="already exists; pass overwrite=True"):
        model.save(path)
    assert _files(path) == before


def test_an_interrupted_save_leaves_the_previous_files(saved, monkeypatch):
    model, path = saved
    before = _files(path)

    def interrupted(obj, f, *args, **kwargs):  # writes part of the file, then Ctrl+C
        Path(f).write_bytes(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.save(path, overwrite=True, save_anndata=True)
    monkeypatch.undo()
    assert _files(path) == before
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".scbasis-save-")]
    assert BasisDeVAE.load(path).orientation_ == model.orientation_


def _as_saved_on_a_gpu(source: Path, target: Path) -> None:
    """Copy the model saved at ``source`` to ``target`` as a save on a GPU writes it.

    ``torch.save`` records each tensor's device in the archive's pickle (``"cpu"`` here,
    ``"cuda:0"`` for a model on the first GPU) beside the same raw bytes, so renaming the
    recorded device gives the file a GPU save writes.
    """
    target.mkdir()
    with (
        zipfile.ZipFile(source / "model.pt") as saved,
        zipfile.ZipFile(target / "model.pt", "w") as copy,
    ):
        for entry in saved.infolist():
            content = saved.read(entry)
            if entry.filename.endswith("/data.pkl"):
                cpu, gpu = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"
                assert cpu in content
                content = content.replace(cpu, gpu)
            copy.writestr(entry, content)


def test_a_model_saved_on_a_gpu_loads_on_a_cpu(saved, tmp_path):
    model, path = saved
    gpu_save = tmp_path / "saved_on_gpu"
    _as_saved_on_a_gpu(path, gpu_save)
    if not torch.cuda.is_available():  # the copy holds CUDA tensors: plain torch.load refuses
        with pytest.raises(RuntimeError, match="deserialize object on a CUDA device"):
            torch.load(gpu_save / "model.pt", weights_only=False)
    loaded = BasisDeVAE.load(gpu_save, adata=model.adata, accelerator="cpu")
    assert loaded.device.type == "cpu"
    for name, value in model.module.state_dict().items():
        np.testing.assert_array_equal(loaded.module.state_dict()[name].numpy(), value.numpy())
    np.testing.assert_array_equal(loaded.get_pseudotime(), model.get_pseudotime())


def test_missing_or_damaged_saves_are_named(saved, tmp_path):
    _, path = saved
    with pytest.raises(FileNotFoundError, match=r"No saved model at .*model.pt"):
        BasisDeVAE.load(tmp_path / "nowhere")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    content = (path / "model.pt").read_bytes()
    (damaged / "model.pt").write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match=r"damaged.*Save the model again"):
        BasisDeVAE.load(damaged)


def test_results_read_back_from_h5ad_are_identical(saved, tmp_path):
    model, _ = saved
    adata = model.adata
    adata.write_h5ad(tmp_path / "results.h5ad")
    back = anndata.read_h5ad(tmp_path / "results.h5ad")
    for attr in ("obs", "var"):
        keys = [k for k in getattr(adata, attr) if k.startswith("basisdevae")]
        assert keys
        pd.testing.assert_frame_equal(getattr(back, attr)[keys], getattr(adata, attr)[keys])
    np.testing.assert_array_equal(
        back.varm["basisdevae_cluster_probs"], adata.varm["basisdevae_cluster_probs"]
    )
    assert back.uns["basisdevae"]["orientation"] == adata.uns["basisdevae"]["orientation"]
    assert list(back.uns["basisdevae"]["families"]) == list(adata.uns["basisdevae"]["families"])


def test_gradient_clipping_passes_through_to_lightning():
    adata = scbasis.data.simulate_trajectory(100, 10, {"increasing": 1.0}, seed=2)
    BasisDeVAE.setup_anndata(adata)
    model = BasisDeVAE(adata, n_hidden=8)
    model.train(max_epochs=1, batch_size=50, gradient_clip_val=0.5, **QUIET)
    assert model.trainer.gradient_clip_val == 0.5
