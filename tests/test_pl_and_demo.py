"""The gene-trend plot (a real Agg render to PNG) and the demo command end to end."""

from __future__ import annotations

import anndata as ad
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

import scbasis
from scbasis.__main__ import main

from .conftest import QUIET


@pytest.fixture(scope="module")
def trends():
    adata = scbasis.data.simulate_trajectory(300, 24, seed=3)
    scbasis.model.setup_anndata(adata)
    model = scbasis.model.BasisDeVAE(adata, n_hidden=16)
    model.train(max_epochs=3, **QUIET)
    return model.get_gene_trends(n_points=40)


def test_gene_trends_draws_one_line_per_gene_in_its_family_panel(trends, tmp_path):
    path = tmp_path / "trends.png"
    axs = scbasis.pl.gene_trends(trends, save=path, show=False)
    assert [ax.get_title().split(" (")[0] for ax in axs] == [
        "increasing",
        "decreasing",
        "transient",
        "flat",
    ]
    counts = trends.var["family"].value_counts()
    for ax in axs:
        family = ax.get_title().split(" (")[0]
        assert len(ax.get_lines()) == counts.get(family, 0)
        for line in ax.get_lines():
            assert line.get_color() == scbasis.pl.FAMILY_COLORS[family]
            y = line.get_ydata()
            assert y.min() >= 0 and y.max() <= 1  # standard-scaled
    image = plt.imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 600
    assert image[..., :3].std() > 0.05  # not a blank canvas
    plt.close("all")


def test_gene_trends_subsets_genes_and_rejects_other_input(trends):
    genes = list(trends.var_names[:4])
    axs = scbasis.pl.gene_trends(trends, genes=genes, standard_scale=False, show=False)
    assert sum(len(ax.get_lines()) for ax in axs) == 4
    plt.close("all")
    with pytest.raises(ValueError, match="get_gene_trends"):
        scbasis.pl.gene_trends(ad.AnnData(np.zeros((3, 2))), show=False)


def test_demo_command_writes_results_and_a_figure(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--cells", "300", "--genes", "30", "--epochs", "3"]
    assert main([*args, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "Spearman" in printed and "ARI" in printed
    adata = ad.read_h5ad(out / "demo.h5ad")
    assert {"basisdevae_pseudotime", "basisdevae_pseudotime_std"} <= set(adata.obs)
    assert "basisdevae_cluster_probs" in adata.varm
    assert plt.imread(out / "gene_trends.png").ndim == 3
