"""One registration of an AnnData for every scbasis model."""

from __future__ import annotations

from anndata import AnnData

from ._basisdevae import BasisDeVAE
from ._basisvae import BasisVAE
from ._devae import DeVAE
from ._registration import setup_dsp
from ._validation import validate_setup

#: The models :func:`setup_anndata` registers an AnnData with.
MODELS = (BasisDeVAE, DeVAE, BasisVAE)


@setup_dsp.dedent
def setup_anndata(
    adata: AnnData,
    layer: str | None = None,
    batch_key: str | None = None,
    size_factor_key: str | None = None,
) -> None:
    """Register ``adata`` with every scbasis model (:class:`BasisDeVAE`, :class:`DeVAE`,
    :class:`BasisVAE`): the arguments are checked once, then each model records where the
    data, batches and size factors are, as its own ``setup_anndata`` would.

    Parameters
    ----------
    %(param_adata)s
    %(param_layer)s
    %(param_batch_key)s
    %(param_size_factor_key)s

    Examples
    --------
    >>> scbasis.model.setup_anndata(adata, layer="counts")
    >>> model = scbasis.model.BasisDeVAE(adata)  # or DeVAE(adata), BasisVAE(adata)
    """
    validate_setup(adata, layer, batch_key, size_factor_key)
    for model_cls in MODELS:
        model_cls._register_anndata(adata, layer, batch_key, size_factor_key)
