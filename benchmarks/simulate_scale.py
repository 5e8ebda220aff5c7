"""Time and memory of :func:`scbasis.data.simulate_trajectory` at real scale.

Each size runs in a fresh subprocess, so the peak resident set size (``ru_maxrss``) belongs to
that size alone. The defaults are the paper's spermatogenesis scale (8,509 x 5,216, target
< 30 s) and an atlas scale (100,000 x 5,000, memory proportional to the non-zeros)::

    python benchmarks/simulate_scale.py
    python benchmarks/simulate_scale.py --sizes 8509x5216 20000x2000 --likelihood nb
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from _sizes import parse_size

DEFAULT_SIZES = ("8509x5216", "100000x5000")


def _measure(n_cells: int, n_genes: int, likelihood: str, seed: int) -> dict[str, float]:
    """Simulate once in this process; return its time, memory and matrix statistics."""
    from scbasis.data import simulate_trajectory

    import_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    adata = simulate_trajectory(n_cells, n_genes, seed=seed, likelihood=likelihood)
    seconds = time.perf_counter() - start
    x = adata.X
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "n_cells": n_cells,
        "n_genes": n_genes,
        "seconds": seconds,
        "import_rss_mib": import_kib / 1024,
        "peak_rss_mib": peak_kib / 1024,
        "nnz": int(x.nnz),
        "density": x.nnz / (n_cells * n_genes),
        "csr_mib": (x.data.nbytes + x.indices.nbytes + x.indptr.nbytes) / 2**20,
        "dense_float32_mib": n_cells * n_genes * 4 / 2**20,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=None)
    parser.add_argument("--likelihood", choices=("nb", "zinb"), default="zinb")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", type=parse_size, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args(argv)

    if args.one is not None:
        print(json.dumps(_measure(*args.one, args.likelihood, args.seed)))
        return
    sizes = args.sizes or [parse_size(s) for s in DEFAULT_SIZES]
    header = (
        f"{'cells':>8} {'genes':>6} {'time s':>7} {'import RSS MiB':>14} {'peak RSS MiB':>12} "
        f"{'nnz':>12} "
        f"{'density':>7} {'CSR MiB':>8} {'dense f32 MiB':>13}"
    )
    print(f"likelihood={args.likelihood} seed={args.seed}")
    print(header)
    for n_cells, n_genes in sizes:
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                f"{n_cells}x{n_genes}",
                "--likelihood",
                args.likelihood,
                "--seed",
                str(args.seed),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"{r['n_cells']:>8} {r['n_genes']:>6} {r['seconds']:>7.1f} "
            f"{r['import_rss_mib']:>14.0f} {r['peak_rss_mib']:>12.0f} "
            f"{r['nnz']:>12,} {r['density']:>7.3f} {r['csr_mib']:>8.0f} "
            f"{r['dense_float32_mib']:>13.0f}"
        )


if __name__ == "__main__":
    main()
