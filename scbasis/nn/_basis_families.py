"""Gene curves of the behaviour families from a fixed sigmoid basis (the default decoder).

The curves are functions of ``u``, the latent time in the frame of the cells' range (``u = 0``
and ``u = 1`` at its 1st and 99th percentiles, :class:`~scbasis.nn.DataRange`). Every family is
built from a non-negative combination ``F_k(u) = S(u) W_k`` of the increasing functions ``S_b``
of :class:`~scbasis.nn.SigmoidBasis` (``W = softplus(raw) >= 0``, ``S(u)`` a row of basis
values), so ``F_k`` is increasing for any weights:

* increasing: ``g_1(u) = m_1 + F_1(u) - F_1(1/2)``;
* decreasing: ``g_2(u) = m_2 - F_2(u) + F_2(1/2)``;
* transient, with its peak at ``u0``: ``g_3(u) = p - s |F_3(u) - F_3(u0)|``, with ``s = s_L``
  before the peak and ``s_R`` after it: increasing up to ``u0``, decreasing after, continuous,
  with its single maximum ``p`` at ``u0``. Any single-peaked curve is of this form (``F_3`` runs
  down the curve's left side and up the mirror image of its right one);
* flat (optional): ``g_4(u) = m_4``.

A transient is a gene that really rises and falls *within the cells' range*: its peak lies
inside it, and the scales ``s = sqrt(1 + (delta / r)^2)``, with ``r`` the unscaled rise (or fall)
between the range's end and the peak, make the rise and the fall there at least ``delta``. A gene
that only rises is therefore not a transient, so that comparing the families' fits says which
shape the data support.

Each family's curve is linear in its weights ``W``, so fitting it to a gene with a count
likelihood (concave in the log-mean) has no local optima in ``W`` but for the transient's peak.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.functional import softplus

from ._sigmoid_basis import SigmoidBasis

#: Families of the basis decoder, in the order of its curve columns (``"flat"`` optional).
BASIS_FAMILIES: tuple[str, ...] = ("increasing", "decreasing", "transient", "flat")
_WEIGHT_INIT = -5.0  # softplus(-5) = 0.0067 per function: curves start nearly flat
_ABS = False
_REFERENCE = 0.5  # where the monotone families' levels m_1, m_2 are read: mid-range
#: Points where the weights' sums are needed: the reference and the data range's ends.
_ANCHORS = (_REFERENCE, 0.0, 1.0)


class BasisFamilyDecoder(nn.Module):
    """Every gene under every behaviour family, from one fixed sigmoid basis.

    Parameters
    ----------
    n_genes
        Number of genes ``d``.
    level_init
        Initial level of every gene ``(d,)`` on the link scale (the log pooled rate for counts,
        the mean for Gaussian data): each family starts at it.
    flat_family
        Add a fourth, flat family ``g_4 = m_4`` for genes that do not change.
    min_transient_change
        ``delta``: the smallest rise to and fall from the peak of a transient within the data
        range, on the link scale (log units for counts); one value, or one per gene ``(d,)``.
    peak_margin
        Share of the data range at each end that holds no transient peak.
    basis
        The sigmoid basis (in data-range units); :class:`~scbasis.nn.SigmoidBasis` with its
        defaults if ``None``.
    """

    def __init__(
        self,
        n_genes: int,
        level_init: np.ndarray | None = None,
        flat_family: bool = False,
        min_transient_change: float | np.ndarray = 0.5,
        peak_margin: float = 0.02,
        basis: SigmoidBasis | None = None,
    ):
        super().__init__()
        if not 0 <= peak_margin < 0.5:
            raise ValueError(f"peak_margin must lie in [0, 0.5), got {peak_margin}.")
        self.peak_margin = float(peak_margin)
        delta = torch.as_tensor(min_transient_change, dtype=torch.float32).expand(n_genes)
        if not bool(torch.all(torch.isfinite(delta) & (delta >= 0))):
            raise ValueError("min_transient_change must be finite and >= 0.")
        self.n_genes = n_genes
        self.families = BASIS_FAMILIES if flat_family else BASIS_FAMILIES[:3]
        self.register_buffer("min_transient_change", delta.clone())
        self.basis = SigmoidBasis() if basis is None else basis
        level = torch.zeros(n_genes) if level_init is None else torch.as_tensor(level_init).float()
        self.level = nn.Parameter(level[:, None].repeat(1, len(self.families)).contiguous())
        # increasing, decreasing and transient: (B, 3, d)
        self.weights_raw = nn.Parameter(
            torch.full((self.basis.n_functions, 3, n_genes), _WEIGHT_INIT)
        )
        self.peak_raw = nn.Parameter(torch.zeros(n_genes))  # u0 = 1/2

    @property
    def weights(self) -> torch.Tensor:
        """Non-negative basis weights ``(B, 3, d)`` of the increasing, decreasing and transient
        families."""
        return self.weights_raw.abs() if _ABS else softplus(self.weights_raw)

    @property
    def peak(self) -> torch.Tensor:
        """Peak positions ``u0`` of the transients in ``(m, 1 - m)``, ``(d,)``."""
        margin = self.peak_margin
        return margin + (1 - 2 * margin) * torch.sigmoid(self.peak_raw)

    def transient_changes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Rise to and fall from the peak of every transient within the data range, ``(d,)``."""
        transient = self.weights[:, 2]
        at_ends = self.basis(self.peak.new_tensor([0.0, 1.0])) @ transient  # (2, d)
        at_peak = (self.basis(self.peak) * transient.T).sum(1)
        scale_rise, scale_fall = self._transient_scales(at_peak - at_ends[0], at_ends[1] - at_peak)
        return (at_peak - at_ends[0]) * scale_rise, (at_ends[1] - at_peak) * scale_fall

    def _transient_scales(
        self, rise: torch.Tensor, fall: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``s = sqrt(1 + (delta / r)^2)`` for the unscaled rise and fall ``r`` ``(d,)``; a
        transient without any rise is lifted by at most a million times ``delta``."""
        delta = self.min_transient_change.to(rise.dtype)
        floor = 1e-6 * delta + torch.finfo(rise.dtype).tiny
        return (
            torch.sqrt(1 + (delta / rise.clamp_min(floor)).square()),
            torch.sqrt(1 + (delta / fall.clamp_min(floor)).square()),
        )

    @torch.no_grad()
    def set_peak(self, peak: torch.Tensor) -> None:
        """Move the transients' peaks to ``peak`` ``(d,)`` (data-range units, clipped inside)."""
        share = (peak.to(self.peak_raw) - self.peak_margin) / (1 - 2 * self.peak_margin)
        self.peak_raw.copy_(torch.logit(share.clamp(0.01, 0.99)))

    @torch.no_grad()
    def share_fits(self, family: torch.Tensor) -> None:
        """Start every family where a gene's family ``family`` ``(d,)`` (indices into
        :attr:`families`) already fits it: a monotone fit becomes the transient's side before
        (increasing) or after (decreasing) its peak, with the peak level set to the fit's value
        there; a transient's function ``F_3`` becomes both monotone families', with the levels
        that make them agree with it on their side of the peak. Flat genes are left as they
        are."""
        raw, level = self.weights_raw, self.level
        reference = self.basis(torch.tensor(_REFERENCE, device=raw.device))  # (B,)
        # F_k(u0) - F_k(1/2) for every family, (3, d)
        shift = ((self.basis(self.peak) - reference).T.unsqueeze(1) * self.weights).sum(0)
        rising, falling, transient = (family == k for k in range(3))
        raw[:, 2, rising] = raw[:, 0, rising]
        level[rising, 2] = level[rising, 0] + shift[0, rising]
        raw[:, 2, falling] = raw[:, 1, falling]
        level[falling, 2] = level[falling, 1] - shift[1, falling]
        raw[:, :2, transient] = raw[:, 2:, transient]
        level[transient, 0] = level[transient, 2] - shift[2, transient]
        level[transient, 1] = level[transient, 2] + shift[2, transient]

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Every gene under every family at latent times ``u`` ``(N,)`` (data-range units).

        Returns
        -------
        Curves on the link scale, ``(N, d, K)`` in the order of :attr:`families`, stored
        family-major (a transposed view of ``(N, K, d)``).
        """
        weights = self.weights
        flat = weights.flatten(1)  # (B, 3 d)
        values = (self.basis(u) @ flat).view(u.shape[0], 3, -1)  # F_k(u)
        anchors = (self.basis(u.new_tensor(_ANCHORS)) @ flat).view(3, 3, -1)  # F_k(a)
        peak = self.peak
        at_peak = (self.basis(peak) * weights[:, 2].T).sum(1)  # F_3(u0)
        scale_rise, scale_fall = self._transient_scales(
            at_peak - anchors[1, 2], anchors[2, 2] - at_peak
        )
        distance = values[:, 2] - at_peak  # F_3(u) - F_3(u0): < 0 before the peak, > 0 after
        transient = self.level[:, 2] - torch.where(
            u[:, None] < peak, -distance * scale_rise, distance * scale_fall
        )
        sign = values.new_tensor([1.0, -1.0])[:, None]
        monotone = self.level[:, :2].T + sign * (values[:, :2] - anchors[0, :2])
        curves = [monotone, transient[:, None]]
        if len(self.families) == 4:
            curves.append(self.level[:, 3].expand(u.shape[0], 1, -1))
        return torch.cat(curves, dim=1).transpose(1, 2)
