"""Bad or unusual input: a clear error (or warning) naming the fix before any work, the user's
AnnData left as it was, and features matched by name, never by position."""

from __future__ import annotations

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import scvi
import torch
from anndata.experimental import AnnCollection
from scipy.stats import spearmanr
from scvi.dataloaders import CollectionAdapter
from sklearn.metrics import adjusted_rand_score

import scbasis
from scbasis.model import BasisDeVAE, DeVAE
from scbasis.model._data_statistics import matrix_statistics

from .conftest import QUIET


def _snapshot(adata: anndata.AnnData) -> dict:
    """Everything of ``adata`` a user owns, apart from scvi-tools' registration fields."""
    x = adata.X.toarray() if sp.issparse(adata.X) else np.array(adata.X)
    return {
        "X": x,
        "obs": adata.obs.drop(columns=[c for c in adata.obs if c.startswith("_scvi")]).copy(),
        "var": adata.var.copy(),
        "uns": sorted(k for k in adata.uns if not k.startswith("_scvi")),
        "layers": sorted(adata.layers),
        "obsm": sorted(adata.obsm),
        "is_view": adata.is_view,
    }


def _assert_unchanged(adata: anndata.AnnData, before: dict) -> None:
    after = _snapshot(adata)
    np.testing.assert_array_equal(after.pop("X"), before["X"])
    assert after["obs"].equals(before["obs"]) and after["var"].equals(before["var"])
    for key in ("uns", "layers", "obsm", "is_view"):
        assert after[key] == before[key], key


@pytest.fixture(scope="module")
def trained():
    adata = scbasis.data.simulate_trajectory(
        200, 20, {"increasing": 0.5, "transient": 0.5}, seed=5
    )
    BasisDeVAE.setup_anndata(adata)
    model = BasisDeVAE(adata, n_hidden=16)
    model.train(max_epochs=3, batch_size=64, family_epochs=0, **QUIET)
    return adata, model


def test_reordered_genes_are_matched_by_name(trained):
    adata, model = trained
    expected = model.get_latent_representation(adata.copy())
    reordered = adata[:, ::-1].copy()
    before = _snapshot(reordered)
    np.testing.assert_allclose(model.get_latent_representation(reordered), expected, rtol=1e-6)
    np.testing.assert_allclose(model.get_pseudotime(reordered), model.get_pseudotime(adata))
    _assert_unchanged(reordered, before)


def test_results_reach_a_reordered_anndata_by_name(trained):
    adata, model = trained
    original = adata.copy()
    model.write_results(original)
    reordered = adata[:, ::-1].copy()
    model.write_results(reordered)
    for key in ("basisdevae_cluster",):
        assert (reordered.var[key] == original.var[key].loc[reordered.var_names]).all()
    probs = original.varm["basisdevae_cluster_probs"]
    np.testing.assert_array_equal(reordered.varm["basisdevae_cluster_probs"], probs[::-1])
    np.testing.assert_allclose(
        reordered.obs["basisdevae_pseudotime"], original.obs["basisdevae_pseudotime"]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a[:, 1:].copy(), r"1 of the model's are missing \(e.g. \['gene0000'\]\)"),
        (
            lambda a: anndata.concat(
                [
                    a,
                    anndata.AnnData(
                        np.ones((a.n_obs, 1)), obs=a.obs[[]], var=pd.DataFrame(index=["extra"])
                    ),
                ],
                axis=1,
            ),
            r"1 are not the model's \(e.g. \['extra'\]\)",
        ),
    ],
    ids=["missing", "extra"],
)
def test_query_with_other_genes_is_refused_with_their_names(trained, change, message):
    adata, model = trained
    query = change(adata)
    before = _snapshot(query)
    with pytest.raises(ValueError, match=message):
        model.get_latent_representation(query)
    _assert_unchanged(query, before)


def test_a_view_is_read_but_left_a_view(trained):
    adata, model = trained
    view = adata[:50]
    before = _snapshot(view)
    latent = model.get_latent_representation(view)
    np.testing.assert_allclose(latent, model.get_latent_representation(adata)[:50], rtol=1e-6)
    _assert_unchanged(view, before)
    with pytest.raises(ValueError, match=r"is a view.*adata.copy\(\)"):
        model.write_results(view)
    _assert_unchanged(view, before)


def _counts(n_cells: int = 60, n_genes: int = 8, seed: int = 0) -> anndata.AnnData:
    return scbasis.data.simulate_trajectory(n_cells, n_genes, {"increasing": 1.0}, seed=seed)


def test_setup_refuses_a_view_and_duplicated_names():
    adata = _counts()
    view = adata[:30]
    before = _snapshot(view)
    with pytest.raises(ValueError, match=r"is a view.*adata = adata.copy\(\)"):
        BasisDeVAE.setup_anndata(view)
    _assert_unchanged(view, before)

    duplicated = _counts()
    duplicated.var_names = ["a", "b", "a", *duplicated.var_names[3:]]
    before = _snapshot(duplicated)
    with pytest.raises(
        ValueError, match=r"duplicated names \(e.g. \['a'\]\).*var_names_make_unique"
    ):
        scbasis.model.setup_anndata(duplicated)
    _assert_unchanged(duplicated, before)


def test_gene_without_counts_is_named_in_a_warning():
    adata = _counts()
    x = adata.X.toarray()
    x[:, 3] = 0
    adata.X = sp.csr_matrix(x)
    BasisDeVAE.setup_anndata(adata)
    with pytest.warns(UserWarning, match=r"1 genes have no counts.*gene0003.*filter_genes"):
        BasisDeVAE(adata, n_hidden=8)


@pytest.mark.parametrize(
    "layout",
    [
        sp.csr_matrix,
        sp.csc_matrix,
        lambda x: x.toarray().astype(np.int64),
        lambda x: x.toarray().astype(np.float64),
    ],
    ids=["csr", "csc", "dense_int", "float64"],
)
def test_every_matrix_layout_gives_the_same_model(layout):
    """The same counts in every layout: the same starting loss and the same trained latent."""
    reference = _counts(seed=2)
    adata = reference.copy()
    adata.X = layout(reference.X)
    latents = []
    for data in (reference, adata):
        scvi.settings.seed = 0
        DeVAE.setup_anndata(data)
        model = DeVAE(data, n_hidden=8, likelihood="nb")
        model.train(max_epochs=2, batch_size=30, **QUIET)
        latents.append(model.get_latent_representation())
    np.testing.assert_allclose(latents[1], latents[0], rtol=1e-4, atol=1e-5)


def test_a_diverging_loss_stops_training_naming_the_term_and_the_epoch():
    adata = _counts()
    DeVAE.setup_anndata(adata)
    model = DeVAE(adata, n_hidden=8, likelihood="nb")
    with torch.no_grad():
        model.module.log_theta[0] = float("nan")
    with pytest.raises(
        FloatingPointError, match=r"epoch 1, step 1: .*reconstruction_loss not finite.*lr="
    ):
        model.train(max_epochs=3, batch_size=30, **QUIET)


def test_unscaled_gaussian_features_are_named_and_a_diverging_network_stops_training():
    """Raw counts under DeVAE's Gaussian likelihood: a warning names the scale before any
    work, and the encoder's infinite output stops training with the epoch and the fixes."""
    adata = scbasis.data.simulate_trajectory(200, 8, {"increasing": 0.5, "decreasing": 0.5})
    scbasis.model.setup_anndata(adata)
    with pytest.warns(UserWarning, match=r"standard deviation up to .*sc\.pp\.scale"):
        model = DeVAE(adata, n_latent=2, n_hidden=8)
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 1: .*not finite.*sc\.pp\.scale"):
        model.train(max_epochs=2, **QUIET)


def test_float16_counts_are_refused_with_the_conversion():
    adata = _counts()
    adata.X = adata.X.toarray().astype(np.float16)
    DeVAE.setup_anndata(adata)
    before = _snapshot(adata)
    with pytest.raises(ValueError, match=r"float16.*astype\(np.float32\)"):
        DeVAE(adata, n_hidden=8, likelihood="nb")
    _assert_unchanged(adata, before)


def test_a_batch_of_one_cell_is_named_in_a_warning():
    adata = _counts()
    adata.obs["sample"] = ["a"] * (adata.n_obs - 1) + ["lonely"]
    with pytest.warns(UserWarning, match=r"1 batches .*single cell \(e.g. \['lonely'\]\)"):
        scbasis.model.setup_anndata(adata, batch_key="sample")
    DeVAE(adata, n_hidden=8, likelihood="nb").train(max_epochs=1, batch_size=30, **QUIET)


@pytest.fixture(scope="module")
def on_disk(tmp_path_factory):
    """1,500 x 100 simulated counts written to disk as CSR and as dense, and one model trained
    on them in memory and one trained from the backed CSR file."""
    adata = scbasis.data.simulate_trajectory(
        1500, 100, {"increasing": 1 / 3, "decreasing": 1 / 3, "transient": 1 / 3}, seed=7
    )
    folder = tmp_path_factory.mktemp("backed")
    dense = adata.copy()
    dense.X = dense.X.toarray()
    adata.write_h5ad(folder / "csr.h5ad")
    dense.write_h5ad(folder / "dense.h5ad")
    backed = anndata.read_h5ad(folder / "csr.h5ad", backed="r")
    models = []
    for data in (adata.copy(), backed):
        scvi.settings.seed = 0
        BasisDeVAE.setup_anndata(data)
        model = BasisDeVAE(data, n_hidden=16)
        model.train(max_epochs=40, batch_size=100, **QUIET)
        true_time = adata.obs["true_time"].to_numpy()
        model.orient(true_time < np.quantile(true_time, 0.05))  # one sign, so calls compare
        models.append(model)
    assert backed.isbacked
    return adata, folder, models


@pytest.mark.parametrize("layout", ["csr", "dense"])
def test_a_model_reads_a_backed_anndata_as_the_same_data_in_memory(on_disk, layout):
    _, folder, (model, _) = on_disk
    backed = anndata.read_h5ad(folder / f"{layout}.h5ad", backed="r")
    np.testing.assert_allclose(model.get_pseudotime(backed), model.get_pseudotime(), rtol=1e-6)
    model.write_results(backed)
    assert backed.isbacked
    np.testing.assert_allclose(
        backed.obs["basisdevae_pseudotime"], model.get_pseudotime(), rtol=1e-6
    )
    with pytest.raises(ValueError, match=r"ascending order.*np.sort\(indices\)"):
        model.get_pseudotime(backed, indices=[5, 3, 4])


def test_training_from_a_backed_anndata_matches_training_in_memory(on_disk):
    """X stays on disk (minibatches for training and getters, blocks of rows for the
    statistics). The minibatches of a backed AnnData reach the module with their cells sorted,
    so each cell draws other latent noise: the two models are equally good, not equal."""
    adata, _, models = on_disk
    true_time = adata.obs["true_time"].to_numpy()
    quality = [spearmanr(m.get_pseudotime(), true_time)[0] for m in models]
    assert min(quality) > 0.95 and abs(quality[0] - quality[1]) < 0.02
    observed = adata.var["observed_family"]
    calls = [
        adjusted_rand_score(observed, m.get_cluster_probabilities().idxmax(axis=1)) for m in models
    ]
    assert min(calls) > 0.75 and abs(calls[0] - calls[1]) < 0.1


def test_training_from_many_files_through_scvi_tools_collection_adapter(tmp_path):
    """scvi-tools' route for data in many files: an AnnCollection of backed AnnData objects
    in a CollectionAdapter. The statistics read through it equal those of the data in memory,
    a model reads it as the same cells, and a model trained from it is the model trained from
    the same cells in one backed file (both read each minibatch's cells in ascending order)."""
    adata = scbasis.data.simulate_trajectory(
        600, 60, {"increasing": 1 / 3, "decreasing": 1 / 3, "transient": 1 / 3}, seed=8
    )
    adata.layers["counts"] = adata.X.copy()
    parts = []
    for k, (start, stop) in enumerate([(0, 200), (200, 450), (450, 600)]):
        adata[start:stop].copy().write_h5ad(tmp_path / f"part{k}.h5ad")
        parts.append(anndata.read_h5ad(tmp_path / f"part{k}.h5ad", backed="r"))
    collection = CollectionAdapter(AnnCollection(parts, join_obs="inner"))
    adata.write_h5ad(tmp_path / "whole.h5ad")
    one_file = anndata.read_h5ad(tmp_path / "whole.h5ad", backed="r")
    on_disk, in_memory = matrix_statistics(collection, "counts"), matrix_statistics(adata, None)
    np.testing.assert_array_equal(on_disk.row_total, in_memory.row_total)
    np.testing.assert_array_equal(on_disk.column_square_sum, in_memory.column_square_sum)
    assert on_disk.counts and on_disk.dtype == in_memory.dtype

    models = []
    for data in (one_file, collection):
        scvi.settings.seed = 0
        BasisDeVAE.setup_anndata(data, layer="counts")
        model = BasisDeVAE(data, n_hidden=16)
        model.train(max_epochs=10, batch_size=100, **QUIET)
        models.append(model)
    from_file, from_collection = models
    np.testing.assert_allclose(from_collection.get_pseudotime(), from_file.get_pseudotime())
    np.testing.assert_allclose(
        from_collection.get_cluster_probabilities(), from_file.get_cluster_probabilities()
    )
    np.testing.assert_allclose(
        from_file.get_pseudotime(collection), from_file.get_pseudotime(), rtol=1e-6
    )
    written = adata.copy()
    from_collection.write_results(written)
    np.testing.assert_array_equal(
        written.obs["basisdevae_pseudotime"], from_collection.get_pseudotime()
    )


def test_fewer_cells_than_a_minibatch_and_fewer_genes_than_families():
    """Five cells with the default minibatch of 128, and two genes for BasisDeVAE's four
    families: both train and give finite results."""
    few_cells = _counts(n_cells=60, seed=3)[:5].copy()
    few_genes = _counts(n_cells=80, n_genes=8, seed=4)
    few_genes = few_genes[:, np.asarray(few_genes.X.sum(axis=0)).ravel().argsort()[-2:]].copy()
    few_genes = few_genes[np.asarray(few_genes.X.sum(axis=1)).ravel() > 0].copy()
    for adata in (few_cells, few_genes):
        BasisDeVAE.setup_anndata(adata)
        model = BasisDeVAE(adata, n_hidden=8)
        model.train(max_epochs=2, **QUIET)
        assert np.all(np.isfinite(model.get_pseudotime()))
        assert model.get_cluster_probabilities().shape == (adata.n_vars, 4)
