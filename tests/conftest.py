"""Shared fixtures: small data sets and quiet, reproducible, 2-thread training."""

from __future__ import annotations

import pytest
import scvi
import torch

import scbasis


@pytest.fixture(autouse=True, scope="module")
def _reproducible_module():
    """Seeds the module-scoped fixtures (created before any function-scoped one)."""
    torch.set_num_threads(2)
    scvi.settings.seed = 0


@pytest.fixture(autouse=True)
def _reproducible():
    torch.set_num_threads(2)
    scvi.settings.seed = 0
    yield


@pytest.fixture
def small_counts():
    """600 cells x 60 genes of simulated UMI counts with known time and families."""
    return scbasis.data.simulate_trajectory(
        600,
        60,
        {"increasing": 1 / 3, "decreasing": 1 / 3, "transient": 1 / 3},
        seed=1,
    )


QUIET = {"enable_progress_bar": False}
