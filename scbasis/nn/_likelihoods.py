"""Observation models ``log p(x_ij | z_i, family k)`` evaluated for every family at once."""

from __future__ import annotations

import torch
from scvi.distributions import NegativeBinomial, ZeroInflatedNegativeBinomial
from torch.distributions import Normal, Poisson

LIKELIHOODS: tuple[str, ...] = ("zinb", "nb", "poisson", "gaussian")
COUNT_LIKELIHOODS: tuple[str, ...] = ("zinb", "nb", "poisson")


def check_likelihood(likelihood: str, allowed: tuple[str, ...] = LIKELIHOODS) -> str:
    """Return ``likelihood`` if it is one of ``allowed``, else raise a clear error."""
    if likelihood not in allowed:
        raise ValueError(f"Unknown likelihood {likelihood!r}; choose one of {allowed}.")
    return likelihood


def family_log_likelihood(
    x: torch.Tensor,
    likelihood: str,
    *,
    mean: torch.Tensor,
    theta: torch.Tensor | None = None,
    zi_logits: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Log-likelihood of every observation under every family's mean.

    Parameters
    ----------
    x
        Observations, ``(N, d)``.
    likelihood
        One of :data:`LIKELIHOODS`.
    mean
        Means per family, ``(N, d, K)`` (count means include the library size).
    theta
        Negative binomial inverse dispersion, ``(d,)`` (``"nb"``, ``"zinb"``).
    zi_logits
        Zero-inflation logits, ``(N, d)`` (``"zinb"``).
    scale
        Gaussian standard deviation, ``(d,)`` (``"gaussian"``).

    Returns
    -------
    ``log p(x_ij | family k)``, shape ``(N, d, K)``.
    """
    xk = x[..., None]
    if likelihood == "zinb":
        dist = ZeroInflatedNegativeBinomial(
            mu=mean, theta=theta[:, None], zi_logits=zi_logits[..., None].expand_as(mean)
        )
    elif likelihood == "nb":
        dist = NegativeBinomial(mu=mean, theta=theta[:, None])
    elif likelihood == "poisson":
        dist = Poisson(mean, validate_args=False)
    elif likelihood == "gaussian":
        dist = Normal(mean, scale[:, None])
    else:
        check_likelihood(likelihood)
    return dist.log_prob(xk.expand_as(mean))
