"""The loss terms (papers' eqs. 3-7) against independent numpy / scipy computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import special, stats
from scvi.module._constants import MODULE_KEYS  # where scvi-tools' own modules import it

from scbasis._constants import SCBASIS_MODULE_KEYS
from scbasis.module import BasisDeVAEModule
from scbasis.nn import collapsed_dirichlet_categorical
from scbasis.nn._clustering import expected_log_q


def _log_beta(a: np.ndarray) -> float:
    return special.gammaln(a).sum() - special.gammaln(a.sum())


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("alpha", [0.1, 1.0, 3.5])
def test_collapsed_term_equals_log_beta_difference(seed, alpha):
    rng = np.random.default_rng(seed)
    phi = rng.dirichlet(np.ones(3), size=rng.integers(1, 200))
    alpha_vec = np.full(3, alpha)
    expected = _log_beta(phi.sum(0) + alpha_vec) - _log_beta(alpha_vec)
    got = collapsed_dirichlet_categorical(torch.as_tensor(phi), torch.as_tensor(alpha_vec))
    assert got.item() == pytest.approx(expected, rel=1e-10, abs=1e-10)
    assert expected_log_q(torch.as_tensor(phi)).item() == pytest.approx(
        float(np.sum(phi * np.log(phi))), rel=1e-10
    )


def _numpy_log_likelihood(x, likelihood, out):
    mean = out["mean"]
    xk = np.broadcast_to(x[..., None], mean.shape)
    if likelihood == "gaussian":
        return stats.norm.logpdf(xk, mean, out["scale"][:, None])
    if likelihood == "poisson":
        return stats.poisson.logpmf(xk, mean)
    theta = out["theta"][:, None]
    nb = stats.nbinom.logpmf(xk, theta, theta / (theta + mean))
    if likelihood == "nb":
        return nb
    pi = special.expit(out["zi_logits"])[..., None]
    return np.where(xk == 0, np.log(pi + (1 - pi) * np.exp(nb)), np.log(1 - pi) + nb)


@pytest.mark.parametrize("decoder", ["basis", "network"])
@pytest.mark.parametrize("likelihood", ["gaussian", "poisson", "nb", "zinb"])
def test_every_loss_term_matches_numpy(likelihood, decoder):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n_cells, n_genes, n_obs = 6, 4, 50
    if likelihood == "gaussian":
        x = rng.normal(size=(n_cells, n_genes))
    else:
        x = rng.poisson(3.0, size=(n_cells, n_genes)).astype(float)
        x[0, :] += 1  # no empty cell
    module = BasisDeVAEModule(
        n_genes,
        decoder=decoder,
        n_hidden=5,
        likelihood=likelihood,
        min_change=0.5,
        alpha=0.3,
        beta=2.5,
        gamma=0.7,
    ).double()
    with torch.no_grad():
        module.clustering.logits.normal_()
        if decoder == "network":
            module.decoder.centre.normal_()
        else:
            module.decoder.weights_raw.normal_(-2.0, 1.0)
            module.decoder.peak_raw.normal_()
    tensors = {"X": torch.as_tensor(x)}
    inference, generative, loss = module(tensors, loss_kwargs={"kl_weight": 0.6, "n_obs": n_obs})
    parameters = generative[SCBASIS_MODULE_KEYS.PX_FAMILIES_KEY]
    out = {k: v.detach().numpy() for k, v in parameters.items()}
    out["mean"] = module.mean(parameters).detach().numpy()
    phi = module.phi.detach().numpy()
    log_p = _numpy_log_likelihood(x, likelihood, out)
    reconstruction = -np.einsum("idk,dk->i", log_p, phi)
    mu = inference["qz"].loc.detach().numpy()[:, 0]
    sigma = inference["qz"].scale.detach().numpy()[:, 0]
    kl = 0.5 * (mu**2 + sigma**2 - 1) - np.log(sigma)
    alpha = np.full(3, 0.3)
    collapsed = -(_log_beta(phi.sum(0) + alpha) - _log_beta(alpha))
    neg_entropy = np.sum(phi * np.log(phi))
    prior = 0.0  # the basis decoder has no MAP priors
    if decoder == "network":
        centre = module.decoder.centre.detach().numpy()
        amplitude = module.decoder.amplitude.detach().numpy()
        prior = -np.sum(stats.norm.logpdf(centre) + stats.gamma.logpdf(amplitude, a=1, scale=1))
    total = (
        np.mean(reconstruction + 2.5 * 0.6 * kl)
        + (0.7 * 0.6 * (collapsed + neg_entropy) + prior) / n_obs
    )

    # scvi-tools' negative binomial adds eps = 1e-8 inside its logarithms
    np.testing.assert_allclose(
        loss.reconstruction_loss["reconstruction_loss"].detach(), reconstruction, rtol=1e-6
    )
    np.testing.assert_allclose(loss.kl_local["kl_local"].detach(), kl, rtol=1e-8)
    assert loss.extra_metrics["collapsed_prior"].item() == pytest.approx(collapsed, rel=1e-8)
    assert loss.extra_metrics["expected_log_q_w"].item() == pytest.approx(neg_entropy, rel=1e-8)
    if decoder == "network":
        assert loss.extra_metrics["transient_prior"].item() == pytest.approx(prior, rel=1e-8)
    else:
        assert "transient_prior" not in loss.extra_metrics
    assert loss.kl_global["kl_global"].item() == pytest.approx(collapsed + neg_entropy + prior)
    assert loss.loss.item() == pytest.approx(total, rel=1e-6)


def test_count_means_scale_with_library_size():
    """Doubling a cell's counts doubles its library and every family's mean."""
    torch.manual_seed(0)
    module = BasisDeVAEModule(5, n_hidden=4, likelihood="nb").double()
    with torch.no_grad():  # a different most probable family for neighbouring genes
        module.clustering.logits.copy_(torch.eye(3, dtype=torch.float64)[[2, 0, 1, 2, 1]])
        module.decoder.weights_raw.normal_()
    z = torch.tensor([[0.3], [0.3]], dtype=torch.float64)
    library = torch.log(torch.tensor([[1000.0], [2000.0]], dtype=torch.float64))
    outputs = module.generative(z, library)
    mean = module.mean(outputs[SCBASIS_MODULE_KEYS.PX_FAMILIES_KEY])
    torch.testing.assert_close(mean[1], 2 * mean[0])
    px = outputs[MODULE_KEYS.PX_KEY]  # each gene under its most probable family
    best = module.phi.argmax(1)
    assert best.tolist() == [2, 0, 1, 2, 1]
    torch.testing.assert_close(px.mu, mean[:, torch.arange(5), best])
    torch.testing.assert_close(px.scale, px.mu / torch.exp(library))
    # with a leading sample axis
    samples = module.generative(torch.stack([z, z + 0.2]), library.expand(2, -1, -1))
    sample_mean = module.mean(samples[SCBASIS_MODULE_KEYS.PX_FAMILIES_KEY])
    torch.testing.assert_close(samples[MODULE_KEYS.PX_KEY].mu, sample_mean[..., range(5), best])
