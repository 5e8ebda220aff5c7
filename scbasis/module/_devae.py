"""The DeVAE torch module (and the plain / linear VAE baselines): one curve per feature."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from scbasis.nn import ConstrainedDerivativeDecoder, UnconstrainedDecoder
from scbasis.nn._quadrature import DEFAULT_QUADRATURE_TOLERANCE

from ._base import PseudotimeModule

#: DeVAE's decoders: the constrained derivative decoder and the papers' plain and linear
#: VAE baselines.
DECODERS: tuple[str, ...] = ("derivative", "mlp", "linear")


def check_decoder(decoder: str) -> str:
    """Return ``decoder`` if it is one of :data:`DECODERS`, else raise a clear error."""
    if decoder not in DECODERS:
        raise ValueError(f"Unknown decoder {decoder!r}; choose one of {DECODERS}.")
    return decoder


class DeVAEModule(PseudotimeModule):
    """DeVAE: ``x(z) = x0 + sum_p int_0^{z_p} f^(p)`` with per-feature shape constraints.

    With ``decoder="mlp"`` or ``"linear"`` the same module is the papers' plain VAE resp.
    linear VAE baseline. There is no clustering: every feature has one curve.

    Parameters
    ----------
    n_input
        Number of features ``d``.
    constraints
        ``"increasing"``, ``"decreasing"`` or ``"free"`` per feature (``decoder="derivative"``).
    n_latent
        Latent dimension ``p``.
    n_batch
        Number of batches (per-batch, per-feature offsets on the link scale).
    decoder
        ``"derivative"`` (DeVAE), ``"mlp"`` (plain VAE) or ``"linear"`` (linear VAE).
    n_hidden
        Hidden width of the encoder, the decoder networks.
    n_layers_encoder
        Hidden layers of the encoder.
    n_layers_decoder
        Hidden layers of the derivative networks or of the plain VAE's decoder.
    activation
        Hidden activation of the decoder networks.
    likelihood
        ``"gaussian"``, ``"nb"``, ``"zinb"``, ``"poisson"`` or ``"bernoulli"``.
    quadrature, n_quadrature, quadrature_tolerance
        Quadrature rule of the derivative decoder, its number of nodes and its error tolerance.
    likelihood_path
        ``"fused"`` (default) or ``"reference"`` (see :class:`PseudotimeModule`).
    beta
        Weight of ``KL(q(z) || p(z))``.
    intercept_init
        Initial per-feature values at ``z = 0`` on the link scale ``(d,)``.
    """

    def __init__(
        self,
        n_input: int,
        *,
        constraints: Sequence[str] | None = None,
        n_latent: int = 1,
        n_batch: int = 1,
        decoder: str = "derivative",
        n_hidden: int = 64,
        n_layers_encoder: int = 1,
        n_layers_decoder: int = 1,
        activation: str = "tanh",
        likelihood: str = "gaussian",
        quadrature: str = "chebyshev",
        n_quadrature: int | None = None,
        quadrature_tolerance: float | None = DEFAULT_QUADRATURE_TOLERANCE,
        likelihood_path: str = "fused",
        beta: float = 1.0,
        intercept_init: np.ndarray | None = None,
    ):
        super().__init__(
            n_input,
            n_latent=n_latent,
            n_batch=n_batch,
            n_hidden=n_hidden,
            n_layers_encoder=n_layers_encoder,
            likelihood=likelihood,
            likelihood_path=likelihood_path,
            beta=beta,
        )
        if check_decoder(decoder) == "derivative":
            self.decoder = ConstrainedDerivativeDecoder(
                ["increasing"] * n_input if constraints is None else constraints,
                n_latent=n_latent,
                n_hidden=n_hidden,
                n_layers=n_layers_decoder,
                activation=activation,
                quadrature=quadrature,
                n_quadrature=n_quadrature,
                quadrature_tolerance=quadrature_tolerance,
                intercept_init=intercept_init,
            )
        else:
            self.decoder = UnconstrainedDecoder(
                n_input,
                n_latent=n_latent,
                n_hidden=n_hidden,
                n_layers=n_layers_decoder if decoder == "mlp" else 0,
                activation=activation,
                intercept_init=intercept_init,
            )

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Every feature's curve at ``z`` ``(N, p)`` on the link scale, ``(N, d, 1)``."""
        return self.decoder(z)
