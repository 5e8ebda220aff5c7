"""Torch modules (inference, generative model, loss) behind the models."""

from ._base import LIKELIHOOD_PATHS, PseudotimeModule
from ._basisdevae import BasisDeVAEModule
from ._basisvae import BasisVAEModule
from ._clustered import ClusteredPseudotimeModule
from ._devae import DECODERS, DeVAEModule, check_decoder

__all__ = [
    "DECODERS",
    "LIKELIHOOD_PATHS",
    "BasisDeVAEModule",
    "BasisVAEModule",
    "ClusteredPseudotimeModule",
    "DeVAEModule",
    "PseudotimeModule",
    "check_decoder",
]
