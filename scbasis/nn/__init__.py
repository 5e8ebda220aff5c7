"""Network pieces of the scbasis decoders, clustering priors and likelihoods: the building
blocks a model is made of. Their options and helpers live in the submodules that use them."""

from ._basis_decoder import BasisDecoder
from ._basis_families import BasisFamilyDecoder
from ._clustering import FeatureClustering, collapsed_dirichlet_categorical
from ._constrained_decoder import ConstrainedDerivativeDecoder
from ._data_range import DataRange
from ._derivative_decoder import DerivativeDecoder
from ._derivative_network import DerivativeNetwork
from ._families import FAMILIES, families
from ._library_trend import LibraryTrend
from ._likelihoods import (
    LIKELIHOODS,
    cell_log_likelihood,
    count_family_log_likelihood,
    family_log_likelihood,
    grid_count_log_likelihood,
    observation_distribution,
)
from ._native_kernel import native_kernel_available
from ._quadrature import ChebyshevQuadrature, GaussLegendreQuadrature
from ._sigmoid_basis import SigmoidBasis
from ._unconstrained_decoder import UnconstrainedDecoder

__all__ = [
    "FAMILIES",
    "LIKELIHOODS",
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
    "collapsed_dirichlet_categorical",
    "count_family_log_likelihood",
    "families",
    "family_log_likelihood",
    "grid_count_log_likelihood",
    "native_kernel_available",
    "observation_distribution",
]
