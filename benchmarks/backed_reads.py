"""Reading minibatches of random rows from a backed ``.h5ad``: anndata against scbasis's reader.

For each size, the counts of ``backed_scale.py`` (written block by block, as anndata writes a
CSR matrix: chunked, uncompressed) are opened backed, and the same minibatches of random rows
(each in ascending order, as scvi-tools reads a backed file) are read by anndata
(``adata.X[rows]``, one HDF5 call per row and array) and by
:class:`scbasis.data._file_rows.FileRowsCSRDataset` (one ``pread`` per row), alternated, twice
each; the two reads are checked to be equal. Run it alone::

    python benchmarks/backed_reads.py --cells 100000 1000000 --genes 2000 --dir /tmp/scale
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from backed_scale import simulate_to_disk


def time_reads(path: Path, n_batches: int, batch_size: int) -> dict[str, list[float]]:
    """Milliseconds per minibatch of each reader, over two alternated rounds."""
    import anndata

    from scbasis.data._file_rows import file_rows

    adata = anndata.read_h5ad(path, backed="r")
    rng = np.random.default_rng(0)
    batches = [
        np.sort(rng.choice(adata.n_obs, batch_size, replace=False)) for _ in range(n_batches)
    ]
    readers = {"anndata": adata.X, "file rows": file_rows(adata.X)}
    if readers["file rows"] is None:
        raise SystemExit(f"{path}: not readable from its bytes (compressed or filtered?)")
    if (readers["anndata"][batches[0]] != readers["file rows"][batches[0]]).nnz:
        raise SystemExit(f"{path}: the two readers disagree")
    times: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(2):
        for name, reader in readers.items():
            start = time.perf_counter()
            for rows in batches:
                reader[rows]
            times[name].append(1e3 * (time.perf_counter() - start) / n_batches)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dir", type=Path, default=None, help="where the .h5ad files go")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="scbasis-backed-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"| cells x genes | anndata (ms / {args.batch_size} rows) | scbasis (ms) | ratio |")
    print("|---|---:|---:|---:|")
    for n_cells in args.cells:
        path = folder / f"counts_{n_cells}x{args.genes}.h5ad"
        if not path.exists():
            simulate_to_disk(path, n_cells, args.genes)
        times = time_reads(path, args.batches, args.batch_size)
        theirs, ours = min(times["anndata"]), min(times["file rows"])
        print(
            f"| {n_cells:,} x {args.genes:,} | {theirs:.2f} | {ours:.2f} | {theirs / ours:.1f}x |"
        )


if __name__ == "__main__":
    main()
