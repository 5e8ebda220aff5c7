"""BasisDeVAE's gene calls on simulated counts: the right shapes, with probabilities to match."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

import scbasis
from scbasis.model import BasisDeVAE
from scbasis.model._family_fit import DEFAULT_FAMILY_LR

from .conftest import QUIET


def _fit(adata, epochs: int, **kwargs) -> BasisDeVAE:
    scbasis.model.setup_anndata(adata)
    model = BasisDeVAE(adata, **kwargs)
    model.train(max_epochs=epochs, **QUIET)
    earliest = adata.obs["true_time"] <= adata.obs["true_time"].quantile(0.05)
    model.write_results(root=earliest.to_numpy())
    return model


@pytest.fixture(scope="module")
def called():
    """2,000 cells x 150 genes in thirds, trained with the defaults and oriented from the start."""
    adata = scbasis.data.simulate_trajectory(
        2000, 150, {"increasing": 1 / 3, "decreasing": 1 / 3, "transient": 1 / 3}, seed=7
    )
    return adata, _fit(adata, 60)


def test_a_steep_switch_is_monotone_and_a_central_bump_transient(called):
    adata, _ = called
    var = adata.var
    probs = adata.varm["basisdevae_cluster_probs"]
    calls = var["basisdevae_cluster"].astype(str)
    columns = adata.uns["basisdevae"]["cluster_probs_columns"]
    truth = var["observed_family"].astype(str)
    steep = var.index[
        (var["true_shape"] == "sigmoid")
        & (var["true_steepness"] > 20)
        & (truth == var["true_family"].astype(str))
    ]
    central = var.index[
        (var["true_shape"] == "bump")
        & var["true_peak"].between(0.3, 0.7)
        & (var["observed_rise"] > 1)
        & (var["observed_fall"] > 1)
    ]
    assert len(steep) >= 3 and len(central) >= 3
    for gene in [*steep, *central]:
        position = var.index.get_loc(gene)
        assert calls[gene] == truth[gene], gene
        assert probs[position, columns.index(truth[gene])] >= 0.9, gene


def test_calls_match_the_observed_shapes_with_honest_probabilities(called):
    adata, _ = called
    truth = adata.var["observed_family"]
    probs = adata.varm["basisdevae_cluster_probs"]
    scores = scbasis.metrics.score_calls(truth, adata.var["basisdevae_cluster"], probs)
    assert scores.ari >= 0.85
    assert scores.n_confident >= 100
    assert scores.confident_error_rate <= 0.1
    rho = spearmanr(adata.obs["basisdevae_pseudotime"], adata.obs["true_time"])[0]
    assert rho >= 0.98


def test_family_fit_history_and_the_network_decoder(called):
    adata, model = called
    history = model.family_fit_history_
    assert list(history.columns) == ["family_fit_loss", "lr"]
    losses = history["family_fit_loss"].to_numpy()
    assert len(losses) == 18 and losses[-1] < losses[0]  # 30 % of 60 epochs
    rates = history["lr"].to_numpy()  # a cosine from DEFAULT_FAMILY_LR to 0
    assert rates[0] > 0.95 * DEFAULT_FAMILY_LR and np.all(np.diff(rates) < 0)
    assert rates[-1] <= 1e-6 * DEFAULT_FAMILY_LR
    network = BasisDeVAE(adata, decoder="network")
    assert network.families == ("increasing", "decreasing", "transient")
    with pytest.raises(ValueError, match="basis decoder"):
        network.fit_families()


def test_flat_genes_are_called_flat_and_monotone_ones_not():
    adata = scbasis.data.simulate_trajectory(
        1500, 120, {"increasing": 0.3, "decreasing": 0.3, "flat": 0.4}, seed=4
    )
    model = _fit(adata, 60)
    assert model.families == ("increasing", "decreasing", "transient", "flat")
    assert adata.uns["basisdevae"]["families"] == list(model.families)
    flat = (adata.var["observed_family"] == "flat").to_numpy()
    calls = adata.var["basisdevae_cluster"].astype(str).to_numpy()
    assert (calls[flat] == "flat").mean() >= 0.8
    assert (calls[~flat] != "flat").mean() >= 0.9
    top = adata.varm["basisdevae_cluster_probs"].max(axis=1)
    wrong = calls != adata.var["observed_family"].astype(str).to_numpy()
    assert (wrong[top >= 0.9]).mean() <= 0.1
    assert np.isfinite(top).all()
