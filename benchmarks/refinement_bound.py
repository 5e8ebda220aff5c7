"""What the bound on the Chebyshev rule's refinement saves when the network grows sharp.

BasisDeVAE with the papers' network decoder trains for ``--epochs`` epochs on simulated counts
(:func:`scbasis.data.simulate_trajectory`); then its derivative network's output layer
(weights and biases) is multiplied by ``--sharpen``, which makes most of its outputs too
sharp for the rule's 48 nodes. Training steps (forward, backward and an Adam step with
learning rate 0, so that the model stays as it is) on the same minibatches are then timed
without the bound on the refinement, with it (scbasis's rule) and with fixed nodes
(``quadrature_tolerance=None``), alternated ``--repeats`` times. It prints, per variant, the
rule's capacities per refinement level (1.25 times the outputs the steps found above the
tolerance, rounded up to a multiple of 64; a level evaluates the smaller of its capacity and,
with the bound, ``C / 4^l`` of the ``C`` outputs) and the milliseconds per step. Run it
alone::

    python benchmarks/refinement_bound.py --epochs 10 --sharpen 10
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _sizes import parse_size

#: The variants timed: (name, bound ratio, tolerance); ratio 1 puts no bound (``C / 1^l``).
VARIANTS = (("no bound", 1, 1e-5), ("bound", None, 1e-5), ("fixed nodes", None, None))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=(8509, 5216))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--sharpen", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant and run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import scvi
    import torch
    from scvi import REGISTRY_KEYS

    import scbasis
    from scbasis.nn import _quadrature
    from scbasis.train import fused_adam
    from scbasis.train._heap import KeptHeap

    torch.set_num_threads(args.threads)
    n_cells, n_genes = args.size
    adata = scbasis.data.simulate_trajectory(n_cells, n_genes, seed=0)
    scvi.settings.seed = 0
    scbasis.model.setup_anndata(adata)
    model = scbasis.model.BasisDeVAE(adata, decoder="network")
    model.train(max_epochs=args.epochs, train_size=0.9, enable_progress_bar=False)
    module = model.module
    rule = module.decoder.quadrature
    output = module.decoder.network.mlp[-2]
    with torch.no_grad():
        output.weight.mul_(args.sharpen)
        output.bias.mul_(args.sharpen)

    counts = adata.X
    rng = np.random.default_rng(0)
    batches = [
        torch.as_tensor(
            counts[rng.choice(n_cells, 128, replace=False)].toarray(), dtype=torch.float32
        )
        for _ in range(args.steps)
    ]
    optimizer = fused_adam(module.parameters(), lr=0.0, eps=1e-8, weight_decay=0.0)
    module.train()

    def step(x: torch.Tensor) -> None:
        loss_kwargs = {"kl_weight": 1.0, "n_obs": n_cells}
        _, _, loss = module({REGISTRY_KEYS.X_KEY: x}, loss_kwargs=loss_kwargs)
        optimizer.zero_grad()
        loss.loss.backward()
        optimizer.step()

    default_ratio = _quadrature._REFINEMENT_BUDGET_RATIO

    def select(ratio: int | None, tolerance: float | None) -> None:
        _quadrature._REFINEMENT_BUDGET_RATIO = ratio or default_ratio
        rule.tolerance = tolerance

    capacities: dict[str, list[int]] = {}
    milliseconds: dict[str, list[float]] = {name: [] for name, _, _ in VARIANTS}
    with KeptHeap():
        for name, ratio, tolerance in VARIANTS:  # the capacities settle in a few steps
            select(ratio, tolerance)
            rule.capacity = _quadrature.RefinementCapacity(len(rule.refinements))
            for _ in range(4):
                for x in batches[:3]:
                    step(x)
            capacities[name] = list(rule.capacity.columns)
        for _ in range(args.repeats):
            for name, ratio, tolerance in VARIANTS:
                select(ratio, tolerance)
                rule.capacity.columns = list(capacities[name])
                start = time.perf_counter()
                for x in batches:
                    step(x)
                milliseconds[name].append((time.perf_counter() - start) / len(batches) * 1e3)
    _quadrature._REFINEMENT_BUDGET_RATIO = default_ratio

    n_outputs = output.weight.shape[0]
    bound = [int(np.ceil(n_outputs / default_ratio**level)) for level in (1, 2, 3)]
    print(
        f"{n_cells:,} cells x {n_genes:,} genes, network decoder after {args.epochs} epochs, "
        f"output layer x {args.sharpen:g}; {n_outputs:,} outputs, bound per level {bound}; "
        f"{args.threads} threads, batch 128"
    )
    print("| variant | capacities per level | ms per step, each run |")
    print("|---|---|---|")
    for name, _, _ in VARIANTS:
        runs = " / ".join(f"{value:.1f}" for value in milliseconds[name])
        print(f"| {name} | {capacities[name]} | {runs} |")


if __name__ == "__main__":
    main()
