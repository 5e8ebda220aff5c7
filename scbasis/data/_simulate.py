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
from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from scbasis.metrics import DEFAULT_SHAPE_THRESHOLD

from ._counts import _sample_counts
from ._gene_shapes import (
    DEFAULT_FAMILY_FRACTIONS,
    FAMILIES,
    OBSERVED_TIME_QUANTILES,
    _draw_genes,
    _gene_table,
    _observed_shapes,
)

_TIME_MIXTURE_COMPONENTS = 3
_TIME_UNIFORM_WEIGHT = 0.2  # keeps every part of the trajectory populated
_TIME_CONCENTRATION = (8.0, 30.0)
RETURN_MEANS_MAX_ENTRIES = 5_000_000


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
    anndata.AnnData
        Of shape ``(n_cells, n_genes)`` with

        - ``X``: ``scipy.sparse.csr_matrix`` of ``int32`` UMI counts (scvi-tools accepts
          integer count matrices as count data);
        - ``obs["true_time"]``: float pseudotime in ``[0, 1]`` (0 = start), ``obs["batch"]``:
          categorical ``"batch0"``, ... and ``obs["library_size"]``: the size factor ``s_c``;
        - ``var["true_family"]``: categorical, the family each gene was drawn from, categories
          the families present, in the order increasing, decreasing, transient, flat;
        - ``var["observed_family"]``: categorical with categories
          :data:`scbasis.metrics.SHAPES`, the shape the gene's true log-rate takes over the
          cells' time range (1st to 99th percentile of ``true_time``) by the rule of
          :func:`scbasis.metrics.curve_shapes`: a bump peaking at the edge of the data is
          monotone on it. This is the truth a method can be scored against;
          ``var["observed_rise"]`` and ``var["observed_fall"]`` give the rise to the maximum
          and the fall after it (log units);
        - ``var["true_shape"]`` (one of ``SHAPES``);
          ``var["true_baseline"]`` (relative expression at the maximum, ``rho_g``);
          ``var["true_log_fold_change"]`` (0 for flat genes); ``var["true_midpoint"]``
          (pseudotime where a monotone gene is half-way on the log scale);
          ``var["true_steepness"]`` (sigmoids); ``var["true_timescale"]`` (saturating and
          accelerating curves); ``var["true_peak"]``, ``var["true_width_left"]``,
          ``var["true_width_right"]`` (transient genes); ``var["true_theta"]`` and
          ``var["true_dropout"]``; parameters that do not apply are NaN;
        - ``layers["true_mean"]`` (when ``return_means``): ``float32`` expected counts
          ``(1 - pi_g) mu_cg``, library size included, shape ``(n_cells, n_genes)``;
        - ``uns["simulation"]``: the settings.

        Within each batch the true mean divided by ``obs["library_size"]`` is non-decreasing
        in ``true_time`` for increasing genes, non-increasing for decreasing genes, has a
        single maximum at ``var["true_peak"]`` (inside ``[0, 1]``) for transient genes and is
        constant for flat genes.

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
