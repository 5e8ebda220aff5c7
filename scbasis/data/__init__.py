"""Built-in data sets: the papers' synthetic data, a trajectory simulator, Ernst et al."""

from ._basisvae_toy import basisvae_toy
from ._ernst import ernst_spermatogenesis
from ._paper_synthetic import paper_synthetic
from ._simulate import simulate_trajectory

__all__ = ["basisvae_toy", "ernst_spermatogenesis", "paper_synthetic", "simulate_trajectory"]
