"""Network pieces of the derivative-based decoders."""

from ._clustering import collapsed_dirichlet_categorical, expected_log_q, log_multivariate_beta
from ._derivative_decoder import QUADRATURES, DerivativeDecoder, make_quadrature
from ._derivative_network import ACTIVATIONS, DerivativeNetwork
from ._families import FAMILIES, decreasing, increasing, log_transient, transient_warp
from ._likelihoods import (
    COUNT_LIKELIHOODS,
    LIKELIHOODS,
    cell_log_likelihood,
    family_log_likelihood,
)
from ._quadrature import ChebyshevQuadrature, GaussLegendreQuadrature, gauss_legendre

__all__ = [
    "ACTIVATIONS",
    "COUNT_LIKELIHOODS",
    "FAMILIES",
    "LIKELIHOODS",
    "QUADRATURES",
    "ChebyshevQuadrature",
    "DerivativeDecoder",
    "DerivativeNetwork",
    "GaussLegendreQuadrature",
    "cell_log_likelihood",
    "collapsed_dirichlet_categorical",
    "decreasing",
    "expected_log_q",
    "family_log_likelihood",
    "gauss_legendre",
    "increasing",
    "log_multivariate_beta",
    "log_transient",
    "make_quadrature",
    "transient_warp",
]
