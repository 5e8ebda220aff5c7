"""Batch covariates: one shared pseudotime and the fitted per-gene offsets, printed.

The setting of ``tests/test_batch.py`` (which asserts the targets): simulated counts
(1,500 cells x 100 genes, increasing / decreasing / transient genes in thirds, seed 3) with
two batches of per-gene log offsets of sd 0.5, against the same simulation without batches;
BasisDeVAE, ZINB, 100 epochs. Prints |Spearman(pseudotime, true time)| with ``batch_key``,
without batches, and for a fit that ignores the batches, and the Pearson correlation of the
fitted offsets (batch1 - batch0) with the simulated ones::

    python benchmarks/batch_covariates.py [--cells 1500] [--genes 100] [--epochs 100]
"""

from __future__ import annotations

import argparse

import scvi
import torch
from scipy.stats import pearsonr, spearmanr

import scbasis
from scbasis.model import BasisDeVAE

FAMILIES = {"increasing": 1 / 3, "decreasing": 1 / 3, "transient": 1 / 3}


def fit(adata, batch_key: str | None, epochs: int) -> tuple[BasisDeVAE, float]:
    """Train on ``adata``; return the model and |Spearman(pseudotime, true time)|."""
    scvi.settings.seed = 0
    BasisDeVAE.setup_anndata(adata, batch_key=batch_key)
    model = BasisDeVAE(adata)
    model.train(max_epochs=epochs, enable_progress_bar=False)
    rho = abs(spearmanr(model.get_pseudotime(), adata.obs["true_time"])[0])
    return model, rho


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=1500)
    parser.add_argument("--genes", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(2)

    def simulate(n_batches: int):
        return scbasis.data.simulate_trajectory(
            args.cells, args.genes, FAMILIES, seed=3, n_batches=n_batches, batch_effect_sd=0.5
        )

    two = simulate(2)
    model, rho_batch = fit(two, "batch", args.epochs)
    _, rho_single = fit(simulate(1), None, args.epochs)
    _, rho_ignored = fit(two.copy(), None, args.epochs)
    fitted = model.get_batch_offsets()["batch1"]
    true = two.varm["true_batch_log_offset"]
    r = pearsonr(fitted, true[:, 1] - true[:, 0])[0]
    print(f"|Spearman| with batch_key:              {rho_batch:.4f}")
    print(f"|Spearman| same simulation, no batches: {rho_single:.4f}")
    print(f"|Spearman| two batches, batch ignored:  {rho_ignored:.4f}")
    print(f"difference (target: >= -0.02):          {rho_batch - rho_single:+.4f}")
    print(f"Pearson(fitted, simulated offsets) (target: >= 0.9): {r:.4f}")


if __name__ == "__main__":
    main()
