"""Observation models ``log p(x_ij | z_i, family k)`` evaluated for every family at once."""

from __future__ import annotations

import math

import torch
from scvi.distributions import NegativeBinomial, ZeroInflatedNegativeBinomial
from torch.distributions import Normal, Poisson
from torch.nn.functional import softplus

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


def cell_log_likelihood(
    x: torch.Tensor,
    likelihood: str,
    weights: torch.Tensor,
    *,
    mean: torch.Tensor | None = None,
    log_mean: torch.Tensor | None = None,
    theta: torch.Tensor | None = None,
    zi_logits: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-cell log-likelihood under the assignment weights, ``sum_jk w_jk log p(x_ij | k)``.

    Equal to ``einsum("idk,dk->i", family_log_likelihood(...), weights)`` but fused: because
    ``sum_k w_jk = 1``, every term of ``log p`` that does not depend on the family (for counts
    ``lgamma(x + theta) - lgamma(theta) - lgamma(x + 1)`` and the zero-inflation terms; for the
    Gaussian the normaliser) is computed once per ``(cell, gene)`` instead of ``K`` times, and
    the count terms that vanish at ``x = 0`` only at the non-zero entries. The family-dependent
    part is written in log-means, ``u = log mu - log theta``:

    * NB: ``x u - (theta + x) softplus(u)`` (plus the family-independent terms);
    * ZINB: that NB term for ``x > 0``, ``softplus(-pi - theta softplus(u))`` for ``x = 0``,
      with ``-softplus(pi)`` resp. ``-softplus(-pi)`` once per ``(cell, gene)``;
    * Poisson: ``x log mu - mu`` and ``-lgamma(x + 1)``.

    scvi-tools adds ``eps = 1e-8`` inside its logarithms; this exact form differs from it by
    about ``x eps / mu + theta eps / (theta + mu)`` per entry (relative ``1e-6`` or less for
    means above ``1e-2``).

    Parameters
    ----------
    x
        Observations, ``(N, d)`` (dense).
    likelihood
        One of :data:`LIKELIHOODS`.
    weights
        Assignment probabilities ``phi``, ``(d, K)``, rows summing to 1.
    mean
        Gaussian means per family, ``(N, d, K)``.
    log_mean
        Log count means per family (log-rate plus log library size), ``(N, d, K)``.
    theta
        Negative binomial inverse dispersion, ``(d,)`` (``"nb"``, ``"zinb"``).
    zi_logits
        Zero-inflation logits, ``(N, d)`` (``"zinb"``).
    scale
        Gaussian standard deviation, ``(d,)`` (``"gaussian"``).

    Returns
    -------
    ``sum_jk w_jk log p(x_ij | k)``, shape ``(N,)``.
    """
    check_likelihood(likelihood)
    if likelihood == "gaussian":
        residual = ((x[..., None] - mean) / scale[:, None]).square()
        normaliser = torch.log(scale).sum() + 0.5 * math.log(2 * math.pi) * x.shape[1]
        return -0.5 * torch.einsum("idk,dk->i", residual, weights) - normaliser
    rows, cols = torch.nonzero(x, as_tuple=True)
    counts = x[rows, cols]
    # family-independent terms at the non-zero entries only (they vanish at x = 0)
    independent = -torch.lgamma(counts + 1)
    if likelihood == "poisson":
        per_entry = x[..., None] * log_mean - torch.exp(log_mean)
    else:
        gene_theta = theta[cols]
        independent = independent + torch.lgamma(counts + gene_theta) - torch.lgamma(gene_theta)
        u = log_mean - torch.log(theta)[:, None]
        softplus_u = softplus(u)
        xk = x[..., None]
        per_entry = xk * u - (theta[:, None] + xk) * softplus_u
        if likelihood == "zinb":
            is_zero = xk == 0
            per_entry = torch.where(is_zero, softplus(per_entry - zi_logits[..., None]), per_entry)
    dependent = torch.einsum("idk,dk->i", per_entry, weights)
    if likelihood == "zinb":
        # log(1 - sigmoid(pi)) = -softplus(-pi) - pi at the non-zero entries, -softplus(-pi) at 0
        dependent = dependent - (softplus(-zi_logits) + zi_logits * (x > 0)).sum(1)
    return dependent.index_add(0, rows, independent)
