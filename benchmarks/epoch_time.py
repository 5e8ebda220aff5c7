"""Seconds per training epoch of BasisDeVAE: the default path against the straightforward one.

* ``reference``: the papers' per-cell Gauss-Legendre rule of order 15 and every family's
  likelihood through scvi-tools' distributions
  (``quadrature="gauss_legendre", likelihood_path="reference"``);
* ``fast``: the defaults (Chebyshev rule with the network evaluated once per minibatch, fused
  likelihood).

Each (path, size) trains in a fresh subprocess on sparse simulated UMI counts
(:func:`scbasis.data.simulate_trajectory`, CSR, never densified as a whole; the data loader
densifies one minibatch at a time), ZINB, K = 3, batch 128, 90 % of the cells for training, so
its peak resident set size belongs to it alone. Per path it reports the mean (and median) time
of the training epochs after the first (Lightning's loop, validation excluded), the pure compute
time
of the same number of steps (forward, backward, Adam on pre-densified minibatches; the rest is
data loading and Lightning / scvi-tools overhead), the peak RSS and the conditional
log-likelihood of the held-out cells (the same cells for both paths, same seed). With both
paths at one size it prints their ratio, and the accuracy of the trained fast model's decoder:
Chebyshev integrals against per-cell Gauss-Legendre of order 15 over the data's pseudotime
range (values, and autograd gradients with respect to the network's weights and ``z``), as the
largest relative error per entry (over entries above 1e-6 of their column's largest value) and
as the largest error over the column's largest value (the error of a log-mean ``x0 +- F``)::

    python benchmarks/epoch_time.py                       # 8,509 x 5,216, both paths
    python benchmarks/epoch_time.py --paths fast --epochs 3 --sizes 8509x2000 50000x5216
    python benchmarks/epoch_time.py --paths fast --epochs 10 --n-quadrature 64
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
from _sizes import parse_size

PATHS = {
    "reference": {"quadrature": "gauss_legendre", "likelihood_path": "reference"},
    "fast": {},
}


def _relative_error(got, exact) -> float:
    """Max pointwise relative error over entries above 1e-6 of their column's largest value."""
    got, exact = np.asarray(got, dtype=np.float64), np.asarray(exact, dtype=np.float64)
    exact, got = exact.reshape(exact.shape[0], -1), got.reshape(got.shape[0], -1)
    significant = np.abs(exact) > 1e-6 * np.abs(exact).max(axis=0, keepdims=True)
    return float((np.abs(got - exact)[significant] / np.abs(exact)[significant]).max())


def _column_scaled_error(got, exact) -> float:
    """Max error over each column's largest value: the error of a log-mean ``x0 +- F``."""
    got, exact = np.asarray(got, dtype=np.float64), np.asarray(exact, dtype=np.float64)
    return float((np.abs(got - exact) / np.abs(exact).max(axis=0, keepdims=True)).max())


def _integral_accuracy(model, adata) -> dict[str, float]:
    """Chebyshev vs Gauss-Legendre 15 integrals of the trained network over the data's range."""
    import torch

    from scbasis.nn import GaussLegendreQuadrature

    decoder = model.module.decoder.double()
    latent = model.get_latent_representation(adata)
    z_grid = np.concatenate([np.linspace(latent.min(), latent.max(), 256), [0.0]])
    d = decoder.n_genes
    projection = torch.randn(
        3 * d, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    results = {}
    for name, rule in {
        "fast": decoder.quadrature,
        "gl15": GaussLegendreQuadrature(15).double(),
    }.items():
        z = torch.tensor(z_grid, dtype=torch.float64, requires_grad=True)
        integrals, moments = rule(decoder.network, z, moment_columns=slice(2 * d, 3 * d))
        objective = integrals @ projection + moments @ projection[:d]
        weights = list(decoder.network.parameters())
        grads = torch.autograd.grad(objective.sum(), [z, *weights])
        results[name] = (integrals.detach(), moments.detach(), grads)
    (fast_int, fast_mom, fast_grads), (gl_int, gl_mom, gl_grads) = results["fast"], results["gl15"]
    weight_error = max(
        float((a - b).abs().max() / b.abs().max())
        for a, b in zip(fast_grads[1:], gl_grads[1:], strict=True)
    )
    decoder.float()
    return {
        "z_range": [float(latent.min()), float(latent.max())],
        "integral_max_rel_err": _relative_error(fast_int, gl_int),
        "moment_max_rel_err": _relative_error(fast_mom, gl_mom),
        "integral_max_err_over_column_max": _column_scaled_error(fast_int, gl_int),
        "moment_max_err_over_column_max": _column_scaled_error(fast_mom, gl_mom),
        "grad_z_max_rel_err": _relative_error(fast_grads[0][:, None], gl_grads[0][:, None]),
        "grad_weights_max_rel_err": weight_error,
    }


def _compute_seconds(model, n_steps: int, batch_size: int) -> float:
    """Forward, backward and the training's Adam step on ``n_steps`` pre-densified minibatches
    (no Lightning)."""
    import torch
    from scvi import REGISTRY_KEYS

    from scbasis.train import fused_adam

    module = model.module
    optimizer = fused_adam(module.parameters(), lr=1e-4, eps=1e-8, weight_decay=0.0)
    x = model.adata.X
    rng = np.random.default_rng(0)
    batches = [
        torch.as_tensor(
            x[rng.choice(x.shape[0], batch_size, replace=False)].toarray(), dtype=torch.float32
        )
        for _ in range(min(n_steps, 20))
    ]
    start = time.perf_counter()
    for step in range(n_steps):
        tensors = {REGISTRY_KEYS.X_KEY: batches[step % len(batches)]}
        _, _, loss = module(tensors, loss_kwargs={"kl_weight": 1.0, "n_obs": x.shape[0]})
        optimizer.zero_grad()
        loss.loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def _child(path: str, n_cells: int, n_genes: int, args: argparse.Namespace) -> dict:
    """Train one path at one size in this process and measure it."""
    import scvi
    import torch
    from lightning.pytorch.callbacks import Callback

    import scbasis

    torch.set_num_threads(args.threads)
    adata = scbasis.data.simulate_trajectory(n_cells, n_genes, seed=0, return_means=False)
    scbasis.model.setup_anndata(adata)

    class EpochTimer(Callback):
        def __init__(self):
            self.seconds: list[float] = []

        def on_train_epoch_start(self, trainer, pl_module):
            self._start = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module):
            self.seconds.append(time.perf_counter() - self._start)

    scvi.settings.seed = 0
    options = dict(PATHS[path])
    if path == "fast" and args.n_quadrature is not None:
        options["n_quadrature"] = args.n_quadrature
    model = scbasis.model.BasisDeVAE(adata, **options)
    timer = EpochTimer()
    model.train(
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        train_size=0.9,
        enable_progress_bar=False,
        callbacks=[timer],
    )
    steps_per_epoch = int(np.ceil(len(model.train_indices) / args.batch_size))
    held_out = np.sort(model.validation_indices)
    result = {
        "path": path,
        "n_cells": n_cells,
        "n_genes": n_genes,
        "nnz": int(adata.X.nnz),
        "epoch_seconds": timer.seconds,
        "seconds_per_epoch": float(np.mean(timer.seconds[1:] or timer.seconds)),
        "median_seconds_per_epoch": float(np.median(timer.seconds[1:] or timer.seconds)),
        "steps_per_epoch": steps_per_epoch,
        "held_out_cells": held_out.tolist()[:5],
        "held_out_conditional_ll": model.get_conditional_log_likelihood(indices=held_out),
    }
    result["compute_seconds_per_epoch"] = _compute_seconds(model, steps_per_epoch, args.batch_size)
    if path == "fast" and args.accuracy:
        result["accuracy"] = _integral_accuracy(model, adata)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(8509, 5216)])
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), default=["reference", "fast"])
    parser.add_argument("--epochs", type=int, default=3, help="training epochs per run")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--n-quadrature", type=int, help="Chebyshev nodes of the fast path (default: the model's)"
    )
    parser.add_argument("--no-accuracy", dest="accuracy", action="store_false")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, size = args.child
        print(json.dumps(_child(path, *parse_size(size), args)))
        return
    for n_cells, n_genes in args.sizes:
        runs = {}
        for path in args.paths:
            command = [sys.argv[0], "--child", path, f"{n_cells}x{n_genes}"]
            command += ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
            if args.n_quadrature is not None:
                command += ["--n-quadrature", str(args.n_quadrature)]
            command += ["--threads", str(args.threads)] + (
                [] if args.accuracy else ["--no-accuracy"]
            )
            output = subprocess.run(
                [sys.executable, *command], check=True, capture_output=True, text=True
            ).stdout
            runs[path] = json.loads(output.strip().splitlines()[-1])
            run = runs[path]
            print(
                f"{n_cells} x {n_genes} {path:>9}: {run['seconds_per_epoch']:.2f} s/epoch "
                f"(median {run['median_seconds_per_epoch']:.2f}; "
                f"{run['steps_per_epoch']} steps; compute alone "
                f"{run['compute_seconds_per_epoch']:.2f} s), "
                f"peak RSS {run['peak_rss_mib']:.0f} MiB, held-out conditional LL "
                f"{run['held_out_conditional_ll']:.6g}",
                flush=True,
            )
        if {"reference", "fast"} <= runs.keys():
            ref, fast = runs["reference"], runs["fast"]
            ll_diff = abs(fast["held_out_conditional_ll"] / ref["held_out_conditional_ll"] - 1)
            print(
                f"  speed-up {ref['seconds_per_epoch'] / fast['seconds_per_epoch']:.1f}x, "
                f"held-out conditional LL relative difference {ll_diff:.2e}"
            )
        if "accuracy" in runs.get("fast", {}):
            print(
                "  fast vs Gauss-Legendre 15 on the trained decoder:",
                json.dumps(runs["fast"]["accuracy"]),
            )
        print(json.dumps(runs), file=sys.stderr)


if __name__ == "__main__":
    main()
