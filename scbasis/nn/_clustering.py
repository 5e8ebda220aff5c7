"""Feature-level clustering: ``w_j ~ Categorical(pi)``, ``pi ~ Dirichlet(alpha)``.

The variational posterior is ``q(w_j) = Categorical(phi_j)``. The BasisVAE supplement offers
three treatments of ``pi``, all available through :class:`FeatureClustering`:

* ``"collapsed"`` (appendix A): ``pi`` integrated out; with ``n_k = sum_j phi_jk``,
  ``log int exp(E_q log p(w | pi)) p(pi) dpi = log B(n + alpha) - log B(alpha)``,
  ``B(a) = prod_k Gamma(a_k) / Gamma(sum_k a_k)``;
* ``"fixed_pi"``: ``pi`` fixed at ``1 / K``, leaving ``KL(q(w) || Categorical(1 / K))``;
* ``"non_collapsed"``: a variational ``q(pi) = Dirichlet(a)``, leaving
  ``KL(q(pi) || p(pi)) + E_q(pi) E_q(w) [log q(w) - log p(w | pi)]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Dirichlet, kl_divergence
from torch.nn.functional import softplus

from ._derivative_decoder import inverse_softplus

CLUSTER_INFERENCE: tuple[str, ...] = ("collapsed", "fixed_pi", "non_collapsed")


def log_multivariate_beta(a: torch.Tensor) -> torch.Tensor:
    """``log B(a) = sum_k lgamma(a_k) - lgamma(sum_k a_k)`` for ``a`` ``(K,)``."""
    return torch.lgamma(a).sum() - torch.lgamma(a.sum())


def collapsed_dirichlet_categorical(phi: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``log B(n + alpha) - log B(alpha)`` for assignment probabilities ``phi`` ``(d, K)``."""
    return log_multivariate_beta(phi.sum(0) + alpha) - log_multivariate_beta(alpha)


def expected_log_q(phi: torch.Tensor) -> torch.Tensor:
    """``E_q(w) log q(w) = sum_jk phi_jk log phi_jk`` (the negative entropy), a scalar."""
    return torch.special.xlogy(phi, phi).sum()


def family_posterior(
    log_likelihood: torch.Tensor,
    penalty: torch.Tensor,
    alpha: torch.Tensor,
    covariance: torch.Tensor | None = None,
    n_draws: int = 256,
    n_iterations: int = 50,
    seed: int = 0,
) -> torch.Tensor:
    """Assignment probabilities that maximise the collapsed bound for fitted families.

    With ``S_jk`` the log-likelihood of feature ``j``'s data under family ``k`` at its fitted
    curve, less a penalty for the family's freedom, the collapsed objective ``sum_jk phi_jk S_jk
    + log B(n + alpha) - sum_jk phi_jk log phi_jk`` (``n_k = sum_j phi_jk``) is maximised by
    ``phi_jk ∝ exp(S_jk + digamma(n_k + alpha_k))``, found by fixed-point iteration from
    ``phi_jk ∝ exp(S_jk)``.

    With ``covariance``, the probabilities are *bagged* (BayesBag; Bühlmann 2014, Huggins &
    Miller 2023): the mean of that posterior over resamplings of the cells. ``S`` is a sum over
    cells, so over bootstrap resamplings it is nearly normal with the covariance of the sums;
    each of ``n_draws`` draws ``S* ~ N(S, covariance)`` gets its own fixed point, and ``phi``
    is their mean. A family that wins on every resampling keeps probability near 1; where the
    winner depends on which cells were observed (a few cells carry the difference, or the model
    fits every family about equally badly), the probability is shared. Unlike the posterior of
    one data set, whose odds grow without bound with the number of cells even when the model is
    misspecified, the bagged probability is calibrated against such sampling variability.

    Parameters
    ----------
    log_likelihood
        ``(d, K)``, summed over cells.
    penalty
        ``(K,)``, subtracted from every feature's ``log_likelihood``.
    alpha
        Dirichlet concentrations ``(K,)``.
    covariance
        ``(d, K, K)``: covariance of each feature's ``log_likelihood`` over resamplings of the
        cells (``N`` times the covariance of one cell's terms); ``None`` for the posterior of
        the data as observed.
    n_draws
        Resamplings drawn (with ``covariance``).
    n_iterations
        Fixed-point iterations.
    seed
        Seed of the draws.

    Returns
    -------
    torch.Tensor
        ``phi`` ``(d, K)``, rows summing to 1.
    """
    score = (log_likelihood - penalty)[None]  # (1, d, K)
    if covariance is not None:
        values, vectors = torch.linalg.eigh(covariance)
        root = vectors * values.clamp_min(0).sqrt()[..., None, :]  # (d, K, K)
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn((n_draws, *score.shape[1:]), generator=generator, dtype=score.dtype)
        score = score + torch.einsum("dkl,bdl->bdk", root, noise.to(score.device))
    # phi = softmax(score + prior) = odds * w / (odds @ w), with odds = exp(score - max_k score)
    # taken once and w = exp(prior) per draw: each iteration needs only n_k = sum_j phi_jk, two
    # products with the odds, stored family-major (B, K, d); phi itself is formed at the end
    odds = torch.exp(score - score.amax(-1, keepdim=True)).transpose(1, 2).contiguous()
    w = odds.new_ones(odds.shape[0], 1, odds.shape[1])  # (B, 1, K): phi_0 = softmax(score)
    for _ in range(n_iterations):
        totals = torch.bmm(w, odds)  # (B, 1, d): sum_k odds_jk w_k
        n = w[:, 0] * torch.bmm(odds, totals.reciprocal().transpose(1, 2))[..., 0]  # (B, K)
        prior = torch.digamma(n + alpha)
        w = torch.exp(prior - prior.amax(-1, keepdim=True))[:, None]
    phi = odds * w.transpose(1, 2) / torch.bmm(w, odds)  # (B, K, d)
    return phi.mean(0).T.contiguous()


class FeatureClustering(nn.Module):
    """Assignment posterior ``q(w)`` of ``d`` features to ``K`` clusters and its ELBO terms.

    Parameters
    ----------
    n_features
        Number of features ``d``.
    n_clusters
        Number of clusters ``K``.
    alpha
        Dirichlet concentration of ``p(pi)``, the same for every cluster.
    inference
        One of ``CLUSTER_INFERENCE``.
    logits_init_sd
        Standard deviation of the random initial assignment logits; 0 starts every feature at
        uniform assignments. Interchangeable clusters (BasisVAE's basis functions) need random
        starts to break their symmetry; distinct families (BasisDeVAE's) do not.
    """

    def __init__(
        self,
        n_features: int,
        n_clusters: int,
        alpha: float = 0.1,
        inference: str = "collapsed",
        logits_init_sd: float = 0.0,
    ):
        super().__init__()
        if inference not in CLUSTER_INFERENCE:
            raise ValueError(
                f"Unknown inference {inference!r}; choose one of {CLUSTER_INFERENCE}."
            )
        if n_clusters < 1:
            raise ValueError(f"The number of clusters must be at least 1, got {n_clusters}.")
        if alpha <= 0:
            raise ValueError(f"The Dirichlet concentration alpha must be positive, got {alpha}.")
        self.inference = inference
        self.logits = nn.Parameter(logits_init_sd * torch.randn(n_features, n_clusters))
        self.register_buffer("alpha", torch.full((n_clusters,), float(alpha)))
        if inference == "non_collapsed":
            # start at the Dirichlet posterior of uniform assignments, alpha + d / K
            start = torch.full((n_clusters,), float(alpha) + n_features / n_clusters)
            self.concentration_raw = nn.Parameter(inverse_softplus(start))

    @property
    def phi(self) -> torch.Tensor:
        """Assignment probabilities ``q(w_j = k)``, ``(d, K)``."""
        return torch.softmax(self.logits, dim=-1)

    @property
    def concentration(self) -> torch.Tensor:
        """Concentration ``a`` of ``q(pi)`` (``"non_collapsed"`` only), ``(K,)``."""
        return softplus(self.concentration_raw)

    def forward(self, phi: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The clustering part of the negative ELBO, term by term (scalars).

        Parameters
        ----------
        phi
            Assignment probabilities ``(d, K)``; :attr:`phi` if ``None``.

        Returns
        -------
        dict
            ``"expected_log_q_w"`` (``E_q log q(w)``) and, by inference mode,
            ``"collapsed_prior"`` (``-(log B(n + alpha) - log B(alpha))``),
            ``"expected_log_p_w"`` (``-E_q log p(w | pi = 1/K)``, ``"fixed_pi"``) or
            ``"kl_pi"`` and ``"expected_log_p_w"`` (``KL(q(pi) || p(pi))`` and
            ``-E_q(pi) E_q(w) log p(w | pi)``, ``"non_collapsed"``). Their sum is the term.
        """
        phi = self.phi if phi is None else phi
        terms = {"expected_log_q_w": expected_log_q(phi)}
        if self.inference == "collapsed":
            terms["collapsed_prior"] = -collapsed_dirichlet_categorical(phi, self.alpha)
        elif self.inference == "fixed_pi":
            terms["expected_log_p_w"] = phi.sum() * math.log(phi.shape[1])
        else:
            concentration = self.concentration
            expected_log_pi = torch.digamma(concentration) - torch.digamma(concentration.sum())
            terms["kl_pi"] = kl_divergence(Dirichlet(concentration), Dirichlet(self.alpha))
            terms["expected_log_p_w"] = -(phi.sum(0) * expected_log_pi).sum()
        return terms
