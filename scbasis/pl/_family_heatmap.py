"""All genes' trends as one heatmap, ordered by family and by where along pseudotime they act."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.patches import Patch

from ._figure import finish, plot_dsp
from ._gene_trends import check_genes, min_max_scaled
from ._palette import group_palette, results_palette
from ._results import read_results


def trend_position(scaled: np.ndarray, family: str, grid: np.ndarray) -> float:
    """Where along ``grid`` a trend scaled to ``[0, 1]`` acts: its first crossing of one half
    for monotone families (rising for increasing, falling for decreasing), its peak otherwise
    (as CellRank's and Palantir's heatmaps order genes)."""
    if family == "increasing":
        return float(grid[np.argmax(scaled >= 0.5)])
    if family == "decreasing":
        return float(grid[np.argmax(scaled <= 0.5)])
    return float(grid[np.argmax(scaled)])


@plot_dsp.dedent
def family_heatmap(
    adata: AnnData,
    key: str | None = None,
    *,
    genes: Sequence[str] | None = None,
    groupby: str | None = None,
    standard_scale: Literal["var"] | None = "var",
    cmap: str = "viridis",
    show_gene_labels: bool | None = None,
    figsize: tuple[float, float] | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
) -> dict[str, Axes] | None:
    """Every gene's trend along pseudotime as one row of a heatmap, grouped by family.

    Genes are grouped by their family (or DeVAE constraint) and ordered within it by where
    they act: increasing genes by where they rise past half their range, decreasing genes by
    where they fall below it, transient genes by their peak. A bar on the left gives each
    row's family; with ``groupby``, a bar on top gives the most frequent annotation of the
    cells at each pseudotime.

    Parameters
    ----------
    %(param_adata)s
    %(param_key)s
    genes
        Genes to draw; all if ``None``.
    groupby
        A categorical ``obs`` column (e.g. cell type) for the bar on top.
    standard_scale
        ``"var"``: scale each gene's trend to ``[0, 1]``; ``None``: the model's scale.
    cmap
        Colour map of the heatmap.
    show_gene_labels
        Name each row; by default only for 60 genes or fewer.
    figsize
        Size of the figure.
    %(param_show)s
    %(param_save)s

    Returns
    -------
    dict of matplotlib.axes.Axes or None
        The axes by role (``"heatmap"``, ``"families"``, ``"groupby"``, ``"colorbar"``) unless
        the figure is shown.
    """
    results = read_results(adata, key)
    if standard_scale not in (None, "var"):
        raise ValueError(f"standard_scale must be 'var' or None, got {standard_scale!r}.")
    if groupby is not None and groupby not in adata.obs:
        raise KeyError(f"groupby={groupby!r} is not a column of adata.obs.")
    names = adata.var_names if genes is None else pd.Index(check_genes(adata, genes))
    rows = adata.var_names.get_indexer(names)
    grid = results.grid[:, 0]
    trends = results.trends[rows, :, 0]
    low, high = trends.min(1, keepdims=True), trends.max(1, keepdims=True)
    scaled = min_max_scaled(trends, low, high)
    family = results.feature_family.iloc[rows].to_numpy()
    order_of_family = {f: k for k, f in enumerate(results.family_order)}
    positions = [trend_position(s, f, grid) for s, f in zip(scaled, family, strict=True)]
    order = np.lexsort((positions, [order_of_family[f] for f in family]))
    values = scaled if standard_scale else trends
    palette = results_palette(adata, results)
    show_gene_labels = len(rows) <= 60 if show_gene_labels is None else show_gene_labels

    height = min(max(3.0, 0.16 * len(rows) + 1.5), 12.0) if show_gene_labels else 6.0
    fig = plt.figure(figsize=figsize or (7.0, height))
    # a gap for the genes' names between the heatmap and the colour bar
    gap = 0.22 if show_gene_labels else 0.02
    spec = fig.add_gridspec(
        2, 4, width_ratios=[0.035, 1, gap, 0.03], height_ratios=[0.04, 1], wspace=0.03, hspace=0.03
    )
    axes = {
        "heatmap": fig.add_subplot(spec[1, 1]),
        "families": fig.add_subplot(spec[1, 0]),
        "colorbar": fig.add_subplot(spec[1, 3]),
    }
    extent = (grid[0], grid[-1], len(rows), 0)
    image = axes["heatmap"].imshow(
        values[order], aspect="auto", cmap=cmap, interpolation="nearest", extent=extent
    )
    fig.colorbar(image, cax=axes["colorbar"], label="scaled trend" if standard_scale else "trend")
    axes["heatmap"].set_xlabel("pseudotime")
    axes["heatmap"].set_yticks([])
    if show_gene_labels:
        axes["heatmap"].set_yticks(np.arange(len(rows)) + 0.5, names[order], fontsize=6)
        axes["heatmap"].yaxis.tick_right()

    families_present = [f for f in results.family_order if f in set(family)]
    codes = np.array([families_present.index(f) for f in family[order]])[:, None]
    axes["families"].imshow(
        codes,
        aspect="auto",
        cmap=ListedColormap([palette[f] for f in families_present]),
        vmin=-0.5,
        vmax=len(families_present) - 0.5,
        interpolation="nearest",
    )
    axes["families"].set_xticks([])
    axes["families"].set_yticks([])
    legend = {"loc": "lower left", "fontsize": 8, "frameon": False}
    family_handles = [Patch(color=palette[f], label=f) for f in families_present]
    if groupby is None:
        axes["heatmap"].legend(
            handles=family_handles, bbox_to_anchor=(0.0, 1.0), ncols=len(family_handles), **legend
        )
    else:
        axes["groupby"] = bar = fig.add_subplot(spec[0, 1], sharex=axes["heatmap"])
        colors = group_palette(adata, groupby)
        majority = _majority_along(adata.obs[groupby].astype(str), results.pseudotime[:, 0], grid)
        bar.imshow(
            np.array([[to_rgba(colors.get(m, "white")) for m in majority]]),
            aspect="auto",
            extent=(grid[0], grid[-1], 1, 0),
            interpolation="nearest",
        )
        bar.set_yticks([])
        bar.tick_params(labelbottom=False, bottom=False)
        group_handles = [Patch(color=c, label=g) for g, c in colors.items() if g in set(majority)]
        # two legends above the annotation bar: families on the left, groups on the right
        bar.add_artist(bar.legend(handles=family_handles, bbox_to_anchor=(0.0, 1.3), **legend))
        bar.legend(
            handles=group_handles,
            title=groupby,
            bbox_to_anchor=(0.45, 1.3),
            ncols=int(np.ceil(len(group_handles) / len(family_handles))),
            title_fontsize=9,
            alignment="left",
            **legend,
        )
    return finish(fig, "family_heatmap", show, save, axes)


def _majority_along(groups: pd.Series, pseudotime: np.ndarray, grid: np.ndarray) -> list[str]:
    """The most frequent group of the cells nearest each grid point (``""`` where none)."""
    edges = np.concatenate([[-np.inf], (grid[1:] + grid[:-1]) / 2, [np.inf]])
    bins = np.digitize(pseudotime, edges) - 1
    frame = pd.DataFrame({"bin": bins, "group": groups.to_numpy()})
    majority = frame.groupby("bin")["group"].agg(lambda g: g.value_counts().index[0])
    return [majority.get(b, "") for b in range(len(grid))]
