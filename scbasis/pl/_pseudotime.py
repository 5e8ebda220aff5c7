"""Pseudotime and its posterior spread against a cell annotation."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib.axes import Axes

from ._figure import finish, plot_dsp
from ._palette import group_palette
from ._results import read_results


@plot_dsp.dedent
def pseudotime(
    adata: AnnData,
    groupby: str,
    key: str | None = None,
    *,
    order: Sequence[str] | None = None,
    latent_dim: int = 0,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
) -> Axes | None:
    """Each cell's pseudotime (posterior mean, with its posterior std as a bar) against an
    annotation such as cell type or sample age, one row per group, with each group's box.

    Parameters
    ----------
    %(param_adata)s
    groupby
        An ``obs`` column; numbers are drawn as ordered groups.
    %(param_key)s
    order
        Groups in the order to draw (top to bottom); the categories' order if ``None``.
    latent_dim
        Latent dimension to draw (models with a p-D latent).
    %(param_ax)s
    %(param_figsize)s
    %(param_show)s
    %(param_save)s

    Returns
    -------
    matplotlib.axes.Axes or None
        The axes unless the figure is shown.
    """
    results = read_results(adata, key)
    if groupby not in adata.obs:
        raise KeyError(f"groupby={groupby!r} is not a column of adata.obs.")
    if not 0 <= latent_dim < results.pseudotime.shape[1]:
        raise ValueError(
            f"latent_dim must lie in [0, {results.pseudotime.shape[1]}), got {latent_dim}."
        )
    groups = pd.Categorical(adata.obs[groupby])
    names = [str(c) for c in groups.categories] if order is None else [str(g) for g in order]
    unknown = sorted(set(names) - {str(c) for c in groups.categories})
    if unknown:
        raise ValueError(f"order names groups that obs[{groupby!r}] lacks: {unknown[:5]}.")
    labels = np.asarray(groups.astype(str))
    mean = results.pseudotime[:, latent_dim]
    std = results.pseudotime_std[:, latent_dim]
    colors = group_palette(adata, groupby)
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize or (6.0, 0.45 * len(names) + 1.2))
    else:
        fig = ax.figure
    rng = np.random.default_rng(0)
    for row, name in enumerate(names):
        members = labels == name
        y = row + rng.uniform(-0.25, 0.25, members.sum())
        color = colors.get(name, "0.4")
        ax.errorbar(
            mean[members], y, xerr=std[members], fmt="none", ecolor=color, alpha=0.15, lw=0.6
        )
        ax.scatter(mean[members], y, s=4, color=color, alpha=0.6, lw=0, rasterized=True)
    ax.boxplot(
        [mean[labels == n] for n in names],
        positions=np.arange(len(names)),
        orientation="horizontal",
        widths=0.6,
        showfliers=False,
        medianprops={"color": "black"},
        boxprops={"color": "0.2"},
    )
    ax.set_yticks(np.arange(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlabel("pseudotime (posterior mean, bars: posterior std)")
    ax.set_ylabel(groupby)
    ax.spines[["top", "right"]].set_visible(False)
    if figsize is None:
        fig.tight_layout()
    return finish(fig, "pseudotime", show, save, ax)
