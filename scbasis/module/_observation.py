"""The observation model of a :class:`~scbasis.module.PseudotimeModule`: each cell's library
size, the likelihood's parameters from the curves, the distribution of each feature under its
most probable family, and the data's log-likelihood per family, per cell and along a grid of
latent points (for each cell's exact posterior)."""

from __future__ import annotations

import torch
from torch.distributions import Distribution
from torch.nn.functional import softplus

from scbasis.nn import (
    cell_log_likelihood,
    count_family_log_likelihood,
    family_log_likelihood,
    grid_count_log_likelihood,
    observation_distribution,
)

# generative outputs that parameterise the reference path's distributions
_DISTRIBUTION_PARAMETERS = ("mean", "theta", "zi_logits", "scale", "logits")


class ObservationMixin:
    """Likelihood methods of :class:`~scbasis.module.PseudotimeModule`, which owns the
    parameters they read (``log_theta``, ``zi_logits``, ``scale_raw``, the batch offsets, the
    library trend)."""

    def observed_log_library(
        self, x: torch.Tensor, size_factor: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Log size factors, else log total counts ``(N, 1)``; zeros for non-count data."""
        if not self.is_count_model:
            return x.new_zeros(x.shape[0], 1)
        if size_factor is not None:
            return torch.log(size_factor)
        return torch.log(x.sum(1, keepdim=True))

    def library_correction(self, z: torch.Tensor) -> torch.Tensor:
        """``E[log T | z] - E[log T]`` at latent points ``z`` ``(N, 1)``, ``(N,)``, without
        gradients: the part of a cell's total count its place on the trajectory explains; zeros
        without the library trend. ``library = log T - library_correction(z)``."""
        if self.library_trend is None:
            return z.new_zeros(z.shape[0])
        with torch.no_grad():
            trend = self.library_trend(self.data_range.normalise(z[:, 0]))
            return trend - self.library_trend.mean_log_total

    def cell_offsets(self, batch_index: torch.Tensor | None) -> torch.Tensor | None:
        """Each cell's batch offsets on the link scale, ``(N, d)``, for its batch ``(N, 1)``;
        ``None`` without batches or without ``batch_index``."""
        offsets = self.batch_offsets
        if offsets is None or batch_index is None:
            return None
        return offsets[batch_index[:, 0].long()]

    def observation_parameters(
        self,
        link: torch.Tensor,
        library: torch.Tensor,
        batch_index: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The likelihood's parameters under every family from the curves on the link scale
        ``(..., N, d, K)`` and the log library sizes ``(..., N, 1)``.

        Returns
        -------
        dict
            ``log_mean`` ``(..., N, d, K)`` for counts (the means themselves, which the fused
            training loss does not need, come from :meth:`mean`), else ``mean`` (and for
            Bernoulli ``logits``) ``(..., N, d, K)``; and the likelihood's other parameters:
            ``theta`` ``(d,)``, ``zi_logits`` ``(..., N, d)`` (one value per gene), ``scale``
            ``(d,)`` where they apply.
        """
        offsets = self.cell_offsets(batch_index)
        if offsets is not None:
            link = link + offsets[..., None]
        outputs: dict[str, torch.Tensor] = {}
        if self.is_count_model:
            outputs["log_mean"] = link + library[..., None]
        elif self.likelihood == "bernoulli":
            outputs["logits"] = link
            outputs["mean"] = torch.sigmoid(link)
        else:
            outputs["mean"] = link
            outputs["scale"] = 1e-4 + softplus(self.scale_raw)
        if self.likelihood in ("nb", "zinb"):
            outputs["theta"] = torch.exp(self.log_theta)
        if self.likelihood == "zinb":
            outputs["zi_logits"] = self.zi_logits.expand(*link.shape[:-1])
        return outputs

    def family_parameters(
        self,
        z: torch.Tensor,
        library: torch.Tensor,
        batch_index: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """:meth:`observation_parameters` of the curves at latent points ``z`` ``(..., N, p)``,
        with the log library sizes ``(..., N, 1)`` and batches ``(N, 1)`` of :meth:`generative`;
        the decoder sees the points with any leading sample axes flattened."""
        link = self.decode(z.reshape(-1, z.shape[-1]))
        link = link.reshape(*z.shape[:-1], *link.shape[-2:])
        return self.observation_parameters(link, library, batch_index)

    def feature_distribution(
        self, parameters: dict[str, torch.Tensor], library: torch.Tensor
    ) -> Distribution:
        """``p(x_ij | z_i)`` with each feature under its most probable family, a distribution
        over ``(..., N, d)`` (scvi-tools' ``px``).

        Parameters
        ----------
        parameters
            :meth:`observation_parameters` ``(..., N, d, K)``.
        library
            The log library sizes they were made with, ``(..., N, 1)``; the distribution's
            normalised expression (``get_normalized("scale")``) is the mean per unit of it.
        """
        phi = self.phi
        if phi is not None:
            # position of (family k_j, feature j) in a row of family-major (K, d) values
            n_features = phi.shape[0]
            family = phi.detach().argmax(dim=1)
            flat_index = family * n_features + torch.arange(n_features, device=phi.device)

        def pick(values: torch.Tensor) -> torch.Tensor:
            if phi is None:
                return values[..., 0]
            # the decoders' (..., N, d, K) are views of family-major (..., N, K, d) arrays, read
            # in place (any other layout is copied)
            family_major = values.transpose(-1, -2).reshape(*values.shape[:-2], -1)
            return family_major.index_select(-1, flat_index)

        chosen = {k: v for k, v in parameters.items() if k in _DISTRIBUTION_PARAMETERS}
        for per_family in ("mean", "logits"):
            if per_family in chosen:
                chosen[per_family] = pick(chosen[per_family])
        if self.is_count_model:
            normalized = torch.exp(pick(parameters["log_mean"]) - library)
            chosen["mean"] = normalized * torch.exp(library)
        else:
            normalized = chosen["mean"]
        return observation_distribution(self.likelihood, normalized=normalized, **chosen)

    def mean(self, parameters: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean of every feature under every family, ``(N, d, K)``, from
        :meth:`observation_parameters`.

        For counts ``exp(log_mean)``, the mean before zero inflation.
        """
        if self.is_count_model:
            return torch.exp(parameters["log_mean"])
        return parameters["mean"]

    def family_log_likelihood(
        self, x: torch.Tensor, parameters: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """``log p(x_ij | z_i, family k)``, ``(N, d, K)``, under :meth:`observation_parameters`:
        through the distributions, or for the negative binomial and ZINB on the fused path
        from the fused likelihood's terms (:func:`~scbasis.nn.count_family_log_likelihood`,
        without gradients)."""
        if self._fused_negative_binomial:
            return count_family_log_likelihood(
                x,
                self.likelihood,
                log_mean=parameters["log_mean"],
                theta=parameters["theta"],
                zi_logits=parameters.get("zi_logits"),
            )
        chosen = {k: v for k, v in parameters.items() if k in _DISTRIBUTION_PARAMETERS}
        chosen["mean"] = self.mean(parameters)
        return family_log_likelihood(x, self.likelihood, **chosen)

    @property
    def _fused_negative_binomial(self) -> bool:
        """Whether the likelihood is the negative binomial or ZINB on the fused path."""
        return self.likelihood_path == "fused" and self.likelihood in ("nb", "zinb")

    def cell_log_likelihood(
        self,
        x: torch.Tensor,
        parameters: dict[str, torch.Tensor],
        weights: torch.Tensor | None,
    ) -> torch.Tensor:
        """``sum_jk w_jk log p(x_ij | z_i, curve k)`` per cell, ``(N,)``, under
        :meth:`observation_parameters`, taken by the path chosen with ``likelihood_path``.

        ``weights`` ``(d, K)`` are the assignments :attr:`phi` of a clustered module; ``None``
        where each feature has one curve (``K = 1``).
        """
        if self.likelihood_path == "reference":
            log_p = self.family_log_likelihood(x, parameters)
            if weights is None:
                return log_p[..., 0].sum(-1)
            return torch.einsum("idk,dk->i", log_p, weights)
        return cell_log_likelihood(x, self.likelihood, weights, **parameters)

    @torch.inference_mode()
    def grid_curves(
        self, z_grid: torch.Tensor, families: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The curves on a grid of latent times, for :meth:`grid_log_likelihood`.

        Parameters
        ----------
        z_grid
            Latent points ``(G,)`` of a 1-D latent.
        families
            One family per feature ``(d,)`` to keep (e.g. the most probable); every family,
            weighted by :attr:`phi`, if ``None``.

        Returns
        -------
        tuple
            Curves on the link scale ``(G, K', d)``, the library correction at each point
            ``(G,)`` (:meth:`library_correction`) and the curves' weights ``(d, K')``
            (``None``: one curve per feature).
        """
        links = self.decode(z_grid[:, None]).transpose(1, 2)  # (G, K, d)
        correction = self.library_correction(z_grid[:, None])
        if families is None:
            return links.contiguous(), correction, self.phi
        index = families.to(links.device).view(1, 1, -1).expand(links.shape[0], 1, -1)
        return torch.gather(links, 1, index).contiguous(), correction, None

    @torch.inference_mode()
    def grid_log_likelihood(
        self,
        x: torch.Tensor,
        curves: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
        points: torch.Tensor,
        size_factor: torch.Tensor | None = None,
        batch_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``sum_k w_jk log p(x_ij | z = z_g, k)`` summed over features, for chosen grid points.

        The likelihood of the ELBO along the latent axis of a 1-D latent; with the prior it
        gives each cell's exact posterior on the grid.

        Parameters
        ----------
        x
            Data ``(N, d)``.
        curves
            :meth:`grid_curves` of the grid.
        points
            Indices into the grid ``(N, W)``: the points at which each cell is evaluated.
        size_factor, batch_index
            As for :meth:`inference`.

        Returns
        -------
        torch.Tensor
            ``(N, W)``.
        """
        links, correction, weights = curves
        n_cells, n_points = points.shape
        observed = self.observed_log_library(x, size_factor)  # (N, 1)
        if self._fused_negative_binomial:
            return grid_count_log_likelihood(
                x,
                self.likelihood,
                weights,
                curves=links,
                points=points,
                library=observed - correction[points],
                offsets=self.cell_offsets(batch_index),
                theta=torch.exp(self.log_theta),
                zi_logits=getattr(self, "zi_logits", None),
            )
        flat = points.reshape(-1)
        link = links.index_select(0, flat).transpose(1, 2)  # (N * W, d, K'), cell-major
        library = (observed - correction[points]).reshape(-1, 1)
        batch = None if batch_index is None else batch_index.repeat_interleave(n_points, 0)
        parameters = self.observation_parameters(link, library, batch)
        repeated = x.repeat_interleave(n_points, 0)
        return self.cell_log_likelihood(repeated, parameters, weights).reshape(n_cells, n_points)
