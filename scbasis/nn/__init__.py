"""Network pieces of the scbasis decoders, clustering priors and likelihoods."""

from ._basis_decoder import BASIS_NETWORKS, BasisDecoder
from ._basis_families import BASIS_FAMILIES, BasisFamilyDecoder
from ._clustering import (
    CLUSTER_INFERENCE,
    FeatureClustering,
    collapsed_dirichlet_categorical,
    expected_log_q,
    family_posterior,
    log_multivariate_beta,
)
from ._constrained_decoder import CONSTRAINTS, ConstrainedDerivativeDecoder, check_constraints
from ._data_range import DATA_RANGE_QUANTILES, DataRange
from ._derivative_decoder import DerivativeDecoder
from ._derivative_network import ACTIVATIONS, DerivativeNetwork, mlp_layers
from ._families import (
    FAMILIES,
    decreasing,
    families,
    increasing,
    log_transient,
    transient_warp,
)
from ._library_trend import LibraryTrend
from ._likelihoods import (
    COUNT_LIKELIHOODS,
    LIKELIHOODS,
    cell_log_likelihood,
    check_likelihood,
    family_log_likelihood,
    observation_distribution,
)
from ._native_kernel import native_kernel_available
from ._quadrature import (
    DEFAULT_N_QUADRATURE,
    DEFAULT_QUADRATURE_TOLERANCE,
    QUADRATURES,
    ChebyshevQuadrature,
    GaussLegendreQuadrature,
    gauss_legendre,
    make_quadrature,
)
from ._sigmoid_basis import DEFAULT_BASIS_RANGE, SigmoidBasis
from ._unconstrained_decoder import UnconstrainedDecoder

__all__ = [
    "ACTIVATIONS",
    "BASIS_FAMILIES",
    "BASIS_NETWORKS",
    "CLUSTER_INFERENCE",
    "CONSTRAINTS",
    "COUNT_LIKELIHOODS",
    "DATA_RANGE_QUANTILES",
    "DEFAULT_BASIS_RANGE",
    "DEFAULT_N_QUADRATURE",
    "DEFAULT_QUADRATURE_TOLERANCE",
    "FAMILIES",
    "LIKELIHOODS",
    "QUADRATURES",
    "BasisDecoder",
    "BasisFamilyDecoder",
    "ChebyshevQuadrature",
    "ConstrainedDerivativeDecoder",
    "DataRange",
    "DerivativeDecoder",
    "DerivativeNetwork",
    "FeatureClustering",
    "GaussLegendreQuadrature",
    "LibraryTrend",
    "SigmoidBasis",
    "UnconstrainedDecoder",
    "cell_log_likelihood",
    "check_constraints",
    "check_likelihood",
    "collapsed_dirichlet_categorical",
    "decreasing",
    "expected_log_q",
    "families",
    "family_log_likelihood",
    "family_posterior",
    "gauss_legendre",
    "increasing",
    "log_multivariate_beta",
    "log_transient",
    "make_quadrature",
    "mlp_layers",
    "native_kernel_available",
    "observation_distribution",
    "transient_warp",
]
