"""Quadrature rules for the decoder's integrals ``int_0^z f(t) dt``.

Every rule integrates a vector-valued integrand ``f: R -> R^C`` from 0 to each cell's
latent value ``z_i`` and returns ``(N, C)``. They differ in where ``f`` is evaluated:

* :class:`GaussLegendreQuadrature` is the papers' rule: ``n`` nodes per cell, so the
  integrand network runs ``N * n`` times per minibatch.
* :class:`ChebyshevQuadrature` evaluates ``f`` once at ``M`` Chebyshev nodes spanning the
  minibatch's latent range and integrates a non-negative polynomial surrogate exactly, so the
  network runs ``M`` times per minibatch whatever ``N`` is, and every cell's integral is one
  row of a ``(N, 2M) @ (2M, C)`` product.

Both return the integrals and, for chosen columns, the first moments ``int_0^z t f(t) dt``
(the transient family needs ``int_0^z (t - z0) f = moment - z0 integral``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from ._host_copy import HostCopy

#: ``integrand(points)`` maps points ``(P,)`` to non-negative values ``(P, C)``;
#: ``integrand(points, columns)`` to the values of ``columns`` (a ``LongTensor``) alone.
Integrand = Callable[..., torch.Tensor]

QUADRATURES: tuple[str, ...] = ("chebyshev", "gauss_legendre")
#: Nodes per rule when none are given: 48 Chebyshev nodes, the papers' Gauss-Legendre order 15.
DEFAULT_N_QUADRATURE: dict[str, int] = {"chebyshev": 48, "gauss_legendre": 15}
#: Error tolerance of the Chebyshev rule when none is given (see :class:`ChebyshevQuadrature`).
DEFAULT_QUADRATURE_TOLERANCE = 1e-5


@lru_cache(maxsize=16)
def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights of order ``n`` on ``[-1, 1]``.

    Parameters
    ----------
    n
        Number of nodes; the rule is exact for polynomials of degree ``2n - 1``.

    Returns
    -------
    nodes, weights
        Arrays of shape ``(n,)`` (float64).
    """
    if n < 1:
        raise ValueError(f"The quadrature order must be a positive integer, got n={n}.")
    return np.polynomial.legendre.leggauss(n)


class QuadratureRule(nn.Module):
    """Interface of the quadrature rules.

    ``rule(integrand, z, moment_columns)`` returns the integrals ``int_0^z f`` ``(N, C)`` and,
    for ``moment_columns``, the first moments ``int_0^z t f(t) dt`` ``(N, C_m)``, where
    ``integrand`` maps points ``(P,)`` to non-negative values ``(P, C)`` and ``z`` holds the
    upper limits ``(N,)``.
    """

    n_nodes: int

    def forward(
        self, integrand: Integrand, z: torch.Tensor, moment_columns: slice = slice(0, 0)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class GaussLegendreQuadrature(QuadratureRule):
    """Per-cell Gauss-Legendre rule: ``int_0^z f = z/2 sum_i w_i f(z/2 (u_i + 1))``.

    Parameters
    ----------
    n_nodes
        Order ``n`` of the rule (the papers use 15).
    """

    def __init__(self, n_nodes: int = 15):
        super().__init__()
        nodes, weights = gauss_legendre(n_nodes)
        self.n_nodes = n_nodes
        # float64, used in the integrand's precision: float64 integrals get exact nodes
        self.register_buffer("nodes", torch.as_tensor(nodes))
        self.register_buffer("weights", torch.as_tensor(weights))

    def forward(
        self, integrand: Integrand, z: torch.Tensor, moment_columns: slice = slice(0, 0)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-cell Gauss-Legendre integrals and moments (see ``QuadratureRule``)."""
        half = z[:, None] / 2  # (N, 1)
        points = half * (self.nodes.to(z.dtype) + 1)  # (N, n)
        values = integrand(points.reshape(-1)).reshape(z.shape[0], self.n_nodes, -1)
        weights = half * self.weights.to(z.dtype)  # (N, n)
        integrals = torch.einsum("in,inc->ic", weights, values)
        moments = torch.einsum("in,inc->ic", weights * points, values[..., moment_columns])
        return integrals, moments


class ChebyshevQuadrature(QuadratureRule):
    """Exact integrals of a non-negative polynomial surrogate of ``f`` on the batch's range.

    ``f >= 0`` is evaluated once per minibatch at the ``M`` Chebyshev points of the first kind
    on ``[a, b]``, an interval holding 0 and every ``z_i`` (widened to at least ``[-1, 1]``).
    ``p``, the degree ``M - 1`` interpolant of ``sqrt(f)``, gives the surrogate ``p^2 >= 0``,
    whose integrals ``int_0^z p^2`` and moments ``int_0^z t p^2`` are polynomials computed
    exactly from ``p^2`` at ``2 M`` finer Chebyshev points: ``W(z) @ p^2(nodes)`` with a
    differentiable ``W(z)`` ``(N, 2M)``. Because the surrogate itself is non-negative, the
    integrals are non-decreasing in ``z`` for any network weights, so the families' shape
    guarantees hold exactly, not only up to quadrature error.

    The rule controls its own error. The last Chebyshev coefficients of ``p`` bound
    ``|p^2 - f|`` on ``[a, b]``; the columns whose bound exceeds ``tolerance`` times the
    column's largest value of ``f`` are evaluated again at ``2 M`` nodes, then ``4 M``, and so
    on up to ``M * 2 ** max_refinements`` nodes. A trained network sharpens a few of its
    thousands of outputs (functions that rise by many orders of magnitude over a short stretch
    of pseudotime); they get the nodes they need while the rest stay at ``M``. The network must
    accept ``integrand(points, columns)`` with ``columns`` a ``LongTensor`` of the columns to
    evaluate, as :class:`~scbasis.nn.DerivativeNetwork` does.

    In evaluation mode each level evaluates exactly the columns whose estimate exceeds the
    tolerance. In training mode no step waits to count them: each level evaluates a number of
    columns fixed beforehand, those with the largest error estimates, and the counts of this
    step set the numbers of later steps (:class:`RefinementCapacity`). A training step
    therefore makes no host synchronisation on a GPU and its shapes change only when the demand
    does. The refinement's work follows the demand, which grows as training sharpens the
    network, up to a bound: in a training step, level ``l`` (``2^l M`` nodes) evaluates at most
    ``C / 4^l`` of the ``C`` columns, so that each level's work (its products of size
    ``(2^l M)^2`` per column) is at most about that of the first evaluation of every column.
    Where more columns exceed the tolerance, those with the largest estimates are refined and
    the rest keep the previous level's values, which are still non-negative surrogates;
    evaluation mode (every getter) has no bound.

    Parameters
    ----------
    n_nodes
        Number ``M`` of nodes at which ``f`` is evaluated for every column.
    tolerance
        Largest error of the surrogate ``|p^2 - f|`` allowed, relative to the column's
        largest value of ``f``, as estimated from the coefficients; ``None`` turns the
        refinement off.
    max_refinements
        Number of times the node count may double for the columns that need it.
    """

    def __init__(
        self,
        n_nodes: int = 48,
        tolerance: float | None = DEFAULT_QUADRATURE_TOLERANCE,
        max_refinements: int = 3,
    ):
        super().__init__()
        if n_nodes < _TAIL + 2:
            raise ValueError(
                f"ChebyshevQuadrature needs at least {_TAIL + 2} nodes, got {n_nodes}."
            )
        if tolerance is not None and not tolerance > 0:
            raise ValueError(
                f"The quadrature tolerance must be positive (e.g. 1e-5) or None, got {tolerance}."
            )
        self.n_nodes = n_nodes
        self.tolerance = tolerance
        _register_chebyshev_matrices(self, n_nodes, persistent=True)
        # refinement levels follow from n_nodes, so they stay out of saved state dicts
        self.refinements = nn.ModuleList(
            [_ChebyshevLevel(n_nodes * 2**level) for level in range(1, max_refinements + 1)]
        )
        self.capacity = RefinementCapacity(max_refinements)

    def domain(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Interval ``[a, b]`` holding 0, ``[-1, 1]`` and every entry of ``z``, as float64
        scalar tensors on ``z``'s device (read by no one on the host)."""
        z = z.detach().double()
        return z.min().clamp_max(-1.0), z.max().clamp_min(1.0)

    def forward(
        self, integrand: Integrand, z: torch.Tensor, moment_columns: slice = slice(0, 0)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact integrals and moments of the surrogate ``p^2`` (see ``QuadratureRule``)."""
        lower, upper = self.domain(z)
        frame = ((upper + lower) / 2, (upper - lower) / 2)
        integrals, moments, excess = _chebyshev_level(self, integrand, z, frame, moment_columns)
        if self.tolerance is None or not self.refinements:
            return integrals, moments
        n_columns = excess.numel()
        candidates = None  # columns evaluated by the previous level; None: all of them
        demand, levels = [], []
        for depth, rule in enumerate(self.refinements):
            unresolved = (excess > self.tolerance).sum()  # excess carries no gradient
            demand.append(unresolved)
            if self.training:
                budget = math.ceil(n_columns / _REFINEMENT_BUDGET_RATIO ** (depth + 1))
                n_refined = min(self.capacity.columns[depth], excess.numel(), budget)
            else:
                n_refined = int(unresolved)
            if n_refined == 0:
                break
            chosen = torch.topk(excess, n_refined, sorted=False).indices
            refined = chosen if candidates is None else candidates[chosen]
            level_integrals, level_moments, excess = _chebyshev_level(
                rule, integrand, z, frame, slice(None), refined
            )
            levels.append((chosen, level_integrals, level_moments))
            candidates = refined
        if levels:
            integrals, moments = _replace_refined(integrals, moments, moment_columns, levels)
        if self.training:
            demand += [demand[-1].new_zeros(())] * (len(self.refinements) - len(demand))
            self.capacity.record(torch.stack(demand))
        return integrals, moments


def _replace_refined(
    integrals: torch.Tensor,
    moments: torch.Tensor,
    moment_columns: slice,
    levels: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The integrals ``(N, C)`` and moments ``(N, C_m)`` of the first level with each refined
    column's values from the last level that evaluated it.

    ``levels`` holds, per refinement level, the positions of its columns among the previous
    level's columns (for the first level, among all columns), its integrals and its moments of
    every column it evaluated, ``(N, C_l)`` each. Each level's values replace the previous
    level's in that level's narrower arrays, so that only one write per output spans every
    column (and only one copy of its gradient in the backward pass).
    """
    _, refined_integrals, refined_moments = levels[-1]
    for depth in range(len(levels) - 1, 0, -1):
        chosen = levels[depth][0]
        _, level_integrals, level_moments = levels[depth - 1]
        refined_integrals = level_integrals.index_copy(1, chosen, refined_integrals)
        refined_moments = level_moments.index_copy(1, chosen, refined_moments)
    refined = levels[0][0]  # the first level's columns, among all columns
    # in place: the products' backward passes do not need their outputs
    integrals.index_copy_(1, refined, refined_integrals)
    # each refined column's moment to its place among the moment columns; the columns outside
    # them go to an extra column that is dropped
    n_moments = moments.shape[1]
    place = refined - moment_columns.indices(integrals.shape[1])[0]
    place = torch.where((place >= 0) & (place < n_moments), place, n_moments)
    moments = torch.nn.functional.pad(moments, (0, 1))
    return integrals, moments.index_copy(1, place, refined_moments)[:, :n_moments]


#: Trailing Chebyshev coefficients of ``p`` that estimate the surrogate's error.
_TAIL = 4
#: Granularity and headroom of the refinement's capacities (:class:`RefinementCapacity`).
_CAPACITY_STEP = 64
_CAPACITY_HEADROOM = 1.25
_MAX_PENDING = 8  # steps' counts on their way to the host at once
#: A training step's refinement level ``l`` evaluates at most ``C / ratio^l`` of ``C`` columns.
_REFINEMENT_BUDGET_RATIO = 4


class RefinementCapacity:
    """How many columns each refinement level of :class:`ChebyshevQuadrature` evaluates in a
    training step, from the counts of columns that needed it in recent steps.

    Each step hands its counts to :meth:`record`; they are copied to the host without waiting
    (on a GPU, into pinned memory behind a CUDA event) and read at a later step, once they have
    arrived. A level's capacity is the count times :data:`_CAPACITY_HEADROOM`, rounded up to a
    multiple of :data:`_CAPACITY_STEP`; it grows as soon as the count exceeds it and shrinks
    only when the count falls below half of it, so that shapes rarely change.

    Parameters
    ----------
    n_levels
        Number of refinement levels.
    """

    def __init__(self, n_levels: int):
        #: Columns each level evaluates in the next training step.
        self.columns = [0] * n_levels
        self._pending: list[HostCopy] = []

    def record(self, demand: torch.Tensor) -> None:
        """Take a step's counts ``(n_levels,)`` of columns whose error exceeds the tolerance,
        and adjust the capacities to the counts that have reached the host."""
        if len(self._pending) < _MAX_PENDING:  # beyond, a step's counts are dropped
            self._pending.append(HostCopy(demand))
        while self._pending and self._pending[0].arrived():
            self._adjust(self._pending.pop(0).read())

    def _adjust(self, counts: list[int]) -> None:
        for level, count in enumerate(counts):
            wanted = math.ceil(count * _CAPACITY_HEADROOM / _CAPACITY_STEP) * _CAPACITY_STEP
            if count > self.columns[level] or 2 * count < self.columns[level]:
                self.columns[level] = wanted


class _ChebyshevLevel(nn.Module):
    """Nodes and matrices of one refinement level of :class:`ChebyshevQuadrature`."""

    def __init__(self, n_nodes: int):
        super().__init__()
        self.n_nodes = n_nodes
        _register_chebyshev_matrices(self, n_nodes, persistent=False)


def _register_chebyshev_matrices(module: nn.Module, n_nodes: int, persistent: bool) -> None:
    """Register the nodes and matrices of the ``n_nodes`` Chebyshev rule (see
    :func:`_chebyshev_matrices`) as buffers of ``module``; the error estimate's are never saved,
    so that models saved before it existed still load."""
    for name, array in _chebyshev_matrices(n_nodes).items():
        # kept in float64: the weights of cells near z = 0 are differences of nearly equal
        # polynomial values, so rounding these matrices to float32 would cost accuracy
        saved = persistent and name != "values_to_tail"
        # a copy: loading a state dict writes into the buffers, not into the cache
        module.register_buffer(name, torch.tensor(array), persistent=saved)


@lru_cache(maxsize=16)
def _chebyshev_matrices(n_nodes: int) -> dict[str, np.ndarray]:
    """Nodes and matrices of the ``n_nodes`` Chebyshev rule on ``[-1, 1]`` (float64)."""
    coarse, fine = _chebyshev_points(n_nodes), _chebyshev_points(2 * n_nodes)
    n_fine = 2 * n_nodes
    return {
        "coarse_nodes": coarse,
        "fine_nodes": fine,
        # values of sqrt(f) at the coarse points -> values of its interpolant at the fine points
        "coarse_to_fine": _chebyshev_vandermonde(fine, n_nodes - 1)
        @ _values_to_coefficients(n_nodes),
        # values at the fine points -> coefficients of the antiderivative in T_0 .. T_2M
        "values_to_antiderivative": np.polynomial.chebyshev.chebint(np.eye(n_fine), axis=0)
        @ _values_to_coefficients(n_fine),
        # values of sqrt(f) -> its last _TAIL Chebyshev coefficients
        "values_to_tail": _values_to_coefficients(n_nodes)[-_TAIL:],
    }


def _chebyshev_level(
    rule: nn.Module,
    integrand: Integrand,
    z: torch.Tensor,
    frame: tuple[torch.Tensor, torch.Tensor],
    moment_columns: slice,
    columns: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One level's integrals ``(N, C)`` of ``columns`` (all if ``None``), moments of
    ``moment_columns`` among them ``(N, C_m)``, and the error estimate of each column over its
    largest value, ``(C,)`` (no gradient).

    ``rule`` holds the buffers of :func:`_register_chebyshev_matrices`; ``frame`` is the centre
    and half-width of the domain ``[a, b]`` (float64 scalar tensors).
    """
    centre, half_width = frame
    points = (centre + half_width * rule.coarse_nodes).to(z.dtype)
    values = integrand(points) if columns is None else integrand(points, columns)  # (M, C)
    root = torch.sqrt(values.clamp_min(1e-30))
    surrogate = (rule.coarse_to_fine.to(z.dtype) @ root).square()  # p^2 at fine points
    fine_points = (centre + half_width * rule.fine_nodes).to(z.dtype)
    limits = torch.cat([z, z.new_zeros(1)]).double()
    polys = _chebyshev_polynomials((limits - centre) / half_width, 2 * rule.n_nodes)
    differences = half_width * (polys[:-1] - polys[-1])  # (N, 2M + 1)
    if surrogate.shape[1] < z.shape[0]:
        # fewer columns than cells: the antiderivatives' coefficients are the smaller product
        to_antiderivative = rule.values_to_antiderivative.to(z.dtype)
        differences = differences.to(z.dtype)

        def integrate(fine_values: torch.Tensor) -> torch.Tensor:
            return differences @ (to_antiderivative @ fine_values)

    else:
        weights = (differences @ rule.values_to_antiderivative.double()).to(z.dtype)  # (N, 2M)

        def integrate(fine_values: torch.Tensor) -> torch.Tensor:
            return weights @ fine_values

    integrals = integrate(surrogate)
    moments = integrate(fine_points[:, None] * surrogate[:, moment_columns])
    with torch.no_grad():
        # |p^2 - f| <= 2 sqrt(max f) |p - sqrt f|, relative to max f
        tail = (rule.values_to_tail.to(z.dtype) @ root).abs().amax(dim=0)
        excess = 2 * tail / root.amax(dim=0)
    return integrals, moments, excess


def make_quadrature(
    name: str, n_nodes: int | None = None, tolerance: float | None = DEFAULT_QUADRATURE_TOLERANCE
) -> QuadratureRule:
    """Build the quadrature rule ``name`` (one of :data:`QUADRATURES`).

    Parameters
    ----------
    name
        ``"chebyshev"`` (:class:`ChebyshevQuadrature`) or ``"gauss_legendre"``
        (:class:`GaussLegendreQuadrature`).
    n_nodes
        Nodes of the rule; ``None`` takes :data:`DEFAULT_N_QUADRATURE`.
    tolerance
        Error tolerance of the Chebyshev rule (see :class:`ChebyshevQuadrature`; ``None``: fixed
        nodes); the per-cell Gauss-Legendre rule has none.
    """
    if name not in QUADRATURES:
        raise ValueError(f"Unknown quadrature {name!r}; choose one of {QUADRATURES}.")
    n_nodes = DEFAULT_N_QUADRATURE[name] if n_nodes is None else n_nodes
    if name == "chebyshev":
        return ChebyshevQuadrature(n_nodes, tolerance)
    return GaussLegendreQuadrature(n_nodes)


def _chebyshev_points(n: int) -> np.ndarray:
    """Chebyshev points of the first kind on ``[-1, 1]``, ``(n,)``."""
    return np.cos(np.pi * (np.arange(n) + 0.5) / n)


def _values_to_coefficients(n: int) -> np.ndarray:
    """Matrix ``(n, n)`` from values at the ``n`` points to Chebyshev coefficients."""
    k, m = np.arange(n)[:, None], np.arange(n)[None, :]
    matrix = 2.0 / n * np.cos(np.pi * k * (m + 0.5) / n)
    matrix[0] /= 2
    return matrix


def _chebyshev_vandermonde(x: np.ndarray, degree: int) -> np.ndarray:
    """``T_0(x) .. T_degree(x)``, ``(len(x), degree + 1)``."""
    return np.polynomial.chebyshev.chebvander(x, degree)


def _chebyshev_polynomials(x: torch.Tensor, degree: int) -> torch.Tensor:
    """``T_0(x) .. T_degree(x)``, ``(len(x), degree + 1)``, for a 1-D ``x`` in ``[-1, 1]``.

    The values come from ``T_k(cos t) = cos(k t)`` rather than from hundreds of tiny recorded
    operations of a recurrence; the first derivative ``T_k'(cos t) = k sin(k t) / sin t``
    (``k^2 (+-1)^(k+1)`` at ``x = +-1``) is attached so that gradients with respect to ``x``,
    in reverse or forward mode, are exact.
    """
    points = x.detach().double().clamp(-1.0, 1.0)
    k = torch.arange(degree + 1, dtype=torch.float64, device=x.device)
    angles = torch.outer(torch.arccos(points), k)
    values = torch.cos(angles)
    sine = torch.sqrt((1 - points) * (1 + points))  # sin(arccos x), exact near the ends
    # within 1e-7 of an end, the derivative is its value at the end to about 1e-9
    ends = sine < 1e-7
    slopes = k * torch.sin(angles) / torch.where(ends, 1.0, sine)[:, None]
    end_slopes = k.square() * torch.sign(points)[:, None] ** (k + 1)
    slopes = torch.where(ends[:, None], end_slopes, slopes)
    # value T(x), derivative T'(x): (x - x) is zero but carries x's gradient (or tangent)
    return (values + (x - x.detach()).double()[:, None] * slopes).to(x.dtype)
