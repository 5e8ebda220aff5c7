"""Realistic single-cell UMI counts along a known 1-D pseudotime, with known gene shapes.

The generative model, for cell ``c`` in batch ``b(c)`` at pseudotime ``t_c`` and gene ``g``::

    mu_cg = s_c * rho_g * exp(-lfc_g * d_g(t_c)) * exp(o_{g, b(c)})
    X_cg ~ NB(mean=mu_cg, inverse dispersion=theta_g)      (gamma-Poisson mixture)
    X_cg <- 0 with probability pi_g                        (``likelihood="zinb"`` only)

``s_c`` is a log-normal size factor (the cell's library size, ``obs["library_size"]``),
``rho_g`` the gene's relative expression at its maximum (``var["true_baseline"]``, log-normal over
orders of magnitude), ``lfc_g`` its natural-log fold change along the trajectory and
``d_g(t) in [0, 1]`` its shape: the distance from its maximum, ``1 - h(t)`` for increasing genes,
``h(t)`` for decreasing genes (``h`` a monotone curve from 0 to 1), one minus an asymmetric
Gaussian bump for transient genes and 0 for flat genes. ``o`` are per-gene, per-batch log offsets,
so every shape holds within each batch. ``rho`` is scaled once so that the expected total count of
a cell is about ``s_c`` on average over the trajectory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scipy.special import expit, logit

from scbasis.metrics import DEFAULT_SHAPE_THRESHOLD, curve_rise_fall, curve_shapes

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
_TIME_MIXTURE_COMPONENTS = 3
_TIME_UNIFORM_WEIGHT = 0.2  # keeps every part of the trajectory populated
_TIME_CONCENTRATION = (8.0, 30.0)
_NORMALISATION_GRID = 256
_OBSERVED_GRID = 512  # time points at which the observed shape is read off
OBSERVED_TIME_QUANTILES = (0.01, 0.99)  # the cells' time range, robust to a few outliers
_CHUNK_ENTRIES = 1 << 21  # cells x genes generated at once; bounds the dense working memory
_CAPACITY_MARGIN = 1.25  # non-zero buffers: first-chunk estimate x margin (untouched = free)
RETURN_MEANS_MAX_ENTRIES = 5_000_000


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


def simulate_trajectory(
    n_cells: int = 2000,
    n_genes: int = 500,
    family_fractions: Mapping[str, float] | None = None,
    seed: int = 0,
    *,
    likelihood: Literal["nb", "zinb"] = "zinb",
    n_batches: int = 1,
    library_size_median: float = 4000.0,
    library_size_sigma: float = 0.5,
    baseline_sigma: float = 1.5,
    log_fold_change_range: tuple[float, float] = (1.0, 3.5),
    dispersion_median: float = 5.0,
    dispersion_sigma: float = 0.7,
    mean_dropout: float = 0.1,
    batch_effect_sd: float = 0.3,
    time_density: Literal["uneven", "uniform"] = "uneven",
    shape_threshold: float = DEFAULT_SHAPE_THRESHOLD,
    return_means: bool | None = None,
) -> AnnData:
    """Simulate UMI counts of genes that rise, fall or peak along a known pseudotime.

    Counts are generated in chunks of cells and stored as sparse CSR, so memory grows with the
    number of non-zeros, not with ``n_cells * n_genes``.

    Parameters
    ----------
    n_cells
        Number of cells.
    n_genes
        Number of genes.
    family_fractions
        Share of genes per family, keys among ``"increasing"``, ``"decreasing"``,
        ``"transient"`` and ``"flat"``; normalised to sum to one and rounded to whole genes
        (largest remainder). Default ``{"increasing": 0.3, "decreasing": 0.3,
        "transient": 0.3, "flat": 0.1}``.
    seed
        Seed of the random generator; equal seeds and arguments give identical data. Gene
        parameters depend only on ``n_genes`` and the seed, cell parameters only on ``n_cells``
        and the seed.
    likelihood
        ``"nb"``: negative binomial counts; ``"zinb"``: additionally set to zero with a
        gene-specific probability ``var["true_dropout"]``.
    n_batches
        Number of batches. Cells are assigned uniformly at random; each gene gets a log-normal
        multiplicative offset per batch (``varm["true_batch_log_offset"]``, shape
        ``(n_genes, n_batches)``, only when ``n_batches > 1``).
    library_size_median
        Median size factor: the expected total UMI count of a typical cell.
    library_size_sigma
        Standard deviation of the log size factor; 0.5 gives a 5-fold range between the 5th and
        95th percentile, as in 10x data.
    baseline_sigma
        Standard deviation of the log relative expression of genes at their maximum; 1.5 spans
        about three orders of magnitude.
    log_fold_change_range
        Natural-log fold change of each non-flat gene between its maximum and minimum, drawn
        uniformly in this range (default: 2.7- to 33-fold).
    dispersion_median
        Median of the gene-specific NB inverse dispersion ``theta`` (``var["true_theta"]``).
    dispersion_sigma
        Standard deviation of ``log(theta)``.
    mean_dropout
        Mean of the gene-specific zero-inflation probability, ``Beta(2, 2 (1 - m) / m)``; used
        only when ``likelihood="zinb"``.
    batch_effect_sd
        Standard deviation of the per-gene, per-batch log offsets.
    time_density
        ``"uneven"``: pseudotime drawn from a mixture of three beta densities at random positions
        plus a 20 % uniform floor (parameters in ``uns["simulation"]``); ``"uniform"``:
        uniform on ``[0, 1]``.
    shape_threshold
        Threshold (natural-log units) of the observed-shape rule that gives
        ``var["observed_family"]`` (:func:`scbasis.metrics.curve_shapes`).
    return_means
        Store the true expected counts as the dense ``layers["true_mean"]``. Default: only when
        ``n_cells * n_genes <= 5e6``.

    Returns
    -------
    AnnData of shape ``(n_cells, n_genes)`` with

    - ``X``: ``scipy.sparse.csr_matrix`` of ``int32`` UMI counts (scvi-tools accepts integer
      count matrices as count data);
    - ``obs["true_time"]``: float pseudotime in ``[0, 1]`` (0 = start), ``obs["batch"]``:
      categorical ``"batch0"``, ... and ``obs["library_size"]``: the size factor ``s_c``;
    - ``var["true_family"]``: categorical, the family each gene was drawn from, categories the
      families present, in the order increasing, decreasing, transient, flat;
    - ``var["observed_family"]``: categorical with categories
      :data:`scbasis.metrics.SHAPES`, the shape the gene's true log-rate takes over the cells'
      time range (1st to 99th percentile of ``true_time``) by the rule of
      :func:`scbasis.metrics.curve_shapes`: a bump peaking at the edge of the data is monotone on
      it. This is the truth a method can be scored against; ``var["observed_rise"]`` and
      ``var["observed_fall"]`` give the rise to the maximum and the fall after it (log units);
    - ``var["true_shape"]`` (one of ``SHAPES``);
      ``var["true_baseline"]`` (relative expression at the maximum, ``rho_g``);
      ``var["true_log_fold_change"]`` (0 for flat genes); ``var["true_midpoint"]`` (pseudotime
      where a monotone gene is half-way on the log scale); ``var["true_steepness"]`` (sigmoids);
      ``var["true_timescale"]`` (saturating and accelerating curves); ``var["true_peak"]``,
      ``var["true_width_left"]``, ``var["true_width_right"]`` (transient genes);
      ``var["true_theta"]`` and ``var["true_dropout"]``; parameters that do not apply are NaN;
    - ``layers["true_mean"]`` (when ``return_means``): ``float32`` expected counts
      ``(1 - pi_g) mu_cg``, library size included, shape ``(n_cells, n_genes)``;
    - ``uns["simulation"]``: the settings.

    Within each batch the true mean divided by ``obs["library_size"]`` is non-decreasing in
    ``true_time`` for increasing genes, non-increasing for decreasing genes, has a single
    maximum at ``var["true_peak"]`` (inside ``[0, 1]``) for transient genes and is constant for
    flat genes.

    Raises
    ------
    ValueError
        If an argument is out of range or ``family_fractions`` is malformed.
    """
    _check_count("n_cells", n_cells)
    _check_count("n_genes", n_genes)
    _check_count("n_batches", n_batches)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an integer, got {seed!r}.")
    if likelihood not in ("nb", "zinb"):
        raise ValueError(f"likelihood must be 'nb' or 'zinb', got {likelihood!r}.")
    if time_density not in ("uneven", "uniform"):
        raise ValueError(f"time_density must be 'uneven' or 'uniform', got {time_density!r}.")
    for name, value in (
        ("library_size_median", library_size_median),
        ("dispersion_median", dispersion_median),
    ):
        _check_real(name, value, low=0.0, low_inclusive=False)
    for name, value in (
        ("library_size_sigma", library_size_sigma),
        ("baseline_sigma", baseline_sigma),
        ("dispersion_sigma", dispersion_sigma),
        ("batch_effect_sd", batch_effect_sd),
    ):
        _check_real(name, value, low=0.0)
    _check_real("mean_dropout", mean_dropout, low=0.0, high=1.0)
    _check_real("shape_threshold", shape_threshold, low=0.0, low_inclusive=False)
    lfc_low, lfc_high = _check_range("log_fold_change_range", log_fold_change_range)
    fractions = _normalise_fractions(family_fractions)
    if return_means is None:
        return_means = n_cells * n_genes <= RETURN_MEANS_MAX_ENTRIES

    gene_seq, cell_seq, noise_seq = np.random.SeedSequence(int(seed)).spawn(3)
    genes = _draw_genes(
        np.random.default_rng(gene_seq),
        n_genes,
        fractions,
        n_batches=n_batches,
        baseline_sigma=baseline_sigma,
        log_fold_change_range=(lfc_low, lfc_high),
        dispersion_median=dispersion_median,
        dispersion_sigma=dispersion_sigma,
        mean_dropout=mean_dropout if likelihood == "zinb" else 0.0,
        batch_effect_sd=batch_effect_sd,
    )
    cell_rng = np.random.default_rng(cell_seq)
    time, density = _draw_time(cell_rng, n_cells, time_density)
    library_size = library_size_median * np.exp(
        library_size_sigma * cell_rng.standard_normal(n_cells)
    )
    batch = cell_rng.integers(n_batches, size=n_cells)

    counts, means = _sample_counts(
        np.random.default_rng(noise_seq), genes, time, library_size, batch, return_means
    )

    width = max(4, len(str(n_genes - 1)))
    cell_width = max(5, len(str(n_cells - 1)))
    batch_names = [f"batch{k}" for k in range(n_batches)]
    obs = pd.DataFrame(
        {
            "true_time": time,
            "batch": pd.Categorical.from_codes(batch, categories=batch_names),
            "library_size": library_size,
        },
        index=[f"cell{i:0{cell_width}d}" for i in range(n_cells)],
    )
    var = _gene_table(genes, width)
    var["observed_family"], var["observed_rise"], var["observed_fall"] = _observed_shapes(
        genes, time, shape_threshold
    )
    adata = AnnData(X=counts, obs=obs, var=var)
    if n_batches > 1:
        adata.varm["true_batch_log_offset"] = genes.batch_log_offset
    if means is not None:
        adata.layers["true_mean"] = means
    adata.uns["simulation"] = {
        "n_cells": n_cells,
        "n_genes": n_genes,
        "family_fractions": fractions,
        "seed": int(seed),
        "likelihood": likelihood,
        "n_batches": n_batches,
        "library_size_median": float(library_size_median),
        "library_size_sigma": float(library_size_sigma),
        "baseline_sigma": float(baseline_sigma),
        "log_fold_change_range": np.array([lfc_low, lfc_high]),
        "dispersion_median": float(dispersion_median),
        "dispersion_sigma": float(dispersion_sigma),
        "mean_dropout": float(mean_dropout) if likelihood == "zinb" else 0.0,
        "batch_effect_sd": float(batch_effect_sd),
        "time_density": time_density,
        **density,
        "shape_threshold": float(shape_threshold),
        "observed_time_range": np.quantile(time, OBSERVED_TIME_QUANTILES),
        "return_means": bool(return_means),
    }
    return adata


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _check_real(
    name: str,
    value: object,
    *,
    low: float,
    high: float | None = None,
    low_inclusive: bool = True,
) -> None:
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    ok = ok and np.isfinite(value) and (value >= low if low_inclusive else value > low)
    ok = ok and (high is None or value < high)
    if not ok:
        bound = f"{'>=' if low_inclusive else '>'} {low}" + (
            f" and < {high}" if high is not None else ""
        )
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}.")


def _check_range(name: str, value: object) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}.") from None
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
        raise ValueError(f"{name} must satisfy 0 < low <= high, got {value!r}.")
    return low, high


def _normalise_fractions(family_fractions: Mapping[str, float] | None) -> dict[str, float]:
    """Validate ``family_fractions`` and return it normalised, in ``FAMILIES`` order."""
    if family_fractions is None:
        family_fractions = DEFAULT_FAMILY_FRACTIONS
    if not isinstance(family_fractions, Mapping):
        raise ValueError(
            f"family_fractions must be a mapping such as {DEFAULT_FAMILY_FRACTIONS}, "
            f"got {type(family_fractions).__name__}."
        )
    unknown = sorted(set(family_fractions) - set(FAMILIES))
    if unknown:
        raise ValueError(
            f"Unknown gene families {unknown} in family_fractions; "
            f"use keys among {list(FAMILIES)}."
        )
    values = {}
    for family, value in family_fractions.items():
        _check_real(f"family_fractions[{family!r}]", value, low=0.0)
        values[family] = float(value)
    total = sum(values.values())
    if total <= 0:
        raise ValueError(
            "family_fractions must contain at least one positive fraction, got "
            f"{dict(family_fractions)}."
        )
    return {family: values[family] / total for family in FAMILIES if family in values}


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


def _draw_time(
    rng: np.random.Generator, n_cells: int, time_density: str
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Pseudotime of each cell and the parameters of its density."""
    if time_density == "uniform":
        return rng.random(n_cells), {}
    k = _TIME_MIXTURE_COMPONENTS
    weights = np.append(
        (1 - _TIME_UNIFORM_WEIGHT) * rng.dirichlet(np.ones(k)), _TIME_UNIFORM_WEIGHT
    )
    means = rng.uniform(0.1, 0.9, size=k)
    concentration = rng.uniform(*_TIME_CONCENTRATION, size=k)
    component = rng.choice(k + 1, size=n_cells, p=weights)
    a = np.append(means * concentration, 1.0)[component]
    b = np.append((1 - means) * concentration, 1.0)[component]
    time = rng.beta(a, b)
    return time, {
        "time_mixture_weights": weights,
        "time_mixture_means": means,
        "time_mixture_concentrations": concentration,
    }


def _sample_counts(
    rng: np.random.Generator,
    genes: _Genes,
    time: np.ndarray,
    library_size: np.ndarray,
    batch: np.ndarray,
    return_means: bool,
) -> tuple[sp.csr_matrix, np.ndarray | None]:
    """Draw the counts chunk by chunk; return them as CSR plus the optional dense means."""
    n_cells, n_genes = time.size, genes.shape.size
    chunk = max(1, _CHUNK_ENTRIES // n_genes)
    means = np.empty((n_cells, n_genes), dtype=np.float32) if return_means else None
    data = indices = None  # sized from the first chunk's density
    indptr = np.zeros(n_cells + 1, dtype=np.int64)
    zero_inflated = bool(np.any(genes.dropout > 0))
    for start in range(0, n_cells, chunk):
        stop = min(start + chunk, n_cells)
        log_mu = _log_relative_expression(time[start:stop], genes)
        log_mu += np.log(library_size[start:stop])[:, None]
        log_mu += genes.batch_log_offset.T[batch[start:stop]]
        mu = np.exp(log_mu)
        counts = rng.poisson(rng.gamma(genes.theta, mu / genes.theta))
        if zero_inflated:
            counts[rng.random(counts.shape) < genes.dropout] = 0
        if means is not None:
            means[start:stop] = mu * (1.0 - genes.dropout)
        mask = counts > 0
        if data is None:
            capacity = int(_CAPACITY_MARGIN * mask.sum() * n_cells / (stop - start)) + 1024
            data, indices = _Buffer(np.int32, capacity), _Buffer(np.int32, capacity)
        data.extend(counts[mask])
        indices.extend(np.nonzero(mask)[1])
        indptr[start + 1 : stop + 1] = indptr[start] + np.cumsum(mask.sum(axis=1))
    index_dtype = np.int32 if indptr[-1] <= np.iinfo(np.int32).max else np.int64
    matrix = sp.csr_matrix(
        (
            data.values(),
            indices.values().astype(index_dtype, copy=False),
            indptr.astype(index_dtype),
        ),
        shape=(n_cells, n_genes),
    )
    return matrix, means


class _Buffer:
    """Append-only 1-D array that grows by half (one copy) when full.

    Capacity never written to is never touched, so it costs no resident memory.
    """

    def __init__(self, dtype: type[np.integer], capacity: int) -> None:
        self._array = np.empty(capacity, dtype=dtype)
        self._size = 0

    def extend(self, values: np.ndarray) -> None:
        end = self._size + values.size
        if end > self._array.size:
            grown = np.empty(max(end, self._array.size * 3 // 2), dtype=self._array.dtype)
            grown[: self._size] = self._array[: self._size]
            self._array = grown
        self._array[self._size : end] = values
        self._size = end

    def values(self) -> np.ndarray:
        """The appended values, a view of shape ``(size,)``."""
        return self._array[: self._size]


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
