"""Rows of backed CSR matrices read from the file's bytes (FileRowsCSRDataset), against
anndata's own reads of the same files on disk."""

import anndata
import h5py
import numpy as np
import pytest
import scipy.sparse as sp
import scvi
from scvi import REGISTRY_KEYS
from scvi.dataloaders import AnnDataLoader

import scbasis
from scbasis.data._file_rows import FileRowsCSRDataset, file_rows


def _counts(n_cells: int = 300, n_genes: int = 40, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    x = rng.poisson(rng.gamma(0.3, 2.0, (n_cells, n_genes))).astype(np.float32)
    x[5] = 0  # an empty row
    return sp.csr_matrix(x)


def _write_with_h5py(path, x: sp.csr_matrix, chunks: int | None, **options) -> None:
    """An ``.h5ad`` whose X arrays have the given chunk length (``None``: contiguous)."""
    anndata.AnnData(sp.csr_matrix(x.shape, dtype=x.dtype)).write_h5ad(path)
    with h5py.File(path, "r+") as file:
        del file["X"]
        group = file.create_group("X")
        group.attrs.update({"encoding-type": "csr_matrix", "encoding-version": "0.1.0"})
        group.attrs["shape"] = x.shape
        for name in ("data", "indices"):
            values = getattr(x, name)
            group.create_dataset(name, data=values, chunks=chunks and (chunks,), **options)
        group.create_dataset("indptr", data=x.indptr.astype(np.int64))


SELECTIONS = [
    np.array([0, 3, 5, 6, 120, 299]),  # ascending, with the empty row
    np.array([250, 4, 17, 4]),  # any order, repeated
    [2, -1, 10],  # a list, a negative position
    np.array([], dtype=int),
    np.arange(300),
]


@pytest.mark.parametrize("layout", ["anndata", "contiguous", "small chunks"])
def test_rows_read_from_the_file_equal_anndatas_rows(tmp_path, layout):
    """anndata's own layout (h5py's chunks), one contiguous block, and chunks of 7 values, so
    that most rows cross a chunk boundary."""
    x = _counts()
    path = tmp_path / "x.h5ad"
    if layout == "anndata":
        anndata.AnnData(x).write_h5ad(path)
    else:
        _write_with_h5py(path, x, None if layout == "contiguous" else 7)
    backed = anndata.read_h5ad(path, backed="r")
    rows = file_rows(backed.X)
    assert isinstance(rows, FileRowsCSRDataset) and rows.shape == x.shape
    for selection in SELECTIONS:
        got = rows[selection]
        expected = x[np.asarray(selection, dtype=int)]
        assert isinstance(got, sp.csr_matrix) and got.dtype == x.dtype
        np.testing.assert_array_equal(got.toarray(), expected.toarray())
    np.testing.assert_array_equal(rows[10:20].toarray(), x[10:20].toarray())  # anndata's read
    np.testing.assert_array_equal(rows[[4, 9], :].toarray(), x[[4, 9]].toarray())
    columns = (np.array([4, 9]), np.array([0, 3]))  # not whole rows: anndata's read
    np.testing.assert_array_equal(rows[columns].toarray(), x[4:10:5][:, [0, 3]].toarray())
    np.testing.assert_array_equal(rows.to_memory().toarray(), x.toarray())
    with pytest.raises(IndexError, match="out of range"):
        rows[np.array([300])]


def test_files_that_are_not_plain_bytes_are_left_to_anndata(tmp_path):
    """Compressed or filtered arrays, in-memory matrices and CSC matrices: no file reader."""
    x = _counts()
    anndata.AnnData(x).write_h5ad(tmp_path / "gzip.h5ad", compression="gzip")
    _write_with_h5py(tmp_path / "shuffle.h5ad", x, 50, shuffle=True)
    anndata.AnnData(x.tocsc()).write_h5ad(tmp_path / "csc.h5ad")
    for name in ("gzip", "shuffle", "csc"):
        assert file_rows(anndata.read_h5ad(tmp_path / f"{name}.h5ad", backed="r").X) is None
    assert file_rows(x) is None


def test_a_backed_models_minibatches_are_scvi_tools_minibatches(tmp_path):
    """The model's data loaders read a backed CSR file through the file reader, and give the
    minibatches scvi-tools' own loader gives, value for value; a compressed file is read by
    anndata in the same loaders."""
    adata = scbasis.data.simulate_trajectory(400, 30, seed=3)
    for compression in (None, "gzip"):
        path = tmp_path / f"{compression}.h5ad"
        adata.write_h5ad(path, compression=compression)
        backed = anndata.read_h5ad(path, backed="r")
        scbasis.model.setup_anndata(backed)
        model = scbasis.model.BasisDeVAE(backed, n_hidden=8)
        indices = np.sort(np.random.default_rng(0).choice(400, 250, replace=False))
        ours = model._make_data_loader(adata=backed, indices=indices, batch_size=64)
        theirs = AnnDataLoader(model.adata_manager, indices=indices, batch_size=64)
        reader = ours.dataset.dataset.data[REGISTRY_KEYS.X_KEY]
        assert isinstance(reader, FileRowsCSRDataset) == (compression is None)
        batches = list(zip(ours, theirs, strict=True))
        assert len(batches) == 4
        for got, expected in batches:
            assert got.keys() == expected.keys()
            for key in got:
                np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy())


def test_training_splits_read_backed_rows_from_the_file(tmp_path):
    """scvi-tools' training route (the data splitter's loaders) uses the file reader too."""
    adata = scbasis.data.simulate_trajectory(300, 20, seed=4)
    adata.write_h5ad(tmp_path / "x.h5ad")
    backed = anndata.read_h5ad(tmp_path / "x.h5ad", backed="r")
    scbasis.model.setup_anndata(backed)
    model = scbasis.model.BasisDeVAE(backed, n_hidden=8)
    splitter = model._data_splitter_cls(model.adata_manager, train_size=0.9)
    splitter.setup()
    loader = splitter.train_dataloader()
    assert isinstance(loader.dataset.dataset.data[REGISTRY_KEYS.X_KEY], FileRowsCSRDataset)
    scvi.settings.seed = 0
    model.train(max_epochs=1, family_epochs=0, enable_progress_bar=False)
    assert np.isfinite(model.get_pseudotime()).all()
