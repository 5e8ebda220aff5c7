"""The default fast path (Chebyshev rule, fused likelihood) against the reference path.

The reference is the papers' per-cell Gauss-Legendre rule of order 15 with every family's
log-likelihood taken through scvi-tools' / torch's distributions.
"""

from __future__ import annotations

import pytest
import torch

from scbasis._constants import SCBASIS_MODULE_KEYS
from scbasis.module import BasisDeVAEModule
from scbasis.nn import LIKELIHOODS, cell_log_likelihood, family_log_likelihood

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
