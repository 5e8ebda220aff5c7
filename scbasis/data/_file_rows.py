"""Rows of a backed CSR matrix read from the ``.h5ad`` file's bytes, one read per stretch."""

from __future__ import annotations

import os
from collections.abc import Sequence

import h5py
import numpy as np
import scipy.sparse as sp
from anndata.abc import CSRDataset

# HDF5 drivers whose file addresses are byte offsets in one file on disk
_PLAIN_FILE_DRIVERS = ("sec2", "stdio", "windows")


class FileRowsCSRDataset(CSRDataset):
    """A backed AnnData's CSR matrix whose row selections are read from the file directly.

    anndata reads the rows of a backed CSR matrix one HDF5 call per row and array, about
    0.2 ms each in a chunked ``.h5ad`` (what ``write_h5ad`` writes): 40 ms for a minibatch of
    128 random rows at 100,000 cells x 2,000 genes and 56 ms at a million, more than a
    training step. The HDF5 library stores uncompressed chunks as plain bytes at addresses it
    reports, so a row's values are a ``pread`` at a known offset: this class reads the row
    pointers once (8 bytes a row), then every row of a selection from the file's bytes with
    one read per stretch within a chunk, 1.2-1.3 ms per such minibatch at either size
    (``benchmarks/backed_reads.py``). Memory stays bounded (no mapping of the file, which
    would count the pages read into the process's resident memory).

    Other selections, and files that are compressed, filtered or not one plain file, are
    left to anndata (:func:`file_rows` returns ``None`` for those).

    Parameters
    ----------
    dataset
        anndata's backed CSR matrix (``adata.X`` or a layer of a backed AnnData).
    """

    format = "csr"
    backend = "hdf5"

    def __init__(self, dataset: CSRDataset):
        self._dataset = dataset
        self.shape = tuple(dataset.shape)
        self.dtype = dataset.dtype
        group = dataset.group
        self._indptr = np.asarray(group["indptr"][:], dtype=np.int64)
        self._arrays = {
            name: _FileArray(group[name], group.file.filename) for name in ("data", "indices")
        }

    @property
    def group(self) -> h5py.Group:
        """The HDF5 group of the matrix."""
        return self._dataset.group

    def __getitem__(self, index):
        rows = _row_selection(index, self.shape[0])
        if rows is None:
            return self._dataset[index]
        starts = self._indptr[rows]
        lengths = self._indptr[rows + 1] - starts
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        data, indices = (self._arrays[name].read(starts, lengths) for name in ("data", "indices"))
        return sp.csr_matrix((data, indices, indptr), shape=(len(rows), self.shape[1]))

    def to_memory(self) -> sp.csr_matrix:
        """The whole matrix in memory (anndata's read)."""
        return self._dataset.to_memory()

    def agrees_with_hdf5(self) -> bool:
        """Whether the first and last 64 stored values and column indices read from the file's
        bytes equal HDF5's own read of them."""
        nnz = int(self._indptr[-1])
        count = min(nnz, 64)
        starts, lengths = np.array([0, nnz - count]), np.array([count, count])
        for name, array in self._arrays.items():
            stored = self.group[name]
            expected = np.concatenate([stored[:count], stored[nnz - count : nnz]])
            if not np.array_equal(array.read(starts, lengths), expected):
                return False
        return True


def file_rows(dataset: object) -> FileRowsCSRDataset | None:
    """:class:`FileRowsCSRDataset` of a backed CSR matrix whose arrays can be read from the
    file's bytes, else ``None`` (in memory, CSC, zarr, compressed, filtered, ...).

    What is read that way is first checked against HDF5's own read
    (:meth:`FileRowsCSRDataset.agrees_with_hdf5`).
    """
    if not isinstance(dataset, CSRDataset) or isinstance(dataset, FileRowsCSRDataset):
        return None
    group = getattr(dataset, "group", None)
    if not isinstance(group, h5py.Group) or group.file.driver not in _PLAIN_FILE_DRIVERS:
        return None
    if group.file.userblock_size != 0:
        return None
    if not all(_is_plain(group[name]) for name in ("data", "indices")):
        return None
    rows = FileRowsCSRDataset(dataset)
    return rows if rows.agrees_with_hdf5() else None


def _is_plain(dataset: h5py.Dataset) -> bool:
    """Whether ``dataset`` is 1-D, native-endian, unfiltered, and all of it is in the file."""
    if dataset.ndim != 1 or not dataset.dtype.isnative or dataset.dtype.hasobject:
        return False
    plist = dataset.id.get_create_plist()
    if plist.get_nfilters() != 0 or plist.get_external_count() != 0 or dataset.is_virtual:
        return False
    if dataset.chunks is None:
        return dataset.id.get_offset() is not None or dataset.shape[0] == 0
    n_chunks = -(-dataset.shape[0] // dataset.chunks[0])
    return dataset.id.get_num_chunks() == n_chunks


class _FileArray:
    """A plain 1-D HDF5 dataset's values at element positions, read with ``pread``."""

    def __init__(self, dataset: h5py.Dataset, path: str):
        self.dtype = dataset.dtype
        self.path = path
        if dataset.chunks is None:
            self.chunk_length = max(dataset.shape[0], 1)
            self.chunk_offsets = np.array([dataset.id.get_offset() or 0], dtype=np.int64)
        else:
            self.chunk_length = dataset.chunks[0]
            self.chunk_offsets = np.empty(dataset.id.get_num_chunks(), dtype=np.int64)

            def record(info) -> None:
                self.chunk_offsets[info.chunk_offset[0] // self.chunk_length] = info.byte_offset

            if hasattr(dataset.id, "chunk_iter"):
                dataset.id.chunk_iter(record)
            else:
                for i in range(len(self.chunk_offsets)):
                    record(dataset.id.get_chunk_info(i))
        self._file: tuple[int, int] | None = None  # (process id, descriptor)

    def read(self, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Values at ``starts[i] .. starts[i] + lengths[i]`` for every ``i``, concatenated."""
        out = np.empty(int(lengths.sum()), dtype=self.dtype)
        buffer = memoryview(out).cast("B")
        size = self.dtype.itemsize
        descriptor = self._descriptor()
        place = 0
        for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
            while length > 0:  # one read per stretch within a chunk
                chunk, within = divmod(start, self.chunk_length)
                count = min(length, self.chunk_length - within)
                offset = int(self.chunk_offsets[chunk]) + within * size
                _read_into(descriptor, buffer[place * size : (place + count) * size], offset)
                start, length, place = start + count, length - count, place + count
        return out

    def _descriptor(self) -> int:
        """This process's descriptor of the file (a forked data-loading worker opens its own)."""
        if self._file is None or self._file[0] != os.getpid():
            flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)  # O_BINARY: Windows only
            self._file = (os.getpid(), os.open(self.path, flags))
        return self._file[1]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None}

    def __del__(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None and file[0] == os.getpid():
            os.close(file[1])


def _read_into(descriptor: int, buffer: memoryview, offset: int) -> None:
    """Fill ``buffer`` with the file's bytes from ``offset``."""
    while len(buffer):
        if hasattr(os, "preadv"):
            count = os.preadv(descriptor, [buffer], offset)
        else:  # Windows: no positional read; each process has its own descriptor
            os.lseek(descriptor, offset, os.SEEK_SET)
            chunk = os.read(descriptor, len(buffer))
            buffer[: len(chunk)] = chunk
            count = len(chunk)
        if count <= 0:
            raise OSError(f"The file ended {len(buffer)} bytes before its matrix did.")
        buffer, offset = buffer[count:], offset + count


def _row_selection(index, n_rows: int) -> np.ndarray | None:
    """Positions ``(n,)`` of a selection of whole rows given as integers, else ``None``."""
    if isinstance(index, tuple):
        if len(index) != 2 or not (isinstance(index[1], slice) and index[1] == slice(None)):
            return None
        index = index[0]
    if isinstance(index, slice) or np.isscalar(index):
        return None
    if not isinstance(index, np.ndarray | Sequence):
        return None
    rows = np.asarray(index)
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
        return None
    rows = rows.astype(np.int64)
    if rows.size and (rows.min() < -n_rows or rows.max() >= n_rows):
        raise IndexError(f"Row index out of range for a matrix of {n_rows} rows.")
    return np.where(rows < 0, rows + n_rows, rows)
