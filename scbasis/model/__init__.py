"""User-facing models (scvi-tools ``BaseModelClass``)."""

from ._base import ClusteredPseudotimeModel, PseudotimeModel
from ._basisdevae import BasisDeVAE
from ._basisvae import BasisVAE
from ._devae import DeVAE
from ._setup import setup_anndata

__all__ = [
    "BasisDeVAE",
    "BasisVAE",
    "ClusteredPseudotimeModel",
    "DeVAE",
    "PseudotimeModel",
    "setup_anndata",
]
