"""What the plots read: the results :meth:`~scbasis.model.PseudotimeModel.write_results`
wrote into an AnnData, found by their declared keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from anndata import AnnData

from scbasis._constants import RESULT_KEYS, UNS_KEYS, result_key


@dataclass(frozen=True)
class Results:
    """One model's results in an AnnData."""

    #: The ``key_added`` they were written under.
    key: str
    #: The AnnData's feature names.
    var_names: pd.Index
    #: The model's class name.
    model: str
    #: Posterior mean of each cell's (oriented) latent position, ``(n_cells, p)``.
    pseudotime: np.ndarray
    #: Posterior std of each cell's (oriented) latent position, ``(n_cells, p)``.
    pseudotime_std: np.ndarray
    #: Each feature's trend along each latent dimension on :attr:`grid`,
    #: ``(n_features, n_points, p)``.
    trends: np.ndarray
    #: The trends' pseudotime values in each latent dimension, ``(n_points, p)``.
    grid: np.ndarray
    #: Lower bound of the observation model's central interval around :attr:`trends`, their
    #: shape; ``None`` where none was written.
    trends_lower: np.ndarray | None
    #: Upper bound of that interval, their shape; ``None`` where none was written.
    trends_upper: np.ndarray | None
    #: That interval's probability, else ``None``.
    interval: float | None
    #: Library size of the trends of a count model, else ``None``.
    library_size: float | None
    #: Family names (clustered models), else ``None``.
    families: list[str] | None
    #: ``q(family)`` per feature, features x families (clustered models), else ``None``.
    cluster_probs: pd.DataFrame | None
    #: Each feature's most probable family (clustered models), else ``None``.
    cluster: pd.Series | None
    #: Each feature's constraint (DeVAE), else ``None``.
    constraint: pd.Series | None

    @property
    def family_column(self) -> str | None:
        """The ``var`` column of each feature's family (clustered models) or constraint
        (DeVAE), ``None`` where there is neither."""
        if self.cluster is not None:
            return result_key(self.key, RESULT_KEYS.CLUSTER)
        if self.constraint is not None:
            return result_key(self.key, RESULT_KEYS.CONSTRAINT)
        return None

    @property
    def feature_family(self) -> pd.Series:
        """Each feature's family, or its constraint (DeVAE), or ``"feature"``."""
        if self.cluster is not None:
            return self.cluster.astype(str)
        if self.constraint is not None:
            return self.constraint.astype(str)
        return pd.Series("feature", index=self.var_names)

    @property
    def family_order(self) -> list[str]:
        """The families (or constraints) in the order the plots show them."""
        if self.families is not None:
            return list(self.families)
        return list(dict.fromkeys(sorted(self.feature_family)))


def _result_keys(adata: AnnData) -> list[str]:
    """The ``key_added`` of every model's results in ``adata``."""
    return [
        key
        for key, value in adata.uns.items()
        if isinstance(value, Mapping) and UNS_KEYS.TREND_PSEUDOTIME in value
    ]


def read_results(adata: AnnData, key: str | None = None) -> Results:
    """The results of one model in ``adata``: under ``key``, or the only ones there.

    Raises
    ------
    ValueError
        Where ``adata`` holds no results, several (and ``key`` is ``None``), or not ``key``'s.
    """
    keys = _result_keys(adata)
    if key is None:
        if not keys:
            raise ValueError(
                "adata holds no scbasis results; write them first with model.write_results(adata)."
            )
        if len(keys) > 1:
            raise ValueError(f"adata holds results under {keys}; pass key= to choose one.")
        key = keys[0]
    elif key not in keys:
        raise ValueError(
            f"adata has no scbasis results under key {key!r} (found {keys}); write them with "
            f"model.write_results(adata, key_added={key!r}) or pass one of the keys found."
        )
    uns = adata.uns[key]

    def column(attr: str, suffix: str) -> np.ndarray:
        return np.asarray(getattr(adata, attr)[result_key(key, suffix)])

    if result_key(key, RESULT_KEYS.PSEUDOTIME) in adata.obs:
        pseudotime = column("obs", RESULT_KEYS.PSEUDOTIME)[:, None]
        pseudotime_std = column("obs", RESULT_KEYS.PSEUDOTIME_STD)[:, None]
    else:
        pseudotime = column("obsm", RESULT_KEYS.LATENT)
        pseudotime_std = column("obsm", RESULT_KEYS.LATENT_STD)

    def curves(suffix: str) -> np.ndarray:  # features x points x latent dimensions
        values = column("varm", suffix)
        return values if values.ndim == 3 else values[..., None]

    has_interval = UNS_KEYS.TREND_INTERVAL in uns
    grid = np.asarray(uns[UNS_KEYS.TREND_PSEUDOTIME])
    library_size = uns.get(UNS_KEYS.TREND_LIBRARY_SIZE)
    families = uns.get(UNS_KEYS.FAMILIES)
    families = None if families is None else [str(f) for f in families]
    cluster_probs = cluster = constraint = None
    if families is not None:
        cluster_probs = pd.DataFrame(
            column("varm", RESULT_KEYS.CLUSTER_PROBS), index=adata.var_names, columns=families
        )
        cluster = adata.var[result_key(key, RESULT_KEYS.CLUSTER)]
    if result_key(key, RESULT_KEYS.CONSTRAINT) in adata.var:
        constraint = adata.var[result_key(key, RESULT_KEYS.CONSTRAINT)]
    return Results(
        key=key,
        var_names=adata.var_names,
        model=str(uns.get(UNS_KEYS.MODEL, "")),
        pseudotime=pseudotime,
        pseudotime_std=pseudotime_std,
        trends=curves(RESULT_KEYS.TRENDS),
        grid=grid if grid.ndim == 2 else grid[:, None],
        trends_lower=curves(RESULT_KEYS.TRENDS_LOWER) if has_interval else None,
        trends_upper=curves(RESULT_KEYS.TRENDS_UPPER) if has_interval else None,
        interval=float(uns[UNS_KEYS.TREND_INTERVAL]) if has_interval else None,
        library_size=None if library_size is None else float(library_size),
        families=families,
        cluster_probs=cluster_probs,
        cluster=cluster,
        constraint=constraint,
    )
