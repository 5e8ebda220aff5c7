"""Shape guarantees of the three families, for any weights (property tests)."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scbasis.nn import DerivativeDecoder
from scbasis.nn._families import transient_warp

GRID = torch.linspace(-4, 4, 801, dtype=torch.float64)


def _random_decoder(seed: int, weight_scale: float, quadrature: str, baseline: bool):
    torch.manual_seed(seed)
    n_genes = 5
    decoder = DerivativeDecoder(
        n_genes,
        n_hidden=8,
        activation="tanh",
        quadrature=quadrature,
        n_quadrature=15 if quadrature == "gauss_legendre" else 48,
        basal_level=baseline,
        baseline_init=np.full(n_genes, 0.3),
    ).double()
    with torch.no_grad():
        for p in decoder.parameters():
            p.normal_(0.0, weight_scale)
        decoder.centre.uniform_(-3.0, 3.0)
    return decoder


# The default Chebyshev rule integrates a non-negative surrogate exactly, so the shapes hold
# for any weights. The papers' per-cell Gauss-Legendre rule keeps them only up to its
# quadrature error, which steep networks (large weights) can exceed; it is checked at the
# weight scales of initialisation and training.
decoders = st.sampled_from([("chebyshev", 4.0), ("gauss_legendre", 1.0)]).flatmap(
    lambda rule: st.builds(
        _random_decoder,
        seed=st.integers(0, 10_000),
        weight_scale=st.floats(0.1, rule[1]),
        quadrature=st.just(rule[0]),
        baseline=st.booleans(),
    )
)


@settings(max_examples=40, deadline=None)
@given(decoder=decoders)
def test_increasing_and_decreasing_families_are_monotone(decoder):
    with torch.no_grad():
        curves = decoder(GRID)
    steps = torch.diff(curves, dim=0)
    tolerance = 1e-9 * (1 + curves.abs().max())
    assert torch.all(steps[..., 0] >= -tolerance), "increasing family decreased"
    assert torch.all(steps[..., 1] <= tolerance), "decreasing family increased"


@settings(max_examples=40, deadline=None)
@given(decoder=decoders, log_scale=st.booleans())
def test_transient_has_single_maximum_at_centre(decoder, log_scale):
    decoder.log_transient = log_scale
    with torch.no_grad():
        transient = decoder(GRID)[..., 2]
        peak_value = decoder(decoder.centre.detach())
    centre = decoder.centre.detach()
    tolerance = 1e-9 * (1 + transient.abs().max())
    for j in range(transient.shape[1]):
        left, right = GRID <= centre[j], GRID >= centre[j]
        steps = torch.diff(transient[:, j])
        assert torch.all(steps[left[1:]] >= -tolerance), "transient decreased before its centre"
        assert torch.all(steps[right[:-1]] <= tolerance), "transient increased after its centre"
        # the maximum is attained at the centre itself
        assert torch.all(transient[:, j] <= peak_value[j, j, 2] + tolerance)
    # the maximum is unique: the warp h vanishes only at the centre, with the sign of z - z0
    with torch.no_grad():
        integrals, moments = decoder.quadrature(decoder.network, GRID, slice(10, 15))
        warp = transient_warp(GRID, centre, decoder.offset, integrals[:, 10:15], moments)
    assert torch.all(torch.sign(warp) == torch.sign(GRID[:, None] - centre))
