"""A fixed basis of increasing functions of the latent time: sigmoids tiling an interval."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: Interval the basis tiles, in units of the cells' range (0 and 1 at its 1st and 99th
#: percentiles, :class:`~scbasis.nn.DataRange`): half a range beyond it on either side.
DEFAULT_BASIS_RANGE: tuple[float, float] = (-0.5, 1.5)
#: ``(spacing, steepness)`` of the default grids: sharp and smooth switches every 2.5 % of the
#: range, slow trends every 12.5 %.
DEFAULT_BASIS_GRIDS: tuple[tuple[float, float], ...] = ((0.05, 1.5), (0.05, 6.0), (0.25, 1.0))


class SigmoidBasis(nn.Module):
    """``S_b(z) = sigmoid(a_b (z - c_b))``, ``b = 1, ..., B``: increasing, bounded, smooth.

    A non-negative combination ``sum_b w_b S_b`` is increasing for any weights, and its
    derivative ``sum_b w_b S_b'`` is a non-negative combination of bumps: a derivative network
    with one fixed hidden layer whose integral is exact, so no quadrature is needed. Centres
    ``c_b`` lie on grids over ``range_``; each grid has its own steepness ``a_b``, given in units
    of the grid's spacing, so that narrow switches (steep sigmoids on a fine grid) and slow
    trends (shallow sigmoids on a coarse grid) are both a few weights away.

    Parameters
    ----------
    range_
        Interval ``(low, high)`` of the centres.
    grids
        ``(spacing, steepness)`` pairs: centres every ``spacing`` over ``range_``, with
        ``a = steepness / spacing`` (a sigmoid rises from 10 % to 90 % over
        ``4.4 / a = 4.4 spacing / steepness``).
    """

    def __init__(
        self,
        range_: tuple[float, float] = DEFAULT_BASIS_RANGE,
        grids: tuple[tuple[float, float], ...] = DEFAULT_BASIS_GRIDS,
    ):
        super().__init__()
        low, high = (float(v) for v in range_)
        if not low < high:
            raise ValueError(f"The basis range must satisfy low < high, got {range_}.")
        centres, steepness = [], []
        for spacing, slope in grids:
            if not (spacing > 0 and slope > 0):
                raise ValueError(f"Basis grids need positive spacing and steepness, got {grids}.")
            grid = np.linspace(low, high, round((high - low) / spacing) + 1)
            centres.append(grid)
            steepness.append(np.full(grid.size, slope / spacing))
        self.register_buffer("centres", torch.tensor(np.concatenate(centres), dtype=torch.float32))
        self.register_buffer(
            "steepness", torch.tensor(np.concatenate(steepness), dtype=torch.float32)
        )

    @property
    def n_functions(self) -> int:
        """Number ``B`` of basis functions."""
        return self.centres.numel()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Values ``S_b(z)`` at points ``z`` ``(...,)``: ``(..., B)``."""
        return torch.sigmoid(self.steepness * (z[..., None] - self.centres))
