"""Writing a model's results into an AnnData: the keys and their values."""

from __future__ import annotations

from typing import Any

import numpy as np
from anndata import AnnData

from scbasis import __version__
from scbasis._constants import RESULT_KEYS, TREND_KEYS, UNS_KEYS, result_key

from ._orientation import Root, orientation_from_root, root_mask

#: Where a result goes: ``(AnnData attribute, key)``.
ResultKey = tuple[str, str]

# The probability of the observation model's interval written around each trend.
TREND_INTERVAL = 0.8


class ResultsMixin:
    """:meth:`write_results` of :class:`~scbasis.model.PseudotimeModel`."""

    def _latent_keys(self, key_added: str) -> dict[str, ResultKey]:
        if self.module.n_latent == 1:
            return {
                "pseudotime": ("obs", result_key(key_added, RESULT_KEYS.PSEUDOTIME)),
                "pseudotime_std": ("obs", result_key(key_added, RESULT_KEYS.PSEUDOTIME_STD)),
            }
        return {
            "pseudotime": ("obsm", result_key(key_added, RESULT_KEYS.LATENT)),
            "pseudotime_std": ("obsm", result_key(key_added, RESULT_KEYS.LATENT_STD)),
        }

    def _feature_results(self, key_added: str) -> dict[ResultKey, Any]:
        """Feature-level results to write, keyed by ``(attribute, key)``."""
        if self.module.batch_offsets is None:
            return {}
        key = ("varm", result_key(key_added, RESULT_KEYS.BATCH_OFFSETS))
        return {key: self.get_batch_offsets().to_numpy()}

    def _uns_results(self) -> dict[str, Any]:
        """Entries of ``uns[key_added]``."""
        uns = {
            UNS_KEYS.MODEL: type(self).__name__,
            UNS_KEYS.ORIENTATION: int(self.orientation_),
            UNS_KEYS.SETTINGS: self._settings(),
            UNS_KEYS.VERSION: __version__,
        }
        if self.module.batch_offsets is not None:
            uns[UNS_KEYS.BATCH_OFFSETS_COLUMNS] = self._batch_categories
        return uns

    def _settings(self) -> dict[str, Any]:
        """Model settings recorded in ``adata.uns``: scalars of the init parameters."""
        params = self.init_params_.get("non_kwargs", {}) | self.init_params_.get("kwargs", {})
        return {k: v for k, v in params.items() if isinstance(v, str | int | float | bool)}

    def write_results(
        self,
        adata: AnnData | None = None,
        key_added: str | None = None,
        root: Root | None = None,
        overwrite: bool = False,
        n_trend_points: int = 100,
    ) -> None:
        """Write the pseudotime and feature-level results into ``adata``.

        Writes ``obs["<key>_pseudotime"]`` and ``obs["<key>_pseudotime_std"]`` (for a p-D
        latent ``obsm["<key>_latent"]`` and ``obsm["<key>_latent_std"]``), each feature's
        trend (:meth:`get_gene_trends`) on a grid of ``n_trend_points`` spanning the written
        cells' pseudotime in ``varm["<key>_trends"]`` (features x points, as Palantir stores
        its ``gene_trends``; features x points x latent dimensions for a p-D latent), the
        bounds of the observation model's central 80 % interval around them in
        ``varm["<key>_trends_lower"]`` and ``varm["<key>_trends_upper"]`` (not for Bernoulli
        data), ``uns["<key>"]`` (model, settings, version, orientation, the trends' grid
        ``trend_pseudotime``, the interval's probability ``trend_interval`` and, for counts,
        their library size ``trend_library_size``) and the
        model's feature-level results: ``varm["<key>_cluster_probs"]`` and
        ``var["<key>_cluster"]`` for clustered models, ``var["<key>_constraint"]`` for DeVAE,
        ``varm["<key>_batch_offsets"]`` with a ``batch_key``. ``scbasis.pl`` draws from these
        keys alone, so an AnnData read back from disk plots as the one written.

        Parameters
        ----------
        adata
            AnnData with the model's features; the model's own if ``None``.
        key_added
            Prefix of the keys; the model's name in lower case if ``None``.
        root
            Root cells (see :meth:`orient`): sets the model's orientation, as
            ``orient(root)`` does, before writing; every later getter then uses it. ``None``
            writes in the orientation the model has.
        overwrite
            Replace existing keys; otherwise existing keys raise an error and nothing is written.
        n_trend_points
            Number of grid points of the trends.
        """
        key_added = key_added or self._results_key
        target = self.adata if adata is None else adata
        if target.is_view:
            raise ValueError(
                "write_results writes into adata, which is a view of another AnnData; pass an "
                "AnnData of its own (adata = adata.copy()) and write into that."
            )
        if n_trend_points < 2:
            raise ValueError(f"n_trend_points must be at least 2, got {n_trend_points}.")
        latent_keys = self._latent_keys(key_added)
        trend_keys = [
            ("varm", result_key(key_added, suffix))
            for suffix in (RESULT_KEYS.TRENDS, RESULT_KEYS.TRENDS_LOWER, RESULT_KEYS.TRENDS_UPPER)
        ]
        keys = [
            *latent_keys.values(),
            *trend_keys,
            ("uns", key_added),
            *self._feature_results(key_added),
        ]
        existing = [f"{attr}[{name!r}]" for attr, name in keys if name in getattr(target, attr)]
        if existing and not overwrite:
            raise ValueError(
                f"adata already has {', '.join(existing)}; pass overwrite=True to replace them "
                "or choose another key_added."
            )
        if root is not None:
            self._check_orientable()
        validated = self._validate_anndata(adata)  # target's features in the model's order
        mask = None if root is None else root_mask(validated, root)
        mean, std = self._pseudotime_mean_std(validated)  # one pass orients and writes
        if mask is not None:
            self.orientation_ = orientation_from_root(mean, mask)
        pseudotime, pseudotime_std = self._oriented(mean, std)
        # feature results again: their values (not their keys) depend on the orientation; they
        # come in the model's feature order and go to target's by name
        order = self._feature_names.get_indexer(target.var_names)
        curves, grid = self._trends_over(pseudotime.reshape(len(pseudotime), -1), n_trend_points)
        for attr, name in trend_keys:  # an overwritten model's interval must not outlive it
            getattr(target, attr).pop(name, None)
        for (attr, name), value in (
            (latent_keys["pseudotime"], pseudotime),
            (latent_keys["pseudotime_std"], pseudotime_std),
            *((("varm", result_key(key_added, k)), v[order]) for k, v in curves.items()),
            *((key, value[order]) for key, value in self._feature_results(key_added).items()),
        ):
            getattr(target, attr)[name] = value
        uns = self._uns_results() | {UNS_KEYS.TREND_PSEUDOTIME: grid}
        if RESULT_KEYS.TRENDS_LOWER in curves:
            uns[UNS_KEYS.TREND_INTERVAL] = TREND_INTERVAL
        if self.module.is_count_model:
            uns[UNS_KEYS.TREND_LIBRARY_SIZE] = self._median_library_size()
        target.uns[key_added] = uns

    def _trends_over(
        self, latent: np.ndarray, n_points: int
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Every feature's trend along each latent dimension, on ``n_points`` spanning
        ``latent`` ``(n_cells, p)``, with the bounds of its interval where the likelihood has
        one: ``{RESULT_KEYS suffix: (d, n_points)}`` and the grid ``(n_points,)`` for a 1-D
        latent, ``(d, n_points, p)`` and ``(n_points, p)`` otherwise."""
        curves: dict[str, list[np.ndarray]] = {}
        grids = []
        for dim in range(latent.shape[1]):
            grid = np.linspace(latent[:, dim].min(), latent[:, dim].max(), n_points)
            along = self.get_gene_trends(latent_dim=dim, grid=grid, interval=TREND_INTERVAL)
            arrays = {RESULT_KEYS.TRENDS: along.X}
            if TREND_KEYS.INTERVAL_LOWER in along.layers:  # not for Bernoulli data
                arrays[RESULT_KEYS.TRENDS_LOWER] = along.layers[TREND_KEYS.INTERVAL_LOWER]
                arrays[RESULT_KEYS.TRENDS_UPPER] = along.layers[TREND_KEYS.INTERVAL_UPPER]
            for suffix, values in arrays.items():
                curves.setdefault(suffix, []).append(np.asarray(values).T)
            grids.append(along.obs[TREND_KEYS.PSEUDOTIME].to_numpy())
        if latent.shape[1] == 1:
            return {suffix: values[0] for suffix, values in curves.items()}, grids[0]
        stacked = {suffix: np.stack(values, axis=2) for suffix, values in curves.items()}
        return stacked, np.stack(grids, axis=1)
