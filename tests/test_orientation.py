"""The Orientation object every getter applies, and how a root sets the sign."""

from __future__ import annotations

import numpy as np
import pytest
from anndata import AnnData

from scbasis.model._orientation import Orientation, orientation_from_root, root_mask

FAMILIES = ("increasing", "decreasing", "transient", "flat")
MIRROR = (("increasing", "decreasing"),)


def test_reversed_orientation_flips_latent_and_swaps_mirrored_names():
    reversed_ = Orientation(-1, MIRROR)
    latent = np.array([[0.5], [-2.0]])
    np.testing.assert_array_equal(reversed_.latent(latent), -latent)
    np.testing.assert_array_equal(reversed_.latent(reversed_.latent(latent)), latent)
    assert reversed_.names(FAMILIES) == ["decreasing", "increasing", "transient", "flat"]
    # column k of the oriented frame is the module's column columns[k]
    assert reversed_.columns(FAMILIES) == [1, 0, 2, 3]
    assert reversed_.names(["free", "increasing"]) == ["free", "decreasing"]


def test_kept_orientation_changes_nothing():
    kept = Orientation(1, MIRROR)
    assert kept.names(FAMILIES) == list(FAMILIES)
    assert kept.columns(FAMILIES) == [0, 1, 2, 3]
    assert kept.columns(()) == [0]  # an unclustered model's single curve


def test_root_sets_the_sign():
    pseudotime = np.linspace(-1, 1, 10)
    assert orientation_from_root(pseudotime, pseudotime < -0.5) == 1
    assert orientation_from_root(pseudotime, pseudotime > 0.5) == -1


def test_root_mask_refuses_roots_that_select_nothing():
    adata = AnnData(np.zeros((4, 2)))
    adata.obs["stage"] = ["a", "a", "b", "b"]
    np.testing.assert_array_equal(root_mask(adata, ("stage", "b")), [False, False, True, True])
    with pytest.raises(ValueError, match="No cell"):
        root_mask(adata, ("stage", "c"))
    with pytest.raises(ValueError, match="positions must lie"):
        root_mask(adata, [7])
