"""User-facing models (scvi-tools ``BaseModelClass``)."""

from ._base import PseudotimeModel
from ._basisdevae import BasisDeVAE, setup_anndata

__all__ = ["BasisDeVAE", "PseudotimeModel", "setup_anndata"]
