"""Built-in data sets: the papers' synthetic benchmark, a trajectory simulator, Ernst et al."""

from ._ernst import ernst_spermatogenesis
from ._paper_synthetic import paper_synthetic
from ._simulate import simulate_trajectory

__all__ = ["ernst_spermatogenesis", "paper_synthetic", "simulate_trajectory"]
