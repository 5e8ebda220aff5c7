"""Tests of the Ernst et al. loader against a miniature E-MTAB-6946 served over local HTTP."""

from __future__ import annotations

import hashlib
import io
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.io
import scipy.sparse as sp

from scbasis.data import ernst_spermatogenesis
from scbasis.data._ernst import GERM_CELL_STAGES
from scbasis.data._ernst_files import (
    ACCESSION,
    COUNTS_ZIP,
    FILES,
    GENES_ZIP,
    METADATA_ZIP,
    URL_ENV,
)

from ._ernst_archive import MiniData, Server, ernst_archives, serve_archives, zip_member

N_GENES = 300
CLUSTERS = ["Spermatogonia", "eP1", "mP", "D", "MII", "S1", "S5", "S12"]
OTHER = ["Sertoli", "Leydig", "Endothelial_cells", "Outliers"]
LIBRARIES = {"do17815": "B6", "do17816": "B6", "do18195": "P15"}
SMALL = {"n_top_genes": 40, "min_cells": 3, "retries": 0, "progressbar": False}


def _make_mini(drop_column: str | None = None, n_metadata_rows: int | None = None) -> MiniData:
    rng = np.random.default_rng(0)
    rows = []
    for library, sample in LIBRARIES.items():
        for i in range(30):
            labels = CLUSTERS if i < 24 else OTHER
            rows.append(
                {
                    # The same barcodes recur in every library, as in the real data.
                    "Barcode": f"{''.join(rng.choice(list('ACGT'), 8))}-1" if i else "AAACCTGA-1",
                    "Sample": sample,
                    "Library": library,
                    "AnnotatedClusters": labels[i % len(labels)],
                    "BroadClusters": "Germ" if i < 24 else "Somatic",
                    "nGenes": int(rng.integers(1000, 5000)),
                }
            )
    metadata = pd.DataFrame(rows)
    n_cells = len(metadata)
    stage = metadata["AnnotatedClusters"].map({c: k for k, c in enumerate(CLUSTERS)}).fillna(-1)
    profile = rng.normal(0, 1.5, size=(N_GENES, len(CLUSTERS) + 1))
    base = np.exp(rng.normal(-0.5, 1.0, size=N_GENES))
    mean = base[:, None] * np.exp(profile[:, stage.astype(int).to_numpy() + 1])
    counts = rng.negative_binomial(3, 3 / (3 + mean))
    counts[:5] = 0  # never detected: removed by min_cells
    counts[5, :2] = 1  # detected in 2 cells only
    genes = pd.DataFrame(
        {
            "ID": [f"ENSMUSG{g:011d}" for g in range(N_GENES)],
            "Symbol": [f"Gene{g}" for g in range(N_GENES)],
        }
    )
    genes.loc[11, "Symbol"] = "Gene10"  # duplicated symbol
    genes.loc[12, "Symbol"] = ""  # missing symbol

    written = metadata.drop(columns=[drop_column]) if drop_column else metadata
    if n_metadata_rows is not None:
        written = written.iloc[:n_metadata_rows]
    archives = ernst_archives(written, genes, counts)
    assert counts.shape == (N_GENES, n_cells)
    return MiniData(metadata, genes, counts, archives)


@pytest.fixture(scope="module")
def mini() -> MiniData:
    return _make_mini()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start a server for a mapping ``{archive name: bytes}``; all are stopped afterwards."""
    servers: list[Server] = []

    def start(archives: dict[str, bytes], fail_first: tuple[str, ...] = ()) -> Server:
        servers.append(serve_archives(tmp_path / f"server{len(servers)}", archives, fail_first))
        return servers[-1]

    yield start
    for server in servers:
        if server.thread.is_alive():
            server.stop()


def _folder(cache: Path) -> Path:
    return cache / ACCESSION


def _files(cache: Path) -> set[str]:
    folder = _folder(cache)
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def _expected_cells(mini: MiniData, clusters=GERM_CELL_STAGES, samples=("B6",)) -> np.ndarray:
    meta = mini.metadata
    return np.flatnonzero(
        (meta["AnnotatedClusters"].isin(clusters) & meta["Sample"].isin(samples)).to_numpy()
    )


def test_download_assemble_and_subset(mini: MiniData, serve, tmp_path: Path) -> None:
    server = serve(mini.archives)
    clusters = list(GERM_CELL_STAGES)
    adata = ernst_spermatogenesis(tmp_path / "cache", base_url=server.url, **SMALL)

    assert clusters == list(GERM_CELL_STAGES)  # the argument is not modified
    assert all(server.requests[name] == 1 for name in FILES)
    cells = _expected_cells(mini)
    meta = mini.metadata.iloc[cells]
    assert adata.n_obs == cells.size == 48
    assert list(adata.obs_names) == list(meta["Library"] + "_" + meta["Barcode"])
    assert set(mini.metadata.columns) <= set(adata.obs.columns)
    np.testing.assert_array_equal(adata.obs["nGenes"].to_numpy(), meta["nGenes"].to_numpy())
    annotation = adata.obs["AnnotatedClusters"]
    assert annotation.cat.ordered and list(annotation.cat.categories) == CLUSTERS
    assert list(annotation.astype(str)) == list(meta["AnnotatedClusters"])

    assert isinstance(adata.X, sp.csr_matrix) and adata.X.dtype == np.int32
    assert adata.n_vars == 40 and adata.var_names.is_unique
    rows = mini.genes.reset_index().set_index("ID").loc[adata.var["gene_ids"], "index"].to_numpy()
    np.testing.assert_array_equal(adata.X.toarray(), mini.counts[np.ix_(rows, cells)].T)
    assert np.all(np.asarray((adata.X > 0).sum(axis=0)).ravel() >= 3)

    # The selected genes are scanpy's Seurat-v3 top genes of the filtered trajectory cells.
    reference = ad.AnnData(sp.csr_matrix(mini.counts[:, cells].T))
    reference.var_names = mini.genes["ID"].to_numpy()
    sc.pp.filter_genes(reference, min_cells=3)
    sc.pp.highly_variable_genes(reference, flavor="seurat_v3", n_top_genes=40)
    expected = set(reference.var_names[reference.var["highly_variable"]])
    assert set(adata.var["gene_ids"]) == expected

    info = adata.uns["ernst_spermatogenesis"]
    assert list(info["shape"]) == [48, 40] and info["source_url"] == server.url
    files = _files(tmp_path / "cache")
    assert set(FILES) <= files and f"{ACCESSION}_raw.h5ad" in files
    assert len([f for f in files if f.endswith(".h5ad")]) == 2
    assert not [f for f in files if f.startswith(".") or "partial" in f or "tmp" in f]


def test_raw_route_keeps_every_cell_and_gene(mini: MiniData, serve, tmp_path: Path) -> None:
    server = serve(mini.archives)
    adata = ernst_spermatogenesis(tmp_path, base_url=server.url, raw=True, **SMALL)
    assert adata.shape == (90, N_GENES)
    np.testing.assert_array_equal(adata.X.toarray(), mini.counts.T)
    assert adata.X.dtype == np.int32
    # Recurring barcodes stay distinct through their library; symbols are made unique.
    assert adata.obs_names.is_unique and "do18195_AAACCTGA-1" in adata.obs_names
    assert adata.var_names.is_unique
    assert list(adata.var["gene_ids"]) == list(mini.genes["ID"])
    assert adata.var_names[11] == "Gene10-1" and adata.var["gene_symbols"].iloc[11] == "Gene10"
    assert adata.var_names[12] == mini.genes["ID"].iloc[12]
    assert _files(tmp_path) >= {*FILES, f"{ACCESSION}_raw.h5ad"}


def test_second_call_uses_the_cache_offline(mini: MiniData, serve, tmp_path: Path) -> None:
    server = serve(mini.archives)
    first = ernst_spermatogenesis(tmp_path, base_url=server.url, **SMALL)
    server.stop()

    # Other subsetting arguments start from the cached full data, offline.
    other = ernst_spermatogenesis(
        tmp_path, base_url=server.url, **{**SMALL, "n_top_genes": 25}, samples=None
    )
    assert other.shape == (_expected_cells(mini, samples=("B6", "P15")).size, 25)
    assert ernst_spermatogenesis(tmp_path, base_url=server.url, raw=True).shape == (90, N_GENES)
    # The same arguments need nothing but their own .h5ad.
    for name in [*FILES, f"{ACCESSION}_raw.h5ad"]:
        (_folder(tmp_path) / name).unlink()
    again = ernst_spermatogenesis(tmp_path, base_url=server.url, **SMALL)
    assert (again.X != first.X).nnz == 0
    assert again.obs.equals(first.obs) and again.var.equals(first.var)
    assert sum(server.requests.values()) == 3


def test_failed_cache_write_leaves_no_partial_file(
    mini: MiniData, serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(mini.archives)

    def full_disk(self: ad.AnnData, filename: str, **kwargs: object) -> None:
        Path(filename).write_bytes(b"half an h5ad")
        raise OSError("No space left on device")

    monkeypatch.setattr(ad.AnnData, "write_h5ad", full_disk)
    with pytest.raises(OSError, match="No space left"):
        ernst_spermatogenesis(tmp_path, base_url=server.url, **SMALL)
    assert _files(tmp_path) == set(FILES)


def test_wrong_hash_is_a_clear_error_and_leaves_nothing(
    mini: MiniData, serve, tmp_path: Path
) -> None:
    server = serve(mini.archives)
    bad = "sha256:" + "0" * 64
    with pytest.raises(ValueError, match="does not match its expected hash") as info:
        ernst_spermatogenesis(tmp_path, base_url=server.url, hashes={METADATA_ZIP: bad}, **SMALL)
    message = str(info.value)
    assert METADATA_ZIP in message and "force_download=True" in message and "deleted" in message
    assert _files(tmp_path) == set()

    # The right hash passes; a wrong hash on a cached archive deletes it.
    good = {METADATA_ZIP: f"sha256:{hashlib.sha256(mini.archives[METADATA_ZIP]).hexdigest()}"}
    ernst_spermatogenesis(tmp_path, base_url=server.url, hashes=good, raw=True, **SMALL)
    (_folder(tmp_path) / f"{ACCESSION}_raw.h5ad").unlink()
    with pytest.raises(ValueError, match=METADATA_ZIP):
        ernst_spermatogenesis(tmp_path, base_url=server.url, hashes={METADATA_ZIP: bad}, **SMALL)
    assert _files(tmp_path) == {GENES_ZIP, COUNTS_ZIP}


def test_truncated_zip_is_a_clear_error_and_is_deleted(
    mini: MiniData, serve, tmp_path: Path
) -> None:
    archives = dict(mini.archives)
    archives[COUNTS_ZIP] = archives[COUNTS_ZIP][: len(archives[COUNTS_ZIP]) // 2]
    server = serve(archives)
    with pytest.raises(ValueError, match="not a valid zip archive") as info:
        ernst_spermatogenesis(tmp_path, base_url=server.url, **SMALL)
    message = str(info.value)
    assert COUNTS_ZIP in message and "truncated" in message and "call again" in message
    assert _files(tmp_path) == {METADATA_ZIP, GENES_ZIP}

    # Once the mirror is fixed, the next call fetches only the missing archive.
    fixed = serve(mini.archives)
    adata = ernst_spermatogenesis(tmp_path, base_url=fixed.url, **SMALL)
    assert adata.n_obs == 48 and dict(fixed.requests) == {COUNTS_ZIP: 1}


def test_missing_annotation_column(serve, tmp_path: Path) -> None:
    mini = _make_mini(drop_column="AnnotatedClusters")
    server = serve(mini.archives)
    with pytest.raises(ValueError, match="'AnnotatedClusters' \\(annotation_key\\)") as info:
        ernst_spermatogenesis(tmp_path, base_url=server.url, **SMALL)
    message = str(info.value)
    assert "cell_metadata.txt" in message and METADATA_ZIP in message
    assert "annotation_key=" in message and "raw=True" in message
    assert not [f for f in _files(tmp_path) if ".h5ad" in f or "partial" in f]

    # The fixes the message names both work.
    assert ernst_spermatogenesis(tmp_path, base_url=server.url, raw=True).n_obs == 90
    adata = ernst_spermatogenesis(
        tmp_path,
        base_url=server.url,
        annotation_key="BroadClusters",
        trajectory_clusters=["Germ"],
        **SMALL,
    )
    assert adata.n_obs == 48 and list(adata.obs["BroadClusters"].cat.categories) == ["Germ"]


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mirror/"
    with pytest.raises(ConnectionError, match=METADATA_ZIP) as info:
        ernst_spermatogenesis(tmp_path, base_url=url, **SMALL)
    message = str(info.value)
    assert url in message and URL_ENV in message and "base_url=" in message
    assert _files(tmp_path) == set()


def test_retries_recover_from_a_failing_request(mini: MiniData, serve, tmp_path: Path) -> None:
    server = serve(mini.archives, fail_first=(GENES_ZIP,))
    with pytest.raises(ConnectionError, match="503"):
        ernst_spermatogenesis(tmp_path / "a", base_url=server.url, **SMALL)
    assert GENES_ZIP not in _files(tmp_path / "a")

    server = serve(mini.archives, fail_first=(GENES_ZIP,))
    adata = ernst_spermatogenesis(tmp_path / "b", base_url=server.url, **{**SMALL, "retries": 1})
    assert adata.n_obs == 48 and server.requests[GENES_ZIP] == 2


def test_environment_variables_set_mirror_and_cache(
    mini: MiniData, serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(mini.archives)
    monkeypatch.setenv(URL_ENV, server.url)
    monkeypatch.setenv("SCBASIS_DATA_DIR", str(tmp_path / "env-cache"))
    adata = ernst_spermatogenesis(raw=True, progressbar=False, retries=0)
    assert adata.shape == (90, N_GENES)
    assert _files(tmp_path / "env-cache") >= set(FILES)
    assert sum(server.requests.values()) == 3


def test_force_download_fetches_again(mini: MiniData, serve, tmp_path: Path) -> None:
    server = serve(mini.archives)
    ernst_spermatogenesis(tmp_path, base_url=server.url, **SMALL)
    ernst_spermatogenesis(tmp_path, base_url=server.url, force_download=True, **SMALL)
    assert all(server.requests[name] == 2 for name in FILES)


def test_archives_that_do_not_match(serve, tmp_path: Path) -> None:
    server = serve(_make_mini(n_metadata_rows=89).archives)
    with pytest.raises(ValueError, match="do not belong together") as info:
        ernst_spermatogenesis(tmp_path, base_url=server.url, **SMALL)
    assert all(name in str(info.value) for name in FILES)
    assert not [f for f in _files(tmp_path) if ".h5ad" in f or "partial" in f]


def test_archive_without_the_expected_file(mini: MiniData, serve, tmp_path: Path) -> None:
    server = serve({**mini.archives, GENES_ZIP: zip_member("features.tsv", b"ID\tSymbol\n")})
    with pytest.raises(ValueError, match=r"does not contain genes\.tsv") as info:
        ernst_spermatogenesis(tmp_path, base_url=server.url, raw=True, **SMALL)
    assert GENES_ZIP in str(info.value) and "features.tsv" in str(info.value)
    assert not [f for f in _files(tmp_path) if ".h5ad" in f or "partial" in f]


def test_counts_that_are_not_integers(mini: MiniData, serve, tmp_path: Path) -> None:
    matrix = io.BytesIO()
    scipy.io.mmwrite(matrix, sp.coo_matrix(mini.counts * 0.5), field="real")
    server = serve({**mini.archives, COUNTS_ZIP: zip_member(FILES[COUNTS_ZIP], matrix.getvalue())})
    with pytest.raises(ValueError, match="non-integer or negative values") as info:
        ernst_spermatogenesis(tmp_path, base_url=server.url, raw=True, **SMALL)
    assert COUNTS_ZIP in str(info.value) and "force_download=True" in str(info.value)
    assert not [f for f in _files(tmp_path) if ".h5ad" in f or "partial" in f]


def test_selection_without_cells(mini: MiniData, serve, tmp_path: Path) -> None:
    server = serve(mini.archives)
    with pytest.raises(ValueError, match="No cell matches") as info:
        ernst_spermatogenesis(tmp_path, base_url=server.url, samples=["P99"], **SMALL)
    assert "'B6'" in str(info.value) and "samples=" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trajectory_clusters": "eP1"}, "trajectory_clusters must be a non-empty list"),
        ({"trajectory_clusters": []}, "trajectory_clusters must be a non-empty list"),
        ({"samples": "B6"}, "samples must be a non-empty list"),
        ({"n_top_genes": 0}, "n_top_genes"),
        ({"min_cells": -1}, "min_cells"),
        ({"retries": -1}, "retries"),
        ({"raw": "yes"}, "raw"),
        ({"hashes": {"genes.zip": None}}, "unknown file names"),
        ({"base_url": "file:///data/"}, "http"),
    ],
)
def test_invalid_arguments_fail_before_any_download(
    kwargs: dict, message: str, tmp_path: Path
) -> None:
    arguments = {"base_url": "http://127.0.0.1:9/", "progressbar": False, **kwargs}
    with pytest.raises(ValueError, match=message):
        ernst_spermatogenesis(tmp_path, **arguments)
    assert _files(tmp_path) == set()
