"""Training from disk at 50k, 100k and 200k cells: peak memory and time against the cell count.

For each size, simulated counts (cells x genes, a third of the genes increasing, a third
decreasing, a third transient along a hidden time) are written to an ``.h5ad`` file in blocks of
cells; then a fresh Python process opens the file backed (X stays on disk), registers it, builds
a BasisDeVAE (one pass over X for the checks and starting values), trains it for ``--epochs``
epochs and one epoch of the family fit, and writes the results for every cell. That process
reports its peak resident memory (:func:`peak_rss_mib`) and the time of each phase. Run it alone: a
second CPU-bound process slows training many times over.

    python benchmarks/backed_scale.py --cells 50000 100000 200000 --genes 2000
    python benchmarks/backed_scale.py --cells 100000 300000 1000000 --genes 2000 --joint-only

``--joint-only`` times the joint training's epochs alone, which is what grows with the cells
epoch after epoch, and the median training step at each size (an epoch's time is its steps'
times, so equal steps mean epochs linear in the cells; the median is not moved by the drift of
the machine's speed that moves whole epochs by 10 % or more); the files are written block by
block, so that a million cells need no more memory to simulate than ten thousand.
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
    """Write ``n_cells x n_genes`` Poisson counts to ``path`` block by block (CSR, float32).

    Each block of 10,000 cells is appended to the file's ``X/data`` and ``X/indices`` as it is
    drawn, so that memory does not grow with the cells (a million cells x 2,000 genes is about
    4 GB of non-zeros); ``obs`` and ``var`` are written by anndata, and the file reads back as
    any ``.h5ad``.
    """
    import anndata
    import h5py
    import pandas as pd
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    kind = np.arange(n_genes) % 3  # increasing, decreasing, transient
    base = rng.normal(-10.0, 1.0, n_genes)  # log share of a cell's counts (sparse, as UMIs are)
    change = rng.uniform(1.0, 3.0, n_genes)
    centre = rng.uniform(0.2, 0.8, n_genes)
    times, indptr = [], [np.zeros(1, dtype=np.int64)]
    with h5py.File(path, "w") as file:
        x = file.create_group("X")
        x.attrs.update({"encoding-type": "csr_matrix", "encoding-version": "0.1.0"})
        x.attrs["shape"] = (n_cells, n_genes)
        arrays = {
            name: x.create_dataset(name, (0,), maxshape=(None,), dtype=dtype, chunks=(1 << 18,))
            for name, dtype in (("data", np.float32), ("indices", np.int32))
        }
        for start in range(0, n_cells, 10_000):
            t = rng.uniform(0, 1, min(10_000, n_cells - start))
            shape = np.where(
                kind == 0,
                t[:, None],
                np.where(
                    kind == 1, 1 - t[:, None], np.exp(-(((t[:, None] - centre) / 0.15) ** 2))
                ),
            )
            library = rng.lognormal(np.log(3000), 0.3, len(t))[:, None]
            block = sp.csr_matrix(rng.poisson(library * np.exp(base + change * shape)))
            for name, values in (("data", block.data), ("indices", block.indices)):
                end = arrays[name].shape[0]
                arrays[name].resize((end + len(values),))
                arrays[name][end:] = values
            indptr.append(block.indptr[1:].astype(np.int64) + indptr[-1][-1])
            times.append(t)
        x.create_dataset("indptr", data=np.concatenate(indptr))
        obs = pd.DataFrame(
            {"true_time": np.concatenate(times)}, index=[f"cell{i}" for i in range(n_cells)]
        )
        var = pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)])
        for key, element in (("obs", obs), ("var", var)):
            anndata.io.write_elem(file, key, element)
        for key in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
            anndata.io.write_elem(file, key, {})
        file.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})


def measure(path: Path, epochs: int, joint_only: bool) -> dict:
    """Train from the backed file at ``path`` in this process and report time and memory.

    With ``joint_only``, only the joint training runs (the epochs that scale with the cells'
    minibatches), without the family fit and the results, which both start with each cell's
    exact posterior pseudotime (about 1 s per 1,000 cells at 2,000 genes).
    """
    import anndata
    import scvi
    from _epoch_timer import EpochTimer
    from scipy.stats import spearmanr

    import scbasis

    scvi.settings.seed = 0
    timings = {}
    start = time.perf_counter()
    adata = anndata.read_h5ad(path, backed="r")
    scbasis.model.BasisDeVAE.setup_anndata(adata)
    model = scbasis.model.BasisDeVAE(adata)
    timings["setup_and_statistics_s"] = time.perf_counter() - start
    timer = EpochTimer()
    start = time.perf_counter()
    if joint_only:  # the joint training of BasisDeVAE.train, without its family fit
        scbasis.model.ClusteredPseudotimeModel.train(
            model, max_epochs=epochs, enable_progress_bar=False, callbacks=[timer]
        )
    else:
        model.train(
            max_epochs=epochs, family_epochs=1, enable_progress_bar=False, callbacks=[timer]
        )
    timings["train_s"] = time.perf_counter() - start
    result = {"n_cells": adata.n_obs, "n_genes": adata.n_vars, "backed": bool(adata.isbacked)}
    result["epoch_s"] = [round(s, 1) for s in timer.seconds]
    result["median_step_ms"] = round(1e3 * float(np.median(timer.step_seconds)), 2)
    if not joint_only:
        start = time.perf_counter()
        model.write_results(root=adata.obs["true_time"].to_numpy() < 0.02)
        timings["write_results_s"] = time.perf_counter() - start
        rho = spearmanr(adata.obs["basisdevae_pseudotime"], adata.obs["true_time"])[0]
        result["spearman"] = round(float(rho), 3)
    return result | {k: round(v, 1) for k, v in timings.items()} | {"peak_rss_mib": peak_rss_mib()}


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


def _against_first(values: list[float]) -> str:
    """Each value's change from the first, in per cent: ``"+0.0 %, +4.2 %, ..."``."""
    return ", ".join(f"{100 * (v / values[0] - 1):+.1f} %" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[50_000, 100_000, 200_000])
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument(
        "--joint-only",
        action="store_true",
        help="time the joint training's epochs alone (no family fit, no write_results)",
    )
    parser.add_argument("--dir", type=Path, default=None, help="where the .h5ad files go")
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.epochs, args.joint_only)))
        return
    folder = args.dir or Path(tempfile.mkdtemp(prefix="scbasis-backed-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for n_cells in args.cells:
        path = folder / f"counts_{n_cells}x{args.genes}.h5ad"
        if not path.exists():
            start = time.perf_counter()
            simulate_to_disk(path, n_cells, args.genes)
            print(f"simulated {n_cells} x {args.genes} in {time.perf_counter() - start:.0f} s")
        command = [sys.executable, __file__, "--measure", str(path), "--epochs", str(args.epochs)]
        command += ["--joint-only"] if args.joint_only else []
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        row = rows[-1]
        phases = (
            f"joint training ({args.epochs} epochs) {row['train_s']} s, epochs {row['epoch_s']} s"
            if args.joint_only
            else f"train ({args.epochs} epochs + 1 family-fit epoch) {row['train_s']} s, "
            f"write_results {row['write_results_s']} s, |Spearman| {abs(row['spearman'])}"
        )
        print(
            f"{row['n_cells']:>7} x {row['n_genes']} on disk: setup + statistics "
            f"{row['setup_and_statistics_s']} s, {phases}, peak RSS {row['peak_rss_mib']} MiB",
            flush=True,
        )
    peaks = [r["peak_rss_mib"] for r in rows]
    print(f"peak RSS spread: {100 * (max(peaks) / min(peaks) - 1):.0f} % (max / min - 1)")
    if args.joint_only:
        per_cell = [1e3 * r["epoch_s"][-1] / r["n_cells"] for r in rows]
        print(
            "seconds per epoch per 1,000 cells (last epoch): "
            + ", ".join(f"{v:.3f}" for v in per_cell)
        )
        print("against linear from the smallest size: " + _against_first(per_cell))
        steps = [r["median_step_ms"] for r in rows]
        print(
            "median training step (its minibatch's reading included), ms: "
            + ", ".join(f"{v:.2f}" for v in steps)
            + "; against the smallest size: "
            + _against_first(steps)
        )
    else:
        per_cell = [1e3 * r["train_s"] / r["n_cells"] for r in rows]
        print("train seconds per 1,000 cells: " + ", ".join(f"{v:.2f}" for v in per_cell))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
