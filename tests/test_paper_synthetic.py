"""The papers' synthetic benchmark: the data as specified, and BasisDeVAE's result on it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import adjusted_rand_score

import scbasis

from .conftest import QUIET


def test_data_follow_the_specification():
    adata = scbasis.data.paper_synthetic(seed=0)
    assert adata.shape == (500, 50)
    t = adata.obs["true_time"].to_numpy()
    np.testing.assert_allclose(t, np.linspace(-3, 3, 500))
    family = adata.var["true_family"].to_numpy()
    assert list(family) == ["transient"] * 30 + ["increasing"] * 10 + ["decreasing"] * 10
    clean = adata.layers["noiseless"]
    # transients: unit-width Gaussians with amplitudes on [0.4, 1.6], centres on [-1.5, 1.5]
    peaks = clean[:, :30].max(0)
    np.testing.assert_allclose(np.sort(peaks), np.linspace(0.4, 1.6, 30), atol=1e-4)
    centres = t[clean[:, :30].argmax(0)]
    np.testing.assert_allclose(np.sort(centres), np.linspace(-1.5, 1.5, 30), atol=6 / 499)
    # monotone features: 0.4 A softplus(t + shift), negated for the decreasing ones
    assert np.all(np.diff(clean[:, 30:40], axis=0) > 0)
    assert np.all(np.diff(clean[:, 40:50], axis=0) < 0)
    amplitudes = clean[-1, 30:40] / (0.4 * np.log1p(np.exp(3 + np.linspace(-1.5, 1.5, 10))))
    assert np.all((amplitudes > 0.4 - 1e-6) & (amplitudes < 1.6 * 1.5))
    # noise: numpy's legacy stream reseeded with the seed, times 0.1
    np.random.seed(0)  # noqa: NPY002 - the authors used the legacy global stream
    expected_noise = 0.1 * np.random.randn(500, 50)  # noqa: NPY002
    np.testing.assert_allclose(adata.X - clean, expected_noise, atol=1e-6)


def test_subsets_and_arguments():
    low = scbasis.data.paper_synthetic(subset="low")
    high = scbasis.data.paper_synthetic(subset="high")
    assert low.obs["true_time"].max() < 1 and high.obs["true_time"].min() > -1
    assert low.n_obs == 333 and high.n_obs == 333
    noiseless = scbasis.data.paper_synthetic(noise=0.0)
    np.testing.assert_array_equal(noiseless.X, noiseless.layers["noiseless"])
    assert not np.allclose(scbasis.data.paper_synthetic(seed=1).X, noiseless.X)
    with pytest.raises(ValueError, match="subset"):
        scbasis.data.paper_synthetic(subset="middle")


def test_basisdevae_recovers_families_and_time_with_the_papers_settings():
    """Paper section 5.1: Gaussian, 300 epochs, batch 32, hidden 64, tanh, alpha 0.1."""
    adata = scbasis.data.paper_synthetic(seed=0)
    scbasis.model.BasisDeVAE.setup_anndata(adata)
    model = scbasis.model.BasisDeVAE(
        adata, likelihood="gaussian", n_hidden=64, activation="tanh", alpha=0.1, beta=1, gamma=1
    )
    model.train(max_epochs=300, batch_size=32, train_size=1.0, annealing_fraction=0.0, **QUIET)
    model.write_results()
    ari = adjusted_rand_score(adata.var["true_family"], adata.var["basisdevae_cluster"])
    rho = spearmanr(adata.obs["basisdevae_pseudotime"], adata.obs["true_time"])[0]
    assert ari == 1.0
    assert abs(rho) >= 0.98
