"""The plain VAE's decoder: an unconstrained network, or a linear map, from z to features."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._derivative_network import mlp_layers


class UnconstrainedDecoder(nn.Module):
    """``x(z) = W_L a(...a(W_1 z + b_1)...) + x0``, without shape constraints.

    The papers' "VAE" baseline (a network with hidden layers) and "linear VAE" baseline
    (``n_layers = 0``: ``x(z) = W z + x0``).

    Parameters
    ----------
    n_features
        Number of features ``d``.
    n_latent
        Latent dimension ``p``.
    n_hidden
        Hidden width.
    n_layers
        Hidden layers; 0 gives a linear decoder.
    activation
        Hidden activation.
    intercept_init
        Initial output bias ``x0`` ``(d,)``; zeros if ``None``.
    """

    def __init__(
        self,
        n_features: int,
        n_latent: int = 1,
        n_hidden: int = 64,
        n_layers: int = 1,
        activation: str = "tanh",
        intercept_init: np.ndarray | None = None,
    ):
        super().__init__()
        self.mlp = nn.Sequential(*mlp_layers(n_latent, n_features, n_hidden, n_layers, activation))
        if intercept_init is not None:
            with torch.no_grad():
                self.mlp[-1].bias.copy_(torch.as_tensor(intercept_init))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Curves at latent points ``z`` ``(N, p)``: ``(N, d, 1)`` (a single family)."""
        return self.mlp(z)[..., None]
