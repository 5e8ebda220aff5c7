"""How an AnnData is registered with the scbasis models: its fields, and their documentation
shared by every ``setup_anndata``."""

from __future__ import annotations

from docrep import DocstringProcessor
from scvi import REGISTRY_KEYS
from scvi.data.fields import BaseAnnDataField, CategoricalObsField, LayerField, NumericalObsField

#: The parameters of every scbasis ``setup_anndata``, for ``%(param_...)s`` in docstrings.
setup_dsp = DocstringProcessor(
    param_adata="""adata
    Cells x features. Count likelihoods need raw counts (in ``adata.X`` or ``layer``); the
    Gaussian likelihood takes any real values (e.g. standardised measurements).""",
    param_layer="""layer
    Layer holding the data; ``None`` uses ``adata.X``.""",
    param_batch_key="""batch_key
    Column of ``adata.obs`` naming each cell's batch or sample. Each batch gets per-feature
    offsets on the link scale, and the encoder sees the batch, so that all batches share one
    pseudotime; the first category is the reference (offset 0).""",
    param_size_factor_key="""size_factor_key
    Column of ``adata.obs`` with per-cell size factors that replace the observed total counts
    as library sizes.""",
)


def anndata_fields(
    layer: str | None, batch_key: str | None, size_factor_key: str | None
) -> list[BaseAnnDataField]:
    """The scvi-tools fields an scbasis model reads: the data, each cell's batch and, when
    given, its size factor."""
    return [
        LayerField(REGISTRY_KEYS.X_KEY, layer, is_count_data=False),
        CategoricalObsField(REGISTRY_KEYS.BATCH_KEY, batch_key),
        NumericalObsField(REGISTRY_KEYS.SIZE_FACTOR_KEY, size_factor_key, required=False),
    ]
