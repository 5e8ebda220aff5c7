"""The three behaviour families of BasisDeVAE, from the integrals of the derivative network.

With ``F_k(z) = int_0^z f_k`` and ``T(z) = int_0^z t f_3(t) dt`` for non-negative ``f``:

* increasing: ``g_1(z) = x0 + F_1(z)``
* decreasing: ``g_2(z) = x0 - F_2(z)``
* transient: ``h(z) = (z - z0) softplus(c + T(z) - z0 F_3(z))`` and ``g_3 = A exp(-h^2)``.

``T - z0 F_3 = int_0^z (t - z0) f_3(t) dt``, so one set of integrand evaluations serves every
gene's centre ``z0``. ``h`` is strictly increasing with ``h(z0) = 0``, hence ``g_3`` has its
single maximum ``A`` at ``z0`` and decays on both sides (BasisDeVAE paper, section 4).
"""

from __future__ import annotations

import torch
from torch.nn.functional import softplus

FAMILIES: tuple[str, ...] = ("increasing", "decreasing", "transient")


def increasing(x0: torch.Tensor, integral: torch.Tensor) -> torch.Tensor:
    """``x0 + int_0^z f``; ``x0`` ``(d,)``, ``integral`` ``(N, d)`` -> ``(N, d)``."""
    return x0 + integral


def decreasing(x0: torch.Tensor, integral: torch.Tensor) -> torch.Tensor:
    """``x0 - int_0^z f``; ``x0`` ``(d,)``, ``integral`` ``(N, d)`` -> ``(N, d)``."""
    return x0 - integral


def transient_warp(
    z: torch.Tensor,
    centre: torch.Tensor,
    offset: torch.Tensor,
    integral: torch.Tensor,
    moment: torch.Tensor,
    min_slope: float = 0.0,
) -> torch.Tensor:
    """The monotone warp ``h(z) = (z - z0) (kappa + softplus(c + int_0^z (t - z0) f(t) dt))``.

    With ``kappa = 0`` this is the paper's warp; the paper's proof holds for any smooth,
    increasing, positive function in place of softplus, so ``kappa + softplus`` keeps the
    single maximum while bounding how slowly the transient may decay (``|h| >= kappa |z - z0|``).

    Parameters
    ----------
    z
        Latent times, ``(N,)``.
    centre
        Peak positions ``z0``, ``(d,)``.
    offset
        Offsets ``c``, ``(d,)``.
    integral
        ``int_0^z f``, ``(N, d)``.
    moment
        ``int_0^z t f(t) dt``, ``(N, d)``.
    min_slope
        ``kappa >= 0``.

    Returns
    -------
    ``h``, shape ``(N, d)``.
    """
    slope = softplus(offset + moment - centre * integral)
    return (z[:, None] - centre) * (slope + min_slope if min_slope else slope)


def log_transient(log_amplitude: torch.Tensor, warp: torch.Tensor) -> torch.Tensor:
    """``log g_3 = log A - h^2``; ``log_amplitude`` ``(d,)``, ``warp`` ``(N, d)``."""
    return log_amplitude - warp.square()
