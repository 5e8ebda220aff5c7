"""The synthetic benchmark of the BasisDeVAE paper (section 5.1, Table 1)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData

N_POINTS = 500


def _scaled_softplus(t: np.ndarray, shift: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    return amplitude[None, :] * 0.4 * np.logaddexp(0, t[:, None] + shift[None, :])


def paper_synthetic(
    seed: int = 0, noise: float = 0.1, subset: Literal["low", "high"] | None = None
) -> AnnData:
    """The paper's 500 x 50 synthetic data: 30 transient, 10 increasing, 10 decreasing features.

    Built exactly as the authors' generator: numpy's legacy global seed ``seed``;
    ``t`` = 500 points evenly spaced on [-3, 3]; amplitudes (30 on [0.4, 1.6]) shuffled, then
    centres (30 on [-1.5, 1.5]) shuffled, giving ``A exp(-(t - t0)^2 / 2)``; increasing:
    amplitudes (10 on [0.4, 1.6]) shuffled, then shifts (10 on [-1.5, 1.5]) shuffled, giving
    ``A 0.4 softplus(t + shift)``; decreasing: the same draws again, negated. Noise: reseed
    with ``seed`` and add ``noise`` times standard normal draws.

    Parameters
    ----------
    seed
        Seed of numpy's legacy generator (the paper: 0).
    noise
        Standard deviation of the Gaussian noise (the paper: 0.1).
    subset
        ``"low"`` keeps ``t < 1``, ``"high"`` keeps ``t > -1`` (the paper's "low z" / "high z"
        data sets); ``None`` keeps all 500 points.

    Returns
    -------
    anndata.AnnData
        500 x 50 (fewer cells for a subset): noisy values in ``X``, noiseless values in
        ``layers["noiseless"]``, ``obs["true_time"]``, ``var["true_family"]``.
    """
    if subset not in (None, "low", "high"):
        raise ValueError(f"subset must be None, 'low' or 'high', got {subset!r}.")
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise}.")
    rng = np.random.RandomState(seed)  # the legacy stream of np.random.seed(seed)
    t = np.linspace(-3, 3, N_POINTS)
    amplitude = np.linspace(0.4, 1.6, 30)
    rng.shuffle(amplitude)
    centre = np.linspace(-1.5, 1.5, 30)
    rng.shuffle(centre)
    transient = amplitude[None, :] * np.exp(-0.5 * (t[:, None] - centre[None, :]) ** 2)
    monotone = []
    for sign in (1.0, -1.0):
        shift = np.linspace(-1.5, 1.5, 10)
        amp = np.linspace(0.4, 1.6, 10)
        rng.shuffle(amp)
        rng.shuffle(shift)
        monotone.append(sign * _scaled_softplus(t, shift, amp))
    clean = np.concatenate([transient, *monotone], axis=1)
    noisy = clean + noise * np.random.RandomState(seed).randn(*clean.shape)

    families = ["transient"] * 30 + ["increasing"] * 10 + ["decreasing"] * 10
    var = pd.DataFrame(
        {
            "true_family": pd.Categorical(
                families, categories=["increasing", "decreasing", "transient"]
            )
        },
        index=[f"feature{j:02d}" for j in range(clean.shape[1])],
    )
    obs = pd.DataFrame({"true_time": t}, index=[f"cell{i:03d}" for i in range(N_POINTS)])
    adata = AnnData(
        X=noisy.astype(np.float32),
        obs=obs,
        var=var,
        layers={"noiseless": clean.astype(np.float32)},
    )
    adata.uns["paper_synthetic"] = {"seed": seed, "noise": noise, "subset": subset}
    if subset == "low":
        adata = adata[adata.obs["true_time"] < 1].copy()
    elif subset == "high":
        adata = adata[adata.obs["true_time"] > -1].copy()
    return adata
