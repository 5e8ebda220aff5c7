"""scvi-tools' data loaders, reading a backed AnnData's CSR rows from the file's bytes."""

from __future__ import annotations

from scvi.dataloaders import AnnDataLoader, DataSplitter

from ._file_rows import file_rows


class FileRowsDataLoader(AnnDataLoader):
    """scvi-tools' :class:`~scvi.dataloaders.AnnDataLoader` whose minibatches of a backed
    AnnData's CSR matrix are read by :class:`FileRowsCSRDataset` (one read per row from the
    file's bytes instead of one HDF5 call per row and array); the same rows, values and
    order. Anything else is read by scvi-tools and anndata as usual.
    """

    def __init__(self, adata_manager, *args, **kwargs):
        super().__init__(adata_manager, *args, **kwargs)
        if not adata_manager.adata.isbacked:
            return
        dataset = getattr(self.dataset, "dataset", self.dataset)  # the Subset's AnnTorchDataset
        for key, values in dataset.data.items():
            rows = file_rows(values)
            if rows is not None:
                dataset.data[key] = rows


class FileRowsDataSplitter(DataSplitter):
    """scvi-tools' :class:`~scvi.dataloaders.DataSplitter` with :class:`FileRowsDataLoader`."""

    data_loader_cls = FileRowsDataLoader
