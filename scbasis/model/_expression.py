"""scvi-tools' expression methods (:class:`~scvi.model.base.RNASeqMixin`) on scbasis models.

They read the module's ``px``, each feature's observation model under its most probable
family. Each method runs for the likelihoods whose distribution carries what it reads, and
raises a clear error for the others before any work is done.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from scvi.model.base import RNASeqMixin

from scbasis.nn import LIKELIHOODS
from scbasis.nn._likelihoods import COUNT_LIKELIHOODS

_DISPERSED = ("zinb", "nb")


def _for_likelihoods(method: Callable, likelihoods: tuple[str, ...]) -> Callable:
    """``method`` for models whose likelihood is in ``likelihoods``; a clear error for others."""

    @functools.wraps(method)
    def checked(self, *args: Any, **kwargs: Any) -> Any:
        likelihood = self.module.likelihood
        if likelihood not in likelihoods:
            raise NotImplementedError(
                f"{method.__name__} is for models with likelihood in {likelihoods}; this "
                f"{type(self).__name__} has likelihood={likelihood!r}. Use get_gene_trends() "
                "for the fitted curves and get_pseudotime() for the cells."
            )
        return method(self, *args, **kwargs)

    return checked


def _unavailable(method: Callable, reason: str) -> Callable:
    """``method`` replaced by a clear error saying why scbasis models do not have it."""

    @functools.wraps(method)
    def refused(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{method.__name__} is not for {type(self).__name__}: {reason}")

    refused.__doc__ = f"Not available for scbasis models: {reason}"
    return refused


class ExpressionMixin(RNASeqMixin):
    """scvi-tools' :class:`~scvi.model.base.RNASeqMixin`, each method for the likelihoods it
    fits: normalised expression for counts and Gaussian data, differential expression for
    counts, likelihood parameters and gene correlations for the (zero-inflated) negative
    binomial, posterior predictive samples for every likelihood. The library size is observed,
    not latent, so :meth:`get_latent_library_size` is for none."""

    get_normalized_expression = _for_likelihoods(
        RNASeqMixin.get_normalized_expression, (*COUNT_LIKELIHOODS, "gaussian")
    )
    differential_expression = _for_likelihoods(
        RNASeqMixin.differential_expression, COUNT_LIKELIHOODS
    )
    posterior_predictive_sample = _for_likelihoods(
        RNASeqMixin.posterior_predictive_sample, LIKELIHOODS
    )
    get_likelihood_parameters = _for_likelihoods(RNASeqMixin.get_likelihood_parameters, _DISPERSED)
    get_feature_correlation_matrix = _for_likelihoods(
        RNASeqMixin.get_feature_correlation_matrix, _DISPERSED
    )
    get_latent_library_size = _unavailable(
        RNASeqMixin.get_latent_library_size,
        "its library sizes are observed (total counts or size factors), not latent.",
    )
