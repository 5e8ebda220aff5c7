"""PseudotimeTrainingPlan logs the same epoch history as scvi-tools' TrainingPlan."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import scvi
import torch
from lightning.pytorch import Callback
from scvi.train import TrainingPlan

import scbasis
from scbasis.model import BasisDeVAE
from scbasis.train import PseudotimeTrainingPlan

from .conftest import QUIET


def _history(plan_cls: type[TrainingPlan], **plan_kwargs) -> dict:
    adata = scbasis.data.simulate_trajectory(300, 30, seed=3)
    scbasis.model.setup_anndata(adata)
    scvi.settings.seed = 0
    model = BasisDeVAE(adata, n_hidden=8)
    model._training_plan_cls = plan_cls
    # 70 training cells per batch: 3 minibatches of unequal size per epoch
    model.train(max_epochs=5, batch_size=100, plan_kwargs=plan_kwargs or None, **QUIET)
    return model.history


def test_epoch_history_matches_scvi_tools_training_plan():
    ours = _history(PseudotimeTrainingPlan)
    # scvi-tools' plan with the same (fused) optimizer, so that the trajectories are the same
    theirs = _history(TrainingPlan, optimizer="Custom", optimizer_creator=_fused)
    metrics = set(theirs) - {"kl_weight"}
    assert metrics, "scvi-tools logged no metrics"
    assert metrics <= set(ours)
    for key in sorted(metrics):
        np.testing.assert_allclose(
            ours[key].to_numpy(float)[:, 0],
            theirs[key].to_numpy(float)[:, 0],
            rtol=1e-5,
            err_msg=key,
        )
    # kl_weight: once per epoch, the linear warm-up over the first 20 % of 5 epochs
    np.testing.assert_allclose(ours["kl_weight"].to_numpy(float)[:, 0], [0.0, 1.0, 1.0, 1.0, 1.0])


def _fused(params):
    return scbasis.train.fused_adam(params, lr=5e-3, eps=1e-8, weight_decay=0.0)


@pytest.mark.parametrize("plan_cls", [PseudotimeTrainingPlan, TrainingPlan])
def test_on_step_logging_is_scvi_tools_own(plan_cls):
    """With ``on_step=True`` the plan logs every step, as scvi-tools' plan does."""
    history = _history(plan_cls, on_step=True)
    assert "train_loss_step" in history


def test_training_prints_nothing_to_a_file_and_restores_lightning_logging(capfd):
    """Without a terminal: no progress bar, no Lightning start-up lines, no tips."""
    adata = scbasis.data.simulate_trajectory(200, 12, seed=0)
    scbasis.model.setup_anndata(adata)
    lightning = logging.getLogger("lightning.pytorch")
    level = lightning.level
    BasisDeVAE(adata).train(max_epochs=2)  # default progress bar: stderr is captured here
    out, err = capfd.readouterr()
    assert (out, err) == ("", ""), (out, err)
    assert lightning.level == level
    BasisDeVAE(adata).train(max_epochs=1, enable_progress_bar=True)
    assert "Epoch 1/1" in capfd.readouterr().out  # an explicit request is honoured


class _ThreadProbe(Callback):
    """Records torch's thread count at every training step."""

    def __init__(self):
        self.threads: list[int] = []

    def on_train_batch_end(self, *args) -> None:
        self.threads.append(torch.get_num_threads())


@pytest.mark.parametrize("adapt", [True, False])
def test_threads_follow_the_cores_other_processes_leave_free(small_counts, monkeypatch, adapt):
    """Beside processes that keep all but one core busy, training runs on one thread (unless
    SCBASIS_ADAPT_THREADS=0), and the thread count it started with is restored."""
    monkeypatch.setenv("SCBASIS_ADAPT_THREADS", "1" if adapt else "0")
    scbasis.model.setup_anndata(small_counts)
    model = BasisDeVAE(small_counts, n_hidden=16)
    probe = _ThreadProbe()
    n_busy = max(len(os.sched_getaffinity(0)) - 1, 1)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n_busy)]
    try:
        time.sleep(0.5)
        # long enough for several measurements with one thread; fixed threads: a few steps
        model.train(max_epochs=15 if adapt else 1, batch_size=32, callbacks=[probe], **QUIET)
    finally:
        for process in busy:
            process.kill()
    assert torch.get_num_threads() == 2
    assert probe.threads[0] == 2  # measured after the first interval
    assert (min(probe.threads) == 1) is adapt, probe.threads
