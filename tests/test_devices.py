"""Training on two CPU devices with Lightning's DDP strategy, from a script in a subprocess (as
DDP requires), against the same training in one process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import adjusted_rand_score

SCRIPT = Path(__file__).parent / "scripts" / "train_on_devices.py"


def _train(devices: int, batch_size: int, out: Path) -> dict[str, np.ndarray]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(devices), str(batch_size), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(out))


def test_two_cpu_devices_match_one_process(tmp_path):
    """Two DDP processes with half the minibatch each take the same steps as one process with
    the whole minibatch, on different draws of cells; the documented tolerance: pseudotimes
    with |Spearman| >= 0.98 between the runs, gene calls with ARI >= 0.85 between the runs and
    against the truth."""
    one = _train(1, 100, tmp_path / "one.npz")
    two = _train(2, 50, tmp_path / "two.npz")
    assert abs(spearmanr(one["pseudotime"], two["pseudotime"])[0]) >= 0.98
    assert adjusted_rand_score(one["calls"], two["calls"]) >= 0.85
    for run in (one, two):
        assert abs(spearmanr(run["pseudotime"], run["true_time"])[0]) >= 0.95
        assert adjusted_rand_score(run["observed"], run["calls"]) >= 0.85
