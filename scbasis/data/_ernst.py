"""Ernst et al. (2019) mouse spermatogenesis (ArrayExpress E-MTAB-6946): download and cache.

Ernst, Eling, Martinez-Jimenez, Marioni & Odom (2019), "Staged developmental mapping and X
chromosome transcriptional dynamics during mouse spermatogenesis", Nature Communications 10, 1251.
The CellRanger-called cells of the processed ArrayExpress submission are used: three zip archives
holding ``cell_metadata.txt`` (R ``write.table`` layout: space-separated, quoted, with row names),
``genes.tsv`` (tab-separated, columns ``ID`` = Ensembl id and ``Symbol``) and ``raw_counts.mtx``
(Matrix Market, genes x cells, integer UMI counts).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pooch
import scanpy as sc
import scipy.io
from anndata import AnnData

from ._ernst_files import (
    ACCESSION,
    BIOSTUDIES_URL,
    COUNTS_ZIP,
    FILES,
    GENES_ZIP,
    KNOWN_HASHES,
    METADATA_ZIP,
    URL_ENV,
    _assemble,
    _fetch,
    _read_cache,
    _read_genes,
    _read_member,
    _read_metadata,
    _write_atomic,
)

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "SCBASIS_DATA_DIR"

# Germ-cell differentiation in the authors' ``AnnotatedClusters``, in developmental order:
# spermatogonia; early, mid and late pachytene (eP1, eP2, mP, lP1, lP2), diplotene (D),
# meiotic divisions (MI, MII); round to elongating spermatids (S1-S14). Stages absent from the
# data are ignored; somatic cells (Sertoli, Leydig, PTM, endothelial, macrophages), unassigned
# clusters and "Outliers" are excluded.
GERM_CELL_STAGES: tuple[str, ...] = (
    "Spermatogonia",
    "eP1",
    "eP2",
    "mP",
    "lP1",
    "lP2",
    "D",
    "MI",
    "MII",
    *(f"S{i}" for i in range(1, 15)),
)
PAPER_SHAPE = (8509, 5216)
_CACHE_VERSION = 1  # bump when the assembly or subsetting changes, to invalidate old caches


def ernst_spermatogenesis(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    base_url: str | None = None,
    raw: bool = False,
    annotation_key: str = "AnnotatedClusters",
    trajectory_clusters: Sequence[str] = GERM_CELL_STAGES,
    sample_key: str = "Sample",
    samples: Sequence[str] | None = ("B6",),
    min_cells: int = 10,
    n_top_genes: int | None = 5216,
    hvg_batch_key: str | None = None,
    hashes: Mapping[str, str | None] | None = None,
    retries: int = 3,
    progressbar: bool = True,
    force_download: bool = False,
) -> AnnData:
    """Mouse spermatogenesis counts of Ernst et al. (2019), the real data of both papers.

    On the first call the three processed archives of ArrayExpress ``E-MTAB-6946`` (about
    680 MB) are downloaded with pooch, assembled into an AnnData and cached as
    ``E-MTAB-6946_raw.h5ad`` (gzip-compressed); parsing the count matrix takes several GB of
    memory. The germ-cell trajectory is then selected and cached, uncompressed, as
    ``E-MTAB-6946_<key>.h5ad``, ``<key>`` a hash of the subsetting arguments. A later call with
    the same arguments only reads that file (no network); a call with other subsetting arguments
    starts from the cached full data. Every cache file is written under a temporary name and
    renamed when complete; a failed download or a corrupt archive leaves nothing behind.

    The papers report 8,509 cells x 5,216 genes; their exact cell selection is not published,
    so the defaults (adult wild-type ``"B6"`` sample, all germ-cell stages, 5,216 Seurat-v3
    highly variable genes) aim at that scale without guaranteeing it. The shape reached is
    logged and stored in ``uns["ernst_spermatogenesis"]``.

    Parameters
    ----------
    cache_dir
        Root of the data cache. Files go to ``<root>/E-MTAB-6946/``. Default: the
        ``SCBASIS_DATA_DIR`` environment variable, else ``pooch.os_cache("scbasis")``.
    base_url
        Where the three archives are downloaded from (``http(s)://`` or ``ftp://``, a mirror or a
        local server). Default: the ``SCBASIS_ERNST_URL`` environment variable, else
        ``BIOSTUDIES_URL`` (``https://ftp.ebi.ac.uk/biostudies/fire/E-MTAB-/946/E-MTAB-6946/
        Files/``); ``ARRAYEXPRESS_LEGACY_URL`` is the pre-2022 location.
    raw
        Return every cell and gene, skipping the subsetting arguments below.
    annotation_key
        Column of ``cell_metadata.txt`` with the authors' cell-type annotation.
    trajectory_clusters
        Values of ``annotation_key`` kept, in trajectory order (default ``GERM_CELL_STAGES``:
        spermatogonia through elongating spermatids). The kept ``obs[annotation_key]`` becomes an
        ordered categorical in this order.
    sample_key
        Column of ``cell_metadata.txt`` naming the sample (animal / age group).
    samples
        Values of ``sample_key`` kept; ``None`` keeps all. Default ``("B6",)``: the adult
        wild-type C57BL/6 mice (two 10x libraries), as in the papers' single adult sample.
    min_cells
        Genes detected (count > 0) in fewer of the kept cells are removed before gene selection.
    n_top_genes
        Number of highly variable genes kept, ranked by ``scanpy.pp.highly_variable_genes`` with
        ``flavor="seurat_v3"`` on the raw counts; ``None`` (or a number not below the genes left)
        keeps all genes.
    hvg_batch_key
        ``obs`` column passed as ``batch_key`` to the gene selection (e.g. ``"Library"``).
    hashes
        Expected hashes per archive name (``"sha256:<hex>"`` or pooch's ``"md5:..."`` forms),
        overriding ``KNOWN_HASHES`` (all ``None`` until verified: no check); a ``None`` value
        skips the check for that archive. Checked whenever the archives are downloaded or
        reused to build the data, not when a cached ``.h5ad`` is returned.
    retries
        Additional download attempts per archive after a failure (pooch waits 1 s, 2 s, ...).
    progressbar
        Show a download progress bar (tqdm) on stderr.
    force_download
        Delete the cached archives and ``.h5ad`` files of this data set first and rebuild them.

    Returns
    -------
    anndata.AnnData
        Of shape ``(cells, genes)``: ``X`` a CSR matrix of ``int32`` raw UMI counts; ``obs``
        every column of ``cell_metadata.txt`` (strings as categoricals), indexed by
        ``"<Library>_<Barcode>"`` (made unique); ``var`` indexed by unique gene symbols, with
        ``var["gene_ids"]`` (Ensembl) and ``var["gene_symbols"]`` (as published), plus scanpy's
        ``n_cells`` and highly-variable-gene columns after subsetting;
        ``uns["ernst_spermatogenesis"]`` the source and the settings used.

    Raises
    ------
    ValueError
        For invalid arguments, a hash mismatch, a truncated or corrupt archive (the bad file is
        deleted), files that do not match each other, or a missing metadata column.
    ConnectionError
        If an archive cannot be downloaded after ``retries`` further attempts.
    """
    if not isinstance(raw, bool):
        raise ValueError(f"raw must be True or False, got {raw!r}.")
    clusters = _string_tuple("trajectory_clusters", trajectory_clusters)
    kept_samples = None if samples is None else _string_tuple("samples", samples)
    for name, value in (("annotation_key", annotation_key), ("sample_key", sample_key)):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a column name (str), got {value!r}.")
    if hvg_batch_key is not None and not isinstance(hvg_batch_key, str):
        raise ValueError(
            f"hvg_batch_key must be a column name (str) or None, got {hvg_batch_key!r}."
        )
    _check_int("min_cells", min_cells, low=0)
    if n_top_genes is not None:
        _check_int("n_top_genes", n_top_genes, low=1)
    _check_int("retries", retries, low=0)
    expected_hashes = _expected_hashes(hashes)
    url = _resolve_base_url(base_url)
    folder = _resolve_cache_dir(cache_dir) / ACCESSION

    selection = {
        "annotation_key": annotation_key,
        "trajectory_clusters": list(clusters),
        "sample_key": sample_key,
        "samples": None if kept_samples is None else list(kept_samples),
        "min_cells": min_cells,
        "n_top_genes": n_top_genes,
        "hvg_batch_key": hvg_batch_key,
    }
    required = {
        "annotation_key": annotation_key,
        "sample_key": None if kept_samples is None else sample_key,
        "hvg_batch_key": hvg_batch_key,
    }

    def select(obs: pd.DataFrame) -> np.ndarray:
        _require_columns(obs, required)
        return _select_cells(obs, annotation_key, clusters, sample_key, kept_samples)

    raw_path = folder / f"{ACCESSION}_raw.h5ad"
    target = raw_path if raw else folder / f"{ACCESSION}_{_selection_key(selection)}.h5ad"
    if force_download:
        for path in [*(folder / name for name in FILES), *folder.glob(f"{ACCESSION}_*.h5ad")]:
            path.unlink(missing_ok=True)
    if target.exists():
        return _read_cache(target)

    if raw_path.exists():
        adata = _read_cache(raw_path)
    else:
        adata = _download_and_assemble(
            folder,
            url,
            expected_hashes,
            retries,
            progressbar,
            # Without raw=True, check the metadata before parsing the large count matrix.
            check_metadata=None if raw else select,
        )
        _write_atomic(adata, raw_path, compression="gzip")
    if raw:
        return adata

    subset = _select_genes(adata[select(adata.obs)].copy(), min_cells, n_top_genes, hvg_batch_key)
    present = set(subset.obs[annotation_key].astype(str))
    subset.obs[annotation_key] = pd.Categorical(
        subset.obs[annotation_key].astype(str),
        categories=[c for c in clusters if c in present],
        ordered=True,
    )
    subset.uns["ernst_spermatogenesis"] = {
        **adata.uns["ernst_spermatogenesis"],
        **{key: value for key, value in selection.items() if value is not None},
        "shape": [subset.n_obs, subset.n_vars],
        "paper_shape": list(PAPER_SHAPE),
    }
    logger.info(
        "Ernst spermatogenesis subset: %d cells x %d genes (papers: %d x %d).",
        subset.n_obs,
        subset.n_vars,
        *PAPER_SHAPE,
    )
    _write_atomic(subset, target, compression=None)
    return subset


def _download_and_assemble(
    folder: Path,
    url: str,
    expected_hashes: Mapping[str, str | None],
    retries: int,
    progressbar: bool,
    check_metadata: Callable[[pd.DataFrame], object] | None,
) -> AnnData:
    """Fetch the three archives and build the full cells x genes AnnData."""
    archives = {
        name: _fetch(folder, url, name, expected_hashes[name], retries, progressbar)
        for name in FILES
    }
    obs = _read_member(archives[METADATA_ZIP], _read_metadata)
    if check_metadata is not None:
        check_metadata(obs)
    var = _read_member(archives[GENES_ZIP], _read_genes)
    counts = _read_member(archives[COUNTS_ZIP], scipy.io.mmread)
    adata = _assemble(counts, obs, var)
    adata.uns["ernst_spermatogenesis"] = {
        "accession": ACCESSION,
        "source_url": url,
        "files": dict(FILES),
    }
    return adata


def _string_tuple(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) == 0:
        raise ValueError(f"{name} must be a non-empty list of strings, got {value!r}.")
    if not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must contain only strings, got {value!r}.")
    return tuple(value)


def _check_int(name: str, value: object, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")


def _expected_hashes(hashes: Mapping[str, str | None] | None) -> dict[str, str | None]:
    expected = dict(KNOWN_HASHES)
    if hashes is None:
        return expected
    unknown = sorted(set(hashes) - set(FILES))
    if unknown:
        raise ValueError(f"hashes has unknown file names {unknown}; use keys among {list(FILES)}.")
    expected.update(hashes)
    return expected


def _resolve_base_url(base_url: str | None) -> str:
    url = base_url or os.environ.get(URL_ENV) or BIOSTUDIES_URL
    if urlparse(url).scheme not in ("http", "https", "ftp"):
        source = "base_url" if base_url else URL_ENV
        raise ValueError(
            f"{source} must be an http(s):// or ftp:// URL, got {url!r}. The default is "
            f"{BIOSTUDIES_URL}."
        )
    return url.rstrip("/") + "/"


def _resolve_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get(DATA_DIR_ENV) or pooch.os_cache("scbasis")).expanduser()


def _selection_key(selection: dict[str, object]) -> str:
    text = json.dumps({**selection, "version": _CACHE_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _require_columns(obs: pd.DataFrame, columns: Mapping[str, str | None]) -> None:
    """Raise a clear error if a column named by an argument (``{argument: column}``) is absent."""
    for argument, column in columns.items():
        if column is not None and column not in obs.columns:
            raise ValueError(
                f"Column {column!r} ({argument}) is not in the cell metadata "
                f"(cell_metadata.txt in {METADATA_ZIP}); its columns are {list(obs.columns)}. "
                f"Fix: pass {argument}= naming one of them, or raw=True to skip the subsetting."
            )


def _select_cells(
    obs: pd.DataFrame,
    annotation_key: str,
    clusters: tuple[str, ...],
    sample_key: str,
    samples: tuple[str, ...] | None,
) -> np.ndarray:
    """Boolean mask of the trajectory cells; a clear error when no cell matches."""
    checks = {annotation_key: clusters}
    if samples is not None:
        checks[sample_key] = samples
    keep = np.ones(obs.shape[0], dtype=bool)
    for column, values in checks.items():
        keep &= obs[column].astype(str).isin(values).to_numpy()
    if not keep.any():
        found = {column: sorted(set(obs[column].astype(str))) for column in checks}
        raise ValueError(
            f"No cell matches the selection { ({c: list(v) for c, v in checks.items()}) }; the "
            f"metadata holds {found}. Fix: adjust trajectory_clusters= / samples=, or use "
            "raw=True."
        )
    return keep


def _select_genes(
    adata: AnnData, min_cells: int, n_top_genes: int | None, hvg_batch_key: str | None
) -> AnnData:
    """Drop rarely detected genes, then keep the Seurat-v3 highly variable genes."""
    sc.pp.filter_genes(adata, min_cells=min_cells)
    if n_top_genes is not None and n_top_genes < adata.n_vars:
        sc.pp.highly_variable_genes(
            adata,
            flavor="seurat_v3",
            n_top_genes=n_top_genes,
            batch_key=hvg_batch_key,
            subset=True,
        )
    return adata
