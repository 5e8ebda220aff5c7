"""The basis decoder's shape guarantees, its helpers, the family posterior and the data range."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import digamma, softmax

from scbasis.metrics import curve_rise_fall
from scbasis.nn import BasisFamilyDecoder, DataRange, LibraryTrend, SigmoidBasis
from scbasis.nn._clustering import family_posterior

U = torch.linspace(-0.6, 1.6, 2201)
INSIDE = (U >= 0) & (U <= 1)


def _random_decoder(
    seed: int, n_genes: int = 40, delta=0.5, flat_family: bool = True, **kwargs
) -> BasisFamilyDecoder:
    torch.manual_seed(seed)
    decoder = BasisFamilyDecoder(n_genes, min_change=delta, flat_family=flat_family, **kwargs)
    with torch.no_grad():
        decoder.weights_raw.normal_(-3.0, 3.0)  # from nearly nothing to steep switches
        decoder.peak_raw.normal_(0.0, 3.0)  # peaks from the range's ends to its middle
        decoder.level.normal_(0.0, 2.0)
        if flat_family:
            decoder.flat_slope_raw.normal_(0.0, 2.0)  # flat genes that move up or down
    return decoder.eval()


@pytest.mark.parametrize("seed", range(4))
def test_every_family_keeps_its_shape_for_any_weights(seed):
    decoder = _random_decoder(seed)
    with torch.no_grad():
        curves = decoder(U).numpy().astype(np.float64)  # (points, genes, 4)
    steps = np.diff(curves, axis=0)
    scale = 1e-5 * (1 + np.abs(curves).max(axis=0))
    assert np.all(steps[..., 0] >= -scale[:, 0])  # increasing
    assert np.all(steps[..., 1] <= scale[:, 1])  # decreasing
    peak = decoder.peak.detach().numpy()
    assert np.all((peak >= 0.02) & (peak <= 0.98))  # the default margin
    mid = ((U[1:] + U[:-1]) / 2).numpy()[:, None]
    transient = steps[..., 2]
    before, after = mid < peak - 1e-3, mid > peak + 1e-3
    assert np.all(transient[before] >= -np.broadcast_to(scale[:, 2], transient.shape)[before])
    assert np.all(transient[after] <= np.broadcast_to(scale[:, 2], transient.shape)[after])
    # the single maximum sits at the peak
    top = U.numpy()[curves[..., 2].argmax(axis=0)]
    np.testing.assert_allclose(top, peak, atol=2e-3)
    # within [0, 1] the families split the shapes by the rule of curve_shapes at delta = 0.5:
    # transients rise and fall by at least delta, monotone genes change by at least delta,
    # flat genes by at most delta, in one direction
    inside = curves[INSIDE.numpy()]
    rise, fall, _ = curve_rise_fall(inside[..., 2])
    assert np.all(rise >= 0.5 - 1e-4) and np.all(fall >= 0.5 - 1e-4)
    for k, direction in ((0, 1), (1, -1)):
        change = inside[-1, :, k] - inside[0, :, k]
        assert np.all(direction * change >= 0.5 - 1e-4)
    flat = inside[..., 3]
    assert np.all(flat.max(0) - flat.min(0) <= 0.5 + 1e-4)
    flat_steps = np.diff(flat, axis=0) * np.sign(flat[-1] - flat[0])
    assert np.all(flat_steps >= -1e-5)
    assert np.any(flat.max(0) - flat.min(0) > 0.1)  # and they do move


def test_per_gene_minimum_change_and_layout():
    delta = np.linspace(0.1, 2.0, 8).astype(np.float32)
    decoder = _random_decoder(7, n_genes=8, delta=delta)
    with torch.no_grad():
        curves = decoder(U)
    assert curves.shape == (U.numel(), 8, 4)
    assert curves.transpose(1, 2).is_contiguous()  # family-major, as the likelihood reads it
    inside = curves[INSIDE].numpy().astype(np.float64)
    rise, fall, _ = curve_rise_fall(inside[..., 2])
    assert np.all(rise >= delta - 1e-4) and np.all(fall >= delta - 1e-4)
    assert np.all(inside[-1, :, 0] - inside[0, :, 0] >= delta - 1e-4)
    assert np.all(inside[..., 3].max(0) - inside[..., 3].min(0) <= delta + 1e-4)
    three = BasisFamilyDecoder(3)
    assert three.families == ("increasing", "decreasing", "transient")
    with pytest.raises(ValueError, match="min_change"):
        BasisFamilyDecoder(3, min_change=-1.0)
    with pytest.raises(ValueError, match="peak_margin"):
        BasisFamilyDecoder(3, peak_margin=0.5)


@pytest.mark.parametrize("flat_family", [False, True])
def test_decoder_gradients_match_finite_differences(flat_family):
    """The decoder's own backward passes (the transient folded in place, the families' sums at
    the anchors and peaks) against finite differences, for the latent times and every
    parameter, on cells on both sides of every peak."""
    decoder = _random_decoder(3, n_genes=6, flat_family=flat_family).double()
    with torch.no_grad():
        decoder.weights_raw.normal_(-1.0, 1.0)
    names = [name for name, _ in decoder.named_parameters()]
    u = torch.linspace(-0.2, 1.2, 9, dtype=torch.float64, requires_grad=True)

    def curves(u, *values):
        return torch.func.functional_call(decoder, dict(zip(names, values, strict=True)), (u,))

    inputs = (u, *(p.detach().clone().requires_grad_() for p in decoder.parameters()))
    before = u[:, None] < decoder.peak
    assert before.any() and (~before).any()
    assert torch.autograd.gradcheck(curves, inputs)


def test_without_the_flat_family_monotone_genes_may_barely_move():
    torch.manual_seed(0)
    decoder = BasisFamilyDecoder(20, min_change=0.5)
    with torch.no_grad():
        decoder.weights_raw.normal_(-8.0, 1.0)  # nearly flat curves
        curves = decoder(U)[INSIDE].numpy()
    change = curves[-1, :, :2] - curves[0, :, :2]
    assert np.all(np.abs(change) < 0.1)


def test_share_fits_starts_each_family_on_the_fitted_one():
    decoder = _random_decoder(3, n_genes=30, delta=0.0)  # no least change: exact copies
    family = torch.tensor([0, 1, 2] * 10)
    with torch.no_grad():
        before = decoder(U).clone()
        decoder.share_fits(family)
        after = decoder(U)
    left = (U[:, None] < decoder.peak.detach()).numpy()
    rising, falling, transient = (family.numpy() == k for k in range(3))
    before, after = before.numpy(), after.numpy()
    # an increasing fit becomes the transient's side before its peak, a decreasing one the
    # side after it, and a transient's sides the monotone families on those sides
    np.testing.assert_allclose(
        after[:, rising, 2][left[:, rising]], before[:, rising, 0][left[:, rising]], atol=1e-4
    )
    np.testing.assert_allclose(
        after[:, falling, 2][~left[:, falling]],
        before[:, falling, 1][~left[:, falling]],
        atol=1e-4,
    )
    np.testing.assert_allclose(
        after[:, transient, 0][left[:, transient]],
        before[:, transient, 2][left[:, transient]],
        atol=1e-4,
    )
    np.testing.assert_allclose(
        after[:, transient, 1][~left[:, transient]],
        before[:, transient, 2][~left[:, transient]],
        atol=1e-4,
    )
    # the fitted family itself is kept
    np.testing.assert_allclose(after[:, rising, 0], before[:, rising, 0])
    np.testing.assert_allclose(after[:, transient, 2], before[:, transient, 2])


def test_set_peak_clips_into_the_allowed_range():
    decoder = BasisFamilyDecoder(4)
    decoder.set_peak(torch.tensor([-1.0, 0.3, 0.7, 2.0]))
    peak = decoder.peak.detach().numpy()
    np.testing.assert_allclose(peak[1:3], [0.3, 0.7], atol=1e-5)
    assert 0.02 <= peak[0] < 0.04 and 0.96 < peak[3] <= 0.98


def test_sigmoid_basis_tiles_its_range():
    basis = SigmoidBasis(range_=(0.0, 1.0), grids=((0.25, 2.0), (0.5, 1.0)))
    assert basis.n_functions == 5 + 3
    np.testing.assert_allclose(basis.centres.numpy(), [0, 0.25, 0.5, 0.75, 1, 0, 0.5, 1])
    np.testing.assert_allclose(basis.steepness.numpy(), [8.0] * 5 + [2.0] * 3)
    values = basis(torch.tensor([0.0, 0.5]))
    assert values.shape == (2, 8) and abs(float(values[1, 2]) - 0.5) < 1e-6
    with pytest.raises(ValueError, match="low < high"):
        SigmoidBasis(range_=(1.0, 0.0))


def test_family_posterior_is_the_fixed_point_of_the_collapsed_bound():
    rng = np.random.default_rng(0)
    log_likelihood = rng.normal(scale=3.0, size=(50, 3))
    penalty, alpha = np.array([2.0, 2.0, 6.0]), np.full(3, 0.1)
    phi = family_posterior(
        torch.as_tensor(log_likelihood), torch.as_tensor(penalty), torch.as_tensor(alpha)
    ).numpy()
    np.testing.assert_allclose(phi.sum(1), 1.0)
    expected = softmax(log_likelihood - penalty + digamma(phi.sum(0) + alpha), axis=1)
    np.testing.assert_allclose(phi, expected, atol=1e-8)
    # a decisive likelihood wins over the penalty, a tie goes to the cheaper family
    decisive = family_posterior(
        torch.tensor([[0.0, 0.0, 50.0], [10.0, 10.0, 10.0]]),
        torch.as_tensor(penalty),
        torch.as_tensor(alpha),
    )
    assert decisive[0].argmax() == 2 and decisive[1, 2] < 0.05


def test_bagged_family_posterior_is_calibrated_against_sampling_noise():
    rng = np.random.default_rng(1)
    n_genes = 2000
    # two families; the better one wins by a true margin in log-likelihood, which the cells
    # observe with sampling noise of sd 10 (sums over thousands of cells: both are large)
    margin = rng.normal(scale=60.0, size=n_genes)
    observed = margin + rng.normal(scale=10.0, size=n_genes)
    log_likelihood = torch.as_tensor(np.stack([np.zeros(n_genes), observed], axis=1))
    covariance = torch.zeros(n_genes, 2, 2, dtype=torch.float64)
    covariance[:, 1, 1] = 100.0
    no_penalty, alpha = torch.zeros(2, dtype=torch.float64), torch.full((2,), 1e4).double()
    phi = family_posterior(log_likelihood, no_penalty, alpha, covariance, n_draws=500).numpy()
    np.testing.assert_allclose(phi.sum(1), 1.0)
    correct = phi.argmax(1) == (margin > 0)
    top = phi.max(1)
    for low, high in ((0.5, 0.7), (0.7, 0.9), (0.9, 0.99)):
        members = (top >= low) & (top < high)
        assert members.sum() > 80
        assert abs(correct[members].mean() - top[members].mean()) < 0.06, (low, high)
    # without the covariance the same scores are the (overconfident) point posterior
    point = family_posterior(log_likelihood, no_penalty, alpha).numpy()
    assert (point.max(1) >= 0.99).mean() > (top >= 0.99).mean() + 0.1
    # zero covariance gives the point posterior back
    same = family_posterior(log_likelihood, no_penalty, alpha, torch.zeros_like(covariance))
    np.testing.assert_allclose(same.numpy(), point, atol=1e-12)


def test_data_range_follows_minibatches_and_sets_exactly():
    data_range = DataRange()
    z = torch.linspace(2.0, 4.0, 1001)
    for _ in range(400):
        data_range.update(z[torch.randperm(1001)[:128]])
    np.testing.assert_allclose(data_range.bounds.numpy(), [2.02, 3.98], atol=0.03)
    data_range.set(z)
    np.testing.assert_allclose(data_range.bounds.numpy(), [2.02, 3.98], atol=1e-5)
    np.testing.assert_allclose(data_range.normalise(torch.tensor([2.02, 3.0, 3.98])), [0, 0.5, 1])


def test_library_trend_learns_the_trend_of_log_totals():
    torch.manual_seed(0)
    u = torch.rand(4000)
    log_total = (8.0 + 1.5 * torch.sigmoid(8 * (u - 0.6)) + 0.3 * torch.randn(4000))[:, None]
    trend = LibraryTrend(float(log_total.mean()))
    optimizer = torch.optim.Adam(trend.parameters(), lr=0.05)
    for _ in range(600):
        optimizer.zero_grad()
        trend.loss(log_total, u).backward()
        optimizer.step()
    grid = torch.linspace(0, 1, 11)
    with torch.no_grad():
        expected = 8.0 + 1.5 * torch.sigmoid(8 * (grid - 0.6))
        np.testing.assert_allclose(trend(grid), expected, atol=0.08)


def test_library_trend_refit_follows_a_sharp_change_of_composition():
    torch.manual_seed(1)
    u = torch.rand(5000)
    step = 8.0 + 0.8 * torch.sigmoid(60 * (u - 0.4))  # total counts rise sharply mid-range
    log_total = step + 0.3 * torch.randn(5000)
    trend = LibraryTrend(float(log_total.mean()))
    grid = torch.linspace(0.05, 0.95, 91)
    expected = 8.0 + 0.8 * torch.sigmoid(60 * (grid - 0.4))
    with torch.no_grad():
        trained = trend(grid).clone()  # the untrained coarse trend: a constant
        trend.fit(log_total, u)
        fitted = trend(grid)
    assert bool(trend.is_fitted)
    np.testing.assert_allclose(fitted, expected, atol=0.1)
    assert float((trained - expected).abs().max()) > 0.3
    trend.clear_fit()
    with torch.no_grad():
        np.testing.assert_allclose(trend(grid), trained)
