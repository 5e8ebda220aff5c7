"""The genes of :func:`~scbasis.data.simulate_trajectory`: their families, shapes and true
curves along the time, and the shape each curve takes over the cells' time range."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from scbasis.metrics import curve_rise_fall, curve_shapes

FAMILIES: tuple[str, ...] = ("increasing", "decreasing", "transient", "flat")
DEFAULT_FAMILY_FRACTIONS: dict[str, float] = {
    "increasing": 0.3,
    "decreasing": 0.3,
    "transient": 0.3,
    "flat": 0.1,
}
SHAPES: tuple[str, ...] = ("sigmoid", "linear", "saturating", "accelerating", "bump", "constant")
# Curve of a monotone gene and its probability: sigmoids of varied midpoint and steepness,
# near-linear ramps, saturating curves (early switch) and accelerating curves (late switch).
_MONOTONE_SHAPE_PROBS: dict[str, float] = {
    "sigmoid": 0.4,
    "linear": 0.2,
    "saturating": 0.2,
    "accelerating": 0.2,
}
_SIGMOID_MIDPOINT = (0.05, 0.95)
_SIGMOID_STEEPNESS = (6.0, 40.0)  # log-uniform, per unit of pseudotime
_TIMESCALE = (0.08, 0.4)  # saturating / accelerating curves
_BUMP_WIDTH = (0.03, 0.25)  # log-uniform, each side of the peak independently
_PEAK_NEAR_END_PROB = 0.2  # share of transient genes peaking within _END_ZONE of 0 or 1
_END_ZONE = 0.08
_NORMALISATION_GRID = 256
_OBSERVED_GRID = 512  # time points at which the observed shape is read off
OBSERVED_TIME_QUANTILES = (0.01, 0.99)  # the cells' time range, robust to a few outliers


@dataclass(frozen=True)
class _Genes:
    """Per-gene truth, every array of shape ``(n_genes,)`` unless noted."""

    family: np.ndarray  # str
    shape: np.ndarray  # str
    log_baseline: np.ndarray
    log_fold_change: np.ndarray
    midpoint: np.ndarray  # sigmoid centre; NaN elsewhere
    steepness: np.ndarray  # sigmoid only
    timescale: np.ndarray  # saturating / accelerating only
    peak: np.ndarray  # transient only
    width_left: np.ndarray  # transient only
    width_right: np.ndarray  # transient only
    theta: np.ndarray
    dropout: np.ndarray
    batch_log_offset: np.ndarray  # (n_genes, n_batches)


def _split_counts(fractions: dict[str, float], n: int) -> dict[str, int]:
    """Round ``n * fractions`` to whole numbers summing to ``n`` (largest remainder)."""
    exact = np.array([fractions[f] * n for f in fractions])
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return dict(zip(fractions, counts.tolist(), strict=True))


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float], size: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]), size=size))


def _draw_genes(
    rng: np.random.Generator,
    n_genes: int,
    fractions: dict[str, float],
    *,
    n_batches: int,
    baseline_sigma: float,
    log_fold_change_range: tuple[float, float],
    dispersion_median: float,
    dispersion_sigma: float,
    mean_dropout: float,
    batch_effect_sd: float,
) -> _Genes:
    """Draw the truth of every gene; families are shuffled over the gene index."""
    per_family = _split_counts(fractions, n_genes)
    family = rng.permutation(np.repeat(list(per_family), list(per_family.values())))
    monotone = np.isin(family, ("increasing", "decreasing"))
    shape = np.where(family == "transient", "bump", "constant").astype(object)
    shape[monotone] = rng.choice(
        list(_MONOTONE_SHAPE_PROBS),
        size=int(monotone.sum()),
        p=list(_MONOTONE_SHAPE_PROBS.values()),
    )
    shape = shape.astype(str)

    nan = np.full(n_genes, np.nan)
    is_sigmoid = shape == "sigmoid"
    midpoint = np.where(is_sigmoid, rng.uniform(*_SIGMOID_MIDPOINT, size=n_genes), nan)
    steepness = np.where(is_sigmoid, _log_uniform(rng, _SIGMOID_STEEPNESS, n_genes), nan)
    timescale = np.where(
        np.isin(shape, ("saturating", "accelerating")),
        rng.uniform(*_TIMESCALE, size=n_genes),
        nan,
    )
    near_end = rng.random(n_genes) < _PEAK_NEAR_END_PROB
    peak_inner = rng.uniform(_END_ZONE, 1 - _END_ZONE, size=n_genes)
    peak_edge = rng.uniform(0, _END_ZONE, size=n_genes)
    peak_edge = np.where(rng.random(n_genes) < 0.5, peak_edge, 1 - peak_edge)
    is_bump = shape == "bump"
    peak = np.where(is_bump, np.where(near_end, peak_edge, peak_inner), nan)
    width_left = np.where(is_bump, _log_uniform(rng, _BUMP_WIDTH, n_genes), nan)
    width_right = np.where(is_bump, _log_uniform(rng, _BUMP_WIDTH, n_genes), nan)

    log_fold_change = np.where(
        family == "flat", 0.0, rng.uniform(*log_fold_change_range, size=n_genes)
    )
    log_baseline = baseline_sigma * rng.standard_normal(n_genes)
    theta = dispersion_median * np.exp(dispersion_sigma * rng.standard_normal(n_genes))
    if mean_dropout > 0:
        dropout = rng.beta(2.0, 2.0 * (1.0 - mean_dropout) / mean_dropout, size=n_genes)
    else:
        dropout = np.zeros(n_genes)
    if n_batches > 1:
        batch_log_offset = batch_effect_sd * rng.standard_normal((n_genes, n_batches))
    else:
        batch_log_offset = np.zeros((n_genes, 1))

    genes = _Genes(
        family=family,
        shape=shape,
        log_baseline=log_baseline,
        log_fold_change=log_fold_change,
        midpoint=midpoint,
        steepness=steepness,
        timescale=timescale,
        peak=peak,
        width_left=width_left,
        width_right=width_right,
        theta=theta,
        dropout=dropout,
        batch_log_offset=batch_log_offset,
    )
    # One global scale so that a cell's expected total is ~ its size factor on average.
    grid = np.linspace(0.0, 1.0, _NORMALISATION_GRID)
    total = np.exp(_log_relative_expression(grid, genes)).sum(axis=1).mean()
    return _Genes(**{**genes.__dict__, "log_baseline": log_baseline - np.log(total)})


def _distance_from_max(time: np.ndarray, genes: _Genes) -> np.ndarray:
    """Shape ``d_g(t)`` in ``[0, 1]``, 0 at the gene's maximum; ``(n_times, n_genes)``."""
    t = time[:, None]
    distance = np.zeros((time.size, genes.shape.size))
    for shape in SHAPES[:-1]:  # "constant" stays 0
        cols = np.flatnonzero(genes.shape == shape)
        if cols.size == 0:
            continue
        if shape == "bump":
            peak = genes.peak[cols]
            width = np.where(t < peak, genes.width_left[cols], genes.width_right[cols])
            distance[:, cols] = -np.expm1(-0.5 * ((t - peak) / width) ** 2)
            continue
        curve = _monotone_curve(shape, t, genes, cols)
        increasing = genes.family[cols] == "increasing"
        distance[:, cols] = np.where(increasing, 1.0 - curve, curve)
    return distance


def _monotone_curve(shape: str, t: np.ndarray, genes: _Genes, cols: np.ndarray) -> np.ndarray:
    """Increasing curve ``h`` with ``h(0) = 0`` and ``h(1) = 1``; ``(n_times, cols.size)``."""
    if shape == "linear":
        return np.broadcast_to(t, (t.shape[0], cols.size))
    if shape == "sigmoid":
        mid, k = genes.midpoint[cols], genes.steepness[cols]
        start, end = expit(-k * mid), expit(k * (1 - mid))
        return (expit(k * (t - mid)) - start) / (end - start)
    tau = genes.timescale[cols]
    if shape == "saturating":
        return np.expm1(-t / tau) / np.expm1(-1 / tau)
    return np.expm1(t / tau) / np.expm1(1 / tau)  # accelerating


def _half_way_time(genes: _Genes) -> np.ndarray:
    """Pseudotime at which a monotone gene's ``h`` reaches 1/2; NaN for other genes."""
    half = np.full(genes.shape.size, np.nan)
    half[genes.shape == "linear"] = 0.5
    sig = genes.shape == "sigmoid"
    mid, k = genes.midpoint[sig], genes.steepness[sig]
    half[sig] = mid + logit(0.5 * (expit(-k * mid) + expit(k * (1 - mid)))) / k
    sat = genes.shape == "saturating"
    tau = genes.timescale[sat]
    half[sat] = -tau * np.log1p(0.5 * np.expm1(-1 / tau))
    acc = genes.shape == "accelerating"
    tau = genes.timescale[acc]
    half[acc] = tau * np.log1p(0.5 * np.expm1(1 / tau))
    return half


def _log_relative_expression(time: np.ndarray, genes: _Genes) -> np.ndarray:
    """``log rho_g - lfc_g d_g(t)``, batch offsets excluded; ``(n_times, n_genes)``."""
    return genes.log_baseline - genes.log_fold_change * _distance_from_max(time, genes)


def _observed_shapes(
    genes: _Genes, time: np.ndarray, threshold: float
) -> tuple[pd.Categorical, np.ndarray, np.ndarray]:
    """Observed shape, rise and fall of every gene over the cells' time range."""
    grid = np.linspace(*np.quantile(time, OBSERVED_TIME_QUANTILES), _OBSERVED_GRID)
    log_rate = _log_relative_expression(grid, genes)
    rise, fall, _ = curve_rise_fall(log_rate)
    return curve_shapes(log_rate, threshold), rise, fall


def _gene_table(genes: _Genes, width: int) -> pd.DataFrame:
    present = [f for f in FAMILIES if f in set(genes.family.tolist())]
    return pd.DataFrame(
        {
            "true_family": pd.Categorical(genes.family, categories=present),
            "true_shape": pd.Categorical(
                genes.shape, categories=[s for s in SHAPES if s in set(genes.shape.tolist())]
            ),
            "true_baseline": np.exp(genes.log_baseline),
            "true_log_fold_change": genes.log_fold_change,
            "true_midpoint": _half_way_time(genes),
            "true_steepness": genes.steepness,
            "true_timescale": genes.timescale,
            "true_peak": genes.peak,
            "true_width_left": genes.width_left,
            "true_width_right": genes.width_right,
            "true_theta": genes.theta,
            "true_dropout": genes.dropout,
        },
        index=[f"gene{g:0{width}d}" for g in range(genes.shape.size)],
    )
