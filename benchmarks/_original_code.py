"""The original research code of BasisDeVAE, trained and timed for ``epoch_time.py``.

The code of Danks & Yau (ICML 2021), https://github.com/djdanks/BasisDeVAE, is not part of this
repository (that repository carries no licence): the benchmark is given a checkout of it
(``--original-code DIR``), puts ``DIR`` on ``sys.path`` and imports ``VAE``, ``Encoder`` and
``BasisODEDecoder`` from it, unchanged. Written for torch 1.7, it runs on torch 2.13 as it is.

The configuration is the papers' BasisDeVAE as the code's ``main.py`` builds it (a 1-D latent,
one hidden layer of 64 units in the encoder, ReLU, and in the derivative network, tanh; K = 3,
alpha 0.1; the decoder's per-cell Gauss-Legendre rule of order 15; ``VAE(encoder, decoder,
lr=0.005)``, i.e. Adam 5e-3) with the likelihood of the papers' single-cell experiment, ZINB,
and their KL weight on scRNA-seq, beta = 10 (gamma = 1; constant, since ``VAE.optimize`` does not
anneal them). ``main.py`` starts ``x0`` at the data's per-gene means under its Gaussian
likelihood; under ZINB the decoder's mean is ``softplus(x0 + F(z))`` with ``F(0) = 0``, so ``x0``
starts at the inverse softplus of each gene's mean count over the training cells,
``log(expm1(mean))`` (about the log mean for small means; computed as ``mean +
log(-expm1(-mean))``, which does not overflow), with the means floored at 1e-6 so that a gene
without counts starts finite. It is a float32 ``(1, genes)`` array: the constructor wraps
it with ``torch.tensor``, and a float64 array would make every prediction float64.

The cells are split as scvi-tools' ``DataSplitter`` splits them for ``train_size=0.9`` under
``scvi.settings.seed = 0`` (the held-out cells are the first 10 % of
``np.random.RandomState(0).permutation(n_cells)``), so the held-out cells are those of the
scbasis and SCVI paths. The training loop is that of ``VAE.optimize``: shuffled minibatches of a
``DataLoader`` over the densified training counts, ``batch_scale`` = training cells / batch size,
``model.forward``, ``zero_grad``, ``backward``, ``step`` and the loss summed with ``.item()``.
"""

from __future__ import annotations

import sys
import time
from math import ceil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp

ORIGINAL_CODE_URL = "https://github.com/djdanks/BasisDeVAE"
ORIGINAL_CODE_FILES = ("VAE.py", "encoder.py", "decoder.py", "helpers.py")
N_HIDDEN = 64
N_LATENT = 1
N_BASIS = 3
ALPHA = 0.1
BETA = 10.0
GAMMA = 1.0
LEARNING_RATE = 0.005
TRAIN_SIZE = 0.9
MIN_MEAN_COUNT = 1e-6


def original_code_problem(directory: Path | None) -> str | None:
    """Why ``directory`` cannot serve as the original code, or ``None`` if it can."""
    where = (
        f"the path 'original' trains the original research code of BasisDeVAE, which is not "
        f"part of this repository: clone it (git clone {ORIGINAL_CODE_URL} "
        "/path/to/BasisDeVAE) and pass --original-code /path/to/BasisDeVAE"
    )
    if directory is None:
        return where
    missing = [name for name in ORIGINAL_CODE_FILES if not (directory / name).is_file()]
    if missing:
        return f"{directory} lacks {', '.join(missing)}; {where}"
    return None


def scvi_tools_split(n_cells: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out cells as scvi-tools' ``DataSplitter`` draws them for
    ``train_size=0.9`` with ``scvi.settings.seed = seed``."""
    n_held_out = n_cells - ceil(TRAIN_SIZE * n_cells)
    permutation = np.random.RandomState(seed=seed).permutation(n_cells)
    return permutation[n_held_out:], permutation[:n_held_out]


def _import_original_code(directory: Path) -> tuple[type, type, type]:
    """``VAE``, ``Encoder`` and ``BasisODEDecoder`` of the checkout at ``directory``."""
    sys.path.insert(0, str(directory))
    from decoder import BasisODEDecoder
    from encoder import Encoder
    from VAE import VAE

    return VAE, Encoder, BasisODEDecoder


def train_original_code(
    counts: sp.csr_matrix, directory: Path, epochs: int, batch_size: int, seed: int = 0
) -> dict:
    """Train the original code's BasisDeVAE on ``counts`` (cells x genes) and time it.

    Parameters
    ----------
    counts
        UMI counts; the training cells are densified into one float32 tensor, as the original
        code takes them (the densification is not timed).
    directory
        A checkout of the original code.
    epochs
        Training epochs.
    batch_size
        Cells per minibatch.
    seed
        Seed of the split (as scvi-tools') and of torch (weights, minibatches, samples).

    Returns
    -------
    ``epoch_seconds`` (each epoch of the loop), ``train_seconds`` (the whole loop),
    ``epoch_losses`` (each epoch's summed loss), ``steps_per_epoch``, ``held_out_cells`` (the
    first five) and ``held_out_conditional_ll``: the code's own ``calculate_test_loglik`` (the
    papers' test metric, as scbasis's ``get_conditional_log_likelihood``) summed over the
    held-out cells.
    """
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    vae_class, encoder_class, decoder_class = _import_original_code(directory)
    n_genes = counts.shape[1]
    train_cells, held_out = scvi_tools_split(counts.shape[0], seed)
    train_counts = torch.as_tensor(counts[train_cells].toarray(), dtype=torch.float32)
    mean_counts = train_counts.mean(dim=0, keepdim=True).clamp(min=MIN_MEAN_COUNT)
    x0_init = (mean_counts + torch.log(-torch.expm1(-mean_counts))).numpy()  # softplus^-1

    torch.manual_seed(seed)
    encoder = encoder_class(n_genes, N_HIDDEN, N_LATENT, device="cpu")
    decoder = decoder_class(
        n_genes,
        N_HIDDEN,
        N_LATENT,
        N_BASIS,
        likelihood="ZINB",
        nonlinearity=torch.nn.Tanh,
        alpha=ALPHA,
        device="cpu",
        x0init=x0_init,
    )
    model = vae_class(encoder, decoder, lr=LEARNING_RATE)
    loader = DataLoader(TensorDataset(train_counts), batch_size=batch_size, shuffle=True)
    batch_scale = len(train_counts) / batch_size

    epoch_seconds, epoch_losses = [], []
    start = time.perf_counter()
    for _ in range(epochs):
        epoch_start = time.perf_counter()
        train_loss = 0.0
        for (batch,) in loader:
            _, _, loss, _ = model.forward(batch, batch_scale=batch_scale, beta=BETA, gamma=GAMMA)
            model.optimizer.zero_grad()
            loss.backward()
            model.optimizer.step()
            train_loss += loss.item()
        epoch_seconds.append(time.perf_counter() - epoch_start)
        epoch_losses.append(train_loss)
    train_seconds = time.perf_counter() - start

    held_out = np.sort(held_out)
    held_out_ll = sum(
        float(
            model.calculate_test_loglik(
                torch.as_tensor(counts[cells].toarray(), dtype=torch.float32)
            )
        )
        for cells in np.array_split(held_out, max(1, ceil(len(held_out) / batch_size)))
    )
    return {
        "epoch_seconds": epoch_seconds,
        "train_seconds": train_seconds,
        "epoch_losses": epoch_losses,
        "steps_per_epoch": len(loader),
        "held_out_cells": held_out.tolist()[:5],
        "held_out_conditional_ll": held_out_ll,
    }
