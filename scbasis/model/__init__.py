"""User-facing models (scvi-tools ``BaseModelClass``)."""

from ._base import ClusteredPseudotimeModel, PseudotimeModel
from ._basisdevae import BasisDeVAE, setup_anndata
from ._basisvae import BasisVAE
from ._devae import DeVAE

__all__ = [
    "BasisDeVAE",
    "BasisVAE",
    "ClusteredPseudotimeModel",
    "DeVAE",
    "PseudotimeModel",
    "setup_anndata",
]
