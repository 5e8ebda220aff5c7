"""Training steps of scbasis's defaults beside scvi-tools' SCVI, alternated in one process.

Whole trainings (``epoch_time.py``) run each model in its own process, minutes apart, on a
machine whose speed drifts by 10 to 30 %; this compares the step itself. BasisDeVAE with its
defaults (the basis decoder, four families, ZINB) and ``scvi.model.SCVI`` with its defaults
(ZINB, 10-D latent) are built on the same simulated counts
(:func:`scbasis.data.simulate_trajectory`), and their training steps (forward, loss, backward
and the optimizer each trains with: PyTorch's fused Adam for scbasis, scvi-tools' default Adam
with ``eps=0.01`` and ``weight_decay=1e-6`` for SCVI) on the same pre-densified minibatches
of 128 cells are timed in turn, ``--repeats`` times ``--steps`` steps each, with glibc keeping
freed memory for both (``KeptHeap``, as scbasis's training does). scbasis is timed twice: with
its defaults, whose basis-by-weights product takes bfloat16 gradients on CPUs with bfloat16
instructions, and with ``SCBASIS_BFLOAT16_GRADIENTS=0`` (float32 throughout). It prints the
milliseconds per step of each run, their medians and each median over SCVI's. Data loading
and Lightning are not included. Run it alone::

    python benchmarks/step_time.py
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _sizes import parse_size

#: The variants timed, with the value of SCBASIS_BFLOAT16_GRADIENTS each sets for scbasis.
VARIANTS = (
    ("scbasis defaults", "1"),
    ("scbasis, float32 gradients", "0"),
    ("scvi-tools SCVI", None),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=(8509, 5216))
    parser.add_argument("--steps", type=int, default=30, help="timed steps per variant and run")
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import scvi
    import torch
    from scvi import REGISTRY_KEYS

    import scbasis
    from scbasis.nn._bfloat16_product import BFLOAT16_GRADIENTS_ENV, bfloat16_gradients_used
    from scbasis.train import fused_adam
    from scbasis.train._heap import KeptHeap

    torch.set_num_threads(args.threads)
    n_cells, n_genes = args.size
    adata = scbasis.data.simulate_trajectory(n_cells, n_genes, seed=0, return_means=False)
    scvi.settings.seed = 0
    scvi_data = adata.copy()
    scbasis.model.setup_anndata(adata)
    basis = scbasis.model.BasisDeVAE(adata).module
    scvi.model.SCVI.setup_anndata(scvi_data)
    reference = scvi.model.SCVI(scvi_data).module
    optimizers = {
        "scbasis": fused_adam(basis.parameters(), lr=1e-4, eps=1e-8, weight_decay=0.0),
        "scvi": torch.optim.Adam(reference.parameters(), lr=1e-3, eps=0.01, weight_decay=1e-6),
    }
    rng = np.random.default_rng(0)
    batches = [
        torch.as_tensor(
            adata.X[rng.choice(n_cells, 128, replace=False)].toarray(), dtype=torch.float32
        )
        for _ in range(min(args.steps, 20))
    ]
    zeros = torch.zeros(128, 1)

    def steps(setting: str | None, n_steps: int) -> float:
        """Milliseconds per training step of one variant."""
        if setting is None:
            module, optimizer, loss_kwargs = reference, optimizers["scvi"], {"kl_weight": 1.0}
        else:
            os.environ[BFLOAT16_GRADIENTS_ENV] = setting
            module, optimizer = basis, optimizers["scbasis"]
            loss_kwargs = {"kl_weight": 1.0, "n_obs": n_cells}
        module.train()
        start = time.perf_counter()
        for step in range(n_steps):
            x = batches[step % len(batches)]
            tensors = {
                REGISTRY_KEYS.X_KEY: x,
                REGISTRY_KEYS.BATCH_KEY: zeros,
                REGISTRY_KEYS.LABELS_KEY: zeros,
            }
            _, _, loss = module(tensors, loss_kwargs=loss_kwargs)
            optimizer.zero_grad()
            loss.loss.backward()
            optimizer.step()
        return (time.perf_counter() - start) / n_steps * 1e3

    milliseconds: dict[str, list[float]] = {name: [] for name, _ in VARIANTS}
    with KeptHeap():
        for _, setting in VARIANTS:  # warm up: first steps allocate and build
            steps(setting, 3)
        for _ in range(args.repeats):
            for name, setting in VARIANTS:
                milliseconds[name].append(steps(setting, args.steps))
    os.environ[BFLOAT16_GRADIENTS_ENV] = "1"
    in_bfloat16 = bfloat16_gradients_used(batches[0])

    medians = {name: float(np.median(values)) for name, values in milliseconds.items()}
    scvi_median = medians["scvi-tools SCVI"]
    print(
        f"{n_cells:,} cells x {n_genes:,} genes, batch 128, {args.threads} threads; "
        f"bfloat16 gradients on this CPU: {'yes' if in_bfloat16 else 'no'}"
    )
    print("| variant | ms per step, each run | median | median / SCVI's |")
    print("|---|---|---:|---:|")
    for name, _ in VARIANTS:
        runs = " / ".join(f"{value:.1f}" for value in milliseconds[name])
        print(f"| {name} | {runs} | {medians[name]:.1f} | {medians[name] / scvi_median:.2f} |")


if __name__ == "__main__":
    main()
