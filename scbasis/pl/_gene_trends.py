"""Each gene's fitted trend along pseudotime over its observed expression."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from matplotlib.axes import Axes

from ._figure import finish, panel_grid, plot_dsp
from ._palette import results_palette
from ._results import Results, read_results


def observed_expression(
    adata: AnnData, genes: Sequence[str], results: Results, layer: str | None
) -> np.ndarray:
    """The observed values of ``genes`` ``(n_cells, len(genes))``, per ``library_size`` counts
    for a count model (``x_ij / sum_j x_ij * library_size``, the scale of its trends)."""
    if adata.isbacked:
        raise ValueError(
            "adata is backed (on disk): load it first (adata = adata.to_memory()) to draw the "
            "observed expression, or pass show_points=False."
        )
    if layer is not None and layer not in adata.layers:
        raise KeyError(f"layer={layer!r} is not in adata.layers ({list(adata.layers)}).")
    matrix = adata.X if layer is None else adata.layers[layer]
    columns = adata.var_names.get_indexer(genes)
    values = matrix[:, columns]
    values = values.toarray() if sp.issparse(values) else np.asarray(values, dtype=float)
    if results.library_size is None:
        return values
    totals = np.asarray(matrix.sum(axis=1), dtype=float).ravel()
    return values / np.maximum(totals, 1e-12)[:, None] * results.library_size


def check_genes(adata: AnnData, genes: str | Sequence[str]) -> list[str]:
    """``genes`` as a list of names of ``adata``, or an error naming the missing ones."""
    genes = [genes] if isinstance(genes, str) else list(genes)
    if not genes:
        raise ValueError("genes is empty; pass one or more names of adata.var_names.")
    missing = [g for g in genes if g not in adata.var_names]
    if missing:
        raise KeyError(f"{missing[:5]} are not in adata.var_names ({len(missing)} missing).")
    return genes


def min_max_scaled(values: np.ndarray, low, high) -> np.ndarray:
    """``values`` mapped so that ``low`` goes to 0 and ``high`` to 1 (shifted only where
    ``high == low``); ``low`` and ``high`` broadcast against ``values``."""
    return (values - low) / np.where(high > low, high - low, 1.0)


@plot_dsp.dedent
def gene_trends(
    adata: AnnData,
    genes: str | Sequence[str],
    key: str | None = None,
    *,
    latent_dim: int = 0,
    layer: str | None = None,
    show_points: bool = True,
    show_interval: bool = True,
    standard_scale: Literal["var"] | None = None,
    ncols: int = 4,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
) -> Axes | list[Axes] | None:
    """Fitted trends of ``genes`` along pseudotime, over their observed expression.

    One panel per gene (wrapped into rows of ``ncols``): the trend written by
    :meth:`~scbasis.model.PseudotimeModel.write_results` in the colour of the gene's family
    (or DeVAE constraint), the cells' observed expression as faint points at their
    pseudotime, a band where the model expects the central 80 % of a cell's values at each
    pseudotime (for counts: a cell of the trends' library size, zero inflation included), and
    the call with its probability in the title. Reads only ``adata``, so an AnnData read back
    from ``.h5ad`` draws as the one written.

    Parameters
    ----------
    %(param_adata)s
    genes
        Names of the genes to draw.
    %(param_key)s
    latent_dim
        Latent dimension to draw along (models with a p-D latent).
    layer
        Layer of the observed values (the one the model was set up with); ``adata.X`` if
        ``None``. Count models show ``x_ij / sum_j x_ij`` times the trends' library size.
    show_points
        Draw the observed expression.
    show_interval
        Draw the band of the observation model's interval, where the results have one.
    standard_scale
        ``"var"``: scale each gene to its trend's range (trend from 0 to 1), so that shapes
        compare across expression levels; ``None``: the model's scale.
    ncols
        Panels per row.
    figsize
        Size of the figure; 3 x 2.6 inches per panel if ``None``.
    ax
        Axes to draw a single gene into.
    %(param_show)s
    %(param_save)s

    Returns
    -------
    matplotlib.axes.Axes or list of matplotlib.axes.Axes or None
        The axes (one per gene, or ``ax``) unless the figure is shown.
    """
    results = read_results(adata, key)
    genes = check_genes(adata, genes)
    if not 0 <= latent_dim < results.grid.shape[1]:
        raise ValueError(f"latent_dim must lie in [0, {results.grid.shape[1]}), got {latent_dim}.")
    if ax is not None and len(genes) != 1:
        raise ValueError(f"ax holds one gene's panel; {len(genes)} genes were given.")
    if standard_scale not in (None, "var"):
        raise ValueError(f"standard_scale must be 'var' or None, got {standard_scale!r}.")
    palette = results_palette(adata, results)
    rows = adata.var_names.get_indexer(genes)
    observed = observed_expression(adata, genes, results, layer) if show_points else None
    if ax is None:
        fig, axs = panel_grid(len(genes), ncols, (3.0, 2.6), figsize)
    else:
        fig, axs = ax.figure, [ax]
    for j, (row, panel) in enumerate(zip(rows, axs, strict=True)):
        points = None if observed is None else observed[:, j]
        draw_trend(panel, results, row, latent_dim, points, show_interval, standard_scale, palette)
        panel.set_title(call_title(results, genes[j], row), fontsize=9.5)
    axs[0].set_ylabel(expression_label(results, standard_scale))
    if ax is None:
        fig.tight_layout()
    return finish(fig, "gene_trends", show, save, axs[0] if ax is not None else axs)


def draw_trend(
    ax: Axes,
    results: Results,
    row: int,
    latent_dim: int,
    observed: np.ndarray | None,
    show_interval: bool,
    standard_scale: str | None,
    palette: dict[str, str],
) -> None:
    """Draw feature ``row``'s trend along ``latent_dim`` in its family's colour, over its
    observed values ``(n_cells,)`` at the cells' pseudotime where given, inside the band of
    its interval where asked for and written."""
    trend = results.trends[row, :, latent_dim]
    low, high = (trend.min(), trend.max()) if standard_scale else (0.0, 1.0)
    line = min_max_scaled(trend, low, high)
    color = palette[results.feature_family.iloc[row]]
    x = results.grid[:, latent_dim]
    if show_interval and results.trends_lower is not None:
        ax.fill_between(
            x,
            min_max_scaled(results.trends_lower[row, :, latent_dim], low, high),
            min_max_scaled(results.trends_upper[row, :, latent_dim], low, high),
            color=color,
            alpha=0.18,
            lw=0,
        )
    if observed is not None:
        points = min_max_scaled(observed, low, high)
        ax.scatter(
            results.pseudotime[:, latent_dim],
            points,
            s=3,
            color="0.55",
            alpha=0.25,
            lw=0,
            rasterized=True,
        )
        # the points' upper tail must not flatten the trend
        top = max(np.quantile(points, 0.99), line.max())
        ax.set_ylim(min(points.min(), 0.0) - 0.04 * top, 1.08 * top)
    ax.plot(x, line, color=color, lw=2.2)
    ax.set_xlabel("pseudotime" if results.grid.shape[1] == 1 else f"latent {latent_dim}")
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(False)


def call_title(results: Results, gene: str, row: int) -> str:
    """The gene's name over its call: family and probability, or DeVAE's constraint."""
    if results.cluster_probs is not None:
        probs = results.cluster_probs.iloc[row]
        return f"{gene}\n{probs.idxmax()} (q = {probs.max():.2f})"
    if results.constraint is not None:
        return f"{gene}\n{results.constraint.iloc[row]}"
    return gene


def expression_label(results: Results, standard_scale: str | None) -> str:
    if standard_scale:
        return "scaled expression"
    if results.library_size is not None:
        return f"expression per {results.library_size:,.0f} counts"
    return "value"
