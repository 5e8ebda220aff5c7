"""scanpy's conventions for a plot's figure: new or given axes, ``show`` and ``save``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from docrep import DocstringProcessor
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scanpy import settings
from scanpy.plotting._utils import savefig_or_show

#: The parameters every plot shares, for ``%(param_...)s`` in their docstrings.
plot_dsp = DocstringProcessor(
    param_adata="""adata
    AnnData with results written by ``write_results`` (in memory or read back from disk).""",
    param_key="""key
    ``key_added`` of the results; the only results in ``adata`` if ``None``.""",
    param_ax="""ax
    Axes to draw into; a new figure if ``None``.""",
    param_figsize="""figsize
    Size of a new figure.""",
    param_show="""show
    Show the figure; ``scanpy.settings.autoshow`` if ``None``.""",
    param_save="""save
    Save the figure into ``scanpy.settings.figdir``, named after the plot with ``save``
    appended (``"_mine.png"``; ``True``: in ``scanpy.settings.file_format_figs``), and close
    it, as scanpy's plots do.""",
)


def panel_grid(
    n_panels: int, ncols: int, panel_size: tuple[float, float], figsize=None
) -> tuple[Figure, list[Axes]]:
    """A new figure of ``n_panels`` panels wrapped into rows of ``ncols`` (spare panels hidden)."""
    ncols = max(1, min(ncols, n_panels))
    nrows = int(np.ceil(n_panels / ncols))
    figsize = figsize or (panel_size[0] * ncols, panel_size[1] * nrows)
    fig, axs = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    axs = list(axs.ravel())
    for ax in axs[n_panels:]:
        ax.set_visible(False)
    return fig, axs[:n_panels]


def finish(fig: Figure, writekey: str, show: bool | None, save: bool | str | None, result):
    """Save and show ``fig`` as scanpy does (``save`` into ``sc.settings.figdir`` as
    ``<writekey><save>``, ``show`` defaulting to ``sc.settings.autoshow``; a saved figure is
    closed), and return ``result`` (the axes) unless the figure was shown."""
    plt.figure(fig.number)  # scanpy saves, shows and closes the current figure
    shown = settings.autoshow if show is None else show
    savefig_or_show(writekey, show=show, save=save)
    return None if shown else result
