"""Tests of the trajectory simulator: structure, true shapes, noise model and reproducibility."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import spearmanr

import scbasis
from scbasis.data import simulate_trajectory


@pytest.fixture(scope="module")
def sim() -> ad.AnnData:
    return simulate_trajectory(3000, 400, seed=7, n_batches=2, likelihood="zinb")


def _relative_means(adata: ad.AnnData, batch: str) -> tuple[np.ndarray, np.ndarray]:
    """Time-sorted true means divided by library size within one batch: ``(cells, genes)``."""
    cells = np.flatnonzero(adata.obs["batch"].to_numpy() == batch)
    order = cells[np.argsort(adata.obs["true_time"].to_numpy()[cells], kind="stable")]
    means = adata.layers["true_mean"][order].astype(np.float64)
    return adata.obs["true_time"].to_numpy()[order], means / adata.obs["library_size"].to_numpy()[
        order, None
    ]


def test_structure_and_dtypes(sim: ad.AnnData) -> None:
    assert sim.shape == (3000, 400)
    assert isinstance(sim.X, sp.csr_matrix)
    assert np.issubdtype(sim.X.dtype, np.integer)
    assert sim.X.nnz > 0 and sim.X.data.min() > 0
    assert sim.var_names[0] == "gene0000" and sim.var_names[-1] == "gene0399"
    assert sim.obs_names.is_unique
    time = sim.obs["true_time"].to_numpy()
    assert time.dtype.kind == "f" and time.min() >= 0 and time.max() <= 1
    assert list(sim.obs["batch"].cat.categories) == ["batch0", "batch1"]
    assert list(sim.var["true_family"].cat.categories) == [
        "increasing",
        "decreasing",
        "transient",
        "flat",
    ]
    assert sim.var["true_family"].value_counts().to_dict() == {
        "increasing": 120,
        "decreasing": 120,
        "transient": 120,
        "flat": 40,
    }
    assert sim.varm["true_batch_log_offset"].shape == (400, 2)
    layer = sim.layers["true_mean"]
    assert isinstance(layer, np.ndarray) and layer.dtype == np.float32 and layer.shape == sim.shape
    assert sim.uns["simulation"]["seed"] == 7 and sim.uns["simulation"]["return_means"]


def test_families_absent_are_not_categories() -> None:
    adata = simulate_trajectory(50, 20, {"transient": 1.0, "increasing": 1.0}, seed=1)
    assert list(adata.var["true_family"].cat.categories) == ["increasing", "transient"]
    assert (adata.var["true_family"] == "transient").sum() == 10


@pytest.mark.parametrize("batch", ["batch0", "batch1"])
def test_true_means_have_the_claimed_shapes(sim: ad.AnnData, batch: str) -> None:
    time, rel = _relative_means(sim, batch)
    family = sim.var["true_family"].to_numpy()
    step = np.diff(rel, axis=0)
    tol = 1e-5 * rel[1:]
    inc, dec = family == "increasing", family == "decreasing"
    assert np.all(step[:, inc] >= -tol[:, inc])
    assert np.all(step[:, dec] <= tol[:, dec])
    # Monotone genes really change: at least 2.5-fold from one end to the other.
    assert np.all(rel[-1, inc] / rel[0, inc] > 2.5)
    assert np.all(rel[0, dec] / rel[-1, dec] > 2.5)
    for g in np.flatnonzero(family == "transient"):
        top = int(np.argmax(rel[:, g]))
        assert np.all(step[:top, g] >= -tol[:top, g]), f"gene {g} not rising before its peak"
        assert np.all(step[top:, g] <= tol[top:, g]), f"gene {g} not falling after its peak"
        peak = sim.var["true_peak"].iloc[g]
        assert 0 <= peak <= 1
        assert abs(time[top] - peak) < 0.05
    flat = rel[:, family == "flat"]
    np.testing.assert_allclose(flat, np.broadcast_to(flat[0], flat.shape), rtol=1e-5)


def test_shape_parameters_match_the_means(sim: ad.AnnData) -> None:
    var = sim.var
    monotone = var["true_family"].isin(["increasing", "decreasing"]).to_numpy()
    assert var["true_midpoint"].notna().to_numpy().tolist() == monotone.tolist()
    assert (
        var["true_peak"].notna().to_numpy().tolist()
        == (var["true_family"] == "transient").to_numpy().tolist()
    )
    # Varied shapes: every monotone curve type, early and late switches, peaks near both ends.
    assert {"sigmoid", "linear", "saturating", "accelerating"} <= set(var["true_shape"])
    mid = var["true_midpoint"].dropna()
    assert mid.min() < 0.25 and mid.max() > 0.75
    peaks = var["true_peak"].dropna()
    assert (peaks < 0.08).any() and (peaks > 0.92).any()
    widths = var[["true_width_left", "true_width_right"]].dropna()
    assert (widths["true_width_left"] / widths["true_width_right"]).max() > 2

    # The half-way pseudotime of a monotone gene is where its log mean is half-way between
    # its values at t = 0 and t = 1, known from the truth: log((1 - pi) rho) + offset - lfc / 2.
    time, rel = _relative_means(sim, "batch0")
    half = (
        np.log((1 - var["true_dropout"]) * var["true_baseline"]).to_numpy()
        + sim.varm["true_batch_log_offset"][:, 0]
        - var["true_log_fold_change"].to_numpy() / 2
    )
    for g in np.flatnonzero(monotone):
        above = np.log(rel[:, g]) > half[g]
        crossing = np.flatnonzero(above[1:] != above[:-1])
        assert crossing.size == 1, f"gene {g} crosses its half-way level {crossing.size} times"
        assert abs(time[crossing[0]] - var["true_midpoint"].iloc[g]) < 0.03
    # One width on each side of a transient peak, the log mean is lfc (1 - e^-1/2) below the top.
    top = half + var["true_log_fold_change"].to_numpy() / 2
    for g in np.flatnonzero((var["true_family"] == "transient").to_numpy()):
        peak = var["true_peak"].iloc[g]
        drop = var["true_log_fold_change"].iloc[g] * (1 - np.exp(-0.5))
        for side, sign in (("true_width_left", -1), ("true_width_right", 1)):
            at = peak + sign * var[side].iloc[g]
            if 0.01 < at < 0.99:
                value = np.interp(at, time, np.log(rel[:, g]))
                assert abs(value - (top[g] - drop)) < 0.1 * drop, f"gene {g}, {side}"


def test_baselines_span_orders_of_magnitude(sim: ad.AnnData) -> None:
    baseline = sim.var["true_baseline"].to_numpy()
    assert np.log10(baseline.max() / baseline.min()) > 3
    mean_counts = np.asarray(sim.X.mean(axis=0)).ravel()
    assert np.log10(np.quantile(mean_counts, 0.99) / np.quantile(mean_counts, 0.01)) > 2


def test_library_sizes_vary_like_10x() -> None:
    adata = simulate_trajectory(4000, 300, seed=3, likelihood="nb")
    size = adata.obs["library_size"].to_numpy()
    assert 3000 < np.median(size) < 5000
    assert np.quantile(size, 0.95) / np.quantile(size, 0.05) > 3.5
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    assert 1500 < np.median(totals) < 8000
    assert np.quantile(totals, 0.95) / np.quantile(totals, 0.05) > 3
    assert spearmanr(totals, size).statistic > 0.8


@pytest.mark.parametrize("likelihood", ["nb", "zinb"])
def test_counts_follow_the_true_means(likelihood: str) -> None:
    adata = simulate_trajectory(3000, 200, seed=11, likelihood=likelihood)
    x = adata.X.toarray()
    mean = adata.layers["true_mean"].astype(np.float64)
    # Per gene, the counts summed over cells match the summed true means.
    np.testing.assert_allclose(x.sum(0), mean.sum(0), rtol=0.15, atol=30)
    assert abs(x.sum() / mean.sum() - 1) < 0.02
    # The zero fraction matches NB (and ZINB) theory, so dispersion and dropout are real.
    theta = adata.var["true_theta"].to_numpy()
    pi = adata.var["true_dropout"].to_numpy()
    mu = mean / (1 - pi)
    p_zero = pi + (1 - pi) * (theta / (theta + mu)) ** theta
    assert abs((x == 0).mean() - p_zero.mean()) < 0.01
    if likelihood == "nb":
        assert np.all(pi == 0)
    else:
        assert pi.mean() > 0.05 and np.all((pi > 0) & (pi < 1))
        assert (x == 0).mean() > ((1 - pi) * (theta / (theta + mu)) ** theta).mean() + 0.03
    # Gene-specific over-dispersion: the variance exceeds the Poisson variance.
    high = mean.mean(0) > 5
    assert np.median(x[:, high].var(0) / x[:, high].mean(0)) > 1.5


def test_batch_offsets_are_per_gene_constants(sim: ad.AnnData) -> None:
    offset = sim.varm["true_batch_log_offset"]
    assert np.std(offset) > 0.1
    _, rel0 = _relative_means(sim, "batch0")
    _, rel1 = _relative_means(sim, "batch1")
    flat = (sim.var["true_family"] == "flat").to_numpy()
    ratio = np.log(rel1[0, flat] / rel0[0, flat])
    np.testing.assert_allclose(ratio, offset[flat, 1] - offset[flat, 0], atol=1e-5)


def test_time_density_is_uneven_unless_uniform() -> None:
    for seed in range(3):
        hist = np.histogram(
            simulate_trajectory(5000, 10, seed=seed).obs["true_time"], bins=10, range=(0, 1)
        )[0]
        assert hist.min() > 0 and hist.max() / hist.min() > 2
    hist = np.histogram(
        simulate_trajectory(5000, 10, seed=0, time_density="uniform").obs["true_time"],
        bins=10,
        range=(0, 1),
    )[0]
    assert hist.max() / hist.min() < 1.3


def test_reproducible_by_seed() -> None:
    a = simulate_trajectory(300, 80, seed=5, n_batches=3)
    b = simulate_trajectory(300, 80, seed=5, n_batches=3, return_means=False)
    c = simulate_trajectory(300, 80, seed=6, n_batches=3)
    assert (a.X != b.X).nnz == 0
    assert a.obs.equals(b.obs) and a.var.equals(b.var)
    assert "true_mean" not in b.layers
    assert (a.X != c.X).nnz > 0
    # The drawn gene truth depends only on the seed and n_genes, not on the number of cells;
    # the observed shapes depend on the cells' time range.
    d = simulate_trajectory(50, 80, seed=5, n_batches=3)
    drawn = [c for c in a.var if not c.startswith("observed_")]
    assert a.var[drawn].equals(d.var[drawn])


def _true_log_rate(adata: ad.AnnData, grid: np.ndarray) -> np.ndarray:
    """The true log-rate of every gene at times ``grid``, interpolated from the true means."""
    time, rel = _relative_means(adata, "batch0")
    return np.log(np.stack([np.interp(grid, time, rel[:, g]) for g in range(rel.shape[1])], 1))


def test_observed_family_is_the_true_rates_shape_over_the_cells(sim: ad.AnnData) -> None:
    observed = sim.var["observed_family"]
    assert list(observed.cat.categories) == ["increasing", "decreasing", "transient", "flat"]
    low, high = np.quantile(sim.obs["true_time"], [0.01, 0.99])
    np.testing.assert_allclose(sim.uns["simulation"]["observed_time_range"], [low, high])
    # the rule, read off the true means over the 1st to 99th percentile of time
    grid = np.linspace(low, high, 200)
    log_rate = _true_log_rate(sim, grid)
    expected = scbasis.metrics.curve_shapes(log_rate, 0.5)
    agree = np.asarray(expected) == observed.to_numpy()
    # interpolating the means at the cells' times moves a few borderline rises and falls
    assert agree.mean() > 0.97
    rise, fall, _ = scbasis.metrics.curve_rise_fall(log_rate)
    np.testing.assert_allclose(sim.var["observed_rise"], rise, atol=0.1)
    np.testing.assert_allclose(sim.var["observed_fall"], fall, atol=0.1)
    family = sim.var["true_family"].to_numpy()
    # monotone genes stay monotone on the data; flat genes are flat; some bumps peak at an edge
    assert set(observed[family == "increasing"]) <= {"increasing", "flat"}
    assert set(observed[family == "decreasing"]) <= {"decreasing", "flat"}
    assert set(observed[family == "flat"]) == {"flat"}
    bumps = observed[family == "transient"].value_counts()
    assert bumps["transient"] > 0 and bumps["increasing"] + bumps["decreasing"] > 0


def test_a_bump_at_the_edge_of_the_cells_is_monotone_and_the_threshold_is_kept() -> None:
    kept = simulate_trajectory(400, 300, {"transient": 1.0}, seed=2, shape_threshold=0.5)
    strict = simulate_trajectory(400, 300, {"transient": 1.0}, seed=2, shape_threshold=1.5)
    var = kept.var
    edge = (var["true_peak"] < 0.03) | (var["true_peak"] > 0.97)
    assert edge.any() and set(var.loc[edge, "observed_family"]) <= {"increasing", "decreasing"}
    inner = (var["observed_rise"] > 0.5) & (var["observed_fall"] > 0.5)
    assert (var["observed_family"] == "transient").equals(inner)
    assert strict.uns["simulation"]["shape_threshold"] == 1.5
    assert (strict.var["observed_family"] == "transient").sum() < inner.sum()
    with pytest.raises(ValueError, match="shape_threshold"):
        simulate_trajectory(10, 10, shape_threshold=0.0)


def test_return_means_default_depends_on_size() -> None:
    assert "true_mean" in simulate_trajectory(10, 10).layers
    big = simulate_trajectory(2501, 2000, family_fractions={"flat": 1.0}, library_size_median=50.0)
    assert "true_mean" not in big.layers
    assert big.uns["simulation"]["return_means"] is False


def test_h5ad_round_trip(tmp_path) -> None:
    adata = simulate_trajectory(100, 30, seed=2, n_batches=2)
    path = tmp_path / "sim.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert (back.X != adata.X).nnz == 0 and np.issubdtype(back.X.dtype, np.integer)
    assert back.var["true_family"].equals(adata.var["true_family"])
    np.testing.assert_array_equal(
        back.varm["true_batch_log_offset"], adata.varm["true_batch_log_offset"]
    )


def test_scvi_accepts_the_counts() -> None:
    from scvi.data import AnnDataManager
    from scvi.data.fields import CategoricalObsField, LayerField

    adata = simulate_trajectory(200, 50, seed=0, n_batches=2)
    manager = AnnDataManager(
        fields=[
            LayerField("X", None, is_count_data=True),
            CategoricalObsField("batch", "batch"),
        ]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manager.register_fields(adata)
    assert not [w for w in caught if "count" in str(w.message).lower()]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"family_fractions": {"rising": 1.0}}, "Unknown gene families"),
        ({"family_fractions": {"flat": -0.1, "increasing": 1}}, "family_fractions\\['flat'\\]"),
        ({"family_fractions": {"flat": 0.0}}, "at least one positive"),
        ({"family_fractions": {"flat": float("nan")}}, "finite"),
        ({"family_fractions": [0.5, 0.5]}, "mapping"),
        ({"n_cells": 0}, "n_cells must be a positive integer"),
        ({"n_genes": 2.5}, "n_genes must be a positive integer"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"likelihood": "poisson"}, "likelihood"),
        ({"n_batches": 0}, "n_batches"),
        ({"library_size_median": 0}, "library_size_median"),
        ({"mean_dropout": 1.0}, "mean_dropout"),
        ({"log_fold_change_range": (2.0, 1.0)}, "log_fold_change_range"),
        ({"time_density": "beta"}, "time_density"),
    ],
)
def test_invalid_arguments_raise_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simulate_trajectory(**{"n_cells": 10, "n_genes": 5, **kwargs})


def test_input_mapping_is_not_modified() -> None:
    fractions = {"increasing": 2.0, "flat": 2.0}
    adata = simulate_trajectory(10, 10, fractions)
    assert fractions == {"increasing": 2.0, "flat": 2.0}
    assert adata.uns["simulation"]["family_fractions"] == {"increasing": 0.5, "flat": 0.5}


def test_nonzero_buffer_grows_and_keeps_its_values() -> None:
    from scbasis.data._counts import _Buffer

    buffer = _Buffer(np.int32, 2)
    pieces = [np.arange(3), np.array([], dtype=np.int64), np.arange(10, 17), np.array([-1])]
    for piece in pieces:
        buffer.extend(piece)
    np.testing.assert_array_equal(buffer.values(), np.concatenate(pieces))
    assert buffer.values().dtype == np.int32
