"""Pseudotime and gene-behaviour calls: scbasis beside the tools users pick instead.

One table per setting, on the same simulated counts (``scbasis.data.simulate_trajectory``) for
every method, scored against each gene's *observed* family (the shape its true rate takes over
the cells' time range, ``var["observed_family"]``) and, beside it, the family it was drawn from::

    python benchmarks/gene_calls.py --setting demo --seeds 0 1 2 3 4
    python benchmarks/gene_calls.py --setting paper --seeds 0 1 2 3 4 --methods basisdevae
    python benchmarks/gene_calls.py --setting hard --seeds 0 1 2

Settings (:data:`SETTINGS`):

``demo``
    2,000 cells x 200 genes, increasing, decreasing and transient genes in thirds (the demo's).
``paper``
    8,509 cells x 5,216 genes in thirds, the papers' single-cell scale; scbasis's models train on
    a random 90 % of the cells (scvi-tools' split) and every method is scored on all cells.
``quick``
    400 cells x 40 genes: checks that every method runs and the table is well formed
    (``--epochs 3``), nothing more.
``large``
    160,000 cells x 200 genes in thirds, where scbasis's default training takes 50 epochs, not
    100 (:meth:`~scbasis.model.BasisDeVAE.default_max_epochs`); ``--epochs 100`` for the
    papers' epochs. Scored on all cells; run for scbasis alone (the peers were not run on it).
``hard``
    3,000 cells x 1,000 genes: 30 % flat genes, the rest in thirds; 1,500 counts per cell in
    the median (against 4,000), noisier counts (NB inverse dispersion 2 against 5, 20 % zero
    inflation against 10 %), uneven density of cells along the time, two batches with per-gene
    offsets (``batch_key="batch"`` for scbasis; the peers' recipes do not correct batches).

Methods (:data:`METHODS`):

- scbasis: ``basisdevae`` (defaults), ``basisdevae_paper`` (the papers' model and single-cell
  settings: network decoder, three families, each cell's library size its total count, beta
  10, no family fit), ``basisvae`` (K = 3,
  scale and translation invariant, the papers' single-cell settings) and ``linear`` (BasisVAE
  with a linear basis network, the papers' "Linear" row); each trained with Adam 5e-3 and
  annealing over the first 20 % of its epochs, 100 in every setting but ``large``;
- the two-step route (:mod:`_two_step`): a pseudotime from ``pc1``, ``dpt``, ``palantir``,
  ``slingshot`` or ``scfates`` (:mod:`peer_pseudotime`, each as its documentation says, rooted
  without the truth), then each gene smoothed along it and called by the observed-shape rule; and
  ``true_time``, the same second step along the true time: the best any two-step method can do.

Columns: ``|Spearman|`` of the pseudotime with the true time; ARI of the calls against the
observed and the drawn families; accuracy (calls named by family; BasisVAE's clusters, which
carry no family names, are named by the observed family most of their genes have, which favours
it); ``confident`` (calls with top probability >= 0.9) and the share of them that is wrong (only
methods that give probabilities); ``flat recall`` (observed-flat genes called flat) where the
setting has flat genes; wall time (scbasis: training and writing results; peers: their process,
imports included, plus the second step). Mean +- sd over seeds. For ``basisdevae`` a reliability
table (top probability in bins against the fraction right, genes of all seeds pooled) follows.

Every run is appended to ``<out>/<setting>.csv`` as it finishes; runs already there are skipped,
so an interrupted benchmark resumes. The peers need their own environment (see
:mod:`peer_pseudotime`: ``.venv-peers``, passed as ``--peer-python``); ``pc1``, ``dpt`` and the
second step run in this one. Run it on a quiet machine: wall times are only comparable alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scvi
from _two_step import two_step_calls
from anndata import AnnData
from scipy.optimize import linear_sum_assignment
from scipy.stats import spearmanr
from sklearn.metrics import adjusted_rand_score

import scbasis
from scbasis.metrics import CONFIDENT, reliability_table

HERE = Path(__file__).resolve().parent
THIRDS = {"increasing": 1 / 3, "decreasing": 1 / 3, "transient": 1 / 3}


@dataclass(frozen=True)
class Setting:
    """Data of one benchmark setting and how scbasis registers and trains on it."""

    n_cells: int
    n_genes: int
    simulation: dict
    batch_key: str | None = None
    train_size: float | None = None

    def simulate(self, seed: int) -> AnnData:
        return scbasis.data.simulate_trajectory(
            self.n_cells, self.n_genes, seed=seed, return_means=False, **self.simulation
        )


SETTINGS: dict[str, Setting] = {
    "demo": Setting(2000, 200, {"family_fractions": THIRDS}),
    "paper": Setting(8509, 5216, {"family_fractions": THIRDS}, train_size=0.9),
    "quick": Setting(400, 40, {"family_fractions": THIRDS}),
    "large": Setting(160_000, 200, {"family_fractions": THIRDS}),
    "hard": Setting(
        3000,
        1000,
        {
            "family_fractions": {**{k: 0.7 * v for k, v in THIRDS.items()}, "flat": 0.3},
            "library_size_median": 1500.0,
            "dispersion_median": 2.0,
            "mean_dropout": 0.2,
            "n_batches": 2,
            "time_density": "uneven",
        },
        batch_key="batch",
    ),
}


@dataclass(frozen=True)
class Calls:
    """What a method gives: a pseudotime, a call per gene and, if it has them, probabilities."""

    pseudotime: np.ndarray
    calls: np.ndarray
    probabilities: np.ndarray | None
    named: bool  # calls are family names (else unnamed clusters)


def _earliest(adata: AnnData) -> np.ndarray:
    """The cells of the earliest 5 % of the true time: the root a user with known early
    cells gives, for scbasis's models and the peers alike."""
    return (adata.obs["true_time"] <= adata.obs["true_time"].quantile(0.05)).to_numpy()


EPOCHS = {"max_epochs": None}  # scbasis's models' epochs (None: theirs), from the command line


def _scbasis(model_cls: type, **model_kwargs) -> Callable[[AnnData, Setting], Calls]:
    def run(adata: AnnData, setting: Setting) -> Calls:
        model_cls.setup_anndata(adata, batch_key=setting.batch_key)
        model = model_cls(adata, **model_kwargs)
        model.train(
            max_epochs=EPOCHS["max_epochs"],
            train_size=setting.train_size,
            enable_progress_bar=False,
        )
        # orienting needs a root; the scores (|Spearman|, ARI) do not see the orientation,
        # accuracy does, and a user orients by known early cells as done here
        model.write_results(root=_earliest(adata))
        key = model._results_key
        probs = adata.varm[f"{key}_cluster_probs"]
        named = isinstance(model, scbasis.model.BasisDeVAE)
        return Calls(
            pseudotime=adata.obs[f"{key}_pseudotime"].to_numpy(),
            calls=adata.var[f"{key}_cluster"].astype(str).to_numpy(),
            probabilities=probs,
            named=named,
        )

    return run


def _two_step(method: str) -> Callable[[AnnData, Setting], Calls]:
    def run(adata: AnnData, setting: Setting) -> Calls:
        if method == "true_time":
            pseudotime = adata.obs["true_time"].to_numpy()
        else:
            pseudotime = _peer_pseudotime(method, adata)
            root = _earliest(adata) & np.isfinite(pseudotime)
            if pseudotime[root].mean() > np.nanmean(pseudotime):
                pseudotime = -pseudotime  # orient from the root, as scbasis's models are
        calls = np.asarray(two_step_calls(adata.X, pseudotime)).astype(str)
        return Calls(pseudotime=pseudotime, calls=calls, probabilities=None, named=True)

    return run


PEER_PYTHON: dict[str, str] = {}  # method -> interpreter, set from the command line


def _peer_pseudotime(method: str, adata: AnnData) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "counts.h5ad", Path(folder) / "pseudotime.npy"
        bare = AnnData(X=adata.X, obs=adata.obs[["batch"]].copy())
        bare.var_names = adata.var_names
        bare.write_h5ad(source)
        python = PEER_PYTHON.get(method, sys.executable)
        script = HERE / "peer_pseudotime.py"
        subprocess.run([python, str(script), method, str(source), str(target)], check=True)
        return np.load(target)


#: The papers' BasisVAE baseline at single-cell scale (K = 3, scale and translation invariant).
BASISVAE_BASELINE = {
    "n_basis": 3,
    "likelihood": "zinb",
    "translation_invariance": True,
    "beta": 10.0,
    "alpha": 0.1,
}
METHODS: dict[str, Callable[[AnnData, Setting], Calls]] = {
    "basisdevae": _scbasis(scbasis.model.BasisDeVAE),
    "basisdevae_paper": _scbasis(
        scbasis.model.BasisDeVAE,
        decoder="network",
        library_size="observed",
        beta=10.0,
        gamma=1.0,
        alpha=0.1,
    ),
    "basisvae": _scbasis(scbasis.model.BasisVAE, **BASISVAE_BASELINE),
    "linear": _scbasis(scbasis.model.BasisVAE, **BASISVAE_BASELINE, basis_network="linear"),
    **{name: _two_step(name) for name in ("pc1", "dpt", "palantir", "slingshot", "scfates")},
    "true_time": _two_step("true_time"),
}
PEERS = ("palantir", "slingshot", "scfates")


def _named_by_majority(calls: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Unnamed clusters renamed to the truth's families by the best one-to-one matching."""
    clusters, families = np.unique(calls), np.unique(truth)
    table = pd.crosstab(pd.Categorical(calls, clusters), pd.Categorical(truth, families))
    rows, columns = linear_sum_assignment(-table.to_numpy())
    names = dict(zip(clusters[rows], families[columns], strict=True))
    return np.array([names.get(c, f"cluster {c}") for c in calls])


@dataclass(frozen=True)
class Row:
    setting: str
    seed: int
    method: str
    spearman: float
    ari_observed: float
    ari_nominal: float
    accuracy: float
    n_confident: float
    confident_error: float
    flat_recall: float
    seconds: float


def score(
    setting: str, seed: int, method: str, adata: AnnData, result: Calls, seconds: float
) -> tuple[Row, pd.DataFrame | None]:
    """One row of the table, and the run's genes (truth, call, probabilities) if it has any."""
    truth = adata.var["observed_family"].astype(str).to_numpy()
    nominal = adata.var["true_family"].astype(str).to_numpy()
    calls = result.calls if result.named else _named_by_majority(result.calls, truth)
    finite = np.isfinite(result.pseudotime)
    rho = abs(spearmanr(result.pseudotime[finite], adata.obs["true_time"].to_numpy()[finite])[0])
    flat = truth == "flat"
    confident, error, genes = np.nan, np.nan, None
    if result.probabilities is not None:
        top = result.probabilities.max(axis=1)
        is_confident = top >= CONFIDENT
        confident = float(is_confident.sum())
        if is_confident.any():
            error = float((calls[is_confident] != truth[is_confident]).mean())
        genes = pd.DataFrame(result.probabilities).add_prefix("p")
        genes.insert(0, "call", calls)
        genes.insert(0, "truth", truth)
    row = Row(
        setting=setting,
        seed=seed,
        method=method,
        spearman=float(rho),
        ari_observed=float(adjusted_rand_score(truth, result.calls)),
        ari_nominal=float(adjusted_rand_score(nominal, result.calls)),
        accuracy=float((calls == truth).mean()),
        n_confident=confident,
        confident_error=error,
        flat_recall=float((calls[flat] == "flat").mean()) if flat.any() else np.nan,
        seconds=seconds,
    )
    return row, genes


def summary(rows: pd.DataFrame) -> str:
    """Markdown table: mean +- sd over seeds per method."""
    columns = {
        "spearman": ("\\|Spearman\\|", 3),
        "ari_observed": ("ARI observed", 3),
        "ari_nominal": ("ARI drawn", 3),
        "accuracy": ("accuracy", 3),
        "n_confident": ("confident", 0),
        "confident_error": ("wrong among confident", 3),
        "flat_recall": ("flat recall", 3),
        "seconds": ("seconds", 1),
    }
    present = [c for c in columns if rows[c].notna().any()]
    order = [m for m in METHODS if m in set(rows["method"])]
    lines = [
        "| method | seeds | " + " | ".join(columns[c][0] for c in present) + " |",
        "|---|---:|" + "---:|" * len(present),
    ]
    for method in order:
        group = rows[rows["method"] == method]
        cells = []
        for column in present:
            values = group[column].dropna()
            digits = columns[column][1]
            if values.empty:
                cells.append("n/a")
            elif len(values) == 1:
                cells.append(f"{values.iloc[0]:.{digits}f}")
            else:
                cells.append(f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}")
        lines.append(f"| {method} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setting", choices=list(SETTINGS), default="demo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument(
        "--peer-python",
        default=str(HERE.parent / ".venv-peers" / "bin" / "python"),
        help="interpreter of the peers' environment (palantir, slingshot, scfates)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="scbasis models' epochs (default: theirs, 100 up to 80,000 cells)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "output" / "gene_calls")
    args = parser.parse_args(argv)
    PEER_PYTHON.update(dict.fromkeys(PEERS, args.peer_python))
    EPOCHS["max_epochs"] = args.epochs
    args.out.mkdir(parents=True, exist_ok=True)
    table = args.out / f"{args.setting}.csv"
    done = pd.read_csv(table) if table.exists() else pd.DataFrame(columns=["seed", "method"])
    finished = set(zip(done["seed"], done["method"], strict=True))
    setting = SETTINGS[args.setting]
    for seed in args.seeds:
        base = setting.simulate(seed)
        for method in args.methods:
            if (seed, method) in finished:
                continue
            adata = base.copy()
            scvi.settings.seed = seed
            start = time.perf_counter()
            result = METHODS[method](adata, setting)
            seconds = time.perf_counter() - start
            row, genes = score(args.setting, seed, method, adata, result, seconds)
            pd.DataFrame([asdict(row)]).to_csv(
                table, mode="a", header=not table.exists(), index=False
            )
            if genes is not None:
                genes.to_csv(args.out / f"{args.setting}_{method}_seed{seed}_genes.csv")
            print(
                f"{args.setting} seed {seed} {method}: |rho| {row.spearman:.3f}, ARI "
                f"{row.ari_observed:.3f} (drawn {row.ari_nominal:.3f}), {seconds:.1f} s",
                flush=True,
            )
    rows = pd.read_csv(table)
    print(f"\n## {args.setting}: {setting.n_cells} cells x {setting.n_genes} genes\n")
    print(summary(rows[rows["seed"].isin(args.seeds)]))
    genes_files = sorted(args.out.glob(f"{args.setting}_basisdevae_seed*_genes.csv"))
    if genes_files:
        genes = pd.concat(pd.read_csv(f, index_col=0) for f in genes_files)
        probabilities = genes.filter(regex=r"^p\d+$").to_numpy()
        table = reliability_table(probabilities, (genes["truth"] == genes["call"]).to_numpy())
        print(f"\nbasisdevae reliability, {len(genes)} genes of {len(genes_files)} seeds:\n")
        print(table.to_string(index=False, float_format="{:.3f}".format))


if __name__ == "__main__":
    main()
