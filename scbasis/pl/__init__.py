"""Plotting from the results a model wrote into an AnnData, in scanpy's conventions (``ax``,
``show`` following ``scanpy.settings.autoshow``, ``save`` into ``scanpy.settings.figdir``, the
axes returned when not shown, one family palette kept in ``uns``)."""

from ._cluster_probabilities import cluster_probabilities
from ._family_heatmap import family_heatmap
from ._gene_trends import gene_trends
from ._latent_trends import latent_trends
from ._loss_history import loss_history
from ._palette import FAMILY_COLORS
from ._pseudotime import pseudotime
from ._results import Results, read_results

__all__ = [
    "FAMILY_COLORS",
    "Results",
    "cluster_probabilities",
    "family_heatmap",
    "gene_trends",
    "latent_trends",
    "loss_history",
    "pseudotime",
    "read_results",
]
