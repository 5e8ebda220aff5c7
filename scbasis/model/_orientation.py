"""Orienting a pseudotime, which has no natural sign, by a set of root cells: the
:class:`Orientation` a model applies at its boundary, and how a root sets it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

Root = Sequence[str] | Sequence[int] | np.ndarray | tuple[str, Any]


def root_mask(adata: AnnData, root: Root) -> np.ndarray:
    """Boolean mask ``(n_obs,)`` of the root cells of ``adata``.

    Parameters
    ----------
    adata
        The cells.
    root
        Either ``(obs_key, value)``, selecting the cells whose ``adata.obs[obs_key]`` equals
        ``value`` (or is in ``value`` when it is a list), or the root cells themselves as obs
        names, integer positions or a boolean mask of length ``n_obs``.

    Returns
    -------
    Mask of the root cells; raises ``ValueError`` if it selects none or names unknown cells.
    """
    if isinstance(root, tuple) and len(root) == 2 and isinstance(root[0], str):
        key, value = root
        if key not in adata.obs:
            raise ValueError(
                f"root=({key!r}, {value!r}) names obs column {key!r}, which adata.obs lacks; "
                f"pass an existing column (one of {list(adata.obs.columns)[:10]}) or cell names."
            )
        values = value if isinstance(value, list | set) else [value]
        mask = adata.obs[key].isin(values).to_numpy()
        if not mask.any():
            raise ValueError(
                f"No cell has adata.obs[{key!r}] in {values!r}; the root must select at least "
                "one cell."
            )
        return mask
    array = np.asarray(root)
    if array.dtype == bool:
        if array.shape != (adata.n_obs,):
            raise ValueError(
                f"A boolean root mask must have length n_obs={adata.n_obs}, got {array.shape}."
            )
        mask = array
    elif np.issubdtype(array.dtype, np.integer):
        if array.size and (array.min() < -adata.n_obs or array.max() >= adata.n_obs):
            raise ValueError(f"Root cell positions must lie in [0, {adata.n_obs}).")
        mask = np.zeros(adata.n_obs, dtype=bool)
        mask[array] = True
    else:
        names = pd.Index(array.astype(str).ravel())
        missing = names.difference(adata.obs_names)
        if len(missing):
            raise ValueError(
                f"Root cells {list(missing[:5])} are not in adata.obs_names; pass obs names, "
                "positions, a boolean mask or (obs_key, value)."
            )
        mask = adata.obs_names.isin(names)
    if not mask.any():
        raise ValueError("The root selects no cell; it must select at least one.")
    return mask


def orientation_from_root(pseudotime: np.ndarray, mask: np.ndarray) -> int:
    """``+1`` if the root cells lie below the mean pseudotime, else ``-1``.

    Parameters
    ----------
    pseudotime
        Pseudotime of every cell in the model's own sign, ``(n_obs,)``.
    mask
        Root cells, ``(n_obs,)``.
    """
    return 1 if pseudotime[mask].mean() <= pseudotime.mean() else -1


@dataclass(frozen=True)
class Orientation:
    """The sign of a model's pseudotime and the names it mirrors, applied once where results
    leave the model (getters, trends, :meth:`~scbasis.model.PseudotimeModel.write_results`).

    Parameters
    ----------
    sign
        ``+1`` keeps the module's latent sign, ``-1`` reverses it.
    mirror_pairs
        Pairs of names (families, constraints) that swap when the pseudotime is reversed.
    """

    sign: int = 1
    mirror_pairs: tuple[tuple[str, str], ...] = ()

    def latent(self, values: np.ndarray) -> np.ndarray:
        """Latent values in the other frame: the module's to the oriented one, or back (the
        map is its own inverse)."""
        return values * self.sign

    def names(self, names: Sequence[str]) -> list[str]:
        """``names`` (families or constraints) as they read in the oriented frame."""
        if self.sign == 1:
            return list(names)
        swap = {a: b for pair in self.mirror_pairs for a, b in (pair, pair[::-1])}
        return [swap.get(name, name) for name in names]

    def columns(self, families: Sequence[str]) -> list[int]:
        """The module's family columns in the order the oriented frame names them; ``[0]`` for
        an unclustered model's single curve."""
        if not families:
            return [0]
        return [list(families).index(name) for name in self.names(families)]
