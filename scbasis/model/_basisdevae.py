"""The user-facing BasisDeVAE model."""

from __future__ import annotations

from typing import Literal

from anndata import AnnData

from scbasis.module import BasisDeVAEModule
from scbasis.nn._quadrature import DEFAULT_QUADRATURE_TOLERANCE

from ._base import ClusteredPseudotimeModel
from ._family_fit import DEFAULT_FAMILY_LR, FamilyFitMixin
from ._pseudotime_posterior import PseudotimePosteriorMixin


class BasisDeVAE(FamilyFitMixin, PseudotimePosteriorMixin, ClusteredPseudotimeModel):
    """BasisDeVAE: pseudotime and gene behaviours (increasing, decreasing, transient, flat).

    A 1-D latent pseudotime ``z`` with prior N(0, 1) and an amortised Gaussian posterior; a
    decoder whose families make every gene provably monotone increasing, monotone decreasing,
    transient (single peak) or, by default, flat in ``z``; genes clustered into the families
    by a collapsed Dirichlet-categorical prior (Danks & Yau, ICML 2021).

    Parameters
    ----------
    adata
        AnnData registered with :meth:`setup_anndata`.
    decoder
        ``"basis"`` (default): every family a non-negative combination of fixed sigmoids in the
        latent time (:class:`~scbasis.nn.BasisFamilyDecoder`), the transient peaking inside the
        cells' range with a real rise and fall there, and after training every family fitted to
        every gene and weighed by the data (:meth:`fit_families`). ``"network"``: the papers'
        derivative network integrated by quadrature, with the papers' transient; the quadrature
        arguments below apply to it alone.
    flat_family
        Give the basis decoder a fourth family, ``"flat"``, for genes that change by less than
        ``min_change`` over the cells' range (many after highly-variable-gene selection); the
        monotone families then change by at least ``min_change``, so that the four families
        split the shapes by the rule of :func:`scbasis.metrics.curve_shapes`. ``None``: on for
        the basis decoder; the network decoder has the papers' three families only.
    min_change
        Least rise to and fall from its peak of a transient within the cells' range and, with
        the flat family, least change of a monotone gene and most of a flat one, on the link
        scale (basis decoder). ``None`` takes 0.5 log units (a 1.65-fold change) for count
        likelihoods and half of each feature's standard deviation for Gaussian data.
    library_size
        How count likelihoods take each cell's library size from its total count: ``"trend"``
        divides out the trend of totals along the pseudotime, so that genes that carry many
        counts do not bend every other gene's curve (:class:`~scbasis.nn.LibraryTrend`);
        ``"observed"`` uses the total counts, as scvi-tools does. ``None``: ``"trend"``, or the
        registered size factors when ``setup_anndata`` was given a ``size_factor_key``.
    n_hidden
        Hidden width of the encoder and the derivative network.
    likelihood
        ``"zinb"`` (default), ``"nb"``, ``"poisson"`` for raw counts, whose means scale with each
        cell's library size; ``"gaussian"`` for continuous data (the papers' synthetic data).
    n_quadrature
        Nodes of the quadrature rule; ``None`` takes its default (48 Chebyshev nodes, or the
        papers' 15 Gauss-Legendre nodes).
    quadrature_tolerance
        Error tolerance of the Chebyshev rule: outputs of the network whose estimated error
        exceeds it (relative to the output's largest value) are evaluated again at up to 8
        times the nodes (see :class:`~scbasis.nn.ChebyshevQuadrature`). ``None`` keeps
        ``n_quadrature`` nodes for every output: faster late in training, less accurate for
        genes that switch sharply.
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
        ``kappa`` in the network decoder's transient warp ``h = (z - z0) (kappa +
        softplus(...))``, a lower bound on how fast a transient falls away from its peak (in
        units of the prior's standard deviation). ``None`` takes 1 for count likelihoods and
        the paper's 0 for Gaussian data.
    **module_kwargs
        Further :class:`~scbasis.module.BasisDeVAEModule` arguments. The papers' straightforward
        implementation, kept as a reference for tests and benchmarks, is
        ``quadrature="gauss_legendre", likelihood_path="reference"`` (the papers' per-cell
        Gauss-Legendre rule, and every family's likelihood through scvi-tools' distributions).

    Notes
    -----
    Count likelihoods use ``mu_ijk = l_i exp(g_jk)``, with ``l_i`` the library size and
    ``g_jk`` the gene's log-rate under family ``k``, and one zero-inflation probability per
    gene, so that the expected count keeps the family's shape. With the network decoder the
    transient is ``mu_ij3 = l_i (b_j + g_j3)`` with a basal level ``b_j >= 0``, so that a
    transient gene may return to a basal expression rather than to zero, and ``kappa = 1``
    stops a gene that rises and then plateaus from being explained as a slowly decaying
    transient; the Gaussian likelihood uses the paper's families unchanged.

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
    _mirror_families = (("increasing", "decreasing"),)

    def __init__(
        self,
        adata: AnnData | None = None,
        decoder: Literal["basis", "network"] = "basis",
        flat_family: bool | None = None,
        min_change: float | None = None,
        library_size: Literal["trend", "observed"] | None = None,
        n_hidden: int = 64,
        likelihood: Literal["zinb", "nb", "poisson", "gaussian"] = "zinb",
        n_quadrature: int | None = None,
        quadrature_tolerance: float | None = DEFAULT_QUADRATURE_TOLERANCE,
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
        self._validate_data_for(likelihood)
        if flat_family is None:
            flat_family = decoder == "basis"
        if library_size is None:
            library_size = "observed" if self._size_factor_key is not None else "trend"
        if library_size == "trend" and self._size_factor_key is not None:
            raise ValueError(
                "library_size='trend' corrects total counts, but setup_anndata registered size "
                f"factors (size_factor_key={self._size_factor_key!r}), which are used as they "
                "are; pass library_size=None or 'observed'."
            )
        self.module = self._module_cls(
            self.summary_stats.n_vars,
            n_batch=self.summary_stats.n_batch,
            decoder=decoder,
            flat_family=flat_family,
            min_change=min_change,
            library_size=library_size,
            mean_log_total=self._statistics().mean_log_total(),
            n_hidden=n_hidden,
            n_layers_encoder=n_layers_encoder,
            n_layers_decoder=n_layers_decoder,
            activation=activation,
            likelihood=likelihood,
            n_quadrature=n_quadrature,
            quadrature_tolerance=quadrature_tolerance,
            alpha=alpha,
            beta=beta,
            gamma=gamma,
            intercept_init=self._initial_intercepts(likelihood),
            feature_std=self._statistics().feature_std(),
            transient_min_slope=transient_min_slope,
            **module_kwargs,
        )
        rule = getattr(self.module.decoder, "quadrature", None)
        decoder_summary = (
            f"quadrature: {type(rule).__name__} ({rule.n_nodes} nodes)"
            if decoder == "network"
            else f"sigmoid basis ({self.module.decoder.basis.n_functions} functions)"
        )
        self._model_summary_string = (
            f"BasisDeVAE model with decoder: {decoder}, {decoder_summary}, likelihood: "
            f"{likelihood}, library size: {library_size}, alpha: {alpha}, beta: {beta}, "
            f"gamma: {gamma}, families: {', '.join(self.families)}."
        )
        self.init_params_ = self._get_init_params(locals())

    def train(
        self,
        max_epochs: int | None = None,
        lr: float = 5e-3,
        batch_size: int = 128,
        annealing_fraction: float = 0.2,
        train_size: float | None = None,
        early_stopping: bool = False,
        family_epochs: int | None = None,
        plan_kwargs: dict | None = None,
        **trainer_kwargs,
    ):
        """Train the model (:meth:`PseudotimeModel.train`), then fit the families.

        Parameters
        ----------
        max_epochs, lr, batch_size, annealing_fraction, train_size, early_stopping, plan_kwargs
            As for :meth:`~scbasis.model.PseudotimeModel.train`.
        family_epochs
            Epochs of :meth:`fit_families` after the joint training (basis decoder); ``None``
            takes :meth:`default_family_epochs`; 0 fits no curves and only weighs the
            families at the curves of the joint training.
        **trainer_kwargs
            Passed to :class:`~scvi.train.Trainer`.
        """
        if max_epochs is None:
            max_epochs = self.default_max_epochs()
        self._forget_posterior()
        if self.module.library_trend is not None:
            self.module.library_trend.clear_fit()
        super().train(
            max_epochs=max_epochs,
            lr=lr,
            batch_size=batch_size,
            annealing_fraction=annealing_fraction,
            train_size=train_size,
            early_stopping=early_stopping,
            plan_kwargs=plan_kwargs,
            **trainer_kwargs,
        )
        if self.module.family_shape_parameters is None:
            return
        if family_epochs is None:
            family_epochs = self.default_family_epochs(max_epochs, batch_size)
        self.fit_families(family_epochs, lr=DEFAULT_FAMILY_LR, batch_size=batch_size)
