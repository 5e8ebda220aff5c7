"""Torch modules (inference, generative model, loss) behind the models."""

from ._base import LIKELIHOOD_PATHS, PseudotimeModule
from ._basisdevae import BasisDeVAEModule
from ._basisvae import BasisVAEModule
from ._devae import DECODERS, DeVAEModule, check_decoder

__all__ = [
    "DECODERS",
    "LIKELIHOOD_PATHS",
    "BasisDeVAEModule",
    "BasisVAEModule",
    "DeVAEModule",
    "PseudotimeModule",
    "check_decoder",
]
