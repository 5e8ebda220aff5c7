"""The files behind :func:`~scbasis.data.ernst_spermatogenesis`: download with checksums,
read the archives' members, assemble an AnnData, and cache it atomically."""

from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pooch
import scipy.sparse as sp
from anndata import AnnData, read_h5ad
from anndata.utils import make_index_unique

ACCESSION = "E-MTAB-6946"
# ArrayExpress moved to BioStudies in 2022; its files are served over HTTPS from the EBI FTP
# tree ``biostudies/fire/<prefix>/<last three digits>/<accession>/Files/``.
BIOSTUDIES_URL = f"https://ftp.ebi.ac.uk/biostudies/fire/E-MTAB-/946/{ACCESSION}/Files/"
# The pre-2022 ArrayExpress location, used by the authors' scripts; may redirect or be retired.
ARRAYEXPRESS_LEGACY_URL = f"https://www.ebi.ac.uk/arrayexpress/files/{ACCESSION}/"
URL_ENV = "SCBASIS_ERNST_URL"

METADATA_ZIP = f"{ACCESSION}.processed.1.zip"
GENES_ZIP = f"{ACCESSION}.processed.2.zip"
COUNTS_ZIP = f"{ACCESSION}.processed.3.zip"
# Archive -> the file it holds.
FILES: dict[str, str] = {
    METADATA_ZIP: "cell_metadata.txt",
    GENES_ZIP: "genes.tsv",
    COUNTS_ZIP: "raw_counts.mtx",
}
# SHA-256 of each archive ("sha256:<hex>"); None until verified against a real download.
KNOWN_HASHES: dict[str, str | None] = {
    METADATA_ZIP: None,
    GENES_ZIP: None,
    COUNTS_ZIP: None,
}


T = TypeVar("T")


def _fetch(
    folder: Path,
    base_url: str,
    name: str,
    known_hash: str | None,
    retries: int,
    progressbar: bool,
) -> Path:
    """Download one archive into ``folder`` (pooch: temporary file, hash check, then move)."""
    store = pooch.create(
        path=folder,
        base_url=base_url,
        registry={name: known_hash},
        retry_if_failed=retries,
    )
    if urlparse(base_url).scheme == "ftp":
        downloader = pooch.FTPDownloader(progressbar=progressbar)
    else:
        downloader = pooch.HTTPDownloader(progressbar=progressbar)
    url = store.get_url(name)
    try:
        return Path(store.fetch(name, downloader=downloader))
    except OSError as err:  # requests' exceptions, connection refused, FTP errors
        raise ConnectionError(
            f"Could not download {name} from {url} ({1 + retries} attempt(s)): {err}. "
            f"Fix: check the network connection; or point base_url= or the {URL_ENV} "
            f"environment variable at a reachable copy of {ACCESSION} (default {BIOSTUDIES_URL}, "
            f"legacy {ARRAYEXPRESS_LEGACY_URL}); or place {name} in {folder} yourself."
        ) from err
    except ValueError as err:  # pooch: the downloaded file does not match known_hash
        (folder / name).unlink(missing_ok=True)
        raise ValueError(
            f"{name} downloaded from {url} does not match its expected hash {known_hash} "
            f"({err}). The file was deleted. Fix: check that base_url / {URL_ENV} serves an "
            f"intact copy of {ACCESSION} and call again (force_download=True re-fetches "
            f"everything); if the archive was legitimately updated, pass "
            f"hashes={{{name!r}: None}} or its new hash."
        ) from err


def _read_member(archive: Path, reader: Callable[[IO[bytes]], T]) -> T:
    """Apply ``reader`` to the expected file inside ``archive``; delete a corrupt archive."""
    member = FILES[archive.name]
    try:
        with zipfile.ZipFile(archive) as zipped:
            names = [n for n in zipped.namelist() if not n.startswith("__MACOSX/")]
            matches = [n for n in names if n.rsplit("/", 1)[-1] == member]
            if matches:
                with zipped.open(matches[0]) as stream:
                    return reader(stream)
    except (zipfile.BadZipFile, EOFError, zlib.error) as err:
        archive.unlink(missing_ok=True)
        raise ValueError(
            f"{archive.name} is not a valid zip archive ({err}): the download was probably "
            f"truncated or the server sent something else. The file was deleted from "
            f"{archive.parent}. Fix: call again to download it afresh, and if this repeats, "
            f"check base_url / {URL_ENV}."
        ) from err
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(
            f"Could not parse {member} in {archive.name} ({err}). Fix: call again with "
            f"force_download=True; if this repeats, check that base_url / {URL_ENV} serves the "
            f"processed files of {ACCESSION}."
        ) from err
    raise ValueError(
        f"{archive.name} does not contain {member} (it holds {names}). Fix: check that "
        f"base_url / {URL_ENV} serves {ACCESSION}, then call again with force_download=True."
    )


def _read_metadata(stream: IO[bytes]) -> pd.DataFrame:
    """``cell_metadata.txt``: one row per cell, in the column order of the count matrix."""
    obs = pd.read_csv(stream, sep=r"\s+", quotechar='"')
    obs.columns = obs.columns.astype(str)
    if {"Library", "Barcode"} <= set(obs.columns):
        names = obs["Library"].astype(str) + "_" + obs["Barcode"].astype(str)
    elif "Barcode" in obs.columns:
        names = obs["Barcode"].astype(str)
    else:
        names = obs.index.astype(str)
    obs.index = pd.Index(names.to_numpy(), dtype=str)
    for column in obs.columns:
        if pd.api.types.is_string_dtype(obs[column]):
            obs[column] = pd.Categorical(obs[column])
    return obs


def _read_genes(stream: IO[bytes]) -> pd.DataFrame:
    """``genes.tsv``: Ensembl id and symbol of each row of the count matrix."""
    genes = pd.read_csv(stream, sep="\t", dtype=str, keep_default_na=False)
    missing = {"ID", "Symbol"} - set(genes.columns)
    if missing:
        raise ValueError(
            f"genes.tsv lacks the column(s) {sorted(missing)} (found {list(genes.columns)})"
        )
    symbols = genes["Symbol"].where(genes["Symbol"] != "", genes["ID"])
    var = pd.DataFrame(
        {"gene_ids": genes["ID"].to_numpy(), "gene_symbols": genes["Symbol"].to_numpy()},
        index=pd.Index(symbols.to_numpy(), dtype=str),
    )
    return var


def _assemble(counts: object, obs: pd.DataFrame, var: pd.DataFrame) -> AnnData:
    """Cells x genes AnnData from the genes x cells Matrix Market counts."""
    if not sp.issparse(counts):
        raise ValueError(
            f"raw_counts.mtx in {COUNTS_ZIP} is a dense Matrix Market array; a sparse "
            "coordinate matrix was expected. Fix: call again with force_download=True."
        )
    if counts.shape != (var.shape[0], obs.shape[0]):
        raise ValueError(
            f"raw_counts.mtx in {COUNTS_ZIP} has shape {counts.shape} (genes x cells), but "
            f"genes.tsv in {GENES_ZIP} lists {var.shape[0]} genes and cell_metadata.txt in "
            f"{METADATA_ZIP} {obs.shape[0]} cells. The archives do not belong together. Fix: "
            "call again with force_download=True, or check base_url / "
            f"{URL_ENV}."
        )
    x = sp.csr_matrix(counts.T)
    x.sum_duplicates()
    fractional = x.dtype.kind == "f" and np.any(x.data != np.round(x.data))
    if x.nnz and (fractional or np.any(x.data < 0)):
        raise ValueError(
            f"raw_counts.mtx in {COUNTS_ZIP} holds non-integer or negative values, not raw UMI "
            f"counts. Fix: check that base_url / {URL_ENV} serves the processed files of "
            f"{ACCESSION}, then call again with force_download=True."
        )
    if x.nnz and x.data.max() > np.iinfo(np.int32).max:
        raise ValueError(f"raw_counts.mtx in {COUNTS_ZIP} holds counts too large for int32.")
    obs = obs.set_axis(make_index_unique(obs.index), axis=0)
    var = var.set_axis(make_index_unique(var.index), axis=0)
    return AnnData(X=x.astype(np.int32), obs=obs, var=var)


def _read_cache(path: Path) -> AnnData:
    try:
        return read_h5ad(path)
    except OSError as err:
        raise ValueError(
            f"Cached file {path} cannot be read ({err}). Fix: delete it or call again with "
            "force_download=True."
        ) from err


def _write_atomic(adata: AnnData, path: Path, *, compression: str | None) -> None:
    """Write ``.h5ad`` under a temporary name in the same folder, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}.", suffix=".partial"
    )
    os.close(handle)
    try:
        adata.write_h5ad(temporary, compression=compression)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
