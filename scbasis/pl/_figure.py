"""scanpy's conventions for a plot's figure: new or given axes, ``show`` and ``save``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scanpy import settings
from scanpy.plotting._utils import savefig_or_show


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
