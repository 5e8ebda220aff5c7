"""One pass over the registered matrix, in blocks of rows, for what the checks and the starting
values need: the matrix never has to be in memory at once (a backed AnnData stays on disk)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from scbasis.nn._likelihoods import COUNT_LIKELIHOODS

#: Entries read per block of rows (about 32 MB of float64 for a dense block).
_BLOCK_ENTRIES = 2**22


def registered_matrix(adata: AnnData, layer: str | None):
    """The matrix registered by ``setup_anndata``: ``adata.X`` or ``adata.layers[layer]``
    (in memory, or on disk for a backed AnnData)."""
    return adata.X if layer is None else adata.layers[layer]


def row_blocks(
    adata: AnnData, layer: str | None, n_rows: int | None = None
) -> Iterator[tuple[int, np.ndarray | sp.spmatrix]]:
    """``(first row, block)`` for consecutive blocks of rows of the registered matrix (dense,
    sparse, backed, or a layer of scvi-tools' ``CollectionAdapter``, which reads rows only
    through slicing), each read into memory as float64 (dense) or a float64 CSR matrix."""
    matrix = registered_matrix(adata, layer)
    n_cells, n_features = adata.n_obs, adata.n_vars
    n_rows = n_rows or max(1, _BLOCK_ENTRIES // max(n_features, 1))
    for start in range(0, n_cells, n_rows):
        block = matrix[start : start + n_rows]
        if sp.issparse(block):
            yield start, sp.csr_matrix(block, dtype=np.float64)
        else:
            yield start, np.asarray(block, dtype=np.float64)


@dataclass(frozen=True)
class MatrixStatistics:
    """What one pass over the registered matrix tells: its value type and kind, and its row
    and column sums."""

    #: The stored value type.
    dtype: np.dtype
    #: No NaN or infinite value.
    finite: bool
    #: Every value 0 or 1.
    binary: bool
    #: Every value a non-negative integer.
    counts: bool
    #: Per feature ``sum_i x_ij`` and ``sum_i x_ij^2``, ``(d,)``.
    column_sum: np.ndarray
    column_square_sum: np.ndarray
    #: Per cell ``sum_j x_ij``, ``(n,)``.
    row_total: np.ndarray

    def feature_std(self) -> np.ndarray:
        """Standard deviation of every feature over the cells, ``(d,)``."""
        n = len(self.row_total)
        mean = self.column_sum / n
        variance = np.maximum(self.column_square_sum / n - mean**2, 0.0)
        return np.sqrt(variance).astype(np.float32)

    def mean_log_total(self) -> float:
        """Mean log total count of the cells (totals below 1 count as 1)."""
        return float(np.log(np.maximum(self.row_total, 1)).mean())

    def initial_intercepts(
        self, likelihood: str, library_total: float | None = None
    ) -> np.ndarray:
        """Per-feature starting values on the link scale, ``(d,)``.

        The mean for Gaussian data, the logit of the mean (clipped to ``[1e-3, 1 - 1e-3]``) for
        Bernoulli data, the log pooled rate ``log((counts_j + 1) / total library)`` for counts,
        with the sum of the size factors as total library when given, else all counts.
        """
        if likelihood in COUNT_LIKELIHOODS:
            total = float(self.column_sum.sum()) if library_total is None else library_total
            return np.log((self.column_sum + 1.0) / total).astype(np.float32)
        mean = self.column_sum / len(self.row_total)
        if likelihood == "bernoulli":
            mean = np.clip(mean, 1e-3, 1 - 1e-3)
            return np.log(mean / (1 - mean)).astype(np.float32)
        return mean.astype(np.float32)


def matrix_statistics(adata: AnnData, layer: str | None) -> MatrixStatistics:
    """:class:`MatrixStatistics` of the registered matrix, read block by block."""
    n_cells, n_features = adata.n_obs, adata.n_vars
    finite = binary = counts = True
    column_sum, column_square_sum = np.zeros(n_features), np.zeros(n_features)
    row_total = np.zeros(n_cells)
    for start, block in row_blocks(adata, layer):
        values = block.data if sp.issparse(block) else block
        finite = finite and bool(np.isfinite(values).all())
        binary = binary and bool(((values == 0) | (values == 1)).all())
        counts = counts and bool(((values >= 0) & (values == np.round(values))).all())
        squares = block.multiply(block) if sp.issparse(block) else np.square(block)
        column_sum += np.asarray(block.sum(axis=0)).ravel()
        column_square_sum += np.asarray(squares.sum(axis=0)).ravel()
        row_total[start : start + block.shape[0]] = np.asarray(block.sum(axis=1)).ravel()
    return MatrixStatistics(
        dtype=np.dtype(registered_matrix(adata, layer).dtype),
        finite=finite,
        binary=binary,
        counts=counts,
        column_sum=column_sum,
        column_square_sum=column_square_sum,
        row_total=row_total,
    )
