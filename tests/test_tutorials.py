"""The tutorials run headless: every notebook in ``tutorials/`` executes at the small size.

Each notebook runs in a fresh ``python3`` kernel of this interpreter, in an empty folder, with
``SCBASIS_TUTORIAL_SIZE=small``; a cell that raises fails the test. The spermatogenesis
notebook downloads through the real loader from a miniature E-MTAB-6946 served on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anndata as ad
import nbformat
import numpy as np
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from scbasis.data import ernst_spermatogenesis
from scbasis.data._ernst import GERM_CELL_STAGES
from scbasis.data._ernst_files import FILES

from ._ernst_archive import serve_archives, trajectory_mini

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
NOTEBOOKS = {
    "spermatogenesis.ipynb",
    "synthetic_benchmark.ipynb",
    "devae_tabular.ipynb",
    "basisvae.ipynb",
}
CELL_TIMEOUT = 600  # seconds; each notebook takes well under a minute at the small size


def _run(notebook: str, cwd: Path, kernels: Path, env: dict[str, str] | None = None):
    """Execute ``tutorials/<notebook>`` in ``cwd`` and return the executed notebook."""
    spec = kernels / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3",
                "language": "python",
            }
        )
    )
    manager = AsyncKernelManager(
        kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    kernel_env = {**os.environ, "SCBASIS_TUTORIAL_SIZE": "small", **(env or {})}
    kernel_env.pop("MPLBACKEND", None)  # figures go inline, as in Jupyter
    kernel_env.pop("SCBASIS_TUTORIAL_DATA", None)
    kernel_env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    nb = nbformat.read(TUTORIALS / notebook, as_version=4)
    client = NotebookClient(
        nb,
        km=manager,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(env=kernel_env)
    return nb


def _outputs(nb) -> list[dict]:
    return [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]


def _check_outputs(nb) -> None:
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert figures, "no figure was shown inline"


def test_the_tutorials_are_notebooks() -> None:
    assert {path.name for path in TUTORIALS.glob("*.ipynb")} == NOTEBOOKS
    assert not list(TUTORIALS.glob("*.py"))  # the notebooks replace the scripts


@pytest.mark.parametrize(
    "notebook", ["synthetic_benchmark.ipynb", "devae_tabular.ipynb", "basisvae.ipynb"]
)
def test_notebook_runs(notebook: str, tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    nb = _run(notebook, cwd, tmp_path / "kernels")
    _check_outputs(nb)
    assert list(cwd.iterdir()) == []  # the notebook writes no files


def test_spermatogenesis_notebook_through_the_loader(tmp_path: Path) -> None:
    mini = trajectory_mini()
    server = serve_archives(tmp_path / "mirror", mini.archives)
    cache, cwd = tmp_path / "cache", tmp_path / "cwd"
    cwd.mkdir()
    try:
        env = {"SCBASIS_ERNST_URL": server.url, "SCBASIS_DATA_DIR": str(cache)}
        nb = _run("spermatogenesis.ipynb", cwd, tmp_path / "kernels", env)
        # the same call reads what the notebook's call cached
        loaded = ernst_spermatogenesis(cache, base_url=server.url, progressbar=False)
    finally:
        server.stop()
    _check_outputs(nb)
    assert all(server.requests[name] == 1 for name in FILES)

    assert [p.name for p in cwd.iterdir()] == ["scbasis_spermatogenesis"]
    saved = ad.read_h5ad(cwd / "scbasis_spermatogenesis" / "spermatogenesis.h5ad")
    assert list(saved.obs_names) == list(loaded.obs_names)
    germ_cells = mini.metadata["AnnotatedClusters"].isin(GERM_CELL_STAGES).sum()
    assert 0 < saved.n_obs == germ_cells < len(mini.metadata)  # the somatic cells dropped
    assert list(saved.var_names) == list(loaded.var_names)
    assert (saved.layers["counts"] != loaded.X).nnz == 0
    pseudotime = saved.obs["basisdevae_pseudotime"].to_numpy()
    assert pseudotime.shape == (loaded.n_obs,) and np.isfinite(pseudotime).all()
    assert saved.var["basisdevae_cluster"].notna().all()
    assert (cwd / "scbasis_spermatogenesis" / "model" / "model.pt").is_file()
    # Figure 6's genes are in the miniature, so the notebook drew them, not a fallback
    printed = "".join(o.get("text", "") for o in _outputs(nb) if o.output_type == "stream")
    assert "not among the selected genes: none" in printed
