"""Train BasisDeVAE on CPU devices from a script, as Lightning's DDP strategy requires.

Usage: ``python train_on_devices.py DEVICES BATCH_SIZE OUT.npz``; rank 0 writes the pseudotime,
the gene calls and the simulation's truth to ``OUT.npz``.
"""

from __future__ import annotations

import sys

import numpy as np
import scvi

import scbasis


def main(devices: int, batch_size: int, out: str) -> None:
    scvi.settings.seed = 0
    adata = scbasis.data.simulate_trajectory(
        1500, 100, {"increasing": 1 / 3, "decreasing": 1 / 3, "transient": 1 / 3}, seed=7
    )
    scbasis.model.BasisDeVAE.setup_anndata(adata)
    model = scbasis.model.BasisDeVAE(adata, n_hidden=16)
    model.train(
        max_epochs=40,
        batch_size=batch_size,
        accelerator="cpu",
        devices=devices,
        enable_progress_bar=False,
    )
    if model.trainer.global_rank == 0:
        calls = model.get_cluster_probabilities().idxmax(axis=1)
        np.savez(
            out,
            pseudotime=model.get_pseudotime(),
            true_time=adata.obs["true_time"].to_numpy(),
            calls=calls.to_numpy().astype(str),
            observed=adata.var["observed_family"].to_numpy().astype(str),
        )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
