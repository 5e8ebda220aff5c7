"""The observation model's quantiles (the trends' intervals) against draws from the model's
own distributions: the same parameterisation, and intervals that hold what they claim."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scbasis.nn._likelihoods import observation_distribution, observation_quantiles

MEAN = np.array([0.3, 4.0, 60.0, 900.0])
PARAMETERS = {
    "zinb": {"theta": np.array([0.5, 2.0, 8.0, 30.0]), "zi_logits": np.array([-3, 0, 1, -1.0])},
    "nb": {"theta": np.array([0.5, 2.0, 8.0, 30.0])},
    "poisson": {},
    "gaussian": {"scale": np.array([0.1, 1.0, 5.0, 40.0])},
}


@pytest.mark.parametrize("likelihood", list(PARAMETERS))
def test_quantiles_bound_draws_from_the_distribution(likelihood):
    parameters = PARAMETERS[likelihood]
    tails = (0.1, 0.9)
    lower, upper = observation_quantiles(likelihood, tails, mean=MEAN, **parameters)
    if likelihood != "gaussian":  # counts: interpolated within one count below the quantile
        assert np.all(lower <= upper)
        lower, upper = np.ceil(lower), np.ceil(upper)
    torch.manual_seed(0)
    distribution = observation_distribution(
        likelihood,
        mean=torch.tensor(MEAN),
        **{name: torch.tensor(value) for name, value in parameters.items()},
    )
    draws = distribution.sample((40_000,)).numpy()
    # a quantile q_p: P(X < q_p) <= p <= P(X <= q_p) (equalities for continuous data)
    tolerance = 0.01
    assert np.all((draws < lower).mean(0) <= tails[0] + tolerance)
    assert np.all((draws <= lower).mean(0) >= tails[0] - tolerance)
    assert np.all((draws < upper).mean(0) <= tails[1] + tolerance)
    assert np.all((draws <= upper).mean(0) >= tails[1] - tolerance)


def test_bernoulli_has_no_interval():
    assert observation_quantiles("bernoulli", (0.1, 0.9), mean=MEAN) is None
