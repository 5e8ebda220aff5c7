"""The compiled NB / ZINB likelihood kernel against the torch implementation of the same terms."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch

from scbasis.nn import _native_kernel as native
from scbasis.nn import (
    cell_log_likelihood,
    families,
    family_log_likelihood,
    native_kernel_available,
)
from scbasis.nn._likelihoods import _negative_binomial_derivatives

SUPPORTED = native._unsupported_reason() is None
needs_kernel = pytest.mark.skipif(
    not SUPPORTED, reason=f"the compiled kernel does not run here: {native._unsupported_reason()}"
)


def _inputs(n_cells: int, n_genes: int, n_families: int, seed: int, family_major: bool):
    """float32 counts (many zeros, some large) and parameters, with extreme log means."""
    generator = torch.Generator().manual_seed(seed)
    rate = torch.rand(n_cells, n_genes, generator=generator) * 5
    x = torch.poisson(rate, generator=generator) * (torch.rand(rate.shape) < 0.4)
    x[0, 0] = 400.0
    shape = (n_cells, n_families, n_genes) if family_major else (n_cells, n_genes, n_families)
    log_mean = 3 * torch.randn(shape, generator=generator)
    if family_major:
        log_mean = log_mean.transpose(1, 2)
    log_mean[0, :3, 0] = torch.tensor([-30.0, 25.0, 0.0])  # far tails, and u = 0 nearby
    log_theta = torch.randn(n_genes, generator=generator)
    zi_logits = 2 * torch.randn(n_cells, n_genes, generator=generator)
    weights = torch.softmax(torch.randn(n_genes, n_families, generator=generator), -1)
    return x, log_mean, log_theta, zi_logits, weights


@needs_kernel
def test_kernel_builds_where_supported():
    """On x86-64 Linux with AVX2 and a C compiler (CI's machine) the kernel is used."""
    assert native_kernel_available()


@needs_kernel
@pytest.mark.parametrize("zero_inflated", [True, False])
@pytest.mark.parametrize("n_families", [1, 3, 5])
@pytest.mark.parametrize("family_major", [True, False])
def test_kernel_matches_torch_terms_and_derivatives(zero_inflated, n_families, family_major):
    x, log_mean, log_theta, zi_logits, weights = _inputs(
        37, 101, n_families, seed=n_families, family_major=family_major
    )
    zi_logits = zi_logits if zero_inflated else None
    got = native.native_negative_binomial_terms(x, log_mean, log_theta, zi_logits, weights)
    expected = _negative_binomial_derivatives(x, log_mean, log_theta, zi_logits, weights)
    names = ("cell_terms", "d_log_mean", "d_log_theta", "d_pi", "terms")
    for name, value, reference in zip(names, got, expected, strict=True):
        if reference is None:
            assert value is None, name
            continue
        assert value.shape == reference.shape, name
        scale = reference.abs().max()
        torch.testing.assert_close(value, reference, rtol=1e-4, atol=1e-5 * scale, msg=name)


@needs_kernel
@pytest.mark.parametrize("likelihood", ["zinb", "nb"])
def test_kernel_and_torch_paths_give_the_same_log_likelihood_and_gradients(
    likelihood, monkeypatch
):
    """Values and gradients of every input with the kernel on and off; values also against
    scvi-tools' NB / ZINB distributions in float64."""
    x, log_mean, log_theta, zi_logits, weight_logits = _inputs(
        16, 50, 3, seed=7, family_major=True
    )
    log_mean = log_mean.clamp(-8, 8)  # keep scvi-tools' eps-regularised logs comparable
    leaves = [log_mean, log_theta, zi_logits, weight_logits]

    def evaluate(dtype: torch.dtype) -> list[torch.Tensor]:
        params = [leaf.detach().to(dtype).requires_grad_() for leaf in leaves]
        mean, theta, pi, logits = params
        kwargs = {"log_mean": mean, "theta": theta.exp()}
        if likelihood == "zinb":
            kwargs["zi_logits"] = pi
        total = cell_log_likelihood(x.to(dtype), likelihood, logits.softmax(-1), **kwargs)
        (total * torch.linspace(0.5, 1.5, len(total), dtype=dtype)).sum().backward()
        return [total.detach(), *(p.grad for p in params if p.grad is not None)]

    with_kernel = evaluate(torch.float32)
    monkeypatch.setenv(native.SWITCH, "0")
    assert not native_kernel_available()
    without_kernel = evaluate(torch.float32)
    for a, b in zip(with_kernel, without_kernel, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))
    # float64 (never the kernel) through scvi-tools' distributions
    params = [leaf.detach().double() for leaf in leaves]
    zi = {"zi_logits": params[2]} if likelihood == "zinb" else {}
    log_p = family_log_likelihood(
        x.double(), likelihood, mean=params[0].exp(), theta=params[1].exp(), **zi
    )
    reference = torch.einsum("idk,dk->i", log_p, params[3].softmax(-1))
    torch.testing.assert_close(with_kernel[0].double(), reference, rtol=1e-5, atol=1e-2)


@needs_kernel
@pytest.mark.parametrize("zero_inflated", [False, True])
@pytest.mark.parametrize("theta", [1e-4, 0.02, 0.7, 1.0, 4.99, 5.0, 6.0, 31.0, 800.0, 1e4])
def test_kernel_gamma_terms_hold_float_precision(zero_inflated, theta):
    """The kernel's own lgamma and digamma (branch-free, vectorised) against float64, for counts
    from 1 to 10^5 and inverse dispersions from 10^-4 to 10^4, on either side of the recurrence's
    switch at 6: each entry's log-likelihood within a few float32 roundings of its terms'
    magnitudes, and so is its d / d log theta."""
    x = torch.tensor([0, 1, 2, 3, 5, 6, 7, 12, 40, 333, 4096, 1e5])[:, None]
    log_theta = torch.tensor([theta]).log()
    log_mean = (log_theta + 0.3).expand_as(x)[..., None].contiguous()
    zi_logits = torch.full(x.shape, 0.5) if zero_inflated else None
    weights = torch.ones(1, 1)
    inputs = [x, log_mean, log_theta, zi_logits, weights]
    got = native.native_negative_binomial_terms(*inputs)
    expected = _negative_binomial_derivatives(*(None if t is None else t.double() for t in inputs))
    magnitude = (
        torch.lgamma(x.double() + theta).abs()
        + abs(math.lgamma(theta))
        + torch.lgamma(x.double() + 1).abs()
        + expected[4][..., 0].abs()
    )[:, 0]
    error = (got[0].double() - expected[0]).abs()
    assert bool(torch.all(error <= 8 * torch.finfo(torch.float32).eps * magnitude + 1e-6)), error
    gradient_magnitude = theta * (
        torch.digamma(x.double() + theta).abs() + abs(float(torch.digamma(torch.tensor(theta))))
    ) + (theta + x.double())
    gradient_error = (got[2].double() - expected[2]).abs()
    assert bool(
        torch.all(gradient_error <= 8 * torch.finfo(torch.float32).eps * gradient_magnitude)
    )


@needs_kernel
def test_loading_the_kernel_keeps_subnormal_numbers():
    """Linked without -ffast-math, the library does not switch the process to flush-to-zero."""
    assert native_kernel_available()
    tiny = np.float32(1e-40)
    assert tiny * np.float32(1.0) != 0
    assert (torch.tensor(1e-40) * 1.0).item() != 0


def test_switch_turns_the_kernel_off(monkeypatch):
    monkeypatch.setenv(native.SWITCH, "0")
    assert not native_kernel_available()


@needs_kernel
def test_kernels_come_from_the_installation_without_a_compiler(monkeypatch):
    """pip install built them: loading needs no compiler (none on the PATH here)."""
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("CC", "/nonexistent/cc")
    native._load.cache_clear()
    try:
        assert native_kernel_available()
    finally:
        native._load.cache_clear()


def test_an_installation_without_kernels_falls_back_to_torch(monkeypatch, caplog):
    """Where pip could not build them, the kernels are reported unavailable and torch runs."""
    if not SUPPORTED:
        pytest.skip(f"the compiled kernel does not run here: {native._unsupported_reason()}")
    modules = dict.fromkeys(native.KERNEL_MODULES, "scbasis.nn._kernels_not_built")
    monkeypatch.setattr(native, "KERNEL_MODULES", modules)
    native._load.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger=native.__name__):
            assert not native_kernel_available()
        assert "installed without them" in caplog.text
        x, log_mean, log_theta, zi_logits, weights = _inputs(4, 6, 3, 0, family_major=True)
        value = cell_log_likelihood(
            x, "zinb", weights, log_mean=log_mean, theta=log_theta.exp(), zi_logits=zi_logits
        )
        assert torch.isfinite(value).all()
    finally:
        native._load.cache_clear()


@needs_kernel
@pytest.mark.parametrize("zero_inflated", [True, False])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_kernel_passes_nan_and_inf_through(zero_inflated, bad):
    """A diverging network's NaN or Inf makes the cell's log-likelihood non-finite, and every
    output is finite exactly where the torch implementation's is."""
    x, log_mean, log_theta, zi_logits, weights = _inputs(9, 40, 3, 5, family_major=True)
    log_mean[2, 7, 1] = bad
    zi_logits = zi_logits if zero_inflated else None
    got = native.native_negative_binomial_terms(x, log_mean, log_theta, zi_logits, weights)
    expected = _negative_binomial_derivatives(x, log_mean, log_theta, zi_logits, weights)
    assert not torch.isfinite(got[0][2])
    assert torch.isfinite(torch.cat([got[0][:2], got[0][3:]])).all()
    names = ("cell_terms", "d_log_mean", "d_log_theta", "d_pi", "terms")
    for name, value, reference in zip(names, got, expected, strict=True):
        if reference is not None:
            assert torch.equal(torch.isfinite(value), torch.isfinite(reference)), name


@pytest.mark.parametrize("baseline", [True, False])
@pytest.mark.parametrize("min_slope", [0.0, 1.0])
@pytest.mark.parametrize("log_scale", [True, False])
def test_families_kernel_matches_torch(baseline, min_slope, log_scale, monkeypatch):
    """BasisDeVAE's family curves and every gradient, compiled kernel against torch."""
    generator = torch.Generator().manual_seed(int(baseline) + 2 * int(log_scale))
    n_cells, n_genes = 29, 41

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    z = torch.cat([torch.tensor([0.0, -2.5, 2.5]), rand(n_cells - 3)])
    leaves = {
        "z": z,
        "integrals": rand(n_cells, 3 * n_genes).abs() * z.sign()[:, None],
        "moment": rand(n_cells, n_genes).abs(),
        "x0": rand(n_genes),
        "centre": rand(n_genes),
        "offset": rand(n_genes),
        "log_amplitude": rand(n_genes) / 2,
        "log_baseline": rand(n_genes) - 2 if baseline else None,
    }
    weights = rand(n_cells, n_genes, 3)

    def evaluate() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        inputs = {k: None if v is None else v.clone().requires_grad_() for k, v in leaves.items()}
        curves = families(**inputs, min_slope=min_slope, log_scale=log_scale)
        (curves * weights).sum().backward()
        return curves.detach(), {k: v.grad for k, v in inputs.items() if v is not None}

    compiled, compiled_grads = evaluate()
    assert compiled.transpose(1, 2).is_contiguous()  # family-major
    monkeypatch.setenv(native.SWITCH, "0")
    reference, reference_grads = evaluate()
    torch.testing.assert_close(compiled, reference, rtol=1e-5, atol=1e-5)
    for name, grad in reference_grads.items():
        scale = float(grad.abs().max())
        torch.testing.assert_close(
            compiled_grads[name], grad, rtol=1e-4, atol=1e-5 * scale, msg=name
        )


@needs_kernel
def test_families_kernel_flushes_subnormal_gradients(monkeypatch):
    """Where the transient's sigmoid underflows, the gradients of the integrals and moment are
    0 rather than subnormal (matrix products with subnormal operands are many times slower)."""
    n_cells, n_genes = 16, 8
    z = torch.linspace(-3, 3, n_cells)
    leaves = {
        "z": z,
        "integrals": torch.zeros(n_cells, 3 * n_genes),
        # softplus argument offset + moment - centre * integral far below 0: sigmoid ~ e^-100
        "moment": torch.zeros(n_cells, n_genes),
        "x0": torch.zeros(n_genes),
        "centre": torch.zeros(n_genes),
        "offset": torch.linspace(-110.0, -85.0, n_genes),
        "log_amplitude": torch.zeros(n_genes),
        "log_baseline": None,
    }

    def gradients() -> tuple[torch.Tensor, torch.Tensor]:
        inputs = {k: None if v is None else v.clone().requires_grad_() for k, v in leaves.items()}
        curves = families(**inputs, min_slope=1.0, log_scale=True)
        curves[..., 2].sum().backward()
        return inputs["integrals"].grad[:, 2 * n_genes :], inputs["moment"].grad

    def subnormal(x: torch.Tensor) -> torch.Tensor:
        return (x != 0) & (x.abs() < torch.finfo(torch.float32).tiny)

    compiled = gradients()
    monkeypatch.setenv(native.SWITCH, "0")
    reference = gradients()
    assert any(subnormal(grad).any() for grad in reference), "the case must underflow"
    for got, expected in zip(compiled, reference, strict=True):
        assert not subnormal(got).any()
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=torch.finfo(torch.float32).tiny)


@needs_kernel
def test_families_kernel_passes_nan_through():
    n_cells, n_genes = 6, 5
    z = torch.linspace(-1, 1, n_cells)
    integrals, moment = torch.rand(n_cells, 3 * n_genes), torch.rand(n_cells, n_genes)
    integrals[1, 2] = float("nan")  # gene 2's increasing integral in cell 1
    moment[3, 4] = float("nan")  # gene 4's transient in cell 3
    genes = [torch.zeros(n_genes) for _ in range(4)]
    curves = native.native_families(z, integrals, moment, tuple(genes), None, 1.0, True)
    assert torch.isnan(curves[1, 0, 2]) and torch.isnan(curves[3, 2, 4])
    assert torch.isnan(curves).sum() == 2


@needs_kernel
def test_a_diverged_network_makes_the_training_loss_nan():
    """A NaN in the derivative network's weights reaches the loss (kernels on), so that
    training can stop on it."""
    from scvi import REGISTRY_KEYS

    from scbasis.module import BasisDeVAEModule

    torch.manual_seed(0)
    module = BasisDeVAEModule(12, n_hidden=8, decoder="network", likelihood="zinb")
    tensors = {REGISTRY_KEYS.X_KEY: torch.poisson(torch.full((10, 12), 3.0))}
    _, _, finite = module(tensors)
    assert torch.isfinite(finite.loss)
    with torch.no_grad():
        next(module.decoder.network.parameters()).view(-1)[0] = float("nan")
    _, _, diverged = module(tensors)
    assert torch.isnan(diverged.loss)
