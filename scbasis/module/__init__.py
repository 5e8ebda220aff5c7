"""Torch modules (inference, generative model, loss) behind the models."""

from ._basisdevae import BasisDeVAEModule

__all__ = ["BasisDeVAEModule"]
