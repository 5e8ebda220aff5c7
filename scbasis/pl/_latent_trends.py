"""DeVAE's feature trends along each latent dimension, with each feature's constraint."""

from __future__ import annotations

from collections.abc import Sequence

from anndata import AnnData
from matplotlib.axes import Axes

from ._figure import finish, panel_grid, plot_dsp
from ._gene_trends import (
    call_title,
    check_genes,
    draw_trend,
    expression_label,
    observed_expression,
)
from ._palette import results_palette
from ._results import read_results


@plot_dsp.dedent
def latent_trends(
    adata: AnnData,
    features: str | Sequence[str],
    key: str | None = None,
    *,
    layer: str | None = None,
    show_points: bool = True,
    show_interval: bool = True,
    figsize: tuple[float, float] | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
) -> list[Axes] | None:
    """Each feature's trend along every latent dimension (one row per feature, one column per
    dimension; the other dimensions held at 0), coloured by its constraint, over the observed
    values at the cells' latent positions: the picture of a DeVAE with a p-D latent.

    Parameters
    ----------
    %(param_adata)s
    features
        Names of the features to draw.
    %(param_key)s
    layer
        Layer of the observed values; ``adata.X`` if ``None``.
    show_points
        Draw the observed values.
    show_interval
        Draw the band of the observation model's central 80 % interval, where written.
    figsize
        Size of the figure; 3 x 2.6 inches per panel if ``None``.
    %(param_show)s
    %(param_save)s

    Returns
    -------
    list of matplotlib.axes.Axes or None
        The axes, row by row, unless the figure is shown.
    """
    results = read_results(adata, key)
    features = check_genes(adata, features)
    n_dims = results.grid.shape[1]
    palette = results_palette(adata, results)
    rows = adata.var_names.get_indexer(features)
    observed = observed_expression(adata, features, results, layer) if show_points else None
    fig, axs = panel_grid(len(features) * n_dims, n_dims, (3.0, 2.6), figsize)
    for j, (feature, row) in enumerate(zip(features, rows, strict=True)):
        for dim in range(n_dims):
            ax = axs[j * n_dims + dim]
            points = None if observed is None else observed[:, j]
            draw_trend(ax, results, row, dim, points, show_interval, None, palette)
            ax.set_title(call_title(results, feature, row), fontsize=9.5)
        axs[j * n_dims].set_ylabel(expression_label(results, None))
    fig.tight_layout()
    return finish(fig, "latent_trends", show, save, axs)
