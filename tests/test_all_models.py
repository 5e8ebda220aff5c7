"""Every model through the shared base: training, getters, results, save / load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import scbasis
from scbasis.model import BasisDeVAE, BasisVAE, DeVAE

from .conftest import QUIET


def _counts(n_batches: int = 1):
    return scbasis.data.simulate_trajectory(
        240,
        24,
        {"increasing": 1 / 3, "decreasing": 1 / 3, "transient": 1 / 3},
        seed=4,
        n_batches=n_batches,
    )


def _standardised():
    adata = _counts()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    adata.X = adata.X.toarray()
    sc.pp.scale(adata)  # negative, non-integer values: only the Gaussian likelihood takes them
    return adata


# name -> (model class, data builder, setup kwargs, model kwargs, results key, feature keys)
CASES = {
    "basisdevae_batches": (BasisDeVAE, lambda: _counts(2), {"batch_key": "batch"}, {}),
    "devae_gaussian": (DeVAE, _standardised, {}, {"constraint": "decreasing"}),
    "devae_2d_nb": (DeVAE, _counts, {}, {"n_latent": 2, "likelihood": "nb"}),
    "vae": (DeVAE, _standardised, {}, {"decoder": "mlp"}),
    "linear_vae": (DeVAE, _standardised, {}, {"decoder": "linear", "n_latent": 2}),
    "basisvae_gaussian": (BasisVAE, _standardised, {}, {"n_basis": 4}),
    "basisvae_zinb_shifts": (
        BasisVAE,
        lambda: _counts(2),
        {"batch_key": "batch"},
        {"likelihood": "zinb", "translation_invariance": True},
    ),
    "basisvae_linear": (BasisVAE, _standardised, {}, {"basis_network": "linear"}),
}


@pytest.fixture(scope="module", params=list(CASES))
def trained(request):
    model_cls, build, setup_kwargs, model_kwargs = CASES[request.param]
    adata = build()
    model_cls.setup_anndata(adata, **setup_kwargs)
    model = model_cls(adata, n_hidden=16, **model_kwargs)
    model.train(max_epochs=4, batch_size=64, **QUIET)
    return adata, model


def test_training_and_getters(trained):
    adata, model = trained
    for term in ("reconstruction_loss_train", "kl_local_train", "elbo_train"):
        assert np.all(np.isfinite(model.history[term].to_numpy(dtype=float))), term
    n_latent = model.module.n_latent
    mean, std = model.get_pseudotime(give_std=True)
    expected = (adata.n_obs,) if n_latent == 1 else (adata.n_obs, n_latent)
    assert mean.shape == std.shape == expected and np.all(std > 0)
    trends = model.get_gene_trends(n_points=20, latent_dim=n_latent - 1)
    assert trends.shape == (20, adata.n_vars) and np.all(np.isfinite(trends.X))
    expression = model.get_normalized_expression()
    assert expression.shape == adata.shape and np.all(np.isfinite(expression.to_numpy()))
    cll = model.get_conditional_log_likelihood(return_per_cell=True)
    assert cll.shape == (adata.n_obs,) and np.all(np.isfinite(cll))
    assert np.isfinite(model.get_elbo())
    assert np.isfinite(model.get_marginal_ll(n_mc_samples=2))


def test_write_results_keys_and_no_silent_overwrite(trained):
    adata, model = trained
    target = adata.copy()
    model.write_results(target)
    key = model._results_key
    if model.module.n_latent == 1:
        assert target.obs[f"{key}_pseudotime"].shape == (adata.n_obs,)
        assert np.all(target.obs[f"{key}_pseudotime_std"] > 0)
    else:
        assert target.obsm[f"{key}_latent"].shape == (adata.n_obs, model.module.n_latent)
    assert target.uns[key]["model"] == type(model).__name__
    if isinstance(model, BasisVAE | BasisDeVAE):
        probs = target.varm[f"{key}_cluster_probs"]
        np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
        assert list(target.var[f"{key}_cluster"].cat.categories) == list(model.families)
    elif model.decoder_type == "derivative":
        assert set(target.var[f"{key}_constraint"]) <= {"increasing", "decreasing", "free"}
    else:  # the VAE baselines have no feature-level shapes to write
        assert not any(k.startswith(key) for k in target.var)
    if model.module.batch_offsets is not None:
        offsets = target.varm[f"{key}_batch_offsets"]
        assert offsets.shape == (adata.n_vars, 2) and np.all(offsets[:, 0] == 0)
    before = target.copy()
    with pytest.raises(ValueError, match="overwrite=True"):
        model.write_results(target)
    pd.testing.assert_frame_equal(target.obs, before.obs)


def test_save_load_round_trip(trained, tmp_path):
    _, model = trained
    model.save(tmp_path / "model", save_anndata=True)
    loaded = type(model).load(tmp_path / "model")
    np.testing.assert_array_equal(
        loaded.get_latent_representation(), model.get_latent_representation()
    )
    np.testing.assert_array_equal(loaded.get_gene_trends().X, model.get_gene_trends().X)
    assert loaded.get_conditional_log_likelihood() == model.get_conditional_log_likelihood()
    if isinstance(model, BasisVAE):
        assert loaded.families == model.families
        pd.testing.assert_frame_equal(
            loaded.get_cluster_probabilities(), model.get_cluster_probabilities()
        )
