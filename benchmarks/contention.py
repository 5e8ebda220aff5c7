"""Training beside a CPU-bound process: seconds per epoch alone and beside one, with torch's
thread count following the free cores (scbasis's default) and fixed (``SCBASIS_ADAPT_THREADS=0``).

BasisDeVAE (defaults, ZINB, batch 128) trains on simulated sparse UMI counts
(:func:`scbasis.data.simulate_trajectory`) for ``--epochs`` epochs in each of three runs, in
this order: alone; beside one ``python -c "while True: pass"``, threads fixed; beside one, threads
following the free cores (one epoch of the family fit after each, not timed). Every run starts
from the same seed in a fresh model; the per-epoch figure is the median of the epochs after the
first (Lightning's loop, validation excluded). It
prints each run's figure and its ratio to the run alone. Run it on an otherwise quiet machine::

    python benchmarks/contention.py                       # 8,509 x 5,216, 4 epochs
    python benchmarks/contention.py --size 2000x200 --epochs 20
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import scvi
import torch
from _epoch_timer import EpochTimer
from _sizes import parse_size

import scbasis

BUSY = [sys.executable, "-c", "while True: pass"]


def seconds_per_epoch(adata, epochs: int, adapt: bool, beside: bool) -> float:
    """Median seconds of the epochs after the first, in a fresh model from seed 0."""
    os.environ["SCBASIS_ADAPT_THREADS"] = "1" if adapt else "0"
    scvi.settings.seed = 0
    model = scbasis.model.BasisDeVAE(adata)
    timer = EpochTimer()
    neighbour = subprocess.Popen(BUSY) if beside else None
    try:
        time.sleep(0.5 if beside else 0.0)
        model.train(
            max_epochs=epochs, family_epochs=1, callbacks=[timer], enable_progress_bar=False
        )
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    return float(np.median(timer.seconds[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=(8509, 5216), help="cells x genes")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (>= 2)")
    args = parser.parse_args()
    n_cells, n_genes = args.size
    adata = scbasis.data.simulate_trajectory(n_cells, n_genes, seed=0, return_means=False)
    scbasis.model.setup_anndata(adata)
    print(
        f"{n_cells:,} cells x {n_genes:,} genes, {args.epochs} epochs per run, "
        f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}",
        flush=True,
    )
    alone = seconds_per_epoch(adata, args.epochs, adapt=True, beside=False)
    print(f"alone:                                  {alone:7.2f} s per epoch", flush=True)
    for label, adapt in (("threads fixed", False), ("threads follow free cores", True)):
        beside = seconds_per_epoch(adata, args.epochs, adapt=adapt, beside=True)
        print(
            f"beside one CPU-bound process, {label + ':':<26}{beside:7.2f} s per epoch "
            f"({beside / alone:.2f}x alone)",
            flush=True,
        )


if __name__ == "__main__":
    main()
