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

from ._native_kernel import native_families, native_families_backward, native_kernel_runs_on

#: The papers' families, in the order of the derivative decoder's curves.
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
    torch.Tensor
        ``h``, shape ``(N, d)``.
    """
    return (z[:, None] - centre) * (min_slope + softplus(offset + moment - centre * integral))


def log_transient(log_amplitude: torch.Tensor, warp: torch.Tensor) -> torch.Tensor:
    """``log g_3 = log A - h^2``; ``log_amplitude`` ``(d,)``, ``warp`` ``(N, d)``."""
    return log_amplitude - warp.square()


def families(
    z: torch.Tensor,
    integrals: torch.Tensor,
    moment: torch.Tensor,
    x0: torch.Tensor,
    centre: torch.Tensor,
    offset: torch.Tensor,
    log_amplitude: torch.Tensor,
    log_baseline: torch.Tensor | None = None,
    min_slope: float = 0.0,
    log_scale: bool = False,
) -> torch.Tensor:
    """Every gene under the three families, from the integrals of the derivative network.

    Computed by the compiled kernel (:func:`~scbasis.nn.native_kernel_available`) for float32
    tensors on the CPU, else with torch operations; both give the same values and gradients.

    Parameters
    ----------
    z
        Latent times, ``(N,)``.
    integrals
        ``int_0^z f_k`` of the three families side by side, ``(N, 3 d)``.
    moment
        ``int_0^z t f_3(t) dt``, ``(N, d)``.
    x0, centre, offset, log_amplitude
        Per gene ``x0``, ``z0``, ``c`` and ``log A``, ``(d,)``.
    log_baseline
        Per gene ``log b`` of a transient with a basal level, ``log g_3 = log(b + A exp(-h^2))``;
        ``None`` for the paper's transient.
    min_slope
        ``kappa`` of ``transient_warp``.
    log_scale
        Return ``log g_3`` instead of ``g_3`` for the transient family.

    Returns
    -------
    torch.Tensor
        Curves ``(N, d, 3)`` in the order of :data:`FAMILIES`, stored family-major (a
        transposed view of ``(N, 3, d)``, which the compiled likelihood kernel reads in place).
    """
    if native_kernel_runs_on(integrals):
        genes = (x0, centre, offset, log_amplitude, log_baseline)
        curves = _NativeFamilies.apply(z, integrals, moment, *genes, min_slope, log_scale)
        return curves.transpose(1, 2)
    up, down, transient = integrals.split(moment.shape[1], dim=1)
    log_g3 = log_transient(
        log_amplitude, transient_warp(z, centre, offset, transient, moment, min_slope)
    )
    if log_baseline is not None:
        log_g3 = log_baseline + softplus(log_g3 - log_baseline)  # log(b + A exp(-h^2))
    g3 = log_g3 if log_scale else torch.exp(log_g3)
    curves = torch.stack([increasing(x0, up), decreasing(x0, down), g3], dim=1)
    return curves.transpose(1, 2)


class _NativeFamilies(torch.autograd.Function):
    """:func:`families` by the compiled kernel, ``(N, 3, d)``, with its hand-written backward."""

    @staticmethod
    def forward(
        ctx, z, integrals, moment, x0, centre, offset, log_amplitude, log_baseline, *options
    ):
        ctx.options = options
        ctx.save_for_backward(
            z, integrals, moment, x0, centre, offset, log_amplitude, log_baseline
        )
        genes = (x0, centre, offset, log_amplitude)
        return native_families(z, integrals, moment, genes, log_baseline, *options)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        z, integrals, moment, *genes, log_baseline = ctx.saved_tensors
        gradients = native_families_backward(
            grad, z, integrals, moment, tuple(genes), log_baseline, *ctx.options
        )
        return *gradients, None, None  # no gradients for min_slope and log_scale
