"""The trend of cells' total counts along the pseudotime, to tell capture from composition.

A cell's total count ``T_i`` is its capture size factor ``s_i`` times the sum of its genes'
rates, ``T_i = s_i sum_j rho_j(z_i)``. When genes that carry many counts rise or fall along the
trajectory, ``T_i`` follows them, and dividing by ``T_i`` bends every other gene's curve: a
constant gene looks decreasing where the total grows. If capture does not depend on the cell's
state (``log s`` independent of ``z``), then ``E[log T | z] = E[log s] + log sum_j rho_j(z)``, and

``log s_i = log T_i - (E[log T | z_i] - E[log T])``

recovers the size factors (up to a constant), so that the curves are the genes' own rates.
:class:`LibraryTrend` estimates ``E[log T | z]`` by least squares on a coarse sigmoid basis.
"""

from __future__ import annotations

import torch
from torch import nn

from ._sigmoid_basis import SigmoidBasis

#: The trend's basis, in data-range units: sigmoids every 10 % of the range, each rising over
#: about 30 % of it.
_TREND_GRIDS = ((0.1, 1.5),)


class LibraryTrend(nn.Module):
    """``E[log T | u]``: a smooth function of the latent time, fitted by least squares.

    Written in the data range's coordinate ``u`` (:class:`~scbasis.nn.DataRange`).

    Parameters
    ----------
    mean_log_total
        ``E[log T]`` over the training cells: the trend's starting value, and the constant
        that keeps the corrected library sizes on the scale of the observed ones.
    """

    def __init__(self, mean_log_total: float):
        super().__init__()
        self.basis = SigmoidBasis(grids=_TREND_GRIDS)
        self.weights = nn.Parameter(torch.zeros(self.basis.n_functions))
        self.intercept = nn.Parameter(torch.tensor(float(mean_log_total)))
        self.register_buffer("mean_log_total", torch.tensor(float(mean_log_total)))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``E[log T | u]`` at latent times ``u`` ``(N,)``: ``(N,)``."""
        return self.intercept + self.basis(u) @ self.weights

    def loss(self, log_total: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Half the mean squared error of the trend, ``(log T - E[log T | u])^2 / 2``, over a
        minibatch; its gradient reaches the trend's parameters only."""
        return 0.5 * (log_total[:, 0] - self(u.detach())).square().mean()
