"""Plot gene trends along pseudotime, coloured by behaviour family."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes

from scbasis._constants import TREND_KEYS

FAMILY_COLORS = {
    "increasing": "#d62728",
    "decreasing": "#1f77b4",
    "transient": "#2ca02c",
    "flat": "#7f7f7f",
}


def _family_color(family: str, index: int) -> str:
    return FAMILY_COLORS.get(family, plt.get_cmap("tab20")(index % 20))


def gene_trends(
    trends: AnnData,
    genes: Sequence[str] | None = None,
    standard_scale: bool = True,
    axs: Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> list[Axes] | None:
    """Gene trends along pseudotime, one panel per family, lines coloured by family.

    Parameters
    ----------
    trends
        Output of ``model.get_gene_trends()`` (grid points x genes).
    genes
        Genes to draw; all if ``None``.
    standard_scale
        Scale each gene's trend to ``[0, 1]`` so shapes are comparable across expression levels.
    axs
        One axes per family to draw into; a new figure if ``None``.
    show
        Show the figure; by default only when neither ``save`` nor ``axs`` is given.
    save
        Path of a file (PNG, PDF, SVG ...) to save the figure to.

    Returns
    -------
    The axes when ``show`` is false, else ``None``.
    """
    family_key, grid_key = TREND_KEYS.FAMILY, TREND_KEYS.PSEUDOTIME
    if family_key not in trends.var or grid_key not in trends.obs:
        raise ValueError(
            f"trends need var[{family_key!r}] and obs[{grid_key!r}], as get_gene_trends() of a "
            "clustered model (BasisDeVAE, BasisVAE) gives them; DeVAE's trends have no "
            f"families: plot trends.X against trends.obs[{grid_key!r}] instead."
        )
    if genes is not None:
        trends = trends[:, list(genes)]
    families = list(trends.uns.get(TREND_KEYS.FAMILIES, trends.var[family_key].cat.categories))
    own_figure = axs is None
    if own_figure:
        fig, axs = plt.subplots(
            1, len(families), figsize=(4 * len(families), 3.4), sharex=True, squeeze=False
        )
        axs = list(axs[0])
    else:
        fig = axs[0].figure
    grid = trends.obs[grid_key].to_numpy()
    values = np.asarray(trends.X)
    if standard_scale:
        low, high = values.min(0), values.max(0)
        values = (values - low) / np.where(high > low, high - low, 1.0)
    for k, (family, ax) in enumerate(zip(families, axs, strict=True)):
        members = np.flatnonzero(trends.var[family_key].to_numpy() == family)
        color = _family_color(family, k)
        if members.size:
            ax.plot(grid, values[:, members], color=color, alpha=0.6, linewidth=1)
        ax.set_title(f"{family} ({members.size} genes)")
        ax.set_xlabel("pseudotime")
        ax.grid(False)
    axs[0].set_ylabel("scaled expression" if standard_scale else "expression")
    fig.tight_layout()
    if save is not None:
        fig.savefig(save, dpi=150, bbox_inches="tight")
    if show or (show is None and save is None and own_figure):
        plt.show()
        return None
    return list(axs)
