"""The collapsed Dirichlet-categorical prior over gene-to-family assignments.

``w_j ~ Categorical(pi)``, ``pi ~ Dirichlet(alpha)``, ``q(w_j) = Categorical(phi_j)``.
Collapsing ``pi`` (BasisVAE supplement, appendix A) gives, with ``n_k = sum_j phi_jk``,

``log int exp(E_q log p(w | pi)) p(pi) dpi = log B(n + alpha) - log B(alpha)``,

``B(a) = prod_k Gamma(a_k) / Gamma(sum_k a_k)``.
"""

from __future__ import annotations

import torch


def log_multivariate_beta(a: torch.Tensor) -> torch.Tensor:
    """``log B(a) = sum_k lgamma(a_k) - lgamma(sum_k a_k)`` for ``a`` ``(K,)``."""
    return torch.lgamma(a).sum() - torch.lgamma(a.sum())


def collapsed_dirichlet_categorical(phi: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``log B(n + alpha) - log B(alpha)`` for assignment probabilities ``phi`` ``(d, K)``."""
    return log_multivariate_beta(phi.sum(0) + alpha) - log_multivariate_beta(alpha)


def expected_log_q(phi: torch.Tensor) -> torch.Tensor:
    """``E_q(w) log q(w) = sum_jk phi_jk log phi_jk`` (the negative entropy), a scalar."""
    return torch.special.xlogy(phi, phi).sum()
