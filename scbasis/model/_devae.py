"""The user-facing DeVAE model, with the plain and linear VAE baselines as decoder options."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from scbasis._constants import RESULT_KEYS, TREND_KEYS, result_key
from scbasis.module import DeVAEModule, check_decoder
from scbasis.nn._constrained_decoder import CONSTRAINTS, check_constraints
from scbasis.nn._quadrature import DEFAULT_QUADRATURE_TOLERANCE

from ._base import PseudotimeModel
from ._results import ResultKey

Constraint = Literal["increasing", "decreasing", "free"]
# decoder kind -> (display name, default results key)
_NAMES = {
    "derivative": ("DeVAE", "devae"),
    "mlp": ("VAE", "vae"),
    "linear": ("Linear VAE", "linear_vae"),
}


def feature_constraints(
    constraint: str | Sequence[str] | pd.Series, var: pd.DataFrame
) -> list[str]:
    """One constraint per feature of ``var`` from the forms :class:`DeVAE` accepts.

    A single constraint, the name of a ``var`` column holding them, a sequence with one per
    feature, or a Series indexed by var names.
    """
    if isinstance(constraint, str):
        if constraint in CONSTRAINTS:
            return [constraint] * len(var)
        if constraint not in var.columns:
            raise ValueError(
                f"constraint={constraint!r} is neither one of {CONSTRAINTS} nor a column of "
                "adata.var; pass one of those values, or the column holding one per feature."
            )
        constraint = var[constraint]
    if isinstance(constraint, pd.Series):
        missing = var.index.difference(constraint.index)
        if len(missing):
            raise ValueError(
                f"constraint has no entry for features {list(missing[:5])}; pass a Series "
                "indexed by var_names (e.g. an adata.var column) covering every feature."
            )
        constraint = constraint.loc[var.index]
    constraints = list(constraint)
    if len(constraints) != len(var):
        raise ValueError(
            f"constraint has {len(constraints)} entries but the data has {len(var)} "
            "features; pass one value, or one per feature."
        )
    return check_constraints(constraints)


class DeVAE(PseudotimeModel):
    """DeVAE: a latent pseudotime whose decoder is written in derivative space.

    Feature ``j`` follows ``x_j(z) = x0_j + sum_p int_0^{z_p} f_j^(p)`` (Danks & Yau, ICML 2021,
    section 3), monotone increasing, monotone decreasing or unconstrained in every latent
    coordinate, as chosen per feature. Without clustering; for tabular data such as regional
    brain volumes (Gaussian likelihood, the default) or for counts.

    ``decoder="mlp"`` and ``decoder="linear"`` turn the same model into the papers' plain VAE
    and linear VAE baselines (Table 2): an unconstrained network, or a linear map, from ``z``.

    Parameters
    ----------
    adata
        AnnData registered with :meth:`setup_anndata`. The Gaussian likelihood takes any real
        values; standardise features of different units first (e.g. ``sc.pp.scale``).
    constraint
        ``"increasing"``, ``"decreasing"`` or ``"free"``: one value for every feature, the name
        of an ``adata.var`` column holding one per feature, a sequence with one per feature, or
        a Series indexed by var names. ``None``
        gives ``"increasing"`` for the derivative decoder and ``"free"`` for the baselines,
        which accept no other.
    n_latent
        Latent dimension ``p``.
    decoder
        ``"derivative"`` (DeVAE), ``"mlp"`` (plain VAE) or ``"linear"`` (linear VAE).
    n_hidden
        Hidden width of the encoder and decoder networks.
    likelihood
        ``"gaussian"`` (default), ``"nb"``, ``"zinb"``, ``"poisson"`` (raw counts, means scaled by
        each cell's library size) or ``"bernoulli"``.
    n_quadrature, quadrature_tolerance
        Nodes and error tolerance of the derivative decoder's quadrature rule (see
        :class:`BasisDeVAE`).
    beta
        Weight of ``KL(q(z) || p(z))``.
    n_layers_encoder, n_layers_decoder
        Hidden layers of the encoder and of the decoder networks.
    activation
        Hidden activation of the decoder networks.
    **module_kwargs
        Further :class:`~scbasis.module.DeVAEModule` arguments (e.g. the reference
        implementation's ``quadrature="gauss_legendre", likelihood_path="reference"``, kept
        for tests and benchmarks).

    Examples
    --------
    >>> scbasis.model.DeVAE.setup_anndata(adata)  # standardised brain volumes
    >>> model = scbasis.model.DeVAE(adata, constraint="decreasing")
    >>> model.train(max_epochs=50)
    >>> model.write_results()  # adata.obs["devae_pseudotime"]
    """

    _module_cls = DeVAEModule
    _mirror_families = (("increasing", "decreasing"),)

    def __init__(
        self,
        adata: AnnData | None = None,
        constraint: Constraint | Sequence[str] | pd.Series | None = None,
        n_latent: int = 1,
        decoder: Literal["derivative", "mlp", "linear"] = "derivative",
        n_hidden: int = 64,
        likelihood: Literal["gaussian", "nb", "zinb", "poisson", "bernoulli"] = "gaussian",
        n_quadrature: int | None = None,
        quadrature_tolerance: float | None = DEFAULT_QUADRATURE_TOLERANCE,
        beta: float = 1.0,
        n_layers_encoder: int = 1,
        n_layers_decoder: int = 1,
        activation: str = "tanh",
        **module_kwargs,
    ):
        super().__init__(adata)
        check_decoder(decoder)  # before the constraints, whose check depends on it
        if n_latent < 1:
            raise ValueError(f"n_latent must be at least 1, got {n_latent}.")
        default = "increasing" if decoder == "derivative" else "free"
        constraints = feature_constraints(
            default if constraint is None else constraint, self.adata.var
        )
        if decoder != "derivative" and set(constraints) != {"free"}:
            raise ValueError(
                f"decoder={decoder!r} has no shape constraints; use decoder='derivative' for "
                "monotone features, or constraint='free'."
            )
        self._validate_data_for(likelihood)
        #: The decoder, one of ``"derivative"``, ``"mlp"``, ``"linear"``.
        self.decoder_type = decoder
        #: Shape constraint per feature in the module's latent sign.
        self.constraints = constraints
        self.module = self._module_cls(
            self.summary_stats.n_vars,
            constraints=constraints,
            n_latent=n_latent,
            n_batch=self.summary_stats.n_batch,
            decoder=decoder,
            n_hidden=n_hidden,
            n_layers_encoder=n_layers_encoder,
            n_layers_decoder=n_layers_decoder,
            activation=activation,
            likelihood=likelihood,
            n_quadrature=n_quadrature,
            quadrature_tolerance=quadrature_tolerance,
            beta=beta,
            intercept_init=self._initial_intercepts(likelihood),
            **module_kwargs,
        )
        counts = pd.Series(constraints).value_counts()
        shapes = (
            ", ".join(f"{n} {c}" for c, n in counts.items()) if decoder == "derivative" else ""
        )
        self._model_summary_string = (
            f"{_NAMES[decoder][0]} model with n_latent: {n_latent}, n_hidden: {n_hidden}, "
            f"likelihood: {likelihood}" + (f", features: {shapes}." if shapes else ".")
        )
        self.init_params_ = self._get_init_params(locals())

    @property
    def _results_key(self) -> str:
        """``"devae"``, or ``"vae"`` / ``"linear_vae"`` for the baselines."""
        return _NAMES[self.decoder_type][1]

    def get_feature_constraints(self) -> pd.Series:
        """Each feature's shape along the (oriented) pseudotime, one of ``CONSTRAINTS``."""
        return pd.Series(
            pd.Categorical(
                self._orientation.names(self.constraints), categories=list(CONSTRAINTS)
            ),
            index=self.adata_manager.adata.var_names.copy(),
            name="constraint",
        )

    def _annotate_trends(self, trends: AnnData, mean: np.ndarray, gene_idx: np.ndarray) -> None:
        if self.decoder_type == "derivative":
            constraints = self.get_feature_constraints().iloc[gene_idx].to_numpy()
            trends.var[TREND_KEYS.CONSTRAINT] = constraints

    def _feature_results(self, key_added: str) -> dict[ResultKey, Any]:
        results = super()._feature_results(key_added)
        if self.decoder_type == "derivative":
            constraints = self.get_feature_constraints().to_numpy()
            results[("var", result_key(key_added, RESULT_KEYS.CONSTRAINT))] = constraints
        return results
