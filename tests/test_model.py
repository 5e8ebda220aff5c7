"""BasisDeVAE end to end on small simulated counts: training, results, orientation, I/O."""

from __future__ import annotations

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from lightning.pytorch.callbacks import Callback
from scipy.stats import spearmanr

import scbasis
from scbasis.model import BasisDeVAE

from .conftest import QUIET

KEYS = {
    "obs": ["basisdevae_pseudotime", "basisdevae_pseudotime_std"],
    "var": ["basisdevae_cluster"],
    "varm": ["basisdevae_cluster_probs"],
    "uns": ["basisdevae"],
}


@pytest.fixture(scope="module")
def trained():
    """A ZINB BasisDeVAE trained briefly on 600 x 60 simulated counts."""
    adata = scbasis.data.simulate_trajectory(
        600, 60, {"increasing": 1 / 3, "decreasing": 1 / 3, "transient": 1 / 3}, seed=1
    )
    scbasis.model.setup_anndata(adata)
    model = BasisDeVAE(adata, n_hidden=32)
    model.train(max_epochs=25, batch_size=128, **QUIET)
    return adata, model


def test_zinb_training_is_finite_and_logs_every_term(trained):
    _, model = trained
    history = model.history
    for term in [
        "reconstruction_loss_train",
        "kl_local_train",
        "kl_global_train",
        "collapsed_prior_train",
        "expected_log_q_w_train",
        "library_trend_train",
        "kl_weight",
    ]:
        assert term in history, term
        assert np.all(np.isfinite(history[term].to_numpy(dtype=float))), term
    # (beta, gamma) are annealed: the weight grows from 0 over the first 20% of epochs
    weights = history["kl_weight"].to_numpy(dtype=float).ravel()
    assert weights[0] < 0.5 and weights[-1] == 1
    assert np.all(np.diff(weights) >= 0)
    elbo = history["elbo_train"].to_numpy(dtype=float).ravel()
    assert elbo[-1] < elbo[0]


def test_getters(trained, capsys):
    adata, model = trained
    mean, variance = model.get_latent_representation(return_dist=True)
    assert mean.shape == variance.shape == (adata.n_obs, 1)
    assert np.all(variance > 0)
    mean = mean[:, 0]
    # the pseudotime: each cell's posterior under the fitted decoder, closer to the truth
    pseudotime, spread = model.get_pseudotime(give_std=True)
    assert pseudotime.shape == spread.shape == (adata.n_obs,) and np.all(spread > 0)
    rho = abs(spearmanr(pseudotime, adata.obs["true_time"])[0])
    assert rho > 0.8 and rho > abs(spearmanr(mean, adata.obs["true_time"])[0])
    probs = model.get_cluster_probabilities()
    assert list(probs.columns) == ["increasing", "decreasing", "transient", "flat"]
    assert list(probs.index) == list(adata.var_names)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    trends = model.get_gene_trends(genes=list(adata.var_names[:5]), n_points=30)
    assert trends.shape == (30, 5)
    families = {"increasing", "decreasing", "transient", "flat"}
    assert set(trends.layers) == families | {"interval_lower", "interval_upper"}
    assert trends.uns["interval"] == 0.8
    lower, upper = trends.layers["interval_lower"], trends.layers["interval_upper"]
    assert np.all(lower >= 0) and np.all(lower <= upper) and np.all(upper > 0)
    no_interval = model.get_gene_trends(genes=list(adata.var_names[:5]), interval=None)
    assert set(no_interval.layers) == families and "interval" not in no_interval.uns
    assert np.all(np.diff(trends.obs["pseudotime"]) > 0)
    assert np.all(np.diff(trends.layers["increasing"], axis=0) >= -1e-6 * trends.X.max())
    expression = model.get_normalized_expression(library_size=1e4)
    assert expression.shape == adata.shape and np.all(expression.to_numpy() > 0)
    cll = model.get_conditional_log_likelihood(return_per_cell=True)
    assert cll.shape == (adata.n_obs,) and np.all(np.isfinite(cll))
    assert model.get_conditional_log_likelihood() == pytest.approx(cll.sum(), rel=1e-5)
    assert np.isfinite(model.get_elbo())
    assert np.isfinite(model.get_reconstruction_error()["reconstruction_loss"])
    assert np.isfinite(model.get_marginal_ll(n_mc_samples=3))
    repr(model)  # like scvi-tools models, repr prints the summary with rich
    printed = capsys.readouterr().out
    assert "BasisDeVAE" in printed and "zinb" in printed and "Trained" in printed


def test_write_results_writes_every_key(trained):
    adata, model = trained
    target = adata.copy()
    model.write_results(target)
    for attr, keys in KEYS.items():
        for key in keys:
            assert key in getattr(target, attr), (attr, key)
    assert target.varm["basisdevae_cluster_probs"].shape == (adata.n_vars, 4)
    assert target.uns["basisdevae"]["cluster_probs_columns"] == [
        "increasing",
        "decreasing",
        "transient",
        "flat",
    ]
    assert target.uns["basisdevae"]["version"] == scbasis.__version__
    assert isinstance(target.var["basisdevae_cluster"].dtype, pd.CategoricalDtype)
    # existing keys are never silently overwritten
    before = target.obs["basisdevae_pseudotime"].copy()
    with pytest.raises(ValueError, match="overwrite=True"):
        model.write_results(target)
    pd.testing.assert_series_equal(target.obs["basisdevae_pseudotime"], before)
    model.write_results(target, key_added="second")
    assert "second_pseudotime" in target.obs


def test_root_orients_pseudotime_and_swaps_monotone_families(trained):
    adata, model = trained
    early = adata.obs["true_time"].to_numpy() < 0.1
    late = adata.obs["true_time"].to_numpy() > 0.9
    a, b = adata.copy(), adata.copy()
    model.write_results(a, root=early)
    b.obs["stage"] = np.where(late, "late", "other")
    model.write_results(b, root=("stage", "late"))
    pa, pb = a.obs["basisdevae_pseudotime"], b.obs["basisdevae_pseudotime"]
    np.testing.assert_allclose(pa, -pb, rtol=1e-6)
    assert spearmanr(pa, adata.obs["true_time"])[0] > 0.8
    assert pa[early].mean() < pa.mean()
    probs_a, probs_b = a.varm["basisdevae_cluster_probs"], b.varm["basisdevae_cluster_probs"]
    np.testing.assert_allclose(probs_a[:, 0], probs_b[:, 1])
    np.testing.assert_allclose(probs_a[:, 1], probs_b[:, 0])
    np.testing.assert_allclose(probs_a[:, 2:], probs_b[:, 2:])
    swap = {"increasing": "decreasing", "decreasing": "increasing"}
    swapped = [swap.get(c, c) for c in a.var["basisdevae_cluster"]]
    assert swapped == list(b.var["basisdevae_cluster"])
    # the trends follow the orientation: an increasing gene rises along the oriented time
    model.orient(early)
    up = model.get_gene_trends().layers["increasing"]
    assert np.all(np.diff(up, axis=0) >= -1e-6 * up.max())


def test_bad_root_is_rejected_before_anything_changes(trained):
    adata, model = trained
    target = adata.copy()
    with pytest.raises(ValueError, match=r"not in adata\.obs_names"):
        model.write_results(target, root=["no-such-cell"])
    with pytest.raises(ValueError, match="lacks"):
        model.write_results(target, root=("missing_column", "x"))
    assert "basisdevae_pseudotime" not in target.obs


def test_save_load_round_trip_is_identical(trained, tmp_path):
    adata, model = trained
    model.orient(adata.obs["true_time"].to_numpy() > 0.9)
    model.save(tmp_path / "model", save_anndata=True)
    loaded = BasisDeVAE.load(tmp_path / "model")
    assert loaded.orientation_ == model.orientation_
    np.testing.assert_array_equal(
        loaded.get_latent_representation(), model.get_latent_representation()
    )
    pd.testing.assert_frame_equal(
        loaded.get_cluster_probabilities(), model.get_cluster_probabilities()
    )
    np.testing.assert_array_equal(loaded.get_gene_trends().X, model.get_gene_trends().X)
    assert loaded.get_conditional_log_likelihood() == model.get_conditional_log_likelihood()


def test_setup_and_data_errors_name_the_fix():
    adata = scbasis.data.simulate_trajectory(50, 10, seed=0)
    with pytest.raises(ValueError, match=r"not in adata\.layers"):
        scbasis.model.setup_anndata(adata, layer="counts")
    with pytest.raises(ValueError, match="size_factor_key"):
        scbasis.model.setup_anndata(adata, size_factor_key="nope")
    logged = adata.copy()
    logged.X = sp.csr_matrix(np.log1p(logged.X.toarray()))
    scbasis.model.setup_anndata(logged)
    with pytest.raises(ValueError, match="raw counts"):
        BasisDeVAE(logged)
    empty = adata.copy()
    dense = empty.X.toarray()
    dense[0] = 0
    empty.X = sp.csr_matrix(dense)
    scbasis.model.setup_anndata(empty)
    with pytest.raises(ValueError, match="filter_cells"):
        BasisDeVAE(empty)
    with pytest.raises(ValueError, match="likelihood"):
        scbasis.model.setup_anndata(adata)
        BasisDeVAE(adata, likelihood="bernoulli")
    with pytest.raises(ValueError, match="tolerance must be positive"):
        BasisDeVAE(adata, decoder="network", quadrature_tolerance=0.0)
    with pytest.raises(ValueError, match="decoder"):
        BasisDeVAE(adata, decoder="spline")
    with pytest.raises(ValueError, match="flat_family needs decoder='basis'"):
        BasisDeVAE(adata, decoder="network", flat_family=True)
    sized = adata.copy()
    scbasis.model.setup_anndata(sized, size_factor_key="library_size")
    with pytest.raises(ValueError, match="size_factor_key='library_size'"):
        BasisDeVAE(sized, library_size="trend")


@pytest.mark.parametrize("tolerance", [None, 1e-3])
def test_quadrature_tolerance_reaches_the_rule_and_survives_saving(tolerance, tmp_path):
    adata = scbasis.data.simulate_trajectory(60, 10, seed=1)
    scbasis.model.setup_anndata(adata)
    model = BasisDeVAE(adata, decoder="network", quadrature_tolerance=tolerance)
    assert model.module.decoder.quadrature.tolerance == tolerance
    model.save(tmp_path / "model", save_anndata=True)
    loaded = BasisDeVAE.load(tmp_path / "model")
    assert loaded.module.decoder.quadrature.tolerance == tolerance
    devae = scbasis.model.DeVAE
    devae.setup_anndata(adata)
    assert devae(adata, quadrature_tolerance=tolerance).module.decoder.quadrature.tolerance == (
        tolerance
    )


def test_size_factor_key_replaces_total_counts():
    adata = scbasis.data.simulate_trajectory(80, 12, seed=2)
    scbasis.model.setup_anndata(adata, size_factor_key="library_size")
    model = BasisDeVAE(adata, likelihood="nb")
    model.train(max_epochs=1, **QUIET)
    assert model.get_normalized_expression().shape == adata.shape


class _OptimizerSpy(Callback):
    """Records the optimizer Lightning trains with first (the joint training's)."""

    def on_train_start(self, trainer, pl_module):
        if not hasattr(self, "optimizer"):
            self.optimizer = trainer.optimizers[0]


@pytest.mark.parametrize(
    ("plan_kwargs", "expected", "fused"),
    [(None, torch.optim.Adam, True), ({"optimizer": "AdamW"}, torch.optim.AdamW, None)],
)
def test_training_uses_fused_adam_unless_the_plan_names_an_optimizer(plan_kwargs, expected, fused):
    adata = scbasis.data.simulate_trajectory(200, 20, seed=2)
    scbasis.model.setup_anndata(adata)
    model = BasisDeVAE(adata, n_hidden=8)
    spy = _OptimizerSpy()
    model.train(max_epochs=1, lr=2e-3, plan_kwargs=plan_kwargs, callbacks=[spy], **QUIET)
    assert type(spy.optimizer) is expected
    assert spy.optimizer.defaults["fused"] is fused
    assert spy.optimizer.defaults["lr"] == 2e-3


def _model_of(n_cells: int, n_genes: int = 3) -> BasisDeVAE:
    counts = np.random.default_rng(0).poisson(3.0, (n_cells, n_genes)).astype(np.float32) + 1
    adata = anndata.AnnData(sp.csr_matrix(counts))
    BasisDeVAE.setup_anndata(adata)
    return BasisDeVAE(adata)


@pytest.mark.parametrize(
    ("n_cells", "max_epochs", "family_epochs"),
    [
        (8_000, 100, {100: 30, 20: 10}),  # the papers' epochs; the family fit's floor of 10
        (40_000, 100, {100: 18}),  # 30 % of the epochs would be over 5,600 minibatches
        (100_000, 80, {80: 8, 10: 8}),  # fewer epochs in proportion above 80,000 cells
        (400_000, 20, {20: 2, 5: 2}),
    ],
)
def test_default_epochs_fall_with_the_cells_above_80000(n_cells, max_epochs, family_epochs):
    model = _model_of(n_cells)
    assert model.default_max_epochs() == max_epochs
    for joint, family in family_epochs.items():
        assert model.default_family_epochs(joint) == family


def test_train_without_epochs_takes_the_defaults():
    model = _model_of(300, n_genes=8)
    model.train(**QUIET)
    assert len(model.history["elbo_train"]) == 100
    assert len(model.family_fit_history_) == 30
