"""The user-facing BasisDeVAE model."""

from __future__ import annotations

from typing import Literal

import numpy as np
from anndata import AnnData

from scbasis.module import BasisDeVAEModule
from scbasis.nn import COUNT_LIKELIHOODS, DEFAULT_QUADRATURE_TOLERANCE, FAMILIES

from ._base import ClusteredPseudotimeModel


class BasisDeVAE(ClusteredPseudotimeModel):
    """BasisDeVAE: pseudotime and gene behaviours (increasing, decreasing, transient).

    A 1-D latent pseudotime ``z`` with prior N(0, 1) and an amortised Gaussian posterior; a
    decoder written in derivative space, whose integrals make every gene provably monotone
    increasing, monotone decreasing or transient (single peak) in ``z``; genes clustered into
    the three families by a collapsed Dirichlet-categorical prior (Danks & Yau, ICML 2021).

    Parameters
    ----------
    adata
        AnnData registered with :meth:`setup_anndata`.
    n_hidden
        Hidden width of the encoder, derivative network and zero-inflation network.
    likelihood
        ``"zinb"`` (default), ``"nb"``, ``"poisson"`` for raw counts, whose means scale with each
        cell's library size; ``"gaussian"`` for continuous data (the papers' synthetic data).
    n_quadrature
        Nodes of the quadrature rule; ``None`` takes its default (48 Chebyshev nodes, or the
        papers' 15 Gauss-Legendre nodes).
    quadrature
        ``"chebyshev"`` (default; the network is evaluated once per minibatch at shared nodes)
        or ``"gauss_legendre"`` (the papers' per-cell rule, kept as reference).
    quadrature_tolerance
        Error tolerance of the Chebyshev rule: outputs of the network whose estimated error
        exceeds it (relative to the output's largest value) are evaluated again at up to 8
        times the nodes (see :class:`~scbasis.nn.ChebyshevQuadrature`). ``None`` keeps
        ``n_quadrature`` nodes for every output: faster late in training, less accurate for
        genes that switch sharply.
    likelihood_path
        ``"fused"`` (default; family-independent likelihood terms once per cell and gene, only
        at non-zero counts) or ``"reference"`` (every family through scvi-tools'
        distributions). ``quadrature="gauss_legendre", likelihood_path="reference"`` is the
        straightforward implementation of the papers, kept for tests and benchmarks.
    alpha
        Dirichlet concentration of the clustering prior.
    beta
        Weight of ``KL(q(z) || p(z))`` (the papers: 1 on synthetic data, 10 on scRNA-seq).
    gamma
        Weight of the clustering prior and of the assignment entropy.
    n_layers_encoder
        Hidden layers of the encoder.
    n_layers_decoder
        Hidden layers of the derivative network.
    activation
        Hidden activation of the derivative network.
    transient_min_slope
        ``kappa`` in the transient warp ``h = (z - z0) (kappa + softplus(...))``, a lower bound
        on how fast a transient falls away from its peak (in units of the prior's standard
        deviation). ``None`` takes 1 for count likelihoods and the paper's 0 for Gaussian data.

    Notes
    -----
    Count likelihoods use ``mu_ijk = l_i exp(g_jk)`` for the monotone families and
    ``mu_ij3 = l_i (b_j + g_j3)`` for the transient, with ``l_i`` the library size and
    ``b_j >= 0`` a basal level, so that a transient gene may return to a basal expression
    rather than to zero. With ``kappa = 1`` a gene that rises and then stays on a plateau is
    explained as monotone rather than as a slowly decaying transient. Both keep the paper's
    shape guarantees; the Gaussian likelihood uses the paper's families unchanged.

    Examples
    --------
    >>> import scbasis
    >>> scbasis.model.BasisDeVAE.setup_anndata(adata, layer="counts")
    >>> model = scbasis.model.BasisDeVAE(adata)
    >>> model.train()
    >>> model.write_results(root=("cell_type", "stem"))
    >>> sc.pl.umap(adata, color="basisdevae_pseudotime")
    """

    _module_cls = BasisDeVAEModule
    _results_key = "basisdevae"
    families = FAMILIES
    _mirror_families = (("increasing", "decreasing"),)

    def __init__(
        self,
        adata: AnnData | None = None,
        n_hidden: int = 64,
        likelihood: Literal["zinb", "nb", "poisson", "gaussian"] = "zinb",
        n_quadrature: int | None = None,
        quadrature: Literal["chebyshev", "gauss_legendre"] = "chebyshev",
        quadrature_tolerance: float | None = DEFAULT_QUADRATURE_TOLERANCE,
        likelihood_path: Literal["fused", "reference"] = "fused",
        alpha: float = 0.1,
        beta: float = 1.0,
        gamma: float = 1.0,
        n_layers_encoder: int = 1,
        n_layers_decoder: int = 1,
        activation: str = "tanh",
        transient_min_slope: float | None = None,
        **module_kwargs,
    ):
        super().__init__(adata)
        self._validate_data_for(self.adata, likelihood)
        x0 = self._initial_intercepts(likelihood)
        # count models: transient = basal level + peak, each half the mean rate at start
        is_count = likelihood in COUNT_LIKELIHOODS
        half_rate = np.exp(x0) / 2 if is_count else None
        if transient_min_slope is None:
            transient_min_slope = 1.0 if is_count else 0.0
        self.module = self._module_cls(
            self.summary_stats.n_vars,
            n_batch=self.summary_stats.n_batch,
            n_hidden=n_hidden,
            n_layers_encoder=n_layers_encoder,
            n_layers_decoder=n_layers_decoder,
            activation=activation,
            likelihood=likelihood,
            quadrature=quadrature,
            n_quadrature=n_quadrature,
            quadrature_tolerance=quadrature_tolerance,
            likelihood_path=likelihood_path,
            alpha=alpha,
            beta=beta,
            gamma=gamma,
            x0_init=x0,
            amplitude_init=half_rate,
            baseline_init=half_rate,
            transient_min_slope=transient_min_slope,
            **module_kwargs,
        )
        self._model_summary_string = (
            f"BasisDeVAE model with n_hidden: {n_hidden}, likelihood: {likelihood}, "
            f"quadrature: {quadrature} ({self.module.decoder.quadrature.n_nodes} nodes), "
            f"alpha: {alpha}, beta: {beta}, gamma: {gamma}, families: {', '.join(FAMILIES)}."
        )
        self.init_params_ = self._get_init_params(locals())


def setup_anndata(
    adata: AnnData,
    layer: str | None = None,
    batch_key: str | None = None,
    size_factor_key: str | None = None,
):
    """Register ``adata`` for :class:`BasisDeVAE` (see :meth:`BasisDeVAE.setup_anndata`)."""
    BasisDeVAE.setup_anndata(
        adata, layer=layer, batch_key=batch_key, size_factor_key=size_factor_key
    )
