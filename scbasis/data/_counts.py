"""Drawing the counts of :func:`~scbasis.data.simulate_trajectory` in chunks of cells, into
sparse buffers whose memory stays bounded."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._gene_shapes import _Genes, _log_relative_expression

_CHUNK_ENTRIES = 1 << 21  # cells x genes generated at once; bounds the dense working memory
_CAPACITY_MARGIN = 1.25  # non-zero buffers: first-chunk estimate x margin (untouched = free)


def _sample_counts(
    rng: np.random.Generator,
    genes: _Genes,
    time: np.ndarray,
    library_size: np.ndarray,
    batch: np.ndarray,
    return_means: bool,
) -> tuple[sp.csr_matrix, np.ndarray | None]:
    """Draw the counts chunk by chunk; return them as CSR plus the optional dense means."""
    n_cells, n_genes = time.size, genes.shape.size
    chunk = max(1, _CHUNK_ENTRIES // n_genes)
    means = np.empty((n_cells, n_genes), dtype=np.float32) if return_means else None
    data = indices = None  # sized from the first chunk's density
    indptr = np.zeros(n_cells + 1, dtype=np.int64)
    zero_inflated = bool(np.any(genes.dropout > 0))
    for start in range(0, n_cells, chunk):
        stop = min(start + chunk, n_cells)
        log_mu = _log_relative_expression(time[start:stop], genes)
        log_mu += np.log(library_size[start:stop])[:, None]
        log_mu += genes.batch_log_offset.T[batch[start:stop]]
        mu = np.exp(log_mu)
        counts = rng.poisson(rng.gamma(genes.theta, mu / genes.theta))
        if zero_inflated:
            counts[rng.random(counts.shape) < genes.dropout] = 0
        if means is not None:
            means[start:stop] = mu * (1.0 - genes.dropout)
        mask = counts > 0
        if data is None:
            capacity = int(_CAPACITY_MARGIN * mask.sum() * n_cells / (stop - start)) + 1024
            data, indices = _Buffer(np.int32, capacity), _Buffer(np.int32, capacity)
        data.extend(counts[mask])
        indices.extend(np.nonzero(mask)[1])
        indptr[start + 1 : stop + 1] = indptr[start] + np.cumsum(mask.sum(axis=1))
    index_dtype = np.int32 if indptr[-1] <= np.iinfo(np.int32).max else np.int64
    matrix = sp.csr_matrix(
        (
            data.values(),
            indices.values().astype(index_dtype, copy=False),
            indptr.astype(index_dtype),
        ),
        shape=(n_cells, n_genes),
    )
    return matrix, means


class _Buffer:
    """Append-only 1-D array that grows by half (one copy) when full.

    Capacity never written to is never touched, so it costs no resident memory.
    """

    def __init__(self, dtype: type[np.integer], capacity: int) -> None:
        self._array = np.empty(capacity, dtype=dtype)
        self._size = 0

    def extend(self, values: np.ndarray) -> None:
        end = self._size + values.size
        if end > self._array.size:
            grown = np.empty(max(end, self._array.size * 3 // 2), dtype=self._array.dtype)
            grown[: self._size] = self._array[: self._size]
            self._array = grown
        self._array[self._size : end] = values
        self._size = end

    def values(self) -> np.ndarray:
        """The appended values, a view of shape ``(size,)``."""
        return self._array[: self._size]
