"""Where BasisDeVAE's family fit spends its time, phase by phase.

Simulated counts (``scbasis.data.simulate_trajectory``), BasisDeVAE with its defaults, a joint
training of ``--epochs`` epochs with ``family_epochs=0`` (which still weighs the families at the
joint training's curves), then :meth:`fit_families` with ``--family-epochs`` epochs, each of
its phases timed as it runs: the exact posterior pseudotime
of the training cells, the families' curves, their log-likelihoods and the bagged family
probabilities. Run it alone::

    python benchmarks/family_fit.py --size 8509x5216 --epochs 10 --family-epochs 30
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable

from _sizes import parse_size

#: The phases of ``fit_families``: (where the function lives, its name, what it does).
PHASES = (
    ("model", "_pseudotime_mean_std", "exact posterior pseudotime of the training cells"),
    ("model", "_binned_peaks", "the transients' starting peaks"),
    ("model", "_fit_family_curves", "every family's curves fitted to every gene"),
    ("model", "_family_log_likelihood", "the families' log-likelihoods and their covariance"),
    ("family_fit", "family_posterior", "bagged family probabilities"),
)


def _timed(owner: object, name: str, seconds: dict[str, float]) -> None:
    """Replace ``owner.name`` by a wrapper adding its run time to ``seconds[name]``."""
    original: Callable = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start

    setattr(owner, name, wrapper)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=(8509, 5216))
    parser.add_argument("--epochs", type=int, default=10, help="joint training epochs")
    parser.add_argument("--family-epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import scvi
    import torch

    import scbasis
    from scbasis.model import BasisDeVAE, _family_fit

    torch.set_num_threads(args.threads)
    n_cells, n_genes = args.size
    adata = scbasis.data.simulate_trajectory(n_cells, n_genes, seed=0, return_means=False)
    scvi.settings.seed = 0
    BasisDeVAE.setup_anndata(adata)
    model = BasisDeVAE(adata)
    start = time.perf_counter()
    model.train(max_epochs=args.epochs, family_epochs=0, train_size=0.9, enable_progress_bar=False)
    joint = time.perf_counter() - start
    seconds: dict[str, float] = {}
    owners = {"model": BasisDeVAE, "family_fit": _family_fit}
    for owner, name, _ in PHASES:
        _timed(owners[owner], name, seconds)
    start = time.perf_counter()
    model.fit_families(max_epochs=args.family_epochs)
    whole = time.perf_counter() - start

    print(
        f"{n_cells:,} cells x {n_genes:,} genes, {args.threads} threads; train(max_epochs="
        f"{args.epochs}, family_epochs=0) (the joint training, then the families weighed at its "
        f"curves, the phases below but the curves' fit): {joint:.1f} s; "
        f"fit_families({args.family_epochs}): {whole:.1f} s"
    )
    print("| phase | what it does | seconds |")
    print("|---|---|---:|")
    for _, name, what in PHASES:
        figure = f"{seconds[name]:.2f}" if name in seconds else "not run"
        print(f"| `{name}` | {what} | {figure} |")
    rest = whole - sum(seconds.values())
    print(f"| (rest) | library trend, starting fits | {rest:.2f} |")
    losses = model.family_fit_history_["family_fit_loss"].round(2).tolist()
    print(f"family-fit loss per epoch: {losses}")


if __name__ == "__main__":
    main()
