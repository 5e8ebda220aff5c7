"""One registration of an AnnData for every scbasis model."""

from __future__ import annotations

from anndata import AnnData

from ._basisdevae import BasisDeVAE
from ._basisvae import BasisVAE
from ._devae import DeVAE

#: The models :func:`setup_anndata` registers an AnnData with.
MODELS = (BasisDeVAE, DeVAE, BasisVAE)


def setup_anndata(
    adata: AnnData,
    layer: str | None = None,
    batch_key: str | None = None,
    size_factor_key: str | None = None,
) -> None:
    """Register ``adata`` with every scbasis model (:class:`BasisDeVAE`, :class:`DeVAE`,
    :class:`BasisVAE`), as each model's own ``setup_anndata`` does.

    Parameters
    ----------
    adata
        Cells x features. Count likelihoods need raw counts (in ``adata.X`` or ``layer``); the
        Gaussian likelihood takes any real values (e.g. standardised measurements).
    layer
        Layer holding the data; ``None`` uses ``adata.X``.
    batch_key
        Column of ``adata.obs`` naming each cell's batch or sample.
    size_factor_key
        Column of ``adata.obs`` with per-cell size factors that replace the observed total
        counts as library sizes.

    Examples
    --------
    >>> scbasis.model.setup_anndata(adata, layer="counts")
    >>> model = scbasis.model.BasisDeVAE(adata)  # or DeVAE(adata), BasisVAE(adata)
    """
    for model_cls in MODELS:
        model_cls.setup_anndata(
            adata, layer=layer, batch_key=batch_key, size_factor_key=size_factor_key
        )
