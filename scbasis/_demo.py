"""The demo job: BasisDeVAE on simulated counts with known pseudotime and gene families."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ._constants import RESULT_KEYS, result_key
from .metrics import CallScores


@dataclass(frozen=True)
class DemoSummary:
    """What the demo measured and where it wrote its results."""

    n_cells: int
    n_genes: int
    seconds: float
    spearman: float
    #: Scores against each gene's observed family (its true rate's shape over the cells).
    observed: CallScores
    #: ARI against the family each gene was drawn from.
    ari_nominal: float
    h5ad: Path
    #: The figures written: gene trends, the family heatmap and the calls' probabilities.
    figures: tuple[Path, ...]

    def report(self) -> str:
        """A short human-readable summary."""
        confident = self.observed
        return (
            f"BasisDeVAE demo: {self.n_cells} cells x {self.n_genes} genes, "
            f"trained in {self.seconds:.1f} s\n"
            f"  pseudotime vs true time:        Spearman {self.spearman:.3f}\n"
            f"  gene families vs observed truth: ARI {confident.ari:.3f} "
            f"(accuracy {confident.accuracy:.3f}; {confident.n_confident} calls with "
            f"probability >= 0.9, {100 * confident.confident_error_rate:.1f} % of them wrong)\n"
            f"  gene families vs drawn family:   ARI {self.ari_nominal:.3f}\n"
            f"  results: {self.h5ad}\n"
            f"  figures: {', '.join(str(f) for f in self.figures)}"
        )


def run_demo(
    out: str | os.PathLike = "scbasis_demo",
    n_cells: int = 2000,
    n_genes: int = 200,
    max_epochs: int = 100,
    seed: int = 0,
    progress_bar: bool | None = None,
) -> DemoSummary:
    """Simulate counts, train BasisDeVAE, write results and a figure, and score them.

    Parameters
    ----------
    out
        Output folder (created if needed): ``demo.h5ad``, ``gene_trends.png`` (the three
        surest genes of each family), ``family_heatmap.png`` and
        ``cluster_probabilities.png``.
    n_cells, n_genes
        Size of the simulated data (increasing, decreasing and transient genes in thirds).
    max_epochs
        Training epochs.
    seed
        Seed of the simulation and of the training.
    progress_bar
        Show the training progress bar; if ``None``, where it is read (a terminal or Jupyter).
    """
    import matplotlib

    matplotlib.use("Agg")
    import scvi
    from scipy.stats import spearmanr
    from sklearn.metrics import adjusted_rand_score

    from . import data, metrics, model

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scvi.settings.seed = seed
    adata = data.simulate_trajectory(
        n_cells,
        n_genes,
        {"increasing": 1 / 3, "decreasing": 1 / 3, "transient": 1 / 3},
        seed=seed,
        return_means=False,
    )
    model.setup_anndata(adata)
    basisdevae = model.BasisDeVAE(adata)
    start = time.perf_counter()
    progress = {} if progress_bar is None else {"enable_progress_bar": progress_bar}
    basisdevae.train(max_epochs=max_epochs, **progress)
    seconds = time.perf_counter() - start
    # the simulation's first cells (lowest true time) serve as the root, as a known
    # progenitor population would in real data
    earliest = adata.obs["true_time"] <= adata.obs["true_time"].quantile(0.05)
    basisdevae.write_results(root=earliest.to_numpy())
    h5ad = out / "demo.h5ad"
    adata.write_h5ad(h5ad)
    key = basisdevae._results_key
    figures = _draw_figures(adata, out)
    calls = adata.var[result_key(key, RESULT_KEYS.CLUSTER)]
    pseudotime = adata.obs[result_key(key, RESULT_KEYS.PSEUDOTIME)]
    return DemoSummary(
        n_cells=n_cells,
        n_genes=n_genes,
        seconds=seconds,
        spearman=float(spearmanr(pseudotime, adata.obs["true_time"])[0]),
        observed=metrics.score_calls(
            adata.var["observed_family"],
            calls,
            adata.varm[result_key(key, RESULT_KEYS.CLUSTER_PROBS)],
        ),
        ari_nominal=float(adjusted_rand_score(adata.var["true_family"], calls)),
        h5ad=h5ad,
        figures=figures,
    )


def _draw_figures(adata, out: Path) -> tuple[Path, ...]:
    """Draw the demo's figures from the results in ``adata`` into ``out``."""
    import matplotlib.pyplot as plt

    from . import pl

    probs = pl.read_results(adata).cluster_probs
    calls = probs.idxmax(axis=1)
    surest = [
        gene
        for family in probs.columns
        for gene in probs.loc[calls == family, family].nlargest(3).index
    ]
    drawings = {
        "gene_trends.png": lambda: pl.gene_trends(adata, surest, ncols=3, show=False)[0],
        "family_heatmap.png": lambda: pl.family_heatmap(adata, show=False)["heatmap"],
        "cluster_probabilities.png": lambda: pl.cluster_probabilities(adata, show=False),
    }
    paths = []
    for name, draw in drawings.items():
        figure = draw().figure
        figure.savefig(out / name, dpi=150, bbox_inches="tight")
        plt.close(figure)
        paths.append(out / name)
    return tuple(paths)
