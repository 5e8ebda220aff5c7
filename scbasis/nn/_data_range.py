"""The stretch of the latent axis the cells occupy: the frame of the curves that follow it."""

from __future__ import annotations

import math

import torch
from torch import nn

#: Quantiles of the cells' latent means that delimit the data range.
DATA_RANGE_QUANTILES: tuple[float, float] = (0.01, 0.99)
_MOMENTUM = 0.02  # least weight of a training minibatch in the running estimate
#: Narrowest frame of :meth:`DataRange.normalise`, in units of the prior's standard deviation.
MIN_WIDTH = 1.0


class DataRange(nn.Module):
    """Running 1st and 99th percentiles ``[lo, hi]`` of the cells' latent means.

    The pseudotime's scale is not fixed by the model (the encoder may spread the cells over
    one or seven units of the latent axis), so curves that must resolve the same biology at any
    scale are written in the data range's coordinate ``u = (z - c) / w + 1/2``, with ``c`` the
    range's centre and ``w = max(hi - lo, 1)`` its width: never narrower than one unit of the
    prior, so that a decoder in this frame does not let the cells' spread shrink to nothing
    (with a frame of any width, the prior's pull on the cells would meet no resistance).
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("bounds", torch.tensor([-1.5, 1.5]))
        self._n_updates = 0  # since construction or loading

    @torch.no_grad()
    def update(self, z: torch.Tensor) -> None:
        """Move the bounds towards the quantiles of a minibatch's latent means ``(N,)``: the
        mean of the minibatches' quantiles so far, then an exponential moving average."""
        weight = max(_MOMENTUM, 1.0 / (self._n_updates + 1))
        self.bounds.lerp_(self._quantiles(z), weight)
        self._n_updates += 1

    @torch.no_grad()
    def set(self, z: torch.Tensor) -> None:
        """Set the bounds to the quantiles of the latent means of all cells ``(N,)``."""
        self.bounds.copy_(self._quantiles(z))

    def _quantiles(self, z: torch.Tensor) -> torch.Tensor:
        """:data:`DATA_RANGE_QUANTILES` of ``z`` ``(N,)``, interpolated linearly as
        :func:`torch.quantile` does, from positions known on the host (no synchronisation)."""
        ordered = torch.sort(z.detach().float()).values
        bounds = []
        for level in DATA_RANGE_QUANTILES:
            position = level * (len(ordered) - 1)
            below = math.floor(position)
            above = min(below + 1, len(ordered) - 1)
            bounds.append(torch.lerp(ordered[below], ordered[above], position - below))
        return torch.stack(bounds).to(self.bounds)

    def normalise(self, z: torch.Tensor) -> torch.Tensor:
        """``u = (z - c) / w + 1/2``: 0 and 1 at the data range's ends (wider than a unit)."""
        low, high = self.bounds.to(z.dtype)
        return (z - (low + high) / 2) / (high - low).clamp_min(MIN_WIDTH) + 0.5

    def latent(self, u: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`normalise`."""
        low, high = self.bounds.to(u.dtype)
        return (u - 0.5) * (high - low).clamp_min(MIN_WIDTH) + (low + high) / 2
