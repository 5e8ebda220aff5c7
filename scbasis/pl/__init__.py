"""Plotting, in scanpy's conventions (``show``, ``save``, axes returned when not shown)."""

from ._gene_trends import FAMILY_COLORS, gene_trends

__all__ = ["FAMILY_COLORS", "gene_trends"]
