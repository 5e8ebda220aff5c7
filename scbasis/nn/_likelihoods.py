"""Observation models ``log p(x_ij | z_i, family k)`` evaluated for every family at once."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats
from scvi.distributions import NegativeBinomial, Normal, Poisson, ZeroInflatedNegativeBinomial
from torch.distributions import Bernoulli, Distribution
from torch.nn.functional import softplus

from ._native_kernel import (
    native_kernel_runs_on,
    native_negative_binomial_grid_terms,
    native_negative_binomial_terms,
)

#: The observation models a feature can have.
LIKELIHOODS: tuple[str, ...] = ("zinb", "nb", "poisson", "gaussian", "bernoulli")
COUNT_LIKELIHOODS: tuple[str, ...] = ("zinb", "nb", "poisson")


def check_likelihood(likelihood: str, allowed: tuple[str, ...] = LIKELIHOODS) -> str:
    """Return ``likelihood`` if it is one of ``allowed``, else raise a clear error."""
    if likelihood not in allowed:
        raise ValueError(f"likelihood={likelihood!r} is not available; choose one of {allowed}.")
    return likelihood


def observation_distribution(
    likelihood: str,
    *,
    mean: torch.Tensor,
    theta: torch.Tensor | None = None,
    zi_logits: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
    logits: torch.Tensor | None = None,
    normalized: torch.Tensor | None = None,
) -> Distribution:
    """The observation model as a distribution over entries of ``mean``'s shape.

    scvi-tools' distributions for counts and Gaussian data (torch's Bernoulli), so that
    scvi-tools' expression methods read them as they read its own models' ``px``.

    Parameters
    ----------
    likelihood
        One of :data:`LIKELIHOODS`.
    mean
        Means, ``(..., d)`` (count means include the library size, before zero inflation).
    theta
        Negative binomial inverse dispersion, broadcastable to ``mean`` (``"nb"``, ``"zinb"``).
    zi_logits
        Zero-inflation logits, ``mean``'s shape (``"zinb"``).
    scale
        Gaussian standard deviation, broadcastable to ``mean`` (``"gaussian"``).
    logits
        Bernoulli logits, ``mean``'s shape (``"bernoulli"``, which ignores ``mean``).
    normalized
        Expression per unit of library size, ``mean``'s shape: the distribution's ``scale``
        for counts, its ``normal_mu`` for Gaussian data (scvi-tools' ``get_normalized``).
    """
    check_likelihood(likelihood)
    if likelihood == "zinb":
        return ZeroInflatedNegativeBinomial(
            mu=mean, theta=theta, zi_logits=zi_logits, scale=normalized
        )
    if likelihood == "nb":
        return NegativeBinomial(mu=mean, theta=theta, scale=normalized)
    if likelihood == "poisson":
        return Poisson(mean, validate_args=False, scale=normalized)
    if likelihood == "gaussian":
        return Normal(mean, scale, normal_mu=normalized)
    return Bernoulli(logits=logits, validate_args=False)


def observation_quantiles(
    likelihood: str,
    probabilities: tuple[float, ...],
    *,
    mean: np.ndarray,
    theta: np.ndarray | None = None,
    zi_logits: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> np.ndarray | None:
    """Quantiles of the observation model at each entry of ``mean``, ``None`` for Bernoulli.

    Parameters
    ----------
    likelihood
        One of :data:`LIKELIHOODS`.
    probabilities
        Lower-tail probabilities in ``(0, 1)``.
    mean, theta, zi_logits, scale
        As for :func:`observation_distribution`, as arrays: ``mean`` ``(..., d)``, the others
        broadcastable to it.

    Returns
    -------
    ``(len(probabilities), *mean.shape)``: values for the Gaussian likelihood; for counts the
    quantile ``k`` interpolated linearly in the cumulative probability between ``k - 1`` and
    ``k`` (never below 0), so that curves of quantiles along a trend are smooth; its ceiling
    is the quantile (zero inflation's zeros included).
    """
    check_likelihood(likelihood)
    if likelihood == "bernoulli":
        return None
    if likelihood == "gaussian":
        return np.stack([stats.norm.ppf(p, loc=mean, scale=scale) for p in probabilities])
    if likelihood == "poisson":
        counts = stats.poisson(mean)
        zero = 0.0
    else:
        counts = stats.nbinom(theta, theta / (theta + mean))
        zero = 0.0 if zi_logits is None else 1.0 / (1.0 + np.exp(-zi_logits))

    def cdf(k: np.ndarray) -> np.ndarray:  # the zero-inflated cumulative probability
        return np.where(k < 0, 0.0, zero + (1.0 - zero) * counts.cdf(k))

    quantiles = []
    for p in probabilities:
        # 0 within the extra zeros' mass, else the counts' quantile of the remaining probability
        rest = np.clip((p - zero) / (1.0 - zero), 0.0, 1.0)
        k = np.maximum(counts.ppf(rest), 0.0)  # scipy's quantile of 0 is -1
        below, at = cdf(k - 1), cdf(k)
        fraction = (p - below) / np.where(at > below, at - below, 1.0)
        quantiles.append(np.maximum(k - 1 + fraction, 0.0))
    return np.stack(quantiles)


def family_log_likelihood(
    x: torch.Tensor,
    likelihood: str,
    *,
    mean: torch.Tensor,
    theta: torch.Tensor | None = None,
    zi_logits: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
    logits: torch.Tensor | None = None,
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
    logits
        Bernoulli logits per family, ``(N, d, K)`` (``"bernoulli"``, which ignores ``mean``).

    Returns
    -------
    torch.Tensor
        ``log p(x_ij | family k)``, shape ``(N, d, K)``.
    """
    dist = observation_distribution(
        likelihood,
        mean=mean,
        theta=None if theta is None else theta[:, None],
        zi_logits=None if zi_logits is None else zi_logits[..., None].expand_as(mean),
        scale=None if scale is None else scale[:, None],
        logits=logits,
    )
    return dist.log_prob(x[..., None].expand_as(mean))


def cell_log_likelihood(
    x: torch.Tensor,
    likelihood: str,
    weights: torch.Tensor | None,
    *,
    mean: torch.Tensor | None = None,
    log_mean: torch.Tensor | None = None,
    theta: torch.Tensor | None = None,
    zi_logits: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
    logits: torch.Tensor | None = None,
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
    * Poisson: ``x log mu - mu`` and ``-lgamma(x + 1)``;
    * Bernoulli: ``x l - softplus(l)`` for logits ``l``.

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
        Assignment probabilities ``phi``, ``(d, K)``, rows summing to 1; ``None`` where each
        feature has a single curve (``K = 1``).
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
    logits
        Bernoulli logits per family, ``(N, d, K)`` (``"bernoulli"``).

    Returns
    -------
    torch.Tensor
        ``sum_jk w_jk log p(x_ij | k)``, shape ``(N,)``.
    """
    check_likelihood(likelihood)
    if weights is None:
        weights = x.new_ones(x.shape[1], 1)
    if likelihood == "bernoulli":
        return torch.einsum("idk,dk->i", x[..., None] * logits - softplus(logits), weights)
    if likelihood == "gaussian":
        residual = ((x[..., None] - mean) / scale[:, None]).square()
        normaliser = torch.log(scale).sum() + 0.5 * math.log(2 * math.pi) * x.shape[1]
        return -0.5 * torch.einsum("idk,dk->i", residual, weights) - normaliser
    if likelihood == "poisson":
        per_gene = x * _weighted(log_mean, weights) - _weighted(torch.exp(log_mean), weights)
        return (per_gene - torch.lgamma(x + 1)).sum(1)
    zi_logits = zi_logits if likelihood == "zinb" else None
    return _NegativeBinomialLogLikelihood.apply(x, log_mean, torch.log(theta), zi_logits, weights)


def _weighted(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum_k w_jk v_ijk`` of ``values`` ``(N, d, K)`` and ``weights`` ``(d, K)``, ``(N, d)``."""
    return sum(values[..., k] * weights[:, k] for k in range(weights.shape[1]))


class _NegativeBinomialLogLikelihood(torch.autograd.Function):
    """Per-cell ``sum_jk w_jk log NB(x_ij | mu_ijk, theta_j)`` ``(N,)`` (or ZINB, logits ``pi``).

    With ``u = log mu - log theta`` and ``s = softplus(u)``, the family-dependent terms are
    ``t = x u - (theta + x) s`` (NB, and ZINB at non-zero counts) or ``softplus(-theta s - pi)``
    (ZINB at zero counts); because ``sum_k w_jk = 1``, the family-independent ones
    (``lgamma(x + theta) - lgamma(theta) - lgamma(x + 1)`` at non-zero counts, and the
    zero-inflation terms ``-softplus(-pi) - pi [x > 0]``) are taken once per entry.
    The forward pass also forms the derivatives with respect to ``log mu``, ``log theta`` and
    ``pi``, so the backward pass is one product per input instead of autograd's chain of
    elementwise steps over ``(N, d, K)`` tensors: with the compiled kernel
    (:func:`~scbasis.nn.native_kernel_available`) for float32 tensors on the CPU, else with
    torch operations (:func:`_negative_binomial_derivatives`). Not twice differentiable.
    """

    @staticmethod
    def forward(ctx, x, log_mean, log_theta, zi_logits, weights):
        outputs = _negative_binomial_outputs(x, log_mean, log_theta, zi_logits, weights)
        cell_terms, d_log_mean, d_log_theta, d_pi, terms = outputs
        ctx.save_for_backward(
            d_log_mean, d_log_theta, d_pi, terms if ctx.needs_input_grad[4] else None
        )
        return cell_terms

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        d_log_mean, d_log_theta, d_pi, terms = ctx.saved_tensors
        grads = [None] * 5  # x, log_mean, log_theta, zi_logits, weights
        if ctx.needs_input_grad[1]:
            grads[1] = d_log_mean * grad[:, None, None]
        if ctx.needs_input_grad[2]:
            grads[2] = grad @ d_log_theta
        if d_pi is not None and ctx.needs_input_grad[3]:
            grads[3] = d_pi * grad[:, None]
        if terms is not None:  # sum_i grad_i t_ijk, read in the layout the terms are stored in
            family_major = terms.transpose(1, 2).is_contiguous()
            stored = terms.transpose(1, 2) if family_major else terms
            summed = (grad @ stored.reshape(grad.shape[0], -1)).reshape(stored.shape[1:])
            grads[4] = summed.T if family_major else summed
        return tuple(grads)


def _negative_binomial_derivatives(
    x: torch.Tensor,
    log_mean: torch.Tensor,
    log_theta: torch.Tensor,
    zi_logits: torch.Tensor | None,
    weights: torch.Tensor,
) -> tuple[torch.Tensor | None, ...]:
    """Log-likelihood and derivatives of :class:`_NegativeBinomialLogLikelihood` in torch.

    Both forms, zero and non-zero count, are evaluated at every entry and the entry's own is
    kept: no shape depends on the data, so that a GPU never waits for the host.

    Returns
    -------
    tuple
        ``sum_jk w_jk log p(x_ij | k)`` ``(N,)``, ``w_jk dt/d log mu`` ``(N, d, K)``, its
        derivatives with respect to ``log theta`` ``(N, d)`` and ``pi`` ``(N, d)`` (``None``
        without zero inflation), and the family-dependent terms ``t`` ``(N, d, K)``, as the
        compiled kernel returns them.
    """
    n_cells = x.shape[0]
    log_mean = log_mean.contiguous()
    theta = torch.exp(log_theta)[:, None]  # (d, 1)
    counts = x[..., None]  # (N, d, 1)
    positive = counts > 0
    u = log_mean - log_theta[:, None]
    softplus_u = softplus(u)
    # non-zero counts: t = x u - (theta + x) s, d t / d u = x - (theta + x) sigmoid(u)
    total = theta + counts
    non_zero_terms = counts * u - total * softplus_u
    sigmoid_u = torch.sigmoid_(u)
    non_zero_d_u = counts - total * sigmoid_u
    theta_s = theta * softplus_u  # -t and -d t / d log theta (fixed u) at x = 0
    d_pi = None
    if zi_logits is None:
        zero_terms, zero_d_u, zero_d_theta = theta_s.neg(), sigmoid_u * -theta, theta_s
    else:
        shifted = theta_s.neg() - zi_logits[..., None]
        gate = torch.sigmoid(shifted)
        zero_terms = softplus(shifted)
        zero_d_u, zero_d_theta = sigmoid_u * -theta * gate, theta_s * gate
        d_pi = torch.where(positive[..., 0], 0.0, -_weighted(gate, weights))
    terms = torch.where(positive, non_zero_terms, zero_terms)
    d_u = torch.where(positive, non_zero_d_u, zero_d_u)
    d_theta = torch.where(positive, theta_s, zero_d_theta)
    cell_terms = terms.reshape(n_cells, -1) @ weights.reshape(-1)
    d_log_theta = -_weighted(d_theta, weights) - (d_u * weights).sum(-1)
    gene_theta = theta[:, 0]
    cell_terms = cell_terms + _family_independent_terms(x, gene_theta, zi_logits).sum(1)
    d_log_theta += gene_theta * (torch.digamma(x + gene_theta) - torch.digamma(gene_theta))
    if zi_logits is not None:
        d_pi += torch.sigmoid(-zi_logits) - positive[..., 0].to(x.dtype)
    return cell_terms, d_u.mul_(weights), d_log_theta, d_pi, terms


def _negative_binomial_outputs(
    x: torch.Tensor,
    log_mean: torch.Tensor,
    log_theta: torch.Tensor,
    zi_logits: torch.Tensor | None,
    weights: torch.Tensor,
) -> tuple[torch.Tensor | None, ...]:
    """:func:`_negative_binomial_derivatives`, by the compiled kernel where it runs."""
    if native_kernel_runs_on(log_mean):
        return native_negative_binomial_terms(x, log_mean, log_theta, zi_logits, weights)
    return _negative_binomial_derivatives(x, log_mean, log_theta, zi_logits, weights)


def _family_independent_terms(
    x: torch.Tensor, theta: torch.Tensor, zi_logits: torch.Tensor | None
) -> torch.Tensor:
    """The terms of the NB / ZINB ``log p(x_ij | k)`` that no family changes, ``(N, d)``:
    ``lgamma(x + theta) - lgamma(theta) - lgamma(x + 1)`` (0 at ``x = 0``) and, under ZINB,
    ``-softplus(-pi) - pi [x > 0]``, for counts ``x`` ``(N, d)``, ``theta`` ``(d,)`` and
    zero-inflation logits ``(N, d)`` or ``(d,)`` (``None``: NB)."""
    terms = torch.lgamma(x + theta) - torch.lgamma(theta) - torch.lgamma(x + 1)
    if zi_logits is None:
        return terms
    return terms - softplus(-zi_logits) - zi_logits * (x > 0).to(x.dtype)


def count_family_log_likelihood(
    x: torch.Tensor,
    likelihood: str,
    *,
    log_mean: torch.Tensor,
    theta: torch.Tensor,
    zi_logits: torch.Tensor | None = None,
) -> torch.Tensor:
    """``log p(x_ij | family k)`` ``(N, d, K)`` of the negative binomial or ZINB, by the fused
    path: :func:`family_log_likelihood`'s values from the family-dependent terms of
    :func:`cell_log_likelihood` and the family-independent ones, with the exact form described
    there (no ``eps`` in the logarithms). No gradients.

    Parameters
    ----------
    x
        Counts, ``(N, d)``.
    likelihood
        ``"nb"`` or ``"zinb"``.
    log_mean
        Log count means per family, ``(N, d, K)``.
    theta
        Inverse dispersions, ``(d,)``.
    zi_logits
        Zero-inflation logits, ``(N, d)`` (``"zinb"``).
    """
    check_likelihood(likelihood, ("nb", "zinb"))
    zi_logits = zi_logits if likelihood == "zinb" else None
    with torch.no_grad():
        log_theta = torch.log(theta)
        weights = x.new_ones(log_mean.shape[1:]) / log_mean.shape[-1]  # any weights: t is kept
        terms = _negative_binomial_outputs(x, log_mean, log_theta, zi_logits, weights)[4]
        return terms + _family_independent_terms(x, theta, zi_logits)[..., None]


def grid_count_log_likelihood(
    x: torch.Tensor,
    likelihood: str,
    weights: torch.Tensor | None,
    *,
    curves: torch.Tensor,
    points: torch.Tensor,
    library: torch.Tensor,
    offsets: torch.Tensor | None,
    theta: torch.Tensor,
    zi_logits: torch.Tensor | None = None,
) -> torch.Tensor:
    """:func:`cell_log_likelihood` of each cell at chosen points of a grid of latent times, for
    the negative binomial and ZINB with one zero-inflation probability per gene. No gradients.

    The log mean of cell ``i`` at its point ``w`` is ``curves[points[i, w]] + offsets[i] +
    library[i, w]``. The compiled kernel (where it runs) evaluates only the family-dependent
    terms at each point, from the curves themselves, and adds the family-independent ones once
    per cell; elsewhere the cells' rows are repeated for their points and taken through
    :func:`cell_log_likelihood`.

    Parameters
    ----------
    x
        Counts, ``(N, d)``.
    likelihood
        ``"nb"`` or ``"zinb"``.
    weights
        Family weights ``(d, K)``; ``None`` where ``K = 1``.
    curves
        Link-scale curves on the grid, ``(G, K, d)``.
    points
        Indices into the grid ``(N, W)``.
    library
        Each cell's log library size at each of its points, ``(N, W)``.
    offsets
        Each cell's link offsets (its batch's), ``(N, d)``, or ``None``.
    theta
        Inverse dispersions, ``(d,)``.
    zi_logits
        Zero-inflation logits, one per gene ``(d,)`` (``"zinb"``).

    Returns
    -------
    torch.Tensor
        ``sum_jk w_jk log p(x_ij | z = z_g, k)`` at each cell's points, ``(N, W)``.
    """
    check_likelihood(likelihood, ("nb", "zinb"))
    zi_logits = zi_logits if likelihood == "zinb" else None
    n_cells, n_points = points.shape
    if weights is None:
        weights = x.new_ones(curves.shape[2], 1)
    with torch.no_grad():
        if native_kernel_runs_on(curves):
            log_theta = torch.log(theta)
            shift = -log_theta if offsets is None else offsets - log_theta
            terms = native_negative_binomial_grid_terms(
                x, curves, points, shift.expand_as(x), library, log_theta, zi_logits, weights
            )
            return terms + _family_independent_terms(x, theta, zi_logits).sum(1, keepdim=True)
        log_mean = curves.index_select(0, points.reshape(-1)).transpose(1, 2)  # (N W, d, K)
        if offsets is not None:
            log_mean = log_mean + offsets.repeat_interleave(n_points, 0)[..., None]
        log_mean = log_mean + library.reshape(-1, 1, 1)
        if zi_logits is not None:
            zi_logits = zi_logits.expand(n_cells * n_points, -1)
        repeated = x.repeat_interleave(n_points, 0)
        per_point = cell_log_likelihood(
            repeated, likelihood, weights, log_mean=log_mean, theta=theta, zi_logits=zi_logits
        )
        return per_point.reshape(n_cells, n_points)
