"""The trend of cells' total counts along the pseudotime, to tell capture from composition.

A cell's total count ``T_i`` is its capture size factor ``s_i`` times the sum of its genes'
rates, ``T_i = s_i sum_j rho_j(z_i)``. When genes that carry many counts rise or fall along the
trajectory, ``T_i`` follows them, and dividing by ``T_i`` bends every other gene's curve: a
constant gene looks decreasing where the total grows, and a gene that switches where the
total drops sharply overshoots before its switch, so that a transient fits it better than a
monotone curve. If capture does not depend on the cell's state (``log s`` independent of
``z``), then ``E[log T | z] = E[log s] + log sum_j rho_j(z)``, and

``log s_i = log T_i - (E[log T | z_i] - E[log T])``

recovers the size factors (up to a constant), so that the curves are the genes' own rates.
:class:`LibraryTrend` estimates ``E[log T | z]`` by least squares in two stages: while the
pseudotime is learnt, on a coarse sigmoid basis, trained with the model (a smooth trend that
moves with the cells); once the pseudotime is fixed, on a fine basis that follows sharp changes
of composition (:meth:`LibraryTrend.fit`).
"""

from __future__ import annotations

import torch
from torch import nn

from ._sigmoid_basis import DEFAULT_BASIS_GRIDS, SigmoidBasis

#: The basis trained with the model, in data-range units: sigmoids every 10 % of the range,
#: each rising over about 30 % of it.
TRAINING_TREND_GRIDS: tuple[tuple[float, float], ...] = ((0.1, 1.5),)
#: The basis of the least-squares fit at a fixed pseudotime: that of the genes' curves.
FITTED_TREND_GRIDS: tuple[tuple[float, float], ...] = DEFAULT_BASIS_GRIDS
_RIDGE = 1e-3  # per cell, on the fitted weights: the fine basis functions overlap


class LibraryTrend(nn.Module):
    """``E[log T | u]``: a smooth function of the latent time.

    Written in the data range's coordinate ``u`` (:class:`~scbasis.nn.DataRange`). Until
    :meth:`fit` it is ``intercept + S_coarse(u) w`` with ``w`` trained through :meth:`loss`;
    after it, ``intercept + S_fine(u) v`` with ``v`` the least-squares weights, until
    :meth:`clear_fit`.

    Parameters
    ----------
    mean_log_total
        ``E[log T]`` over the training cells: the trend's starting value, and the constant
        that keeps the corrected library sizes on the scale of the observed ones.
    """

    def __init__(self, mean_log_total: float):
        super().__init__()
        self.basis = SigmoidBasis(grids=TRAINING_TREND_GRIDS)
        self.fitted_basis = SigmoidBasis(grids=FITTED_TREND_GRIDS)
        self.weights = nn.Parameter(torch.zeros(self.basis.n_functions))
        self.intercept = nn.Parameter(torch.tensor(float(mean_log_total)))
        self.register_buffer("mean_log_total", torch.tensor(float(mean_log_total)))
        self.register_buffer("fitted_weights", torch.zeros(self.fitted_basis.n_functions))
        self.register_buffer("fitted_intercept", torch.tensor(float(mean_log_total)))
        self.register_buffer("is_fitted", torch.tensor(False))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``E[log T | u]`` at latent times ``u`` ``(N,)``: ``(N,)``."""
        trained = self.intercept + self.basis(u) @ self.weights
        fitted = self.fitted_intercept + self.fitted_basis(u) @ self.fitted_weights
        return torch.where(self.is_fitted, fitted, trained)

    def loss(self, log_total: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Half the mean squared error of the trained trend, ``(log T - E[log T | u])^2 / 2``,
        over a minibatch; its gradient reaches the trend's parameters only."""
        trained = self.intercept + self.basis(u.detach()) @ self.weights
        return 0.5 * (log_total[:, 0] - trained).square().mean()

    @torch.no_grad()
    def fit(self, log_total: torch.Tensor, u: torch.Tensor) -> None:
        """Fit the trend on the fine basis to ``log_total`` ``(N,)`` at latent times ``u``
        ``(N,)`` by least squares (with a small ridge), and use it from now on."""
        design = self.fitted_basis(u.double())
        mean = design.mean(0)
        centred = design - mean
        target = log_total.double() - log_total.double().mean()
        gram = centred.T @ centred + _RIDGE * len(u) * torch.eye(len(mean)).to(design)
        weights = torch.linalg.solve(gram, centred.T @ target)
        self.fitted_weights.copy_(weights)
        self.fitted_intercept.copy_(log_total.double().mean() - mean @ weights)
        self.is_fitted.fill_(True)

    @torch.no_grad()
    def clear_fit(self) -> None:
        """Go back to the trained trend (to train the model again)."""
        self.is_fitted.fill_(False)
