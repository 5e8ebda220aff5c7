"""The derivative network ``f_theta: R -> R_{>=0}^{d x K}``."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "relu": nn.ReLU,
    "elu": nn.ELU,
}


def make_activation(name: str) -> type[nn.Module]:
    """Look up a hidden-layer activation by name (one of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


class DerivativeNetwork(nn.Module):
    """A multilayer perceptron from the scalar latent time to non-negative derivatives.

    Parameters
    ----------
    n_output
        Number of outputs (genes x families).
    n_hidden
        Width of the hidden layers.
    n_layers
        Number of hidden layers.
    activation
        Hidden activation, a key of :data:`ACTIVATIONS`.
    """

    def __init__(
        self, n_output: int, n_hidden: int = 64, n_layers: int = 1, activation: str = "tanh"
    ):
        super().__init__()
        act = make_activation(activation)
        layers: list[nn.Module] = []
        n_in = 1
        for _ in range(n_layers):
            layers += [nn.Linear(n_in, n_hidden), act()]
            n_in = n_hidden
        layers += [nn.Linear(n_in, n_output), nn.Softplus()]
        self.mlp = nn.Sequential(*layers)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """Evaluate the derivatives at points ``t`` ``(P,)``; returns ``(P, n_output)`` >= 0."""
        return self.mlp(t[:, None])
