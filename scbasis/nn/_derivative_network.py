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


def mlp_layers(
    n_input: int, n_output: int, n_hidden: int = 64, n_layers: int = 1, activation: str = "tanh"
) -> list[nn.Module]:
    """Layers of a multilayer perceptron ``n_input -> n_hidden (x n_layers) -> n_output``.

    ``n_layers = 0`` gives a single linear layer; the output layer has no activation.
    """
    act = make_activation(activation)
    layers: list[nn.Module] = []
    n_in = n_input
    for _ in range(n_layers):
        layers += [nn.Linear(n_in, n_hidden), act()]
        n_in = n_hidden
    return [*layers, nn.Linear(n_in, n_output)]


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
        Hidden activation, a key of ``ACTIVATIONS``.
    """

    def __init__(
        self, n_output: int, n_hidden: int = 64, n_layers: int = 1, activation: str = "tanh"
    ):
        super().__init__()
        self.mlp = nn.Sequential(
            *mlp_layers(1, n_output, n_hidden, n_layers, activation), nn.Softplus()
        )

    def forward(self, t: torch.Tensor, columns: torch.Tensor | None = None) -> torch.Tensor:
        """Evaluate the derivatives at points ``t`` ``(P,)``.

        Parameters
        ----------
        t
            Points, ``(P,)``.
        columns
            Indices of the outputs to evaluate (``LongTensor``); all if ``None``.

        Returns
        -------
        torch.Tensor
            Non-negative derivatives, ``(P, n_output)``, or ``(P, len(columns))``.
        """
        if columns is None:
            return self.mlp(t[:, None])
        output = self.mlp[-2]
        features = self.mlp[:-2](t[:, None])
        return self.mlp[-1](
            nn.functional.linear(features, output.weight[columns], output.bias[columns])
        )
