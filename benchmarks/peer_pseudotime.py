"""Pseudotime by the tools users pick instead of scbasis, each run as its documentation says.

A module and a command-line script::

    python benchmarks/peer_pseudotime.py METHOD IN.h5ad OUT.npy [--root-end high|low]
        [--seed 0] [--n-jobs 1] [--verbose]

reads an AnnData of raw UMI counts (cells x genes in ``.X``; ``obs["batch"]`` optional), computes
a pseudotime with ``METHOD`` and writes it as a float64 array of shape ``(n_cells,)`` to
``OUT.npy``. Methods (:data:`METHODS`):

``pc1``
    PC1 of log-normalised counts (scanpy: ``normalize_total``, ``log1p``, ``pca``).
``dpt``
    Scanpy's diffusion pseudotime (``neighbors``, ``diffmap``, ``dpt``).
``palantir``
    Palantir (``run_diffusion_maps``, ``determine_multiscale_space``, ``run_palantir``).
``slingshot``
    Slingshot, the ``pyslingshot`` port (principal curves through a cluster tree on 2-D PCA).
``scfates``
    scFates (ElPiGraph principal curve on PCA, ``tl.root``, ``tl.pseudotime``).

Every method sees only the counts, the cell and gene names and ``obs["batch"]``: the input is
copied into a bare AnnData first, so no ``true_*`` column can reach a method. Batches are not
corrected (none of these tools' tutorials do); when highly variable genes are selected, they are
selected per batch (``batch_key``) as scanpy recommends.

Roots
-----
Each method that needs a start is rooted as a user who does not know the truth would root it: at
one end of the data's leading axis, the cell (DPT, Palantir), cluster (Slingshot) or curve tip
(scFates) at an extreme of the first diffusion component or of PC1 (details in each function).
Which end is a coin flip for such a user, and it can matter: on ``simulate_trajectory(2000, 100,
seed=5)`` DPT reaches ``|Spearman|`` 0.91 from the sparse early end and 0.67 from the dense late
end (with 500 genes, 0.99 from either). ``root_end`` (``--root-end``) picks the end, the same one
for every method: ``"high"`` (default) is the end where PC1 of the log-normalised counts is high,
each method's own axis being oriented to correlate positively with that PC1; ``"low"`` the other.
Running both and averaging scores gives what a user choosing an end at random gets. The sign of a
pseudotime is thus arbitrary, which the benchmark's scores (``|Spearman|``, ARI of gene calls) do
not see; ``pc1`` has no root.

Every scanpy preprocessing step follows scanpy's usual recipe: ``normalize_total``, ``log1p``,
with more than :data:`HVG_MIN_GENES` genes ``highly_variable_genes(n_top_genes=2000)``, then
``pca`` (up to 50 components). Palantir and scFates use their own tutorials' variants, noted in
their functions.

Environment
-----------
``pc1`` and ``dpt`` need only scanpy: they also run in the project's main environment. The peer
packages cannot join it: ``pyslingshot`` (0.2.0) pins ``numpy<2`` while scbasis's stack is on
numpy 2, so all of them live in a separate virtualenv ``.venv-peers`` (no torch, no scbasis),
created from the repository root with::

    python3.11 -m venv .venv-peers
    .venv-peers/bin/pip install --upgrade pip
    .venv-peers/bin/pip install palantir pyslingshot scFates

which resolved to the pins in ``benchmarks/requirements-peers.txt`` (palantir 1.4.5,
pyslingshot 0.2.0, scFates 1.2.5, scanpy 1.11.5, numpy 1.26.4, jax 0.7.1); to reproduce
exactly::

    .venv-peers/bin/pip install -r benchmarks/requirements-peers.txt

This module imports neither scbasis nor torch, and each peer package only inside its method, so
it runs under either interpreter::

    .venv-peers/bin/python benchmarks/peer_pseudotime.py palantir in.h5ad out.npy
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp

#: End of the trajectory a method is rooted at (module docstring, *Roots*).
RootEnd = Literal["high", "low"]
#: Above this many genes, scanpy's recipe selects highly variable genes first.
HVG_MIN_GENES = 2000
#: Highly variable genes kept by scanpy's recipe.
N_TOP_GENES = 2000
#: Most principal components computed (scanpy's default).
N_PCS = 50
#: Palantir's tutorial: 1500 highly variable genes (``flavor="cell_ranger"``).
PALANTIR_N_TOP_GENES = 1500
#: Palantir's tutorial: diffusion components and waypoints.
PALANTIR_N_COMPONENTS = 5
PALANTIR_NUM_WAYPOINTS = 500
#: scFates' linear-trajectory tutorial: nodes of the principal curve and PCs it is fitted on.
SCFATES_NODES = 30
SCFATES_NDIMS = 2
#: Mappings of cells onto the curve: scFates' default, 1, is the maximum-likelihood projection.
#: The tutorial averages 100 probabilistic mappings, which costs about 1 s per mapping per
#: 2000 cells and gave the same ordering on the check data (|Spearman| 0.9485 vs 0.9486).
SCFATES_N_MAP = 1
#: Slingshot's fitting iterations (pyslingshot's default).
SLINGSHOT_EPOCHS = 10
#: Components tried by the Gaussian mixture that clusters cells for Slingshot (``Mclust``'s
#: default range is 1 to 9), and its initialisations.
SLINGSHOT_MIN_CLUSTERS = 2
SLINGSHOT_MAX_CLUSTERS = 9
SLINGSHOT_GMM_INITS = 3


def _peer_import(name: str, pip_name: str) -> object:
    """Import a peer package or raise a RuntimeError that says where it is installed."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise RuntimeError(
            f"{name} is not importable in {sys.executable} ({error}). The peer tools live in "
            f"the separate virtualenv .venv-peers: run this module with .venv-peers/bin/python, "
            f"or install it there with `.venv-peers/bin/pip install {pip_name}` (see the "
            f"docstring of benchmarks/peer_pseudotime.py)."
        ) from error


def counts_only(adata: ad.AnnData) -> ad.AnnData:
    """A bare copy of the counts: ``.X`` as float32 CSR, names, and ``obs["batch"]`` if present.

    Nothing else of the input (in particular no ``true_*`` column, layer or ``uns`` entry) is
    carried over, so no method can read the simulation's truth.

    Parameters
    ----------
    adata
        Raw UMI counts, cells x genes, in ``.X``.

    Returns
    -------
    A new AnnData with the same cells and genes.
    """
    X = adata.X
    X = sp.csr_matrix(X, dtype=np.float32) if sp.issparse(X) else np.asarray(X, np.float32)
    obs = pd.DataFrame(index=adata.obs_names.copy())
    if "batch" in adata.obs:
        obs["batch"] = pd.Categorical(adata.obs["batch"].astype(str))
    bare = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=adata.var_names.copy()))
    bare.obs_names_make_unique()
    bare.var_names_make_unique()
    return bare


def _batch_key(adata: ad.AnnData) -> str | None:
    if "batch" in adata.obs and adata.obs["batch"].nunique() > 1:
        return "batch"
    return None


def _n_pcs(adata: ad.AnnData) -> int:
    return int(min(N_PCS, adata.n_obs - 1, adata.n_vars - 1))


def preprocess(adata: ad.AnnData) -> ad.AnnData:
    """Scanpy's usual recipe on a bare copy: log-normalised counts and their PCA.

    ``normalize_total``, ``log1p``, and with more than :data:`HVG_MIN_GENES` genes the
    :data:`N_TOP_GENES` most variable (``batch_key="batch"`` with several batches), then ``pca``
    (``obsm["X_pca"]``).

    Parameters
    ----------
    adata
        Raw counts; not modified.

    Returns
    -------
    The preprocessed copy (:func:`counts_only`).
    """
    adata = counts_only(adata)
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    if adata.n_vars > HVG_MIN_GENES:
        sc.pp.highly_variable_genes(
            adata, n_top_genes=N_TOP_GENES, batch_key=_batch_key(adata), subset=True
        )
    sc.pp.pca(adata, n_comps=_n_pcs(adata))
    return adata


def _extreme(axis: np.ndarray, reference: np.ndarray, root_end: RootEnd) -> int:
    """Index of the extreme of ``axis`` at ``root_end``, with ``axis`` oriented along
    ``reference`` (PC1): ``"high"`` is the end where the reference is high.
    """
    if root_end not in ("high", "low"):
        raise ValueError(f"root_end must be 'high' or 'low', got {root_end!r}.")
    axis = np.asarray(axis, dtype=np.float64)
    if np.corrcoef(axis, np.asarray(reference, dtype=np.float64))[0, 1] < 0:
        axis = -axis
    return int(np.argmax(axis) if root_end == "high" else np.argmin(axis))


def _diffusion_root(adata: ad.AnnData, seed: int, root_end: RootEnd) -> int:
    """Index of the cell at an extreme of the first non-trivial diffusion component.

    Runs ``sc.pp.neighbors`` and ``sc.tl.diffmap`` on the preprocessed ``adata`` (in place) if
    not done yet. Column 0 of ``obsm["X_diffmap"]`` is the stationary component, so DC1 is
    column 1: on a trajectory its two extremes are the trajectory's two ends, and the DPT
    tutorials root at one of them when no start population is known. DC1 is oriented along PC1
    and the end picked by ``root_end`` (:func:`_extreme`).
    """
    if "neighbors" not in adata.uns:
        # exact neighbours, as scanpy's default computes them below 4,096 cells; above, its
        # default approximate search fails (scanpy 1.11.5: csr_array has no getnnz)
        sc.pp.neighbors(adata, random_state=seed, transformer="sklearn")
    if "X_diffmap" not in adata.obsm:
        sc.tl.diffmap(adata, random_state=seed)
    return _extreme(adata.obsm["X_diffmap"][:, 1], adata.obsm["X_pca"][:, 0], root_end)


def pseudotime_pc1(
    adata: ad.AnnData, *, root_end: RootEnd = "high", seed: int = 0, n_jobs: int = 1
) -> np.ndarray:
    """PC1 of log-normalised counts (:func:`preprocess`), oriented as scanpy's PCA returns it.

    Parameters
    ----------
    adata
        Raw counts, cells x genes.
    root_end, seed, n_jobs
        Unused (no root; PCA is deterministic); accepted for a common signature.

    Returns
    -------
    float64 array ``(n_cells,)``.
    """
    del root_end, seed, n_jobs
    return np.asarray(preprocess(adata).obsm["X_pca"][:, 0], dtype=np.float64)


def pseudotime_dpt(
    adata: ad.AnnData, *, root_end: RootEnd = "high", seed: int = 0, n_jobs: int = 1
) -> np.ndarray:
    """Scanpy's diffusion pseudotime (DPT), rooted at an extreme of diffusion component 1.

    :func:`preprocess`, ``sc.pp.neighbors`` (15 neighbours on the PCA), ``sc.tl.diffmap``,
    ``uns["iroot"]`` = the cell at the ``root_end`` extreme of the first non-trivial diffusion
    component (``obsm["X_diffmap"][:, 1]``, oriented along PC1), ``sc.tl.dpt``.

    Parameters
    ----------
    adata
        Raw counts, cells x genes.
    root_end
        End of the trajectory the root is taken at (module docstring, *Roots*).
    seed
        Seed of the neighbour search and the diffusion map.
    n_jobs
        Unused (scanpy's threads follow numba's settings).

    Returns
    -------
    float64 array ``(n_cells,)`` in ``[0, 1]``; NaN for cells the neighbour graph does not
    connect to the root (DPT gives them infinity).
    """
    del n_jobs
    adata = preprocess(adata)
    adata.uns["iroot"] = _diffusion_root(adata, seed, root_end)
    sc.tl.dpt(adata)
    time_ = np.asarray(adata.obs["dpt_pseudotime"], dtype=np.float64)
    time_[~np.isfinite(time_)] = np.nan
    return time_


def pseudotime_palantir(
    adata: ad.AnnData, *, root_end: RootEnd = "high", seed: int = 0, n_jobs: int = 1
) -> np.ndarray:
    """Palantir pseudotime, by the workflow of Palantir's tutorial notebook.

    ``sc.pp.normalize_total``, ``palantir.preprocess.log_transform``, with more than
    :data:`PALANTIR_N_TOP_GENES` genes ``highly_variable_genes(n_top_genes=1500,
    flavor="cell_ranger")``, ``sc.pp.pca``, ``palantir.utils.run_diffusion_maps(n_components=5)``,
    ``palantir.utils.determine_multiscale_space``, then
    ``palantir.core.run_palantir(adata, early_cell, num_waypoints=500)``, letting Palantir find
    the terminal states itself.

    The early cell: ``palantir.utils.early_cell`` returns the cell of a given start cell type at
    the first extreme (maximum, then minimum) of the multiscale diffusion components it finds;
    with no cell types known, any extreme of the first multiscale component qualifies. The one
    used is at the ``root_end`` extreme of that component oriented along PC1 (of the
    log-normalised counts of :func:`preprocess`, for an end common to all methods).

    Parameters
    ----------
    adata
        Raw counts, cells x genes.
    root_end
        End of the trajectory the early cell is taken at (module docstring, *Roots*).
    seed
        Seed of the diffusion map and of the waypoint sampling.
    n_jobs
        Parallel jobs of ``run_palantir``.

    Returns
    -------
    float64 array ``(n_cells,)`` in ``[0, 1]``.
    """
    palantir = _peer_import("palantir", "palantir")
    reference_pc1 = preprocess(adata).obsm["X_pca"][:, 0]
    adata = counts_only(adata)
    sc.pp.normalize_total(adata)
    palantir.preprocess.log_transform(adata)
    if adata.n_vars > PALANTIR_N_TOP_GENES:
        sc.pp.highly_variable_genes(
            adata,
            n_top_genes=PALANTIR_N_TOP_GENES,
            flavor="cell_ranger",
            batch_key=_batch_key(adata),
        )
    sc.pp.pca(adata, n_comps=_n_pcs(adata))  # on the highly variable genes when selected
    with _exact_neighbours():
        palantir.utils.run_diffusion_maps(adata, n_components=PALANTIR_N_COMPONENTS, seed=seed)
    palantir.utils.determine_multiscale_space(adata)
    multiscale = np.asarray(adata.obsm["DM_EigenVectors_multiscaled"])
    early_cell = str(adata.obs_names[_extreme(multiscale[:, 0], reference_pc1, root_end)])
    palantir.core.run_palantir(
        adata,
        early_cell,
        num_waypoints=min(PALANTIR_NUM_WAYPOINTS, adata.n_obs),
        n_jobs=n_jobs,
        seed=seed,
    )
    return np.asarray(adata.obs["palantir_pseudotime"], dtype=np.float64)


@contextlib.contextmanager
def _exact_neighbours():
    """``sc.pp.neighbors`` with exact neighbours (``transformer="sklearn"``) inside the block.

    Scanpy computes exact neighbours below 4,096 cells and approximate ones above, where scanpy
    1.11.5 fails on the sparse array its search returns (``csr_array`` has no ``getnnz``);
    Palantir's ``run_diffusion_maps`` calls ``sc.pp.neighbors`` itself.
    """
    neighbors = sc.pp.neighbors
    sc.pp.neighbors = functools.partial(neighbors, transformer="sklearn")
    try:
        yield
    finally:
        sc.pp.neighbors = neighbors


def _gaussian_mixture_clusters(X: np.ndarray, seed: int) -> np.ndarray:
    """Cluster labels of a Gaussian mixture whose number of components minimises the BIC.

    The clustering of Slingshot's own vignette (``Mclust`` on the 2-D PCA, which picks the
    number of components, 1 to 9 by default, by BIC), with full covariances and at least
    :data:`SLINGSHOT_MIN_CLUSTERS` components (a trajectory needs two clusters).
    """
    from sklearn.mixture import GaussianMixture

    best, best_bic = None, np.inf
    for k in range(SLINGSHOT_MIN_CLUSTERS, SLINGSHOT_MAX_CLUSTERS + 1):
        mixture = GaussianMixture(
            k, covariance_type="full", n_init=SLINGSHOT_GMM_INITS, random_state=seed
        ).fit(X)
        bic = mixture.bic(X)
        if bic < best_bic:
            best, best_bic = mixture, bic
    labels = best.predict(X)
    # Components left without cells would leave holes in pyslingshot's cluster indices.
    return np.unique(labels, return_inverse=True)[1]


def pseudotime_slingshot(
    adata: ad.AnnData, *, root_end: RootEnd = "high", seed: int = 0, n_jobs: int = 1
) -> np.ndarray:
    """Slingshot pseudotime (``pyslingshot``) on the 2-D PCA, as Slingshot's vignette runs it.

    :func:`preprocess`; the embedding is the first two principal components and the clusters a
    Gaussian mixture on them with the number of components chosen by BIC
    (:func:`_gaussian_mixture_clusters`; the vignette's ``Mclust(rd)``). The start node is the
    cluster of the DPT root cell of :func:`pseudotime_dpt` (an extreme of diffusion component
    1). ``Slingshot(X_pca[:, :2], cluster_labels_onehot, start_node)``,
    ``fit(num_epochs=10)``.

    pyslingshot's README fits on a UMAP of cell types; with scanpy's Leiden clusters
    (resolution 1) on UMAP or PCA the cluster tree of a plain linear trajectory branches into
    spurious lineages wherever cells are dense, so the vignette's route is used.

    With one lineage the result is that lineage's pseudotime. With several, each cell's
    pseudotime is the average of the lineages' pseudotimes weighted by Slingshot's cell weights
    (as R slingshot's ``slingAvgPseudotime``); a cell with zero weight on every lineage keeps
    pyslingshot's ``unified_pseudotime``.

    Parameters
    ----------
    adata
        Raw counts, cells x genes.
    root_end
        End of the trajectory the start cluster is taken at (module docstring, *Roots*).
    seed
        Seed of the neighbour search, the diffusion map and the mixture fits.
    n_jobs
        Unused.

    Returns
    -------
    float64 array ``(n_cells,)``, 0 at the start.
    """
    del n_jobs
    pyslingshot = _peer_import("pyslingshot", "pyslingshot")
    adata = preprocess(adata)
    root = _diffusion_root(adata, seed, root_end)
    embedding = np.asarray(adata.obsm["X_pca"][:, :2], dtype=np.float64)
    labels = _gaussian_mixture_clusters(embedding, seed)
    onehot = np.eye(int(labels.max()) + 1)[labels]
    slingshot = pyslingshot.Slingshot(
        embedding, cluster_labels_onehot=onehot, start_node=int(labels[root])
    )
    slingshot.fit(num_epochs=SLINGSHOT_EPOCHS)
    per_lineage = np.stack([c.pseudotimes_interp for c in slingshot.curves], axis=1)
    weights = np.asarray(slingshot.cell_weights, dtype=np.float64)
    total = weights.sum(axis=1)
    unified = np.asarray(slingshot.unified_pseudotime, dtype=np.float64)
    average = (per_lineage * weights).sum(axis=1) / np.where(total > 0, total, 1.0)
    return np.where(total > 0, average, unified).astype(np.float64)


def pseudotime_scfates(
    adata: ad.AnnData, *, root_end: RootEnd = "high", seed: int = 0, n_jobs: int = 1
) -> np.ndarray:
    """scFates pseudotime on a principal curve, as in scFates' linear-trajectory tutorial.

    ``sc.pp.filter_genes(min_cells=3)``, ``normalize_total``, ``log1p``, highly variable genes
    as :func:`preprocess`, ``sc.pp.scale``, ``sc.pp.pca``, then
    ``scf.tl.curve(Nodes=30, use_rep="X_pca", ndims_rep=2)``, ``scf.tl.root`` at the tip whose
    cells have the largest (``root_end="high"``) or smallest (``"low"``) mean PC1 of the
    log-normalised counts of :func:`preprocess` (what ``scf.tl.root(adata, "PC1",
    tips_only=True)`` does; the tutorial roots on a known early marker gene instead) and
    ``scf.tl.pseudotime`` with :data:`SCFATES_N_MAP` mappings.

    Parameters
    ----------
    adata
        Raw counts, cells x genes.
    root_end
        End of the trajectory the root tip is taken at (module docstring, *Roots*).
    seed
        Seed of the curve fit and of the probabilistic mappings.
    n_jobs
        Processes of ``scf.tl.pseudotime``.

    Returns
    -------
    float64 array ``(n_cells,)``, 0 at the root tip.
    """
    scf = _peer_import("scFates", "scFates")
    reference_pc1 = preprocess(adata).obsm["X_pca"][:, 0]
    adata = counts_only(adata)
    sc.pp.filter_genes(adata, min_cells=3)
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    if adata.n_vars > HVG_MIN_GENES:
        sc.pp.highly_variable_genes(
            adata, n_top_genes=N_TOP_GENES, batch_key=_batch_key(adata), subset=True
        )
    sc.pp.scale(adata)
    sc.pp.pca(adata, n_comps=_n_pcs(adata))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scf.tl.curve(
            adata,
            Nodes=SCFATES_NODES,
            use_rep="X_pca",
            ndims_rep=SCFATES_NDIMS,
            basis=None,
            seed=seed,
        )
        # The tip-averaged PC1 by hand: scf.tl.root(key, tips_only=True) scores the other nodes
        # 0, so it would pick an inner node if every tip had a negative mean PC1.
        tips = np.asarray(adata.uns["graph"]["tips"], dtype=int)
        membership = np.asarray(adata.obsm["X_R"])[:, tips]
        tip_pc1 = membership.T @ reference_pc1 / membership.sum(axis=0)
        pick = np.argmax(tip_pc1) if root_end == "high" else np.argmin(tip_pc1)
        scf.tl.root(adata, int(tips[pick]))
        scf.tl.pseudotime(adata, n_jobs=n_jobs, n_map=SCFATES_N_MAP, seed=seed)
    return np.asarray(adata.obs["t"], dtype=np.float64)


#: Pseudotime methods by name.
METHODS: dict[str, Callable[..., np.ndarray]] = {
    "pc1": pseudotime_pc1,
    "dpt": pseudotime_dpt,
    "palantir": pseudotime_palantir,
    "slingshot": pseudotime_slingshot,
    "scfates": pseudotime_scfates,
}


def peer_pseudotime(
    adata: ad.AnnData,
    method: str,
    *,
    root_end: RootEnd = "high",
    seed: int = 0,
    n_jobs: int = 1,
) -> np.ndarray:
    """Pseudotime of each cell by one of :data:`METHODS`.

    Parameters
    ----------
    adata
        Raw UMI counts, cells x genes, in ``.X``; not modified.
    method
        A key of :data:`METHODS`.
    root_end
        ``"high"`` or ``"low"``: the end of the trajectory a method is rooted at (module
        docstring, *Roots*).
    seed
        Seed of the method's random steps.
    n_jobs
        Parallel jobs, where the method has them.

    Returns
    -------
    float64 array ``(n_cells,)``, in the order of ``adata.obs_names``.

    Raises
    ------
    ValueError
        If ``method`` or ``root_end`` is unknown.
    RuntimeError
        If the method's package is not installed in this interpreter.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {sorted(METHODS)}.")
    if root_end not in ("high", "low"):
        raise ValueError(f"root_end must be 'high' or 'low', got {root_end!r}.")
    time_ = METHODS[method](adata, root_end=root_end, seed=seed, n_jobs=n_jobs)
    time_ = np.asarray(time_, dtype=np.float64)
    if time_.shape != (adata.n_obs,):
        raise RuntimeError(f"{method} returned shape {time_.shape}, expected ({adata.n_obs},).")
    return time_


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: ``METHOD IN.h5ad OUT.npy``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=sorted(METHODS))
    parser.add_argument("input", type=Path, help="AnnData (.h5ad) of raw UMI counts")
    parser.add_argument("output", type=Path, help="where to write the pseudotime (.npy)")
    parser.add_argument(
        "--root-end",
        choices=["high", "low"],
        default="high",
        help="end of the trajectory to root at: where PC1 is high (default) or low",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="show the tools' own output")
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    sc.settings.verbosity = 0
    adata = ad.read_h5ad(args.input)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if not args.verbose:  # the peers print progress bars and logs
            sink = stack.enter_context(open(os.devnull, "w"))
            stack.enter_context(contextlib.redirect_stdout(sink))
            stack.enter_context(contextlib.redirect_stderr(sink))
        time_ = peer_pseudotime(
            adata, args.method, root_end=args.root_end, seed=args.seed, n_jobs=args.n_jobs
        )
    seconds = time.perf_counter() - start
    np.save(args.output, time_)
    print(
        f"{args.method} (root end {args.root_end}): {adata.n_obs} cells x {adata.n_vars} "
        f"genes, {seconds:.1f} s -> {args.output}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
