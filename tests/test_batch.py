"""Batch covariates: per-batch, per-gene offsets on the link scale, one shared pseudotime."""

from __future__ import annotations

import numpy as np
import pytest
import scvi
from scipy.stats import pearsonr, spearmanr

import scbasis
from scbasis.model import BasisDeVAE

from .conftest import QUIET

FAMILIES = {"increasing": 1 / 3, "decreasing": 1 / 3, "transient": 1 / 3}


def _fit(n_batches: int):
    scvi.settings.seed = 0
    adata = scbasis.data.simulate_trajectory(
        1500, 100, FAMILIES, seed=3, n_batches=n_batches, batch_effect_sd=0.5
    )
    BasisDeVAE.setup_anndata(adata, batch_key="batch" if n_batches > 1 else None)
    model = BasisDeVAE(adata)
    model.train(max_epochs=100, **QUIET)
    return adata, model


@pytest.fixture(scope="module")
def two_batches():
    return _fit(2)


def test_pseudotime_as_good_as_without_batches_and_offsets_recovered(two_batches):
    adata, model = two_batches
    single, single_model = _fit(1)
    rho = abs(spearmanr(model.get_pseudotime(), adata.obs["true_time"])[0])
    rho_single = abs(spearmanr(single_model.get_pseudotime(), single.obs["true_time"])[0])
    assert rho >= rho_single - 0.02
    fitted = model.get_batch_offsets()
    assert list(fitted.columns) == ["batch0", "batch1"]
    assert np.all(fitted["batch0"] == 0)
    true = adata.varm["true_batch_log_offset"]
    assert pearsonr(fitted["batch1"], true[:, 1] - true[:, 0])[0] >= 0.9


def test_offsets_do_not_depend_on_pseudotime(two_batches):
    """Within each batch every family keeps its shape: batches differ by a constant factor."""
    _, model = two_batches
    reference = model.get_gene_trends(n_points=40)
    other = model.get_gene_trends(n_points=40, batch="batch1")
    offsets = model.get_batch_offsets()["batch1"].to_numpy()
    for family in model.families:
        ratio = np.log(other.layers[family]) - np.log(reference.layers[family])
        np.testing.assert_allclose(ratio, np.broadcast_to(offsets, ratio.shape), atol=1e-4)
    up = other.layers["increasing"]
    assert np.all(np.diff(up, axis=0) >= -1e-6 * up.max())
    with pytest.raises(ValueError, match="Unknown batch"):
        model.get_gene_trends(batch="batch7")
    expression = model.get_normalized_expression(transform_batch="batch1")
    assert expression.shape == (1500, 100)


def test_batch_errors_name_the_fix():
    adata = scbasis.data.simulate_trajectory(60, 10, seed=0)
    with pytest.raises(ValueError, match="batch_key='donor' is not a column"):
        BasisDeVAE.setup_anndata(adata, batch_key="donor")
    assert "_scvi_batch" not in adata.obs  # nothing registered on bad input
    BasisDeVAE.setup_anndata(adata)
    model = BasisDeVAE(adata)
    with pytest.raises(ValueError, match="batch_key"):
        model.get_batch_offsets()
