"""BasisVAE's decoder: ``K`` basis functions shared by all features, scaled and shifted."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._derivative_network import make_activation

BASIS_NETWORKS: tuple[str, ...] = ("mlp", "linear")


class BasisDecoder(nn.Module):
    """Feature curves ``g_jk(z) = b_j + lambda_jk f^(k)(z + delta_jk)`` for every basis ``k``.

    ``f: R^p -> R^K`` holds the ``K`` basis functions (a one-hidden-layer network, as in the
    BasisVAE reference implementation, or a linear map for the papers' "Linear" baseline).
    The curves are on the likelihood's link scale (mean, log-rate or logit).

    Parameters
    ----------
    n_features
        Number of features ``d``.
    n_latent
        Latent dimension ``p``.
    n_basis
        Number of basis functions ``K``.
    n_hidden
        Hidden width of the basis network (``"mlp"``).
    activation
        Hidden activation of the basis network (``"mlp"``).
    basis_network
        ``"mlp"`` or ``"linear"`` (``f^(k)(z) = w_k . z + c_k``).
    scale_invariance
        Learn ``lambda_jk`` in ``[min_lambda, max_lambda]``; otherwise ``lambda = 1``.
    translation_invariance
        Learn ``delta_jk`` in ``[-max_delta, max_delta]^p``; otherwise ``delta = 0``.
    max_delta
        Bound on ``|delta_jk|`` (BasisVAE supplement, appendix D: shifts smaller than the range
        of ``z`` keep two separate behaviours from being joined into one basis function).
    min_lambda, max_lambda
        Bounds on ``lambda_jk``.
    intercept_init
        Initial per-feature intercepts ``b`` ``(d,)``; zeros if ``None``.
    """

    def __init__(
        self,
        n_features: int,
        n_latent: int = 1,
        n_basis: int = 3,
        n_hidden: int = 64,
        activation: str = "softplus",
        basis_network: str = "mlp",
        scale_invariance: bool = True,
        translation_invariance: bool = False,
        max_delta: float = 1.5,
        min_lambda: float = 0.25,
        max_lambda: float = 1.75,
        intercept_init: np.ndarray | None = None,
    ):
        super().__init__()
        if basis_network not in BASIS_NETWORKS:
            raise ValueError(
                f"Unknown basis_network {basis_network!r}; choose one of {BASIS_NETWORKS}."
            )
        if not 0 <= min_lambda < max_lambda:
            raise ValueError(
                f"Need 0 <= min_lambda < max_lambda, got min_lambda={min_lambda}, "
                f"max_lambda={max_lambda}."
            )
        if max_delta <= 0:
            raise ValueError(f"max_delta must be positive, got {max_delta}.")
        self.n_basis = n_basis
        self.max_delta, self.min_lambda, self.max_lambda = max_delta, min_lambda, max_lambda
        if basis_network == "mlp":
            self.hidden = nn.Sequential(
                nn.Linear(n_latent, n_hidden), make_activation(activation)()
            )
            self.output = nn.Linear(n_hidden, n_basis)
        else:
            self.hidden = nn.Identity()
            self.output = nn.Linear(n_latent, n_basis)
        self.scaling_raw = (
            nn.Parameter(torch.zeros(n_features, n_basis)) if scale_invariance else None
        )
        self.shift_raw = (
            nn.Parameter(torch.zeros(n_features, n_basis, n_latent))
            if translation_invariance
            else None
        )
        intercept = (
            torch.zeros(n_features) if intercept_init is None else torch.as_tensor(intercept_init)
        )
        self.intercept = nn.Parameter(intercept.float().clone())

    @property
    def delta(self) -> torch.Tensor | None:
        """Shifts ``delta = max_delta tanh(s)``, ``(d, K, p)``; ``None`` without translation."""
        return None if self.shift_raw is None else self.max_delta * torch.tanh(self.shift_raw)

    @property
    def scaling(self) -> torch.Tensor | None:
        """Scales ``lambda`` in ``[min_lambda, max_lambda]``, ``(d, K)``; ``None`` if fixed."""
        if self.scaling_raw is None:
            return None
        return self.min_lambda + (self.max_lambda - self.min_lambda) * torch.sigmoid(
            self.scaling_raw
        )

    def basis(self, z: torch.Tensor) -> torch.Tensor:
        """The basis functions ``f^(k)(z)`` at latent points ``(N, p)``, ``(N, K)``."""
        return self.output(self.hidden(z))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Curves of every feature under every basis function.

        Parameters
        ----------
        z
            Latent points, ``(N, p)``.

        Returns
        -------
        torch.Tensor
            ``g_jk(z_i)``, shape ``(N, d, K)``.
        """
        delta = self.delta
        if delta is None:
            curves = self.basis(z)[:, None, :]  # (N, 1, K)
        else:
            # f^(k) at z_i + delta_jk: only the k-th output of the network at the k-th shift
            shifted = self.hidden(z[:, None, None, :] + delta)  # (N, d, K, H)
            curves = torch.einsum("idkh,kh->idk", shifted, self.output.weight) + self.output.bias
        scaling = self.scaling
        if scaling is not None:
            curves = curves * scaling
        return self.intercept[:, None] + curves
