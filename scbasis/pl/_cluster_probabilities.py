"""How sure each gene's family call is."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes

from ._figure import finish, plot_dsp
from ._palette import results_palette
from ._results import read_results


@plot_dsp.dedent
def cluster_probabilities(
    adata: AnnData,
    key: str | None = None,
    *,
    threshold: float = 0.9,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
) -> Axes | None:
    """Each gene's family probabilities ``q(family)`` as a stacked bar, genes sorted by their
    call and, within it, by how sure it is; calls below ``threshold`` are marked ambiguous.

    Parameters
    ----------
    adata
        AnnData with the results of a clustered model (BasisDeVAE, BasisVAE).
    %(param_key)s
    threshold
        Probability below which a call is ambiguous (marked under its bar, counted in the
        title).
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
    if results.cluster_probs is None:
        raise ValueError(
            f"the results under {results.key!r} ({results.model}) have no family "
            "probabilities: only clustered models (BasisDeVAE, BasisVAE) infer families."
        )
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}.")
    probs = results.cluster_probs
    families = list(probs.columns)
    call = probs.to_numpy().argmax(1)
    sure = probs.to_numpy().max(1)
    order = np.lexsort((-sure, call))
    palette = results_palette(adata, results)
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize or (min(max(4.0, 0.02 * len(probs) + 3), 12), 3.2))
    else:
        fig = ax.figure
    positions = np.arange(len(probs))
    bottom = np.zeros(len(probs))
    for family in families:
        height = probs[family].to_numpy()[order]
        ax.bar(
            positions, height, bottom=bottom, width=1.0, color=palette[family], lw=0, label=family
        )
        bottom += height
    ambiguous = sure[order] < threshold
    ax.scatter(
        positions[ambiguous],
        np.full(ambiguous.sum(), -0.04),
        marker="|",
        s=30,
        color="black",
        clip_on=False,
        label=f"ambiguous (q < {threshold:g})",
    )
    ax.axhline(threshold, color="black", lw=0.8, ls="--")
    ax.set_xlim(-0.5, len(probs) - 0.5)
    ax.set_ylim(0, 1)
    ax.set_xticks([])
    ax.set_xlabel("genes, by call and confidence", labelpad=12)  # below the marks
    ax.set_ylabel("q(family)")
    ax.set_title(f"{len(probs)} genes, {int(ambiguous.sum())} ambiguous", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    if figsize is None:
        fig.tight_layout()
    return finish(fig, "cluster_probabilities", show, save, ax)
