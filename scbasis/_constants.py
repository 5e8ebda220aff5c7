"""Keys of the modules' outputs and of what scbasis writes into AnnData objects, shared by the
modules, the models, ``pl`` and the demo.

As scvi-tools' ``REGISTRY_KEYS`` and ``MODULE_KEYS``: named constants instead of repeated string
literals. :func:`result_key` joins a model's ``key_added`` prefix and a suffix of
:data:`RESULT_KEYS`.
"""

from __future__ import annotations

from typing import NamedTuple


class _ModuleKeys(NamedTuple):
    """Keys of the modules' outputs beside scvi-tools' ``MODULE_KEYS`` (``qz``, ``z``,
    ``library``, ``px``)."""

    PX_FAMILIES_KEY: str = "px_families"  # generative: likelihood parameters per family
    LOG_TOTAL_KEY: str = "log_total"  # inference: observed log totals (library trend)


class _ResultKeys(NamedTuple):
    """Suffixes of the keys :meth:`~scbasis.model.PseudotimeModel.write_results` writes."""

    PSEUDOTIME: str = "pseudotime"  # obs, 1-D latent
    PSEUDOTIME_STD: str = "pseudotime_std"  # obs, 1-D latent
    LATENT: str = "latent"  # obsm, p-D latent
    LATENT_STD: str = "latent_std"  # obsm, p-D latent
    CLUSTER_PROBS: str = "cluster_probs"  # varm, clustered models
    CLUSTER: str = "cluster"  # var, clustered models
    CONSTRAINT: str = "constraint"  # var, DeVAE
    BATCH_OFFSETS: str = "batch_offsets"  # varm, with a batch_key
    TRENDS: str = "trends"  # varm: each feature's trend on the grid below, features x points
    TRENDS_LOWER: str = "trends_lower"  # varm: the observation model's interval around them
    TRENDS_UPPER: str = "trends_upper"  # varm


class _UnsKeys(NamedTuple):
    """Entries of ``uns[key_added]`` that :meth:`~scbasis.model.PseudotimeModel.write_results`
    writes and ``pl`` reads."""

    MODEL: str = "model"  # the model's class name
    ORIENTATION: str = "orientation"  # +1 or -1: the sign the pseudotime was written with
    SETTINGS: str = "settings"  # the model's scalar settings
    VERSION: str = "version"  # the scbasis version that wrote the results
    FAMILIES: str = "families"  # clustered models: the families, in cluster_probs' columns
    CLUSTER_PROBS_COLUMNS: str = "cluster_probs_columns"  # clustered models: the same
    BATCH_OFFSETS_COLUMNS: str = "batch_offsets_columns"  # with a batch_key: the batches
    TREND_PSEUDOTIME: str = "trend_pseudotime"  # the trends' grid of (oriented) pseudotime
    TREND_LIBRARY_SIZE: str = "trend_library_size"  # count models: the trends' library size
    TREND_INTERVAL: str = "trend_interval"  # the probability of the trends' interval


class _TrendKeys(NamedTuple):
    """Keys of the AnnData of :meth:`~scbasis.model.PseudotimeModel.get_gene_trends`."""

    PSEUDOTIME: str = "pseudotime"  # obs: the grid
    FAMILY: str = "family"  # var: the most probable family
    FAMILIES: str = "families"  # uns: the families' order
    CLUSTER_PROBS: str = "cluster_probs"  # varm
    CONSTRAINT: str = "constraint"  # var, DeVAE
    INTERVAL_LOWER: str = "interval_lower"  # layers: the observation model's interval
    INTERVAL_UPPER: str = "interval_upper"  # layers
    INTERVAL: str = "interval"  # uns: its probability


SCBASIS_MODULE_KEYS = _ModuleKeys()
RESULT_KEYS = _ResultKeys()
UNS_KEYS = _UnsKeys()
TREND_KEYS = _TrendKeys()


def result_key(key_added: str, suffix: str) -> str:
    """The key of result ``suffix`` (one of :data:`RESULT_KEYS`) under prefix ``key_added``."""
    return f"{key_added}_{suffix}"
