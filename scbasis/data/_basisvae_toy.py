"""The toy data of the BasisVAE reference implementation: four scale-invariant groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

TOY_GROUPS: tuple[str, ...] = ("transient_early", "transient_mid", "transient_late", "softplus")


def basisvae_toy(
    n_obs: int = 500, n_per_group: int = 10, noise_sd: float = 0.2, seed: int = 0
) -> AnnData:
    """Four groups of features that differ only by scale within a group (BasisVAE's toy).

    As the reference implementation's ``generate_toy_data.R``: ``z ~ Uniform(-3, 3)``; within
    each group the features are ``lambda_j s(z)`` with ``lambda_j`` evenly spaced on
    ``[0.4, 1.6]`` and ``s`` one of ``exp(-(z + 1.5)^2 / 2)``, ``exp(-z^2 / 2)``,
    ``exp(-(z - 1.5)^2 / 2)`` and ``0.4 softplus(z)``; plus Gaussian noise. The draws use
    numpy's generator seeded with ``seed``, not R's, so the values differ from the reference's
    CSV while following the same recipe.

    Parameters
    ----------
    n_obs
        Number of observations (the reference: 500).
    n_per_group
        Features per group (the reference: 10).
    noise_sd
        Standard deviation of the noise (the reference: 0.2).
    seed
        Seed of the random draws.

    Returns
    -------
    anndata.AnnData
        ``n_obs`` x ``4 n_per_group``: noisy values in ``X``, noiseless ones in
        ``layers["noiseless"]``, ``obs["true_z"]``, ``var["true_group"]`` (one of
        ``TOY_GROUPS``) and ``var["true_scale"]``.
    """
    if n_obs < 1 or n_per_group < 1:
        raise ValueError(f"n_obs and n_per_group must be positive, got {n_obs} and {n_per_group}.")
    if noise_sd < 0:
        raise ValueError(f"noise_sd must be non-negative, got {noise_sd}.")
    rng = np.random.default_rng(seed)
    z = rng.uniform(-3, 3, size=n_obs)
    scale = np.linspace(0.4, 1.6, n_per_group)
    shapes = [
        np.exp(-0.5 * (z + 1.5) ** 2),
        np.exp(-0.5 * z**2),
        np.exp(-0.5 * (z - 1.5) ** 2),
        0.4 * np.logaddexp(0, z),
    ]
    clean = np.concatenate([shape[:, None] * scale[None, :] for shape in shapes], axis=1)
    noisy = clean + noise_sd * rng.standard_normal(clean.shape)
    var = pd.DataFrame(
        {
            "true_group": pd.Categorical(
                np.repeat(TOY_GROUPS, n_per_group), categories=list(TOY_GROUPS)
            ),
            "true_scale": np.tile(scale, len(TOY_GROUPS)),
        },
        index=[f"feature{j}" for j in range(clean.shape[1])],
    )
    obs = pd.DataFrame({"true_z": z}, index=[f"obs{i}" for i in range(n_obs)])
    return AnnData(
        X=noisy.astype(np.float32),
        obs=obs,
        var=var,
        layers={"noiseless": clean.astype(np.float32)},
    )
