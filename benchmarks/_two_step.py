"""The second step of the usual two-step route: smooth each gene along a pseudotime, then call it.

Users who do not fit gene behaviour jointly with the pseudotime take a pseudotime from a tool
(:mod:`peer_pseudotime`), smooth every gene's expression along it with a GAM or smoothing spline
(as Palantir's and tradeSeq's gene trends do) and read the behaviour off the smooth curve. Here:

1. cells are ordered by pseudotime and split into equal-count bins;
2. per bin and gene, the pooled library-normalised rate
   ``log((sum of counts + eps) / sum of library sizes)`` (natural log);
3. per gene, a cubic smoothing spline over the bins' mean pseudotimes, weighted by the bins'
   library sizes, with its smoothing parameter chosen by generalised cross-validation (GCV), as
   ``scipy.interpolate.make_smoothing_spline`` does by default; computed for all genes at once
   (:func:`_smoothing_splines`), since scipy searches the GCV minimum one gene at a time in
   Python;
4. each spline on a grid over the 1st to 99th percentile of the pseudotime, and the calls of
   :func:`scbasis.metrics.curve_shapes` on these curves.

The same functions take the true time: it is just another pseudotime, and gives the best any
two-step method could do. Runs in the project's main environment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scipy.interpolate import CubicSpline

from scbasis.metrics import DEFAULT_SHAPE_THRESHOLD, curve_shapes

#: Most bins, and the fewest cells a bin should hold when there are few cells.
MAX_BINS = 50
MIN_CELLS_PER_BIN = 20
#: Fewest bins a smoothing spline is fitted to.
MIN_BINS = 5
#: Pseudo-count added to each bin's pooled count before the log (counts; as voom's 0.5).
DEFAULT_EPS = 0.5
#: Points of the time grid the curves are evaluated on.
DEFAULT_N_GRID = 200
#: Smoothing parameters searched by GCV, log-spaced, and their range relative to the
#: penalty's eigenvalues (from near interpolation to near a straight line).
_N_LAMBDA = 120
_LAMBDA_RANGE = (1e-3, 1e4)


@dataclass(frozen=True)
class SmoothedCurves:
    """Genes smoothed along a pseudotime (:func:`two_step_curves`).

    Attributes
    ----------
    grid
        Pseudotimes the curves are evaluated at, increasing, ``(n_grid,)``.
    curves
        Smoothed natural-log rates (counts per library count), ``(n_grid, n_genes)``.
    bin_time
        Mean pseudotime of the cells of each bin, increasing, ``(n_bins,)``.
    bin_log_rate
        Pooled log rates the splines were fitted to, ``(n_bins, n_genes)``.
    bin_weight
        Weight of each bin in the fits: its library size over the mean, ``(n_bins,)``.
    degrees_of_freedom
        Effective degrees of freedom (trace of the smoother) of each gene's spline, from 2 (a
        straight line) to ``n_bins``, ``(n_genes,)``.
    """

    grid: np.ndarray
    curves: np.ndarray
    bin_time: np.ndarray
    bin_log_rate: np.ndarray
    bin_weight: np.ndarray
    degrees_of_freedom: np.ndarray


def _as_counts(counts: np.ndarray | sp.spmatrix | sp.sparray | AnnData) -> sp.csr_matrix:
    if isinstance(counts, AnnData):
        counts = counts.X
    if sp.issparse(counts):
        return sp.csr_matrix(counts, dtype=np.float64)
    return sp.csr_matrix(np.asarray(counts, dtype=np.float64))


def default_n_bins(n_cells: int) -> int:
    """Bins for ``n_cells`` cells: :data:`MAX_BINS`, fewer so each holds about 20 cells.

    Parameters
    ----------
    n_cells
        Cells with a finite pseudotime.

    Returns
    -------
    ``min(50, max(5, n_cells // 20))``.
    """
    return int(min(MAX_BINS, max(MIN_BINS, n_cells // MIN_CELLS_PER_BIN)))


def _penalty_matrix(x: np.ndarray) -> np.ndarray:
    """``K`` with ``f @ K @ f`` the integral of the squared second derivative of the natural
    cubic spline through the values ``f`` at the increasing knots ``x`` (Green and Silverman,
    *Nonparametric Regression and Generalized Linear Models*, 1994, section 2.1).
    """
    n = x.size
    h = np.diff(x)
    Q = np.zeros((n, n - 2))
    R = np.zeros((n - 2, n - 2))
    for j in range(n - 2):
        Q[j, j] = 1.0 / h[j]
        Q[j + 1, j] = -1.0 / h[j] - 1.0 / h[j + 1]
        Q[j + 2, j] = 1.0 / h[j + 1]
        R[j, j] = (h[j] + h[j + 1]) / 3.0
        if j + 1 < n - 2:
            R[j, j + 1] = R[j + 1, j] = h[j + 1] / 6.0
    return Q @ np.linalg.solve(R, Q.T)


def _smoothing_splines(
    x: np.ndarray, Y: np.ndarray, w: np.ndarray, max_dof: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cubic smoothing splines of every column of ``Y`` at the knots ``x``, GCV per column.

    Each column ``y`` gets the fitted values ``f`` minimising
    ``sum_i w_i (y_i - f_i)^2 + lam * integral f''^2``, i.e. ``f = (W + lam K)^-1 W y``, with
    ``lam`` minimising the GCV score ``n * RSS_w(lam) / (n - tr S(lam))^2`` over a log grid.
    With ``M = W^-1/2 K W^-1/2 = U diag(d) U^T`` and ``z = U^T W^1/2 y``, the weighted
    residuals are ``lam d / (1 + lam d) * z`` and the trace ``sum 1 / (1 + lam d)``, so every
    ``lam`` and every gene costs one matrix product.

    Parameters
    ----------
    x
        Increasing knots, ``(n,)``, ``n >= 3``.
    Y
        Values, ``(n, n_genes)``.
    w
        Positive weights, ``(n,)``.
    max_dof
        Search only smoothing parameters whose effective degrees of freedom are at most this
        (at least 2); ``None``: all.

    Returns
    -------
    fitted, dof
        Fitted values at the knots ``(n, n_genes)`` (the natural cubic spline through them is
        the smoothing spline) and each column's effective degrees of freedom ``(n_genes,)``.
    """
    n = x.size
    scale = x[-1] - x[0]
    K = _penalty_matrix((x - x[0]) / scale)  # lam on a unit time scale
    root_w = np.sqrt(w)
    d, U = np.linalg.eigh(K / np.outer(root_w, root_w))
    d = np.clip(d, 0.0, None)  # the two smallest are 0: straight lines are not penalised
    positive = d[2:]
    lams = np.geomspace(
        _LAMBDA_RANGE[0] / positive.max(), _LAMBDA_RANGE[1] / positive.min(), _N_LAMBDA
    )
    shrink = 1.0 / (1.0 + lams[:, None] * d[None, :])  # (n_lambda, n)
    Z = U.T @ (root_w[:, None] * Y)  # (n, n_genes)
    rss = (1.0 - shrink) ** 2 @ Z**2  # weighted RSS, (n_lambda, n_genes)
    trace = shrink.sum(axis=1)  # (n_lambda,)
    gcv = n * rss / (n - trace)[:, None] ** 2
    if max_dof is not None:
        gcv[trace > max(float(max_dof), trace.min()), :] = np.inf
    best = np.argmin(gcv, axis=0)  # (n_genes,)
    fitted = (U @ (shrink[best].T * Z)) / root_w[:, None]
    return fitted, trace[best]


def two_step_curves(
    counts: np.ndarray | sp.spmatrix | sp.sparray | AnnData,
    pseudotime: np.ndarray,
    n_bins: int | None = None,
    range_quantiles: tuple[float, float] = (0.01, 0.99),
    *,
    eps: float = DEFAULT_EPS,
    n_grid: int = DEFAULT_N_GRID,
    max_dof: float | None = None,
) -> SmoothedCurves:
    """Each gene's log rate smoothed along a pseudotime, on a grid over its central range.

    Parameters
    ----------
    counts
        Raw UMI counts, cells x genes (dense, sparse or an AnnData's ``.X``). Library sizes are
        the cells' totals over these genes.
    pseudotime
        One value per cell; cells with a non-finite value are left out.
    n_bins
        Equal-count bins of cells along the pseudotime; default :func:`default_n_bins`. Bins
        whose mean pseudotimes tie are pooled.
    range_quantiles
        Quantiles of the pseudotime between which the curves are evaluated (clipped to the
        first and last bins' mean pseudotimes, beyond which a spline only extrapolates).
    eps
        Pseudo-count added to each bin's pooled count of each gene before the log.
    n_grid
        Points of the evaluation grid.
    max_dof
        Cap on each spline's effective degrees of freedom; ``None`` (default): GCV alone
        decides, up to interpolating the bins. GCV now and then undersmooths a noisy gene;
        Palantir's gene trends (a Gaussian process of length scale 1 on its pseudotime, or a
        GAM of 4 splines) and tradeSeq (6 knots by default) are far stiffer, so e.g.
        ``max_dof=6`` is a sensitivity check closer to them.

    Returns
    -------
    :class:`SmoothedCurves`.

    Raises
    ------
    ValueError
        If shapes disagree, the pseudotime is constant or there are too few cells for
        :data:`MIN_BINS` bins.
    """
    X = _as_counts(counts)
    time_ = np.asarray(pseudotime, dtype=np.float64).ravel()
    if time_.shape[0] != X.shape[0]:
        raise ValueError(f"pseudotime has {time_.shape[0]} values for {X.shape[0]} cells.")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}.")
    keep = np.flatnonzero(np.isfinite(time_))
    n_cells = keep.size
    n_bins = default_n_bins(n_cells) if n_bins is None else int(n_bins)
    if n_bins < MIN_BINS or n_cells < n_bins:
        raise ValueError(
            f"Need at least {MIN_BINS} bins of at least one cell; got n_bins={n_bins} for "
            f"{n_cells} cells with a finite pseudotime."
        )

    order = keep[np.argsort(time_[keep], kind="stable")]
    bin_of_rank = (np.arange(n_cells) * n_bins) // n_cells  # equal-count bins, 0..n_bins-1
    pool = sp.csr_matrix(
        (np.ones(n_cells), (bin_of_rank, order)), shape=(n_bins, X.shape[0])
    )  # bins x cells
    cells_per_bin = np.bincount(bin_of_rank, minlength=n_bins).astype(np.float64)
    bin_time = (pool @ np.nan_to_num(time_, nan=0.0, posinf=0.0, neginf=0.0)) / cells_per_bin

    # Bins whose mean pseudotimes tie (massive ties in the pseudotime; up to rounding) are
    # pooled into one knot. The means are non-decreasing, the bins being in pseudotime order.
    tolerance = 1e-9 * max(bin_time[-1] - bin_time[0], np.finfo(np.float64).tiny)
    knot = np.concatenate([[0], np.cumsum(np.diff(bin_time) > tolerance)])
    n_knots = int(knot[-1]) + 1
    if n_knots < MIN_BINS:
        raise ValueError(
            f"The pseudotime takes too few distinct values: {n_knots} distinct bin means, "
            f"need {MIN_BINS}."
        )
    pool = sp.csr_matrix((np.ones(n_bins), (knot, np.arange(n_bins)))) @ pool
    bin_time = (pool @ np.nan_to_num(time_, nan=0.0, posinf=0.0, neginf=0.0)) / (
        pool @ np.ones(X.shape[0])
    )

    library = np.asarray(X.sum(axis=1)).ravel()
    bin_library = pool @ library
    if np.any(bin_library <= 0):
        raise ValueError("A bin of cells has no counts at all.")
    bin_counts = np.asarray((pool @ X).todense())  # bins x genes
    bin_log_rate = np.log(bin_counts + eps) - np.log(bin_library)[:, None]
    bin_weight = bin_library / bin_library.mean()
    fitted, dof = _smoothing_splines(bin_time, bin_log_rate, bin_weight, max_dof)

    low, high = np.quantile(time_[keep], range_quantiles)
    low, high = max(low, bin_time[0]), min(high, bin_time[-1])
    grid = np.linspace(low, high, n_grid)
    curves = CubicSpline(bin_time, fitted, axis=0, bc_type="natural")(grid)
    return SmoothedCurves(
        grid=grid,
        curves=curves,
        bin_time=bin_time,
        bin_log_rate=bin_log_rate,
        bin_weight=bin_weight,
        degrees_of_freedom=dof,
    )


def two_step_calls(
    counts: np.ndarray | sp.spmatrix | sp.sparray | AnnData,
    pseudotime: np.ndarray,
    threshold: float = DEFAULT_SHAPE_THRESHOLD,
    n_bins: int | None = None,
    range_quantiles: tuple[float, float] = (0.01, 0.99),
    *,
    eps: float = DEFAULT_EPS,
    n_grid: int = DEFAULT_N_GRID,
    max_dof: float | None = None,
) -> pd.Categorical:
    """Gene behaviour calls of the two-step route: smooth along a pseudotime, then classify.

    :func:`two_step_curves`, then :func:`scbasis.metrics.curve_shapes` of the curves: transient
    when a curve rises and falls by more than ``threshold`` around its maximum, else flat when
    its range is at most ``threshold``, else increasing or decreasing by its end-to-end change
    (along the pseudotime's own orientation).

    Parameters
    ----------
    counts
        Raw UMI counts, cells x genes.
    pseudotime
        One value per cell (any method's, or the true time); non-finite values are left out.
    threshold
        Threshold of the shape rule, natural-log units.
    n_bins, range_quantiles, eps, n_grid, max_dof
        As in :func:`two_step_curves`.

    Returns
    -------
    Categorical of length ``n_genes`` with categories :data:`scbasis.metrics.SHAPES`.
    """
    smoothed = two_step_curves(
        counts, pseudotime, n_bins, range_quantiles, eps=eps, n_grid=n_grid, max_dof=max_dof
    )
    return curve_shapes(smoothed.curves, threshold)
