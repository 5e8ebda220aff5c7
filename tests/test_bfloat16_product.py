"""The affine map whose backward products run in bfloat16, against torch.addmm."""

from __future__ import annotations

import pytest
import torch

from scbasis.nn import BasisFamilyDecoder
from scbasis.nn import _bfloat16_product as product


def _gradients(bias, input, weight, grad):
    leaves = [t.detach().clone().requires_grad_() for t in (bias, input, weight)]
    output = product.affine(*leaves)
    output.backward(grad)
    return output.detach(), [t.grad for t in leaves]


def _problem(dtype=torch.float32):
    generator = torch.Generator().manual_seed(0)
    bias, input, weight, grad = (
        torch.randn(shape, generator=generator, dtype=dtype)
        for shape in ((300,), (64, 40), (40, 300), (64, 300))
    )
    return bias, input, weight, grad


def test_backward_products_in_bfloat16_are_close_and_the_forward_exact(monkeypatch):
    """Forced on (any CPU computes bfloat16; those without its instructions more slowly): the
    values equal torch.addmm's, the gradients of input and weight match float32's to
    bfloat16's precision and are not float32's, the bias's gradient is exact."""
    monkeypatch.setattr(product, "_cpu_multiplies_bfloat16", lambda: True)
    monkeypatch.setenv(product.BFLOAT16_GRADIENTS_ENV, "1")
    bias, input, weight, grad = _problem()
    assert product.bfloat16_gradients_used(input)
    output, (grad_bias, grad_input, grad_weight) = _gradients(bias, input, weight, grad)
    torch.testing.assert_close(output, torch.addmm(bias, input, weight), rtol=0, atol=0)
    torch.testing.assert_close(grad_bias, grad.sum(0), rtol=0, atol=0)
    for got, exact in ((grad_input, grad @ weight.T), (grad_weight, input.T @ grad)):
        assert got.dtype == torch.float32
        error = (got - exact).abs().max() / exact.abs().max()
        assert 0 < error < 2**-6
    # a bias per row gets its own gradient
    row_bias = bias.expand(64, -1).clone()
    _, (grad_row_bias, _, _) = _gradients(row_bias, input, weight, grad)
    torch.testing.assert_close(grad_row_bias, grad, rtol=0, atol=0)


@pytest.mark.parametrize("case", ["switched off", "float64"])
def test_float32_products_where_bfloat16_is_not_used(monkeypatch, case):
    monkeypatch.setattr(product, "_cpu_multiplies_bfloat16", lambda: True)
    monkeypatch.setenv(product.BFLOAT16_GRADIENTS_ENV, "0" if case == "switched off" else "1")
    bias, input, weight, grad = _problem(torch.float64 if case == "float64" else torch.float32)
    assert not product.bfloat16_gradients_used(input)
    _, (_, grad_input, grad_weight) = _gradients(bias, input, weight, grad)
    torch.testing.assert_close(grad_input, grad @ weight.T, rtol=0, atol=0)
    torch.testing.assert_close(grad_weight, input.T @ grad, rtol=0, atol=0)


def test_without_bfloat16_instructions_products_stay_float32(monkeypatch):
    monkeypatch.setattr(product, "_cpu_multiplies_bfloat16", lambda: False)
    monkeypatch.setenv(product.BFLOAT16_GRADIENTS_ENV, "1")
    assert not product.bfloat16_gradients_used(torch.zeros(2))


def test_basis_decoder_gradients_in_bfloat16_follow_float32(monkeypatch):
    """The basis decoder's gradients with its product's backward in bfloat16, against the same
    decoder in float32: each parameter's gradient within a few bfloat16 roundings."""
    monkeypatch.setattr(product, "_cpu_multiplies_bfloat16", lambda: True)
    torch.manual_seed(0)
    decoder = BasisFamilyDecoder(50, flat_family=True)
    with torch.no_grad():
        decoder.weights_raw.normal_(-3.0, 2.0)
    u = torch.linspace(-0.1, 1.1, 64)
    grad = torch.randn(64, 4, 50).transpose(1, 2)
    gradients = {}
    for setting in ("0", "1"):
        monkeypatch.setenv(product.BFLOAT16_GRADIENTS_ENV, setting)
        latent = u.clone().requires_grad_()
        wrt = [latent, *decoder.parameters()]
        gradients[setting] = torch.autograd.grad(decoder(latent), wrt, grad)
    for exact, mixed in zip(gradients["0"], gradients["1"], strict=True):
        error = (mixed - exact).abs().max() / exact.abs().max()
        assert error < 2**-5
    assert any(not torch.equal(a, b) for a, b in zip(*gradients.values(), strict=True))
