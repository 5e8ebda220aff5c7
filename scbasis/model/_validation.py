"""Checks of the AnnData, the arguments of ``setup_anndata`` and the registered values, and
the matching of a query's features to the model's."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from anndata import AnnData

from scbasis.nn._likelihoods import COUNT_LIKELIHOODS

from ._data_statistics import MatrixStatistics

logger = logging.getLogger(__name__)


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
    if adata.var_names.has_duplicates:
        duplicated = adata.var_names[adata.var_names.duplicated()].unique().tolist()
        raise ValueError(
            f"adata.var_names holds {len(duplicated)} duplicated names (e.g. {duplicated[:5]}), "
            "so features cannot be matched by name; make them unique first: "
            "adata.var_names_make_unique()."
        )
    # .keys(): scvi-tools' CollectionAdapter gives its layers as keys only
    if layer is not None and layer not in adata.layers.keys():
        raise ValueError(
            f"layer={layer!r} is not in adata.layers (which has {list(adata.layers.keys())}); "
            "pass the layer holding the raw counts, or layer=None for adata.X."
        )
    if batch_key is not None and batch_key not in adata.obs:
        raise ValueError(
            f"batch_key={batch_key!r} is not a column of adata.obs; pass the column naming "
            "each cell's batch or sample, or batch_key=None."
        )
    if batch_key is not None:
        sizes = adata.obs[batch_key].value_counts()
        single = sizes.index[sizes == 1].astype(str).tolist()
        if single:
            warnings.warn(
                f"{len(single)} batches of adata.obs[{batch_key!r}] have a single cell (e.g. "
                f"{single[:5]}): their per-gene offsets are fitted to that one cell. Merge them "
                "into larger batches, or remove those cells.",
                UserWarning,
                stacklevel=3,
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


#: Standard deviation above which a Gaussian model's features are named in a warning.
_LARGE_GAUSSIAN_SCALE = 100.0


def validate_data(
    statistics: MatrixStatistics,
    where: str,
    var_names: pd.Index,
    likelihood: str,
    has_size_factor: bool,
) -> None:
    """Check that the registered values (:class:`MatrixStatistics` of ``where``, e.g.
    ``"adata.X"``) suit ``likelihood``; cells without counts are refused and features without
    counts named in a warning."""
    if statistics.dtype == np.float16:
        raise ValueError(
            f"{where} holds float16 values, which the models do not compute with (and which "
            f"round counts above 2048); convert it first, e.g. adata.X = adata.X.astype("
            "np.float32)."
        )
    if not statistics.finite:
        raise ValueError(f"{where} holds NaN or infinite values; remove or impute them first.")
    if likelihood == "bernoulli" and not statistics.binary:
        raise ValueError(
            f"likelihood='bernoulli' models binary data, but {where} holds values other than "
            "0 and 1; binarise it first, e.g. (X > 0), or choose another likelihood."
        )
    if likelihood == "gaussian":
        std = statistics.feature_std()
        if std.max() > _LARGE_GAUSSIAN_SCALE:
            warnings.warn(
                f"likelihood='gaussian' on features of standard deviation up to "
                f"{std.max():.3g} in {where} (e.g. {var_names[std.argmax()]!r}): the networks "
                "train best, and may otherwise diverge, on standardised features, e.g. "
                "sc.pp.scale(adata); for counts choose a count likelihood (likelihood='nb').",
                UserWarning,
                stacklevel=4,
            )
    if likelihood not in COUNT_LIKELIHOODS:
        return
    if not statistics.counts:
        raise ValueError(
            f"likelihood={likelihood!r} models raw counts, but {where} holds negative or "
            "non-integer values (log-normalised or scaled data?). Register the raw counts with "
            "setup_anndata(adata, layer='counts'), or use likelihood='gaussian'."
        )
    if not has_size_factor and np.any(statistics.row_total <= 0):
        raise ValueError(
            f"{int((statistics.row_total <= 0).sum())} cells have no counts in {where}; remove "
            "them first, e.g. sc.pp.filter_cells(adata, min_counts=1)."
        )
    empty = statistics.column_sum <= 0
    if np.any(empty):
        warnings.warn(
            f"{int(empty.sum())} genes have no counts in any cell of {where} (e.g. "
            f"{var_names[empty][:5].tolist()}): their curves are fitted to zeros and their "
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
