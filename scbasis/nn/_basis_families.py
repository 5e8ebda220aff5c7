"""Gene curves of the behaviour families from a fixed sigmoid basis (the default decoder).

The curves are functions of ``u``, the latent time in the frame of the cells' range (``u = 0``
and ``u = 1`` at its 1st and 99th percentiles, :class:`~scbasis.nn.DataRange`). Every family is
built from a non-negative combination ``F_k(u) = S(u) W_k`` of the increasing functions ``S_b``
of :class:`~scbasis.nn.SigmoidBasis` (``W = softplus(raw) >= 0``, ``S(u)`` a row of basis
values), so ``F_k`` is increasing for any weights. With ``r_k = F_k(1) - F_k(0)`` its change
over the cells' range:

* increasing: ``g_1(u) = m_1 + s_1 (F_1(u) - F_1(1/2))``;
* decreasing: ``g_2(u) = m_2 - s_2 (F_2(u) - F_2(1/2))``;
* transient, with its peak at ``u0``: ``g_3(u) = p - s |F_3(u) - F_3(u0)|``, with ``s = s_L``
  before the peak and ``s_R`` after it: increasing up to ``u0``, decreasing after, continuous,
  with its single maximum ``p`` at ``u0``. Any single-peaked curve is of this form (``F_3`` runs
  down the curve's left side and up the mirror image of its right one);
* flat (optional): ``g_4(u) = m_4 + t (F_4(u) - F_4(1/2))`` with ``t = tanh(a) min(1, delta /
  r_4)``: a curve that moves by less than ``delta`` over the cells' range, up or down.

The families split the shapes a gene can take over the cells' range by one rule, the rule by
which :func:`scbasis.metrics.curve_shapes` reads a true curve's shape: a transient rises to its
peak, inside the range, by at least ``delta`` and falls by at least ``delta`` after it; with the
flat family, an increasing (decreasing) gene rises (falls) by at least ``delta`` and a flat gene
by less. The scales ``s = sqrt(1 + (delta / r)^2)``, with ``r`` the unscaled change (for the
transient, its rise or fall between the range's end and the peak), give these least changes:
``s r >= delta`` for any weights. A gene that only rises is then not a transient and a gene that
barely moves is not monotone, so that comparing the families' fits says which shape the data
support. Without the flat family the monotone families have no least change (``s = 1``).

Each family's curve is linear in its weights ``W``, so fitting it to a gene with a count
likelihood (concave in the log-mean) has no local optima in ``W`` but for the transient's peak.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.functional import softplus

from ._bfloat16_product import affine
from ._sigmoid_basis import SigmoidBasis

#: Families of the basis decoder, in the order of its curve columns (``"flat"`` optional).
BASIS_FAMILIES: tuple[str, ...] = ("increasing", "decreasing", "transient", "flat")
_WEIGHT_INIT = -5.0  # softplus(-5) = 0.0067 per function: curves start nearly flat
_REFERENCE = 0.5  # where the monotone and flat families' levels are read: mid-range
#: Points where the weights' sums are needed: the reference and the data range's ends.
_ANCHORS = (_REFERENCE, 0.0, 1.0)


class BasisFamilyDecoder(nn.Module):
    """Every gene under every behaviour family, from one fixed sigmoid basis.

    Parameters
    ----------
    n_features
        Number of genes ``d``.
    intercept_init
        Initial level of every gene ``(d,)`` on the link scale (the log pooled rate for counts,
        the mean for Gaussian data): each family starts at it.
    flat_family
        Add a fourth family, ``"flat"``, for genes that change by less than ``min_change`` over
        the cells' range; the monotone families then change by at least ``min_change``.
    min_change
        ``delta``: the least rise to and fall from its peak of a transient within the data range
        and, with the flat family, the least change of a monotone gene and the most of a flat
        one, on the link scale (log units for counts); one value, or one per gene ``(d,)``.
    peak_margin
        Share of the data range at each end that holds no transient peak.
    basis
        The sigmoid basis (in data-range units); :class:`~scbasis.nn.SigmoidBasis` with its
        defaults if ``None``.
    """

    def __init__(
        self,
        n_features: int,
        intercept_init: np.ndarray | None = None,
        flat_family: bool = False,
        min_change: float | np.ndarray = 0.5,
        peak_margin: float = 0.02,
        basis: SigmoidBasis | None = None,
    ):
        super().__init__()
        if not 0 <= peak_margin < 0.5:
            raise ValueError(f"peak_margin must lie in [0, 0.5), got {peak_margin}.")
        self.peak_margin = float(peak_margin)
        delta = torch.as_tensor(min_change, dtype=torch.float32).expand(n_features)
        if not bool(torch.all(torch.isfinite(delta) & (delta >= 0))):
            raise ValueError("min_change must be finite and >= 0.")
        self.n_features = n_features
        self.families = BASIS_FAMILIES if flat_family else BASIS_FAMILIES[:3]
        n_families = len(self.families)
        self.register_buffer("min_change", delta.clone())
        self.basis = SigmoidBasis() if basis is None else basis
        level = (
            torch.zeros(n_features)
            if intercept_init is None
            else torch.as_tensor(intercept_init).float()
        )
        self.level = nn.Parameter(level[:, None].repeat(1, n_families).contiguous())
        # one increasing function F_k per family: (B, K, d)
        self.weights_raw = nn.Parameter(
            torch.full((self.basis.n_functions, n_families, n_features), _WEIGHT_INIT)
        )
        self.peak_raw = nn.Parameter(torch.zeros(n_features))  # u0 = 1/2
        # tanh(a) of the flat family: the direction and share of its change, starting at 0
        self.flat_slope_raw = nn.Parameter(torch.zeros(n_features)) if flat_family else None
        # constants of forward, on the module's device
        self.register_buffer("anchors", torch.tensor(_ANCHORS), persistent=False)
        self.register_buffer("monotone_sign", torch.tensor([[1.0], [-1.0]]), persistent=False)

    @property
    def weights(self) -> torch.Tensor:
        """Non-negative basis weights ``(B, K, d)``, one increasing function per family."""
        return softplus(self.weights_raw)

    @property
    def peak(self) -> torch.Tensor:
        """Peak positions ``u0`` of the transients in ``(m, 1 - m)``, ``(d,)``."""
        margin = self.peak_margin
        return margin + (1 - 2 * margin) * torch.sigmoid(self.peak_raw)

    def _least_change_scale(self, change: torch.Tensor) -> torch.Tensor:
        """``s = sqrt(1 + (delta / r)^2)`` for unscaled changes ``r`` ``(..., d)``, so that
        ``s r >= delta``; a change of zero is lifted by at most a million times ``delta``."""
        delta = self.min_change.to(change.dtype)
        floor = 1e-6 * delta + torch.finfo(change.dtype).tiny
        return torch.sqrt(1 + (delta / change.clamp_min(floor)).square())

    @torch.no_grad()
    def set_peak(self, peak: torch.Tensor) -> None:
        """Move the transients' peaks to ``peak`` ``(d,)`` (data-range units, clipped inside)."""
        share = (peak.to(self.peak_raw) - self.peak_margin) / (1 - 2 * self.peak_margin)
        self.peak_raw.copy_(torch.logit(share.clamp(0.01, 0.99)))

    @torch.no_grad()
    def share_fits(self, family: torch.Tensor) -> None:
        """Start the increasing, decreasing and transient families where a gene's family
        ``family`` ``(d,)`` (indices into :attr:`families`) already fits it: a monotone fit's
        function becomes the transient's side before (increasing) or after (decreasing) its peak,
        with the peak level set to the fit's value there; a transient's function ``F_3`` becomes
        both monotone families', with the levels that make them meet it at its peak. Genes of
        the flat family and the flat family itself are left as they are."""
        raw, level = self.weights_raw, self.level
        reference = self.basis(torch.tensor(_REFERENCE, device=raw.device))  # (B,)
        # F_k(u0) - F_k(1/2) for the first three families, (3, d)
        shift = ((self.basis(self.peak) - reference).T.unsqueeze(1) * self.weights[:, :3]).sum(0)
        rising, falling, transient = (family == k for k in range(3))
        raw[:, 2, rising] = raw[:, 0, rising]
        level[rising, 2] = level[rising, 0] + shift[0, rising]
        raw[:, 2, falling] = raw[:, 1, falling]
        level[falling, 2] = level[falling, 1] - shift[1, falling]
        raw[:, :2, transient] = raw[:, 2:3, transient]
        level[transient, 0] = level[transient, 2] - shift[2, transient]
        level[transient, 1] = level[transient, 2] + shift[2, transient]

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Every gene under every family at latent times ``u`` ``(N,)`` (data-range units).

        Returns
        -------
        torch.Tensor
            Curves on the link scale, ``(N, d, K)`` in the order of :attr:`families`, stored
            family-major (a transposed view of ``(N, K, d)``).
        """
        weights = self.weights
        n_families = weights.shape[1]
        peak = self.peak
        # F_k at the anchors (3, K, d) and the transient's F_3 at its peak (d,)
        anchors, at_peak = _FamilySums.apply(
            weights, self.basis(self.anchors.to(u.dtype)), self.basis(peak)
        )
        reference, start, end = anchors.unbind(0)  # F_k(1/2), F_k(0), F_k(1): (K, d) each
        level = self.level.T  # (K, d)
        # the monotone and flat curves are affine in their F_k(u) = S(u) W_k, g = offset +
        # slope F_k(u), so that they come out of one product S(u) (W slope) + offset without
        # (N, K, d) intermediates; the transient's F_3 comes out unscaled (slope 1, offset 0)
        scale = 1.0
        if self.flat_slope_raw is not None:
            scale = self._least_change_scale(end[:2] - start[:2])  # (2, d)
        monotone = (self.monotone_sign.to(u.dtype) * scale).expand_as(reference[:2])  # (2, d)
        slopes = [monotone, torch.ones_like(reference[2:3])]
        offsets = [level[:2] - monotone * reference[:2], torch.zeros_like(reference[2:3])]
        if self.flat_slope_raw is not None:
            change = end[3] - start[3]
            delta = self.min_change.to(change.dtype)
            share = torch.minimum(torch.ones_like(change), delta / change.clamp_min(1e-12))
            flat_slope = torch.tanh(self.flat_slope_raw) * share
            slopes.append(flat_slope[None])
            offsets.append((level[3] - flat_slope * reference[3])[None])
        scaled = (weights * torch.cat(slopes)).flatten(1)  # (B, K d)
        # (N, K d); its backward products in bfloat16 where the CPU multiplies bfloat16
        lines = affine(torch.cat(offsets).flatten(), self.basis(u), scaled)
        # transient: level - s |F_3(u) - F_3(u0)|, s = s_L before the peak and s_R after it
        rise = self._least_change_scale(at_peak - start[2])
        fall = self._least_change_scale(end[2] - at_peak)
        before_peak = u[:, None] < peak  # (N, d)
        curves = _FoldedTransient.apply(lines, before_peak, at_peak, rise, fall, level[2])
        return curves.view(u.shape[0], n_families, -1).transpose(1, 2)


class _FamilySums(torch.autograd.Function):
    """The families' functions ``F_k`` at the anchors and the transient's ``F_3`` at its peak.

    Inputs: the weights ``W`` ``(B, K, d)``, the basis at the anchors ``(A, B)`` and at each
    gene's peak ``(d, B)``. Outputs: ``F_k(anchor_a) = sum_b S_b(anchor_a) W_bkj``
    ``(A, K, d)`` and ``F_3(u0_j) = sum_b S_b(u0_j) W_b3j`` ``(d,)``. One autograd node, so that
    the weights' gradient is one dense product with the transient's part added in place
    (autograd would write a zero-filled ``(B, K, d)`` gradient for the transient's slice and add
    it to the anchors').
    """

    @staticmethod
    def forward(ctx, weights, anchor_values, peak_values):
        transient = weights[:, 2]  # (B, d)
        ctx.save_for_backward(weights, anchor_values, peak_values)
        anchors = (anchor_values @ weights.flatten(1)).view(-1, *weights.shape[1:])
        return anchors, (transient * peak_values.T).sum(0)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_anchors, grad_at_peak):
        weights, anchor_values, peak_values = ctx.saved_tensors
        flat_grad = grad_anchors.flatten(1)  # (A, K d)
        grad_weights = (anchor_values.T @ flat_grad).view(weights.shape)
        grad_weights[:, 2].addcmul_(peak_values.T, grad_at_peak)
        grad_anchor_values = grad_peak_values = None
        if ctx.needs_input_grad[1]:
            grad_anchor_values = flat_grad @ weights.flatten(1).T
        if ctx.needs_input_grad[2]:
            grad_peak_values = grad_at_peak[:, None] * weights[:, 2].T
        return grad_weights, grad_anchor_values, grad_peak_values


class _FoldedTransient(torch.autograd.Function):
    """The transient family of the basis decoder's curves, folded at its peak in place.

    Inputs: the curves ``(N, K d)``, family-major, whose transient block (family index 2) holds
    the unscaled ``F_3(u)``; whether each cell lies before each gene's peak ``(N, d)``;
    ``F_3(u0)``, the scales ``s_L``, ``s_R`` and the peak level ``p`` ``(d,)``. The transient
    block is overwritten with ``p - s |F_3(u) - F_3(u0)|`` (``s = s_L`` before the peak, ``s_R``
    after it) and the curves are returned: the other families are not copied, as
    ``torch.cat`` would.
    """

    @staticmethod
    def forward(ctx, curves, before_peak, at_peak, rise, fall, level):
        block = curves.view(curves.shape[0], -1, at_peak.shape[0])[:, 2]  # (N, d)
        distance = block - at_peak  # F_3(u) - F_3(u0): < 0 before the peak, > 0 after
        slope = torch.where(before_peak, -rise, fall)  # minus the derivative in distance
        torch.addcmul(level, distance, slope, value=-1, out=block)
        ctx.mark_dirty(curves)
        ctx.save_for_backward(before_peak, distance, slope)
        return curves

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        before_peak, distance, slope = ctx.saved_tensors
        grad_curves = grad.clone(memory_format=torch.contiguous_format)
        grad_block = grad_curves.view(grad.shape[0], -1, distance.shape[1])[:, 2]
        along = grad_block * distance
        before = torch.where(before_peak, along, 0).sum(0)
        grad_level = grad_block.sum(0)
        grad_block.mul_(slope)
        grad_at_peak = grad_block.sum(0)
        grad_block.neg_()
        # d/d s_L = distance before the peak, d/d s_R = -distance after it
        return grad_curves, None, grad_at_peak, before, before - along.sum(0), grad_level
