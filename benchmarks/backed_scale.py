"""Training from disk at 50k, 100k and 200k cells: peak memory and time against the cell count.

For each size, simulated counts (cells x genes, a third of the genes increasing, a third
decreasing, a third transient along a hidden time) are written to an ``.h5ad`` file in blocks of
cells; then a fresh Python process opens the file backed (X stays on disk), registers it, builds
a BasisDeVAE (one pass over X for the checks and starting values), trains it for ``--epochs``
epochs and one epoch of the family fit, and writes the results for every cell. That process
reports its peak resident memory (:func:`peak_rss_mib`) and the time of each phase. Run it alone: a
second CPU-bound process slows training many times over.

    python benchmarks/backed_scale.py --cells 50000 100000 200000 --genes 2000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def simulate_to_disk(path: Path, n_cells: int, n_genes: int, seed: int = 0) -> None:
    """Write ``n_cells x n_genes`` Poisson counts to ``path`` block by block (CSR, float32)."""
    import anndata
    import pandas as pd
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    kind = np.arange(n_genes) % 3  # increasing, decreasing, transient
    base = rng.normal(-10.0, 1.0, n_genes)  # log share of a cell's counts (sparse, as UMIs are)
    change = rng.uniform(1.0, 3.0, n_genes)
    centre = rng.uniform(0.2, 0.8, n_genes)
    times, blocks = [], []
    for start in range(0, n_cells, 10_000):
        t = rng.uniform(0, 1, min(10_000, n_cells - start))
        shape = np.where(
            kind == 0,
            t[:, None],
            np.where(kind == 1, 1 - t[:, None], np.exp(-(((t[:, None] - centre) / 0.15) ** 2))),
        )
        library = rng.lognormal(np.log(3000), 0.3, len(t))[:, None]
        counts = rng.poisson(library * np.exp(base + change * shape))
        blocks.append(sp.csr_matrix(counts.astype(np.float32)))
        times.append(t)
    obs = pd.DataFrame(
        {"true_time": np.concatenate(times)}, index=[f"cell{i}" for i in range(n_cells)]
    )
    var = pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)])
    anndata.AnnData(sp.vstack(blocks, format="csr"), obs=obs, var=var).write_h5ad(path)


def measure(path: Path, epochs: int) -> dict:
    """Train from the backed file at ``path`` in this process and report time and memory."""
    import anndata
    import scvi
    from scipy.stats import spearmanr

    import scbasis

    scvi.settings.seed = 0
    timings = {}
    start = time.perf_counter()
    adata = anndata.read_h5ad(path, backed="r")
    scbasis.model.BasisDeVAE.setup_anndata(adata)
    model = scbasis.model.BasisDeVAE(adata)
    timings["setup_and_statistics_s"] = time.perf_counter() - start
    start = time.perf_counter()
    model.train(max_epochs=epochs, family_epochs=1, enable_progress_bar=False)
    timings["train_s"] = time.perf_counter() - start
    start = time.perf_counter()
    model.write_results(root=adata.obs["true_time"].to_numpy() < 0.02)
    timings["write_results_s"] = time.perf_counter() - start
    rho = spearmanr(adata.obs["basisdevae_pseudotime"], adata.obs["true_time"])[0]
    return {
        "n_cells": adata.n_obs,
        "n_genes": adata.n_vars,
        "backed": bool(adata.isbacked),
        **{k: round(v, 1) for k, v in timings.items()},
        "spearman": round(float(rho), 3),
        "peak_rss_mib": peak_rss_mib(),
    }


def peak_rss_mib() -> int:
    """This process's peak resident memory in MiB: Linux's ``VmHWM``, which starts afresh
    with the process's program, where ``ru_maxrss`` carries over the peak of the process it
    was forked from (here the one that simulated the counts, several GB at 200,000 cells)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[50_000, 100_000, 200_000])
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="where the .h5ad files go")
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.epochs)))
        return
    folder = args.dir or Path(tempfile.mkdtemp(prefix="scbasis-backed-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for n_cells in args.cells:
        path = folder / f"counts_{n_cells}x{args.genes}.h5ad"
        if not path.exists():
            simulate_to_disk(path, n_cells, args.genes)
        command = [sys.executable, __file__, "--measure", str(path), "--epochs", str(args.epochs)]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        row = rows[-1]
        print(
            f"{row['n_cells']:>7} x {row['n_genes']} on disk: setup + statistics "
            f"{row['setup_and_statistics_s']} s, train ({args.epochs} epochs + 1 family-fit "
            f"epoch) {row['train_s']} s, write_results {row['write_results_s']} s, "
            f"peak RSS {row['peak_rss_mib']} MiB, |Spearman| {abs(row['spearman'])}",
            flush=True,
        )
    peaks = [r["peak_rss_mib"] for r in rows]
    per_cell = [1e3 * r["train_s"] / r["n_cells"] for r in rows]
    print(f"peak RSS spread: {100 * (max(peaks) / min(peaks) - 1):.0f} % (max / min - 1)")
    print("train seconds per 1,000 cells: " + ", ".join(f"{v:.2f}" for v in per_cell))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
