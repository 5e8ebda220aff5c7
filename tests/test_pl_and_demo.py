"""The plots (real Agg renders to PNG), each drawn from a model's written results and from the
same AnnData read back from .h5ad, and the demo command end to end."""

from __future__ import annotations

import anndata as ad
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from matplotlib.colors import to_hex

import scbasis
from scbasis.__main__ import main

from .conftest import QUIET

GENES = ["gene0000", "gene0001", "gene0013", "gene0022", "gene0030"]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A trained BasisDeVAE's results in memory and read back from disk, and the model."""
    adata = scbasis.data.simulate_trajectory(300, 36, seed=3)
    stage = pd.cut(adata.obs["true_time"], 4, labels=["early", "mid", "late", "last"])
    adata.obs["stage"] = stage
    scbasis.model.setup_anndata(adata)
    model = scbasis.model.BasisDeVAE(adata, n_hidden=16)
    model.train(max_epochs=4, train_size=0.9, check_val_every_n_epoch=1, family_epochs=2, **QUIET)
    model.write_results(root=adata.obs["true_time"].to_numpy() < 0.1)
    path = tmp_path_factory.mktemp("written") / "results.h5ad"
    adata.write_h5ad(path)
    return {"memory": adata, "disk": ad.read_h5ad(path)}, model


@pytest.fixture(params=["memory", "disk"])
def results(request, written):
    return written[0][request.param]


def _render(fig, path) -> np.ndarray:
    fig.savefig(path, dpi=100)
    plt.close(fig)
    image = plt.imread(path)
    assert image[..., :3].std() > 0.05  # not a blank canvas
    return image


def test_gene_trends_draws_each_gene_over_its_cells(results, tmp_path):
    axs = scbasis.pl.gene_trends(results, GENES, ncols=2, show=False)
    assert len(axs) == len(GENES)
    assert len(axs[0].figure.axes) == 6 and not axs[0].figure.axes[-1].get_visible()
    probs = results.varm["basisdevae_cluster_probs"]
    families = list(results.uns["basisdevae"]["families"])
    palette = dict(zip(families, results.uns["basisdevae_cluster_colors"], strict=True))
    for gene, ax in zip(GENES, axs, strict=True):
        j = results.var_names.get_loc(gene)
        call = families[probs[j].argmax()]
        assert ax.get_title() == f"{gene}\n{call} (q = {probs[j].max():.2f})"
        (line,) = ax.get_lines()
        assert to_hex(line.get_color()) == palette[call]
        np.testing.assert_allclose(line.get_ydata(), results.varm["basisdevae_trends"][j])
        np.testing.assert_allclose(line.get_xdata(), results.uns["basisdevae"]["trend_pseudotime"])
        band, points = ax.collections
        assert len(points.get_offsets()) == results.n_obs
        # the band spans the written interval, in the family's colour
        edge = band.get_paths()[0].vertices
        trends = [results.varm[f"basisdevae_trends_{b}"][j] for b in ("lower", "upper")]
        assert edge[:, 1].min() == pytest.approx(trends[0].min())
        assert edge[:, 1].max() == pytest.approx(trends[1].max())
        assert to_hex(band.get_facecolor()[0], keep_alpha=False) == palette[call]
    image = _render(axs[0].figure, tmp_path / "trends.png")
    assert image.shape[0] > 400 and image.shape[1] > 400


def test_gene_trends_standard_scale_puts_each_trend_on_0_to_1(results):
    axs = scbasis.pl.gene_trends(results, GENES[:2], standard_scale="var", show=False)
    for ax in axs:
        y = ax.get_lines()[0].get_ydata()
        assert y.min() == pytest.approx(0) and y.max() == pytest.approx(1)
    plt.close("all")


def test_family_heatmap_orders_genes_by_family_then_position(results, tmp_path):
    axes = scbasis.pl.family_heatmap(results, groupby="stage", show=False)
    assert set(axes) == {"heatmap", "families", "groupby", "colorbar"}
    heat = axes["heatmap"].get_images()[0].get_array()
    assert heat.shape == (results.n_vars, 100)
    assert heat.min() == pytest.approx(0) and heat.max() == pytest.approx(1)
    codes = axes["families"].get_images()[0].get_array()[:, 0]
    assert np.all(np.diff(codes) >= 0)  # families in blocks, in their order
    labels = [t.get_text() for t in axes["heatmap"].get_yticklabels()]
    families = results.var["basisdevae_cluster"].astype(str)
    assert [families[g] for g in labels] == sorted(
        (families[g] for g in labels), key=list(results.uns["basisdevae"]["families"]).index
    )
    _render(axes["heatmap"].figure, tmp_path / "heatmap.png")


def test_cluster_probabilities_stacks_every_family_and_counts_ambiguous_calls(results, tmp_path):
    ax = scbasis.pl.cluster_probabilities(results, threshold=0.9, show=False)
    n_families = len(results.uns["basisdevae"]["families"])
    assert len(ax.patches) == results.n_vars * n_families
    ambiguous = int((results.varm["basisdevae_cluster_probs"].max(1) < 0.9).sum())
    assert ax.get_title() == f"{results.n_vars} genes, {ambiguous} ambiguous"
    _render(ax.figure, tmp_path / "probs.png")


def test_pseudotime_against_an_annotation(results, tmp_path):
    ax = scbasis.pl.pseudotime(results, "stage", show=False)
    stages = ["early", "mid", "late", "last"]
    assert [t.get_text() for t in ax.get_yticklabels()] == stages
    points = [c for c in ax.collections if len(c.get_offsets()) and c.get_alpha() == 0.6]
    assert len(points) == len(stages)
    for row, (stage, collection) in enumerate(zip(stages, points, strict=True)):
        cells = results.obs["stage"] == stage
        offsets = np.asarray(collection.get_offsets())
        np.testing.assert_allclose(offsets[:, 0], results.obs["basisdevae_pseudotime"][cells])
        assert np.all(np.abs(offsets[:, 1] - row) <= 0.25)  # each stage in its row
    _render(ax.figure, tmp_path / "pseudotime.png")


def test_loss_history_draws_training_and_validation(written, tmp_path):
    _, model = written
    axs = scbasis.pl.loss_history(model, ["loss", "elbo", "reconstruction_loss"], show=False)
    assert [ax.get_title() for ax in axs] == ["loss", "elbo", "reconstruction loss"]
    for ax in axs:
        assert [line.get_label() for line in ax.get_lines()] == ["training", "validation"]
        assert len(ax.get_lines()[0].get_xdata()) == 4
    _render(axs[0].figure, tmp_path / "loss.png")
    with pytest.raises(KeyError, match="have no history"):
        scbasis.pl.loss_history(model, ["nothing"], show=False)


def test_devae_trends_along_each_latent_dimension(tmp_path):
    adata = scbasis.data.simulate_trajectory(200, 8, {"increasing": 0.5, "decreasing": 0.5})
    counts = adata.X.toarray()
    adata.X = (counts - counts.mean(0)) / counts.std(0)  # standardised, as DeVAE's Gaussian
    scbasis.model.setup_anndata(adata)
    model = scbasis.model.DeVAE(adata, n_latent=2, n_hidden=8)
    model.train(max_epochs=2, **QUIET)
    model.write_results()
    back_path = tmp_path / "devae.h5ad"
    adata.write_h5ad(back_path)
    back = ad.read_h5ad(back_path)
    assert back.varm["devae_trends"].shape == (8, 100, 2)
    axs = scbasis.pl.latent_trends(back, ["gene0000", "gene0005"], show=False)
    assert len(axs) == 4
    assert axs[1].get_xlabel() == "latent 1"
    assert axs[0].get_title() == f"gene0000\n{back.var['devae_constraint'].iloc[0]}"
    _render(axs[0].figure, tmp_path / "devae.png")
    with pytest.raises(ValueError, match="only clustered models"):
        scbasis.pl.cluster_probabilities(back, show=False)


@pytest.fixture
def scanpy_settings(tmp_path):
    """scanpy's figure folder in tmp_path and autoshow off, restored afterwards."""
    figdir, autoshow = sc.settings.figdir, sc.settings.autoshow
    sc.settings.figdir, sc.settings.autoshow = tmp_path, False
    yield tmp_path
    sc.settings.figdir, sc.settings.autoshow = figdir, autoshow


def test_plots_follow_scanpy_save_and_show(written, scanpy_settings):
    adata = written[0]["memory"]
    plt.close("all")
    assert scbasis.pl.cluster_probabilities(adata, save="_calls.png") is not None
    assert (scanpy_settings / "cluster_probabilities_calls.png").exists()
    assert plt.get_fignums() == []  # a saved figure is closed
    ax = scbasis.pl.pseudotime(adata, "stage")  # show=None follows autoshow=False
    assert ax is not None
    plt.close("all")


def test_the_family_palette_lives_in_uns_and_is_used(written):
    adata = written[0]["memory"].copy()
    families = list(adata.uns["basisdevae"]["families"])
    adata.uns["basisdevae_cluster_colors"] = ["#000000", "#111111", "#222222", "#333333"][
        : len(families)
    ]
    ax = scbasis.pl.cluster_probabilities(adata, show=False)
    assert to_hex(ax.patches[0].get_facecolor()) in adata.uns["basisdevae_cluster_colors"]
    plt.close("all")


def test_plots_name_what_is_missing(written):
    adata = written[0]["memory"]
    with pytest.raises(ValueError, match=r"write them first with model\.write_results"):
        scbasis.pl.gene_trends(ad.AnnData(np.zeros((3, 2))), ["0"], show=False)
    with pytest.raises(ValueError, match="no scbasis results under key 'other'"):
        scbasis.pl.family_heatmap(adata, key="other", show=False)
    with pytest.raises(KeyError, match=r"\['nope'\] are not in adata.var_names"):
        scbasis.pl.gene_trends(adata, ["nope"], show=False)
    with pytest.raises(KeyError, match=r"layer='counts' is not in adata\.layers"):
        scbasis.pl.gene_trends(adata, GENES, layer="counts", show=False)
    with pytest.raises(KeyError, match="groupby='nope'"):
        scbasis.pl.pseudotime(adata, "nope", show=False)


def test_demo_command_writes_results_and_figures(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--cells", "300", "--genes", "30", "--epochs", "3"]
    assert main([*args, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "Spearman" in printed and "ARI" in printed
    adata = ad.read_h5ad(out / "demo.h5ad")
    assert {"basisdevae_pseudotime", "basisdevae_pseudotime_std"} <= set(adata.obs)
    assert {"basisdevae_cluster_probs", "basisdevae_trends"} <= set(adata.varm)
    for name in ("gene_trends.png", "family_heatmap.png", "cluster_probabilities.png"):
        assert plt.imread(out / name).ndim == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--cells", "-5"], "--cells: must be at least 20, got -5"),
        (["--genes", "2"], "--genes: must be at least 3, got 2"),
        (["--epochs", "0"], "--epochs: must be at least 1, got 0"),
        (["--epochs", "many"], "--epochs: 'many' is not a whole number"),
    ],
)
def test_demo_command_refuses_bad_sizes_with_a_usage_error(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", *arguments])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_version_and_help_are_plain_text(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"scbasis {scbasis.__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "``" not in capsys.readouterr().out


@pytest.mark.parametrize("n_groups", [4, 15])
def test_annotations_get_the_colours_scanpy_gives_them(written, n_groups):
    """Without stored colours the annotation is coloured as sc.pl colours it, and stored so."""
    adata = written[0]["memory"].copy()
    adata.obs["group"] = pd.Categorical([f"g{i % n_groups:02d}" for i in range(adata.n_obs)])
    reference = adata.copy()
    reference.obsm["X_line"] = np.zeros((adata.n_obs, 2))
    sc.pl.embedding(reference, basis="line", color="group", show=False)
    ax = scbasis.pl.pseudotime(adata, "group", show=False)
    assert list(adata.uns["group_colors"]) == list(reference.uns["group_colors"])
    points = [c for c in ax.collections if len(c.get_offsets()) and c.get_alpha() == 0.6]
    assert to_hex(points[-1].get_facecolor()[0]) == reference.uns["group_colors"][-1]
    plt.close("all")


def test_twenty_basis_functions_get_twenty_colours():
    from scbasis.pl._palette import family_palette

    families = [f"basis_{k}" for k in range(20)]
    adata = ad.AnnData(np.zeros((2, 20)))
    adata.var["basisvae_cluster"] = pd.Categorical(families)
    palette = family_palette(adata, "basisvae_cluster", families)
    assert len(set(palette.values())) == 20
    assert list(adata.uns["basisvae_cluster_colors"]) == list(palette.values())
