"""Miniature copies of ArrayExpress E-MTAB-6946 (Ernst et al. 2019) served over local HTTP.

Shared by the loader's tests (``test_ernst.py``) and the tutorials' tests
(``test_tutorials.py``): the three zip archives in the published layout, a server on
127.0.0.1 that counts requests, and a miniature that looks like a germ-cell trajectory.
"""

from __future__ import annotations

import collections
import io
import threading
import zipfile
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

import scbasis
from scbasis.data._ernst import GERM_CELL_STAGES
from scbasis.data._ernst_files import ACCESSION, COUNTS_ZIP, FILES, GENES_ZIP, METADATA_ZIP

#: Genes of the BasisDeVAE paper's Figure 6 and the shape each takes in the miniature
#: trajectory: spermatogonial genes fall, meiotic genes peak, spermatid genes rise.
FIGURE_6_SHAPES = {
    "Stra8": "decreasing",
    "Sohlh1": "decreasing",
    "Dmrtb1": "decreasing",
    "Piwil1": "transient",
    "Tex101": "transient",
    "Ly6k": "transient",
    "Prm1": "increasing",
    "Tnp1": "increasing",
}
SOMATIC = ("Sertoli", "Leydig", "Endothelial_cells", "PTM", "Outliers")


@dataclass
class MiniData:
    """A miniature data set: metadata, genes and genes x cells counts, plus its zips."""

    metadata: pd.DataFrame
    genes: pd.DataFrame
    counts: np.ndarray  # (genes, cells)
    archives: dict[str, bytes]


def r_write_table(frame: pd.DataFrame) -> str:
    """Text as R's ``write.table(frame, sep = " ")``: quoted strings and row names."""

    def cell(value: object) -> str:
        return f'"{value}"' if isinstance(value, str) else str(value)

    lines = [" ".join(f'"{c}"' for c in frame.columns)]
    for i, row in enumerate(frame.itertuples(index=False), start=1):
        lines.append(" ".join([f'"{i}"', *(cell(v) for v in row)]))
    return "\n".join(lines) + "\n"


def zip_member(member: str, payload: bytes) -> bytes:
    """A zip archive holding one file ``member``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, payload)
    return buffer.getvalue()


def ernst_archives(metadata: pd.DataFrame, genes: pd.DataFrame, counts) -> dict[str, bytes]:
    """The three archives of E-MTAB-6946 for ``metadata`` (one row per cell), ``genes``
    (columns ``ID`` and ``Symbol``) and integer ``counts`` (genes x cells)."""
    matrix = io.BytesIO()
    scipy.io.mmwrite(matrix, sp.coo_matrix(counts), field="integer")
    return {
        METADATA_ZIP: zip_member(FILES[METADATA_ZIP], r_write_table(metadata).encode()),
        GENES_ZIP: zip_member(FILES[GENES_ZIP], genes.to_csv(sep="\t", index=False).encode()),
        COUNTS_ZIP: zip_member(FILES[COUNTS_ZIP], matrix.getvalue()),
    }


def trajectory_mini(n_germ: int = 320, n_genes: int = 100, n_somatic: int = 40) -> MiniData:
    """A miniature that looks like the germ-cell trajectory: ``n_germ`` cells of sample "B6"
    with counts from :func:`scbasis.data.simulate_trajectory`, annotated with the germ-cell
    stages in the order of their true time, genes named after the Figure 6 genes where their
    simulated shape matches, plus ``n_somatic`` somatic cells that the loader drops."""
    sim = scbasis.data.simulate_trajectory(
        n_germ,
        n_genes,
        {"increasing": 0.3, "decreasing": 0.3, "transient": 0.3, "flat": 0.1},
        seed=3,
        library_size_median=2000.0,
    )
    rng = np.random.default_rng(0)
    time = sim.obs["true_time"].to_numpy()
    stage = np.minimum(
        (np.argsort(np.argsort(time)) * len(GERM_CELL_STAGES)) // n_germ,
        len(GERM_CELL_STAGES) - 1,
    )
    symbols = [f"Gene{g}" for g in range(n_genes)]
    observed = sim.var["observed_family"].astype(str).to_numpy()
    free = list(range(n_genes))
    for symbol, shape in FIGURE_6_SHAPES.items():
        g = next(g for g in free if observed[g] == shape)
        free.remove(g)
        symbols[g] = symbol
    germ_counts = sim.X.toarray()
    somatic_counts = rng.negative_binomial(2, 2 / (2 + 0.5), size=(n_somatic, n_genes))
    metadata = pd.DataFrame(
        {
            "Barcode": [
                f"{''.join(rng.choice(list('ACGT'), 12))}-1" for _ in range(n_germ + n_somatic)
            ],
            "Sample": "B6",
            "Library": ["do17815", "do17816"] * ((n_germ + n_somatic) // 2)
            + ["do17815"] * ((n_germ + n_somatic) % 2),
            "AnnotatedClusters": [GERM_CELL_STAGES[s] for s in stage]
            + [SOMATIC[i % len(SOMATIC)] for i in range(n_somatic)],
        }
    )
    genes = pd.DataFrame({"ID": [f"ENSMUSG{g:011d}" for g in range(n_genes)], "Symbol": symbols})
    counts = np.vstack([germ_counts, somatic_counts]).T
    return MiniData(metadata, genes, counts, ernst_archives(metadata, genes, counts))


class Server:
    """Serve ``directory`` on 127.0.0.1; the first GET of a ``fail_first`` file answers 503."""

    def __init__(self, directory: Path, fail_first: tuple[str, ...] = ()) -> None:
        self.requests: collections.Counter[str] = collections.Counter()
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, directory=str(directory), **kwargs)

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                server.requests[name] += 1
                if name in fail_first and server.requests[name] == 1:
                    self.send_error(503, "try again")
                    return
                super().do_GET()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{ACCESSION}/Files/"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def serve_archives(
    root: Path, archives: dict[str, bytes], fail_first: tuple[str, ...] = ()
) -> Server:
    """Write ``archives`` (``{archive name: bytes}``) under ``root`` as the mirror's
    ``E-MTAB-6946/Files/`` folder and serve them; stop the server with ``stop()``."""
    files = root / ACCESSION / "Files"
    files.mkdir(parents=True)
    for name, payload in archives.items():
        (files / name).write_bytes(payload)
    return Server(root, fail_first)
