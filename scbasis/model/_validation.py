"""Checks of the data and the arguments of ``setup_anndata``, and data-driven starting values."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from sklearn.utils.sparsefuncs import mean_variance_axis

from scbasis.nn._likelihoods import COUNT_LIKELIHOODS

logger = logging.getLogger(__name__)


def registered_matrix(adata: AnnData, layer: str | None):
    """The matrix registered by ``setup_anndata``: ``adata.X`` or ``adata.layers[layer]``."""
    return adata.X if layer is None else adata.layers[layer]


def validate_setup(
    adata: AnnData, layer: str | None, batch_key: str | None, size_factor_key: str | None
) -> None:
    """Check the AnnData and the arguments of ``setup_anndata`` before anything is
    registered."""
    if adata.is_view:
        raise ValueError(
            "adata is a view of another AnnData; registering would turn it into a copy in "
            "place. Make it an AnnData of its own first: adata = adata.copy()."
        )
    if adata.isbacked:
        raise ValueError(
            "adata is backed (X stays on disk), which scbasis does not read yet; load it into "
            "memory first: adata = adata.to_memory()."
        )
    if adata.var_names.has_duplicates:
        duplicated = adata.var_names[adata.var_names.duplicated()].unique().tolist()
        raise ValueError(
            f"adata.var_names holds {len(duplicated)} duplicated names (e.g. {duplicated[:5]}), "
            "so features cannot be matched by name; make them unique first: "
            "adata.var_names_make_unique()."
        )
    if layer is not None and layer not in adata.layers:
        raise ValueError(
            f"layer={layer!r} is not in adata.layers (which has {list(adata.layers)}); "
            "pass the layer holding the raw counts, or layer=None for adata.X."
        )
    if batch_key is not None and batch_key not in adata.obs:
        raise ValueError(
            f"batch_key={batch_key!r} is not a column of adata.obs; pass the column naming "
            "each cell's batch or sample, or batch_key=None."
        )
    if size_factor_key is not None:
        if size_factor_key not in adata.obs:
            raise ValueError(
                f"size_factor_key={size_factor_key!r} is not a column of adata.obs; add the "
                "per-cell size factors there or pass size_factor_key=None to use total counts."
            )
        values = pd.to_numeric(adata.obs[size_factor_key], errors="coerce").to_numpy()
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(
                f"adata.obs[{size_factor_key!r}] must hold finite, positive size factors."
            )


def validate_data(adata: AnnData, layer: str | None, likelihood: str, has_size_factor: bool):
    """Check that the registered values suit ``likelihood`` (and that no cell is empty)."""
    matrix = registered_matrix(adata, layer)
    values = matrix.data if sp.issparse(matrix) else np.asarray(matrix)
    where = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
    if values.dtype == np.float16:
        raise ValueError(
            f"{where} holds float16 values, which the models do not compute with (and which "
            f"round counts above 2048); convert it first, e.g. adata.X = adata.X.astype("
            "np.float32)."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{where} holds NaN or infinite values; remove or impute them first.")
    if likelihood == "bernoulli" and not np.all((values == 0) | (values == 1)):
        raise ValueError(
            f"likelihood='bernoulli' models binary data, but {where} holds values other than "
            "0 and 1; binarise it first, e.g. (X > 0), or choose another likelihood."
        )
    if likelihood not in COUNT_LIKELIHOODS:
        return
    if values.size and (values.min() < 0 or not np.all(np.equal(np.mod(values, 1), 0))):
        raise ValueError(
            f"likelihood={likelihood!r} models raw counts, but {where} holds negative or "
            "non-integer values (log-normalised or scaled data?). Register the raw counts with "
            "setup_anndata(adata, layer='counts'), or use likelihood='gaussian'."
        )
    if not has_size_factor:
        totals = np.asarray(matrix.sum(axis=1)).ravel()
        if np.any(totals <= 0):
            raise ValueError(
                f"{int((totals <= 0).sum())} cells have no counts in {where}; remove them "
                "first, e.g. sc.pp.filter_cells(adata, min_counts=1)."
            )
    empty = np.asarray(matrix.sum(axis=0)).ravel() <= 0
    if np.any(empty):
        warnings.warn(
            f"{int(empty.sum())} genes have no counts in any cell of {where} (e.g. "
            f"{adata.var_names[empty][:5].tolist()}): their curves are fitted to zeros and their "
            "family calls carry no information. Remove them first, e.g. "
            "sc.pp.filter_genes(adata, min_cells=1).",
            UserWarning,
            stacklevel=4,
        )


def align_features(adata: AnnData, names: pd.Index) -> AnnData:
    """``adata`` with its features in the model's order ``names``, matched by name.

    ``adata`` itself when its features are the model's in the model's order; a reordered copy
    (``adata`` unchanged) when only the order differs; a clear error when names are duplicated,
    missing or extra.
    """
    var_names = adata.var_names
    if var_names.equals(names):
        return adata
    if var_names.has_duplicates:
        duplicated = var_names[var_names.duplicated()].unique().tolist()
        raise ValueError(
            f"adata.var_names holds duplicated names (e.g. {duplicated[:5]}), so its features "
            "cannot be matched to the model's by name; make them unique first."
        )
    missing = names.difference(var_names, sort=False)
    extra = var_names.difference(names, sort=False)
    differences = []
    if len(missing):
        differences.append(
            f"{len(missing)} of the model's are missing (e.g. {missing[:5].tolist()})"
        )
    if len(extra):
        differences.append(f"{len(extra)} are not the model's (e.g. {extra[:5].tolist()})")
    if differences:
        raise ValueError(
            f"adata's features differ from the model's: {' and '.join(differences)}. Pass an "
            "AnnData with exactly the model's features, e.g. adata[:, model.adata.var_names] "
            "when it has them all."
        )
    logger.info("adata's features are the model's in another order: matched by name.")
    return adata[:, names].copy()


def initial_intercepts(
    adata: AnnData, layer: str | None, likelihood: str, size_factor_key: str | None
) -> np.ndarray:
    """Per-feature starting values on the link scale, ``(d,)``.

    The mean for Gaussian data, the logit of the mean (clipped to ``[1e-3, 1 - 1e-3]``) for
    Bernoulli data, the log pooled rate ``log((counts_j + 1) / total library)`` for counts.
    """
    matrix = registered_matrix(adata, layer)
    totals = np.asarray(matrix.sum(axis=0)).ravel().astype(np.float64)
    if likelihood in COUNT_LIKELIHOODS:
        if size_factor_key is not None:
            library_total = float(adata.obs[size_factor_key].sum())
        else:
            library_total = float(totals.sum())
        return np.log((totals + 1.0) / library_total).astype(np.float32)
    mean = totals / adata.n_obs
    if likelihood == "bernoulli":
        mean = np.clip(mean, 1e-3, 1 - 1e-3)
        return np.log(mean / (1 - mean)).astype(np.float32)
    return mean.astype(np.float32)


def feature_std(adata: AnnData, layer: str | None, chunk_size: int = 1024) -> np.ndarray:
    """Standard deviation of every registered feature over the cells, ``(d,)``, without a copy
    of the matrix (sparse: scikit-learn's column variances; dense: rows in chunks)."""
    matrix = registered_matrix(adata, layer)
    if sp.issparse(matrix):
        _, variance = mean_variance_axis(matrix, axis=0)
        return np.sqrt(variance).astype(np.float32)
    total = np.zeros(matrix.shape[1])
    squares = np.zeros(matrix.shape[1])
    for start in range(0, matrix.shape[0], chunk_size):
        rows = np.asarray(matrix[start : start + chunk_size], dtype=np.float64)
        total += rows.sum(axis=0)
        squares += np.square(rows).sum(axis=0)
    mean = total / matrix.shape[0]
    return np.sqrt(np.maximum(squares / matrix.shape[0] - mean**2, 0.0)).astype(np.float32)


def mean_log_total(adata: AnnData, layer: str | None) -> float:
    """Mean log total count of the registered cells (totals below 1 count as 1)."""
    totals = np.asarray(registered_matrix(adata, layer).sum(axis=1), dtype=np.float64).ravel()
    return float(np.log(np.maximum(totals, 1)).mean())
