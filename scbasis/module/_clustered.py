"""A :class:`~scbasis.module.PseudotimeModule` whose features are clustered into families."""

from __future__ import annotations

import torch

from scbasis.nn import FeatureClustering

from ._base import PseudotimeModule


class ClusteredPseudotimeModule(PseudotimeModule):
    """:class:`PseudotimeModule` with one curve per feature and family, and an assignment
    posterior ``q(w_j = k) = phi_jk`` of features to families.

    A subclass builds its decoder, whose :meth:`decode` returns every feature under every
    family ``(N, d, K)``, and calls :meth:`add_clustering`. The likelihood of feature ``j``
    becomes ``sum_k phi_jk log p(x_ij | z_i, k)`` and the loss gains the clustering terms of
    :class:`~scbasis.nn.FeatureClustering`, weighted by ``gamma``.
    """

    clustering: FeatureClustering

    def add_clustering(
        self,
        families: tuple[str, ...],
        alpha: float,
        inference: str = "collapsed",
        logits_init_sd: float = 0.0,
    ) -> None:
        """Cluster the module's features into ``families`` (the decoder's curve columns).

        Parameters
        ----------
        families
            Names of the families, in the order of :meth:`decode`'s last axis.
        alpha, inference, logits_init_sd
            As for :class:`~scbasis.nn.FeatureClustering`.
        """
        #: Family names, in the order of the curve columns.
        self.families = tuple(families)
        self.clustering = FeatureClustering(
            self.n_input, len(self.families), alpha, inference, logits_init_sd
        )

    @property
    def phi(self) -> torch.Tensor:
        """Cluster probabilities ``q(w_j = k)``, ``(d, K)``, rows summing to 1."""
        return self.clustering.phi

    def clustering_terms(self, phi: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """The clustering part of the negative ELBO (see
        :class:`~scbasis.nn.FeatureClustering`), term by term."""
        return self.clustering(phi)
