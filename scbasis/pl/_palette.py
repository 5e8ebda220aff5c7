"""One colour per family, kept in ``uns`` as scanpy keeps a categorical column's colours."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
from anndata import AnnData
from matplotlib.colors import is_color_like, to_hex
from scanpy.plotting import palettes

from ._results import Results

#: The default colour of each family (and of DeVAE's constraints).
FAMILY_COLORS = {
    "increasing": "#d62728",
    "decreasing": "#1f77b4",
    "transient": "#2ca02c",
    "flat": "#7f7f7f",
    "free": "#9467bd",
    "feature": "#555555",
}


def _stored_colors(adata: AnnData, colors_key: str, n_categories: int) -> list | None:
    """``uns[colors_key]`` where it holds one valid colour per category (as scanpy reads a
    categorical column's colours), else ``None``."""
    stored = list(adata.uns.get(colors_key, []))
    if len(stored) == n_categories and all(is_color_like(c) for c in stored):
        return stored
    return None


def family_palette(adata: AnnData, column: str, families: Sequence[str]) -> dict[str, str]:
    """The colour of each of ``families``, the categories of ``var[column]``: from
    ``uns["<column>_colors"]`` where it holds one valid colour per family (as scanpy reads a
    categorical column's colours), else the defaults of :data:`FAMILY_COLORS` (other families,
    such as BasisVAE's basis functions, get the colours scanpy gives as many categories), which
    are then stored there so that every plot uses the same."""
    colors_key = f"{column}_colors"
    stored = _stored_colors(adata, colors_key, len(families))
    if stored is not None:
        return dict(zip(families, stored, strict=True))
    defaults = _scanpy_default_colors(len(families))  # for families without a colour
    palette = {family: FAMILY_COLORS.get(family, defaults[k]) for k, family in enumerate(families)}
    adata.uns[colors_key] = list(palette.values())
    return palette


def results_palette(adata: AnnData, results: Results) -> dict[str, str]:
    """The colour of each family (or constraint) of ``results``."""
    if results.family_column is None:
        return {"feature": FAMILY_COLORS["feature"]}
    return family_palette(adata, results.family_column, results.family_order)


def group_palette(adata: AnnData, groupby: str) -> dict[str, str]:
    """Colours of the categories of ``obs[groupby]``, the ones ``sc.pl`` gives them: scanpy's
    ``uns["<groupby>_colors"]`` where it holds one per category, else scanpy's defaults
    (matplotlib's colour cycle where it is long enough, else ``sc.pl.palettes.default_20``,
    ``default_28``, ``default_102``, else grey), stored there where the key is absent, as
    scanpy stores them."""
    categories = pd.Categorical(adata.obs[groupby]).categories.astype(str)
    colors_key = f"{groupby}_colors"
    stored = _stored_colors(adata, colors_key, len(categories))
    if stored is None:
        stored = _scanpy_default_colors(len(categories))
        if colors_key not in adata.uns:
            adata.uns[colors_key] = stored
    return dict(zip(categories, stored, strict=True))


def _scanpy_default_colors(n_categories: int) -> list[str]:
    """The colours scanpy gives ``n_categories`` categories that have none."""
    cycle = [to_hex(c) for c in plt.rcParams["axes.prop_cycle"].by_key()["color"]]
    for palette in (cycle, palettes.default_20, palettes.default_28, palettes.default_102):
        if n_categories <= len(palette):
            return list(palette[:n_categories])
    return ["grey"] * n_categories
