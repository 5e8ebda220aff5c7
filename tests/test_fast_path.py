"""The default fast path (Chebyshev rule, fused likelihood) against the reference path.

The reference is the papers' per-cell Gauss-Legendre rule of order 15 with every family's
log-likelihood taken through scvi-tools' / torch's distributions.
"""

from __future__ import annotations

import pytest
import torch

from scbasis._constants import SCBASIS_MODULE_KEYS
from scbasis.module import BasisDeVAEModule
from scbasis.nn import (
    LIKELIHOODS,
    cell_log_likelihood,
    count_family_log_likelihood,
    family_log_likelihood,
    grid_count_log_likelihood,
)
from scbasis.nn._native_kernel import SWITCH, _unsupported_reason

native_kernel_lacks = _unsupported_reason()

N_CELLS, N_GENES = 9, 13


def _counts(generator: torch.Generator) -> torch.Tensor:
    """Counts ``(N, d)`` with many zeros, ones and a few large values; no empty cell."""
    rate = torch.rand(N_CELLS, N_GENES, generator=generator, dtype=torch.float64) * 4
    x = torch.poisson(rate, generator=generator) * (torch.rand_like(rate) < 0.6)
    x[:, 0] += 1
    x[0, 1] = 250.0
    return x


def _log_likelihood_inputs(likelihood: str, seed: int) -> tuple[torch.Tensor, dict]:
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    if likelihood == "gaussian":
        x = rand(N_CELLS, N_GENES)
    elif likelihood == "bernoulli":
        x = (rand(N_CELLS, N_GENES) > 0).double()
    else:
        x = _counts(generator)
    params = {
        "centre": 2 * rand(N_CELLS, N_GENES, 3),  # means, logits or log-means (counts)
        "log_theta": rand(N_GENES),
        "zi_logits": 2 * rand(N_CELLS, N_GENES),
        "log_scale": rand(N_GENES) / 2,
        "weight_logits": rand(N_GENES, 3),
    }
    return x, {k: v.requires_grad_() for k, v in params.items()}


def _both_paths(x: torch.Tensor, likelihood: str, p: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-cell ``sum_jk w_jk log p`` by the reference and by the fused path."""
    weights = torch.softmax(p["weight_logits"], -1)
    shared = {"theta": p["log_theta"].exp(), "zi_logits": p["zi_logits"]}
    shared["scale"] = p["log_scale"].exp()
    if likelihood == "gaussian":
        reference_means = fused_means = {"mean": p["centre"]}
    elif likelihood == "bernoulli":
        reference_means = fused_means = {"mean": p["centre"].sigmoid(), "logits": p["centre"]}
    else:
        reference_means, fused_means = {"mean": p["centre"].exp()}, {"log_mean": p["centre"]}
    log_p = family_log_likelihood(x, likelihood, **reference_means, **shared)
    reference = torch.einsum("idk,dk->i", log_p, weights)
    fused = cell_log_likelihood(x, likelihood, weights, **fused_means, **shared)
    return reference, fused


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_fused_likelihood_matches_distributions(likelihood, seed):
    """Values and gradients (means, theta, zero-inflation, weights) incl. zero counts."""
    x, params = _log_likelihood_inputs(likelihood, seed)
    reference, fused = _both_paths(x, likelihood, params)
    # scvi-tools adds eps = 1e-8 inside its logarithms; the fused form is exact
    torch.testing.assert_close(fused, reference, rtol=1e-6, atol=1e-6)
    cotangent = torch.linspace(0.5, 1.5, N_CELLS, dtype=torch.float64)
    grads = [
        torch.autograd.grad(
            (v * cotangent).sum(), list(params.values()), allow_unused=True, retain_graph=True
        )
        for v in (reference, fused)
    ]
    for name, g_ref, g_fused in zip(params, *grads, strict=True):
        if g_ref is None:
            assert g_fused is None or torch.all(g_fused == 0), name
            continue
        torch.testing.assert_close(g_fused, g_ref, rtol=1e-5, atol=1e-6, msg=name)


def _module_pair(likelihood: str, seed: int) -> tuple[BasisDeVAEModule, BasisDeVAEModule]:
    """The default module and the reference one, with the same random weights."""
    torch.manual_seed(seed)
    # count likelihoods give the transient a basal level (perturbed below with the rest)
    kwargs = {
        "n_hidden": 16,
        "likelihood": likelihood,
        "transient_min_slope": 1.0,
        "min_change": 0.5,
    }
    fast = BasisDeVAEModule(N_GENES, **kwargs).double()
    with torch.no_grad():
        for name, parameter in fast.named_parameters():
            if not name.startswith("decoder.network"):
                parameter.add_(0.5 * torch.randn_like(parameter))
    reference = BasisDeVAEModule(
        N_GENES, quadrature="gauss_legendre", likelihood_path="reference", **kwargs
    ).double()
    reference.load_state_dict(fast.state_dict(), strict=False)
    return fast, reference


@pytest.mark.parametrize("likelihood", BasisDeVAEModule.likelihoods)
def test_fast_and_reference_modules_agree(likelihood):
    """Outputs and gradients (all weights and ``z``) for random weights and random ``z``.

    ``z`` holds the ends of the Chebyshev domain (the batch's extremes), values next to 0 and
    0 itself.
    """
    fast, reference = _module_pair(likelihood, seed=3)
    generator = torch.Generator().manual_seed(0)
    x = _counts(generator)
    if likelihood == "gaussian":
        x = torch.log1p(x)
    z_values = [-3.2, -1.0, -1e-4, 0.0, 1e-4, 0.4, 1.0, 2.1, 2.9]
    library = torch.log(x.sum(1, keepdim=True))
    outputs = []
    for module in (fast, reference):
        z = torch.tensor(z_values, dtype=torch.float64)[:, None].requires_grad_()
        generated = module.generative(z, library)[SCBASIS_MODULE_KEYS.PX_FAMILIES_KEY]
        log_lik = module.cell_log_likelihood(x, generated, module.phi)
        key = "mean" if likelihood == "gaussian" else "log_mean"
        loss = log_lik.sum() + generated[key].sum()
        parameters = dict(module.named_parameters())
        grads = torch.autograd.grad(loss, [z, *parameters.values()], allow_unused=True)
        outputs.append(
            (
                generated[key].detach(),
                log_lik.detach(),
                dict(zip(["z", *parameters], grads, strict=True)),
            )
        )
    (fast_curves, fast_ll, fast_grads), (ref_curves, ref_ll, ref_grads) = outputs
    torch.testing.assert_close(fast_curves, ref_curves, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(fast_ll, ref_ll, rtol=1e-6, atol=1e-5)
    for name, grad in ref_grads.items():
        if grad is None:
            continue
        torch.testing.assert_close(fast_grads[name], grad, rtol=1e-5, atol=1e-5, msg=name)


def test_unknown_likelihood_path_is_rejected():
    with pytest.raises(ValueError, match="likelihood_path"):
        BasisDeVAEModule(4, likelihood_path="fast")


def _count_path(native: bool, monkeypatch) -> torch.dtype:
    """Run the count likelihoods through the compiled kernel (float32) or through torch."""
    if native:
        if native_kernel_lacks is not None:
            pytest.skip(f"the compiled kernel does not run here: {native_kernel_lacks}")
        return torch.float32
    monkeypatch.setenv(SWITCH, "0")
    return torch.float64


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("likelihood", ["nb", "zinb"])
def test_count_family_log_likelihood_matches_distributions(likelihood, native, monkeypatch):
    dtype = _count_path(native, monkeypatch)
    x, params = _log_likelihood_inputs(likelihood, seed=4)
    log_mean, theta, zi_logits = (
        params["centre"].detach(),
        params["log_theta"].detach().exp(),
        params["zi_logits"].detach(),
    )
    expected = family_log_likelihood(
        x, likelihood, mean=log_mean.exp(), theta=theta, zi_logits=zi_logits
    )
    got = count_family_log_likelihood(
        x.to(dtype),
        likelihood,
        log_mean=log_mean.to(dtype),
        theta=theta.to(dtype),
        zi_logits=zi_logits.to(dtype),
    )
    assert got.shape == expected.shape and got.dtype == dtype
    tolerance = 1e-5 if dtype == torch.float32 else 1e-6
    torch.testing.assert_close(got.double(), expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("n_families", [1, 3])
@pytest.mark.parametrize("with_offsets", [True, False])
@pytest.mark.parametrize("likelihood", ["nb", "zinb"])
def test_grid_count_log_likelihood_matches_the_cells_likelihood_at_each_point(
    likelihood, with_offsets, n_families, native, monkeypatch
):
    """Each cell at each of its grid points, against :func:`cell_log_likelihood` of that
    cell with the log means written out."""
    dtype = _count_path(native, monkeypatch)
    generator = torch.Generator().manual_seed(n_families)
    x = _counts(generator)
    n_grid, n_points = 7, 4
    curves = 2 * torch.randn(n_grid, n_families, N_GENES, generator=generator, dtype=dtype)
    points = torch.randint(0, n_grid, (N_CELLS, n_points), generator=generator)
    library = 3 + torch.randn(N_CELLS, n_points, generator=generator, dtype=dtype)
    offsets = torch.randn(N_CELLS, N_GENES, generator=generator, dtype=dtype)
    offsets = offsets if with_offsets else None
    theta = torch.rand(N_GENES, generator=generator, dtype=dtype) * 3 + 0.1
    zi_logits = torch.randn(N_GENES, generator=generator, dtype=dtype)
    weights = torch.softmax(torch.randn(N_GENES, n_families, generator=generator), -1)
    weights = weights.to(dtype) if n_families > 1 else None
    got = grid_count_log_likelihood(
        x.to(dtype),
        likelihood,
        weights,
        curves=curves,
        points=points,
        library=library,
        offsets=offsets,
        theta=theta,
        zi_logits=zi_logits,
    )
    assert got.shape == (N_CELLS, n_points)
    for w in range(n_points):
        log_mean = curves.double()[points[:, w]].transpose(1, 2)
        log_mean = log_mean + library.double()[:, w, None, None]
        if offsets is not None:
            log_mean = log_mean + offsets.double()[..., None]
        expected = cell_log_likelihood(
            x,
            likelihood,
            None if weights is None else weights.double(),
            log_mean=log_mean,
            theta=theta.double(),
            zi_logits=zi_logits.double().expand(N_CELLS, -1),
        )
        torch.testing.assert_close(got[:, w].double(), expected, rtol=1e-5, atol=1e-3)


@pytest.mark.skipif(native_kernel_lacks is not None, reason=f"no kernel: {native_kernel_lacks}")
def test_grid_kernel_refuses_points_off_the_grid():
    x = torch.ones(2, 3)
    inputs = {"curves": torch.zeros(4, 1, 3), "library": torch.zeros(2, 2), "offsets": None}
    inputs |= {"theta": torch.ones(3), "zi_logits": torch.zeros(3)}
    for bad in (4, -1):
        points = torch.tensor([[0, 1], [2, bad]])
        with pytest.raises(IndexError, match=r"Grid points must lie in \[0, 4\)"):
            grid_count_log_likelihood(x, "zinb", None, points=points, **inputs)
    empty = grid_count_log_likelihood(
        x[:0],
        "zinb",
        None,
        points=torch.zeros(0, 2).long(),
        **{**inputs, "library": torch.zeros(0, 2)},
    )
    assert empty.shape == (0, 2)


@pytest.mark.parametrize("likelihood", ["nb", "zinb"])
def test_fused_and_reference_modules_agree_along_the_grid(likelihood):
    """The posterior's grid likelihood and the family fit's log-likelihoods, with batch
    offsets, by the fused path and through the distributions."""
    torch.manual_seed(5)
    kwargs = {"n_batch": 2, "likelihood": likelihood, "min_change": 0.5}
    fused = BasisDeVAEModule(N_GENES, **kwargs).double()
    with torch.no_grad():
        for parameter in fused.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    reference = BasisDeVAEModule(N_GENES, likelihood_path="reference", **kwargs).double()
    reference.load_state_dict(fused.state_dict())
    x = _counts(torch.Generator().manual_seed(6))
    batch_index = (torch.arange(N_CELLS) % 2)[:, None]
    grid = torch.linspace(-2.0, 2.0, 6, dtype=torch.float64)
    points = torch.randint(0, 6, (N_CELLS, 3), generator=torch.Generator().manual_seed(7))
    z = torch.randn(N_CELLS, 1, dtype=torch.float64)
    library = torch.log(x.sum(1, keepdim=True))
    for families in (None, fused.phi.argmax(1)):
        fused_grid, reference_grid = (
            module.grid_log_likelihood(
                x, module.grid_curves(grid, families), points, batch_index=batch_index
            )
            for module in (fused, reference)
        )
        torch.testing.assert_close(fused_grid, reference_grid, rtol=1e-6, atol=1e-5)
    fused_families, reference_families = (
        module.family_log_likelihood(x, module.family_parameters(z, library, batch_index))
        for module in (fused, reference)
    )
    torch.testing.assert_close(fused_families, reference_families, rtol=1e-6, atol=1e-6)
