"""The BasisDeVAE torch module: a derivative-space decoder with clustered behaviour families."""

from __future__ import annotations

import math

import numpy as np
import torch

from scbasis.nn import FAMILIES, BasisFamilyDecoder, DerivativeDecoder
from scbasis.nn._quadrature import DEFAULT_QUADRATURE_TOLERANCE

from ._clustered import ClusteredPseudotimeModule

#: Decoders of BasisDeVAE: the fixed sigmoid basis (default) or the papers' network.
FAMILY_DECODERS: tuple[str, ...] = ("basis", "network")
#: Least change of the basis decoder's monotone families over the cells' range, on the
#: log scale (count likelihoods).
DEFAULT_MIN_CHANGE = 0.5
#: Shape parameters each basis family adds to a constant gene (its change; rise, fall and peak
#: position; a flat gene's change stays under the threshold), on which the family posterior's
#: penalty is counted.
FAMILY_SHAPE_PARAMETERS: dict[str, int] = {
    "increasing": 1,
    "decreasing": 1,
    "transient": 3,
    "flat": 0,
}


class BasisDeVAEModule(ClusteredPseudotimeModule):
    """BasisDeVAE: a 1-D latent pseudotime, a derivative-space decoder and collapsed clustering.

    The loss is the paper's eqs. 3-7 (see :class:`PseudotimeModule`): the clustering terms
    are the collapsed Dirichlet-categorical bound and ``E_q log q(w)``; with the papers' network
    decoder the prior terms are the MAP priors ``-sum_j [log N(z0_j | 0, 1) + log Gamma(A_j |
    1, 1)]`` on the transients' centres and amplitudes.

    Two decoders:

    * ``"basis"`` (:class:`~scbasis.nn.BasisFamilyDecoder`): every family a non-negative
      combination of fixed sigmoids, the transient peaking inside the cells' range and rising
      and falling there by at least ``min_change``; with the optional flat family, monotone
      genes change by at least ``min_change`` over the range and flat ones by less;
    * ``"network"`` (:class:`~scbasis.nn.DerivativeDecoder`): the papers' derivative network,
      integrated by quadrature.

    Parameters
    ----------
    n_input
        Number of genes ``d``.
    n_batch
        Number of batches (per-batch, per-gene offsets on the link scale).
    decoder
        One of ``FAMILY_DECODERS``.
    flat_family, min_change
        The basis decoder's flat family and least change (see
        :class:`~scbasis.nn.BasisFamilyDecoder`); ``min_change=None`` takes
        ``DEFAULT_MIN_CHANGE`` on the log scale for counts and half of each feature's
        standard deviation ``feature_std`` for Gaussian data.
    n_hidden
        Hidden width of the encoder, the derivative network.
    n_layers_encoder
        Hidden layers of the encoder.
    n_layers_decoder
        Hidden layers of the derivative network.
    activation
        Hidden activation of the derivative network (``"tanh"``, ``"softplus"``, ...).
    likelihood
        ``"zinb"``, ``"nb"``, ``"poisson"`` (counts, means scaled by each cell's library size) or
        ``"gaussian"`` (the decoder's curves are the means).
    library_size, mean_log_total
        How count models take library sizes (see :class:`PseudotimeModule`).
    quadrature
        ``"chebyshev"`` (default, shared nodes per minibatch) or ``"gauss_legendre"``.
    n_quadrature
        Nodes of the rule; ``None`` takes 48 for Chebyshev and the papers' 15 for Gauss-Legendre.
    quadrature_tolerance
        Error tolerance of the Chebyshev rule (see :class:`~scbasis.nn.ChebyshevQuadrature`).
    likelihood_path
        ``"fused"`` (default) or ``"reference"`` (see :class:`PseudotimeModule`).
    alpha
        Dirichlet concentration of the clustering prior (the same for every family).
    beta
        Weight of ``KL(q(z) || p(z))``.
    gamma
        Weight of the collapsed clustering prior and of ``E_q(w) log q(w)``.
    intercept_init
        Initial level per gene ``(d,)`` (means for Gaussian data, log-rates for counts).
    feature_std
        Standard deviation of each feature over the cells ``(d,)``, for the Gaussian
        likelihood's ``min_change``.
    transient_min_slope
        Minimum slope ``kappa`` of the transient's warp (network decoder); ``None`` takes 1 for
        counts and the papers' 0 for Gaussian data.

    Notes
    -----
    With the network decoder and a count likelihood the transient has a basal level and is
    returned as a log-rate (see :class:`~scbasis.nn.DerivativeDecoder`), its amplitude and
    basal level starting at half of each gene's mean rate; with the Gaussian likelihood it is
    the papers' transient.
    """

    likelihoods = ("zinb", "nb", "poisson", "gaussian")

    def __init__(
        self,
        n_input: int,
        *,
        n_batch: int = 1,
        decoder: str = "basis",
        flat_family: bool = False,
        min_change: float | np.ndarray | None = None,
        n_hidden: int = 64,
        n_layers_encoder: int = 1,
        n_layers_decoder: int = 1,
        activation: str = "tanh",
        likelihood: str = "zinb",
        library_size: str = "observed",
        mean_log_total: float | None = None,
        quadrature: str = "chebyshev",
        n_quadrature: int | None = None,
        quadrature_tolerance: float | None = DEFAULT_QUADRATURE_TOLERANCE,
        likelihood_path: str = "fused",
        alpha: float = 0.1,
        beta: float = 1.0,
        gamma: float = 1.0,
        intercept_init: np.ndarray | None = None,
        feature_std: np.ndarray | None = None,
        transient_min_slope: float | None = None,
    ):
        super().__init__(
            n_input,
            n_latent=1,
            n_batch=n_batch,
            n_hidden=n_hidden,
            n_layers_encoder=n_layers_encoder,
            likelihood=likelihood,
            library_size=library_size,
            mean_log_total=mean_log_total,
            likelihood_path=likelihood_path,
            beta=beta,
            gamma=gamma,
        )
        if decoder not in FAMILY_DECODERS:
            raise ValueError(f"Unknown decoder {decoder!r}; choose one of {FAMILY_DECODERS}.")
        counts = self.is_count_model
        if decoder == "basis":
            if min_change is None:
                if not counts and feature_std is None:
                    raise ValueError(
                        "The Gaussian likelihood's default min_change is half of each "
                        "feature's standard deviation: pass feature_std, or min_change."
                    )
                min_change = DEFAULT_MIN_CHANGE if counts else 0.5 * feature_std
            self.decoder = BasisFamilyDecoder(
                n_input,
                intercept_init=intercept_init,
                flat_family=flat_family,
                min_change=min_change,
            )
            families = self.decoder.families
        else:
            if flat_family:
                raise ValueError(
                    "flat_family needs decoder='basis'; the papers' network decoder has the "
                    "three families increasing, decreasing and transient."
                )
            # count models: transient = basal level + peak, half the mean rate each
            half_rate = None
            if counts and intercept_init is not None:
                half_rate = np.exp(intercept_init) / 2
            if transient_min_slope is None:
                transient_min_slope = 1.0 if counts else 0.0
            self.decoder = DerivativeDecoder(
                n_input,
                n_hidden=n_hidden,
                n_layers=n_layers_decoder,
                activation=activation,
                quadrature=quadrature,
                n_quadrature=n_quadrature,
                quadrature_tolerance=quadrature_tolerance,
                intercept_init=intercept_init,
                amplitude_init=half_rate,
                basal_level=counts,
                baseline_init=half_rate,
                log_transient=counts,
                transient_min_slope=transient_min_slope,
            )
            families = FAMILIES
        self.decoder_name = decoder
        self.add_clustering(families, alpha)

    @property
    def family_shape_parameters(self) -> np.ndarray | None:
        """Shape parameters of each family (``FAMILY_SHAPE_PARAMETERS``), ``(K,)``; ``None``
        for the network decoder, whose transient also takes monotone shapes on the data."""
        if self.decoder_name != "basis":
            return None
        return np.array([FAMILY_SHAPE_PARAMETERS[name] for name in self.families])

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Every gene under every family, ``(N, d, K)``: log-rates for counts, else means."""
        if self.decoder_name == "basis":
            return self.decoder(self.data_range.normalise(z[:, 0]))
        return self.decoder(z[:, 0])

    def prior_terms(self) -> dict[str, torch.Tensor]:
        """``transient_prior = -sum_j [log N(z0_j | 0, 1) + log Gamma(A_j | 1, 1)]`` (network
        decoder; none for the basis decoder)."""
        if self.decoder_name == "basis":
            return {}
        centre = self.decoder.centre
        prior = (0.5 * centre.square() + 0.5 * math.log(2 * math.pi)).sum()
        return {"transient_prior": prior + self.decoder.amplitude.sum()}
