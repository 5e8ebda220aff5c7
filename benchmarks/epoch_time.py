"""Seconds per epoch and per whole training: scbasis's paths, scvi-tools' SCVI, the original code.

Paths
-----
``reference``
    scbasis, the papers' network decoder with their per-cell Gauss-Legendre rule of order 15
    and every family's likelihood through scvi-tools' distributions
    (``decoder="network", quadrature="gauss_legendre", likelihood_path="reference"``).
``network``
    scbasis, the papers' network decoder on the fast path (Chebyshev rule with the network
    evaluated once per minibatch, fused likelihood).
``basis``
    scbasis's defaults (the sigmoid-basis decoder with four families; after the joint
    training, each cell's exact posterior pseudotime and the family fit of
    :meth:`~scbasis.model.BasisDeVAE.fit_families`, 30 % of the epochs).
``scvi``
    scvi-tools' :class:`scvi.model.SCVI` with its defaults (ZINB, 10-D latent), through the
    same ``train()`` arguments and epoch timer. Unlike scbasis's ``train()``, it does not adapt
    torch's thread count to the free cores; both run alone.
``original``
    The original research code of the BasisDeVAE paper (https://github.com/djdanks/BasisDeVAE),
    which is not part of this repository: ``--original-code DIR`` names a checkout of it, from
    which ``VAE``, ``Encoder`` and ``BasisODEDecoder`` are imported unchanged (see
    ``_original_code.py`` for its configuration: the papers' BasisDeVAE, ZINB, K = 3, Adam
    5e-3). Its own training loop is timed epoch by epoch, for ``--original-epochs`` epochs
    (default 3; it is slow at full size) whatever ``--epochs`` is.

Each (path, size) trains in a fresh subprocess on sparse simulated UMI counts
(:func:`scbasis.data.simulate_trajectory`, CSR, never densified as a whole; the data loaders of
scbasis and SCVI densify one minibatch at a time, the original code takes the training cells as
one dense tensor), batch 128, 90 % of the cells for training (the same held-out cells for every
path, same seed), ``torch.set_num_threads(--threads)``, so its peak resident set size belongs
to it alone. Per path it reports the mean (and median) time of the training epochs after the
first (Lightning's loop, validation excluded; the original code's loop), for scbasis the pure
compute time of the same number of steps (forward, backward, Adam on pre-densified minibatches;
the rest is data loading and Lightning / scvi-tools overhead), the peak RSS and the conditional
log-likelihood of the held-out cells (``n/a`` for SCVI, whose model differs; the original
code's own ``calculate_test_loglik``, the same metric, after its fewer epochs), and the wall
time of the whole ``train()`` call (for ``basis`` the family fit included; for the original
code its training loop).

After every path of a size it prints a markdown table of the whole trainings: per path the
seconds per epoch over epochs 2-6, over the last five epochs after the first and over all
epochs after the first, and the whole training's wall time; when ``original`` ran, the original
code's seconds per epoch times ``--epochs`` over each whole training (how many times longer the
original code would take for the same number of epochs); when ``scvi`` ran, each path's epochs
2-6 and last five epochs over SCVI's. With ``reference`` and ``network`` it prints their ratios,
and the accuracy of the trained network decoder's quadrature over the data's pseudotime range:
the fast rule's integrals, moments, ``d/dz`` of every output and gradients with respect to the
network's weights, and those of the papers' per-cell Gauss-Legendre rule of order 15, against a
converged reference (Gauss-Legendre of order 200, itself checked against order 100), and the two
rules against each other. Errors are given per gene (the largest error over the column's
largest value: the error of a log-mean ``x0 +- F``) and per entry (relative, over entries above
1e-6 of their column's largest value)::

    python benchmarks/epoch_time.py                  # 8,509 x 5,216, reference and network
    python benchmarks/epoch_time.py --paths original basis network scvi --epochs 100 \\
        --no-accuracy --original-code /path/to/BasisDeVAE
    python benchmarks/epoch_time.py --paths network basis --epochs 100 --no-accuracy
    python benchmarks/epoch_time.py --paths network --epochs 3 --sizes 8509x2000 50000x5216
    python benchmarks/epoch_time.py --paths network --epochs 40   # accuracy after longer training
    python benchmarks/epoch_time.py --paths network --epochs 40 --quadrature-tolerance none

The original code: ``git clone https://github.com/djdanks/BasisDeVAE /path/to/BasisDeVAE``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _original_code import TRAIN_SIZE, original_code_problem
from _sizes import parse_size

#: scbasis's BasisDeVAE options of each of its paths.
SCBASIS_PATHS = {
    "reference": {
        "decoder": "network",
        "quadrature": "gauss_legendre",
        "likelihood_path": "reference",
    },
    "network": {"decoder": "network"},
    "basis": {},
}
PATHS = [*SCBASIS_PATHS, "scvi", "original"]
#: What each path trains, for the whole-training table.
PATH_MODELS = {
    "reference": "scbasis, the papers' network decoder (GL-15, reference likelihood)",
    "network": "scbasis, the papers' network decoder, fast path",
    "basis": "scbasis defaults (basis decoder, family fit included)",
    "scvi": "scvi-tools SCVI, defaults (ZINB)",
    "original": "original research code (BasisODEDecoder, ZINB)",
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
    exact, got = exact.reshape(exact.shape[0], -1), got.reshape(got.shape[0], -1)
    return float((np.abs(got - exact) / np.abs(exact).max(axis=0, keepdims=True)).max())


def _rule_outputs(
    rule, decoder, z_grid: np.ndarray, projection, chunk: int, gradients: str = "z and weights"
) -> dict:
    """Integrals, moments, ``d/dz`` of every column and the gradient of a projection of both
    with respect to the network's weights, for the points ``z_grid`` in chunks of ``chunk``;
    ``gradients`` says which gradients to take ("z and weights", "weights" or "none")."""
    import torch
    from torch.autograd import forward_ad

    d = decoder.n_features
    weights = list(decoder.network.parameters())
    weight_grads = [torch.zeros_like(w) for w in weights]
    parts: dict[str, list] = {"integrals": [], "moments": [], "d_dz": []}
    for start in range(0, len(z_grid), chunk):
        z = torch.tensor(z_grid[start : start + chunk], dtype=torch.float64)
        if gradients == "z and weights":
            with forward_ad.dual_level():
                dual = forward_ad.make_dual(z, torch.ones_like(z))
                integrals, _ = rule(decoder.network, dual, moment_columns=slice(0, 0))
                parts["d_dz"].append(forward_ad.unpack_dual(integrals).tangent.detach().numpy())
        with torch.set_grad_enabled(gradients != "none"):
            integrals, moments = rule(decoder.network, z, moment_columns=slice(2 * d, 3 * d))
        if gradients != "none":
            objective = (integrals @ projection).sum() + (moments @ projection[:d]).sum()
            grads = torch.autograd.grad(objective, weights)
            for total, grad in zip(weight_grads, grads, strict=True):
                total += grad
        parts["integrals"].append(integrals.detach().numpy())
        parts["moments"].append(moments.detach().numpy())
    outputs = {name: np.concatenate(arrays) for name, arrays in parts.items() if arrays}
    outputs["weight_grads"] = [grad.numpy() for grad in weight_grads]
    return outputs


def _errors(got: dict, exact: dict) -> dict[str, float]:
    """Per-gene (error over the column's largest value) and per-entry relative errors."""
    errors = {}
    for name in ("integrals", "moments", "d_dz"):
        errors[f"{name}_per_gene"] = _column_scaled_error(got[name], exact[name])
        errors[f"{name}_per_entry"] = _relative_error(got[name], exact[name])
    errors["weight_grads"] = max(
        float(np.abs(a - b).max() / np.abs(b).max())
        for a, b in zip(got["weight_grads"], exact["weight_grads"], strict=True)
    )
    return errors


def _integral_accuracy(model, adata) -> dict:
    """The fast rule and the papers' per-cell Gauss-Legendre 15 on the trained decoder, over
    the data's pseudotime range, against a converged reference (Gauss-Legendre 200) and
    against each other.

    Each rule's ``d/dz`` is that of its own integrals (forward-mode autograd); the reference's
    is ``f(z)`` itself. Gauss-Legendre 100 against 200 shows that the reference has converged.
    """
    import torch

    from scbasis.nn import GaussLegendreQuadrature

    decoder = model.module.decoder.double()
    latent = model.get_latent_representation(adata)[:, 0]
    z_grid = np.concatenate([np.linspace(latent.min(), latent.max(), 256), [0.0]])
    d = decoder.n_features
    projection = torch.randn(
        3 * d, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    outputs = {
        name: _rule_outputs(rule, decoder, z_grid, projection, chunk, gradients)
        for name, rule, chunk, gradients in [
            ("fast", decoder.quadrature, 64, "z and weights"),
            ("gl15", GaussLegendreQuadrature(15).double(), 64, "z and weights"),
            ("gl100", GaussLegendreQuadrature(100).double(), 32, "none"),
            ("converged", GaussLegendreQuadrature(200).double(), 16, "weights"),
        ]
    }
    with torch.no_grad():
        outputs["converged"]["d_dz"] = decoder.network(torch.tensor(z_grid)).numpy()
    decoder.float()
    exact = outputs["converged"]
    return {
        "z_range": [float(latent.min()), float(latent.max())],
        "fast_vs_converged": _errors(outputs["fast"], exact),
        "gl15_vs_converged": _errors(outputs["gl15"], exact),
        "fast_vs_gl15": _errors(outputs["fast"], outputs["gl15"]),
        "gl100_vs_converged": _column_scaled_error(
            outputs["gl100"]["integrals"], exact["integrals"]
        ),
    }


def _compute_seconds(model, n_steps: int, batch_size: int) -> float:
    """Forward, backward and the training's Adam step on ``n_steps`` pre-densified minibatches
    (no Lightning), in training mode and with the training's heap (:class:`KeptHeap`)."""
    import torch
    from scvi import REGISTRY_KEYS

    from scbasis.train import fused_adam
    from scbasis.train._heap import KeptHeap

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
    module.train()
    with KeptHeap():
        start = time.perf_counter()
        for step in range(n_steps):
            tensors = {REGISTRY_KEYS.X_KEY: batches[step % len(batches)]}
            _, _, loss = module(tensors, loss_kwargs={"kl_weight": 1.0, "n_obs": x.shape[0]})
            optimizer.zero_grad()
            loss.loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
    module.eval()
    return seconds


def _train_scbasis(path: str, adata, args: argparse.Namespace) -> dict:
    """Train scbasis's BasisDeVAE on one of its paths and measure it."""
    from _epoch_timer import EpochTimer

    import scbasis

    scbasis.model.setup_anndata(adata)
    options = dict(SCBASIS_PATHS[path])
    if path == "network" and args.n_quadrature is not None:
        options["n_quadrature"] = args.n_quadrature
    if path == "network" and args.quadrature_tolerance is not None:
        tolerance = args.quadrature_tolerance
        options["quadrature_tolerance"] = None if tolerance == "none" else float(tolerance)
    model = scbasis.model.BasisDeVAE(adata, **options)
    timer = EpochTimer()
    start = time.perf_counter()
    model.train(
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        train_size=TRAIN_SIZE,
        enable_progress_bar=False,
        callbacks=[timer],
        accelerator=args.accelerator,
        devices=1,
    )
    train_seconds = time.perf_counter() - start
    steps_per_epoch = int(np.ceil(len(model.train_indices) / args.batch_size))
    held_out = np.sort(model.validation_indices)
    result = {
        "epoch_seconds": timer.seconds,
        "train_seconds": train_seconds,
        "steps_per_epoch": steps_per_epoch,
        "held_out_cells": held_out.tolist()[:5],
        "held_out_conditional_ll": model.get_conditional_log_likelihood(indices=held_out),
        "train_cells": len(model.train_indices),
    }
    if args.accelerator == "cpu":
        result["compute_seconds_per_epoch"] = _compute_seconds(
            model, steps_per_epoch, args.batch_size
        )
    if path == "network" and args.accuracy:
        result["accuracy"] = _integral_accuracy(model, adata)
    return result


def _train_scvi(adata, args: argparse.Namespace) -> dict:
    """Train scvi-tools' SCVI with its defaults and measure it (no held-out likelihood: its
    model is not the papers')."""
    import scvi
    from _epoch_timer import EpochTimer

    scvi.model.SCVI.setup_anndata(adata)
    model = scvi.model.SCVI(adata)
    timer = EpochTimer()
    start = time.perf_counter()
    model.train(
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        train_size=TRAIN_SIZE,
        enable_progress_bar=False,
        callbacks=[timer],
        accelerator=args.accelerator,
        devices=1,
    )
    train_seconds = time.perf_counter() - start
    return {
        "epoch_seconds": timer.seconds,
        "train_seconds": train_seconds,
        "steps_per_epoch": int(np.ceil(len(model.train_indices) / args.batch_size)),
        "held_out_cells": np.sort(model.validation_indices).tolist()[:5],
        "held_out_conditional_ll": None,
        "train_cells": len(model.train_indices),
    }


def _child(path: str, n_cells: int, n_genes: int, args: argparse.Namespace) -> dict:
    """Train one path at one size in this process and measure it."""
    import scvi
    import torch

    import scbasis

    torch.set_num_threads(args.threads)
    adata = scbasis.data.simulate_trajectory(n_cells, n_genes, seed=0, return_means=False)
    scvi.settings.seed = 0
    if path == "scvi":
        epochs, result = args.epochs, _train_scvi(adata, args)
    elif path == "original":
        from _original_code import train_original_code

        epochs = args.original_epochs
        result = train_original_code(
            adata.X, args.original_code, epochs, args.batch_size, seed=scvi.settings.seed
        )
    else:
        epochs, result = args.epochs, _train_scbasis(path, adata, args)
    after_first = result["epoch_seconds"][1:] or result["epoch_seconds"]
    return {
        "path": path,
        "n_cells": n_cells,
        "n_genes": n_genes,
        "nnz": int(adata.X.nnz),
        "epochs": epochs,
        "seconds_per_epoch": float(np.mean(after_first)),
        "median_seconds_per_epoch": float(np.median(after_first)),
        **result,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _epoch_means(epoch_seconds: list[float]) -> dict[str, float]:
    """Mean seconds per epoch over epochs 2-6, over the last five epochs after the first and
    over all epochs after the first (each over what exists; the first epoch alone if it is the
    only one)."""
    after_first = epoch_seconds[1:] or epoch_seconds
    return {
        "first": float(np.mean(after_first[:5])),
        "last": float(np.mean(after_first[-5:])),
        "after_first": float(np.mean(after_first)),
    }


def _whole_training_table(runs: dict[str, dict], epochs: int) -> str:
    """Markdown table of the whole trainings of ``runs`` (path -> child result): seconds per
    epoch early, late and overall, the whole training, and ratios to the original code (its
    seconds per epoch x ``epochs`` over each whole training) and to SCVI where they ran."""
    means = {path: _epoch_means(run["epoch_seconds"]) for path, run in runs.items()}
    header = [
        "path",
        "model",
        "epochs",
        "s / epoch, epochs 2-6",
        "s / epoch, last 5",
        "s / epoch, all but the first",
        "whole training (s)",
    ]
    if "original" in runs:
        header.append(f"original s / epoch x {epochs} epochs / whole training")
    if "scvi" in runs:
        header += ["epochs 2-6 / SCVI's", "last 5 / SCVI's"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|",
    ]
    for path, run in runs.items():
        row = [
            path,
            PATH_MODELS[path],
            str(run["epochs"]),
            f"{means[path]['first']:.2f}",
            f"{means[path]['last']:.2f}",
            f"{means[path]['after_first']:.2f}",
            f"{run['train_seconds']:.1f}",
        ]
        if "original" in runs:
            original_seconds = means["original"]["after_first"] * epochs
            row.append(
                "n/a" if path == "original" else f"{original_seconds / run['train_seconds']:.3g}"
            )
        if "scvi" in runs:
            row += [
                f"{means[path]['first'] / means['scvi']['first']:.3g}",
                f"{means[path]['last'] / means['scvi']['last']:.3g}",
            ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _run_line(n_cells: int, n_genes: int, run: dict) -> str:
    """One line of figures of one path at one size."""
    compute = run.get("compute_seconds_per_epoch")
    compute_text = "" if compute is None else f"; compute alone {compute:.2f} s"
    log_likelihood = run["held_out_conditional_ll"]
    log_likelihood_text = "n/a" if log_likelihood is None else f"{log_likelihood:.6g}"
    cells = run.get("train_cells")
    rate = "" if cells is None else f", {cells / run['median_seconds_per_epoch']:,.0f} cells/s"
    return (
        f"{n_cells} x {n_genes} {run['path']:>9}: {run['seconds_per_epoch']:.2f} s/epoch "
        f"(median {run['median_seconds_per_epoch']:.2f}{rate}; "
        f"{run['steps_per_epoch']} steps{compute_text}); whole training "
        f"{run['train_seconds']:.1f} s for {run['epochs']} epochs; "
        f"peak RSS {run['peak_rss_mib']:.0f} MiB, held-out conditional LL {log_likelihood_text}"
    )


def _print_accuracy(accuracy: dict) -> None:
    """One line per comparison of the trained decoder's integrals."""
    low, high = accuracy["z_range"]
    print(f"  integrals of the trained decoder over z in [{low:.2f}, {high:.2f}]:")
    for comparison in ("fast_vs_converged", "gl15_vs_converged", "fast_vs_gl15"):
        errors = accuracy[comparison]
        print(
            f"    {comparison:>18}: per gene (per entry) integrals "
            f"{errors['integrals_per_gene']:.1e} ({errors['integrals_per_entry']:.1e}), "
            f"moments {errors['moments_per_gene']:.1e} ({errors['moments_per_entry']:.1e}), "
            f"d/dz {errors['d_dz_per_gene']:.1e} ({errors['d_dz_per_entry']:.1e}), "
            f"d/dweights {errors['weight_grads']:.1e}"
        )
    print(
        "    reference converged: Gauss-Legendre 100 vs 200, integrals per gene "
        f"{accuracy['gl100_vs_converged']:.1e}"
    )


def _child_command(path: str, n_cells: int, n_genes: int, args: argparse.Namespace) -> list:
    """The command line that trains ``path`` at one size in a fresh process."""
    command = [sys.executable, sys.argv[0], "--child", path, f"{n_cells}x{n_genes}"]
    command += ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
    command += ["--threads", str(args.threads), "--original-epochs", str(args.original_epochs)]
    command += ["--accelerator", args.accelerator]
    if args.n_quadrature is not None:
        command += ["--n-quadrature", str(args.n_quadrature)]
    if args.quadrature_tolerance is not None:
        command += ["--quadrature-tolerance", args.quadrature_tolerance]
    if args.original_code is not None:
        command += ["--original-code", str(args.original_code)]
    return command + ([] if args.accuracy else ["--no-accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(8509, 5216)])
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=["reference", "network"])
    parser.add_argument("--epochs", type=int, default=3, help="training epochs per run")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--n-quadrature",
        type=int,
        help="Chebyshev nodes of the network path (default: the model's)",
    )
    parser.add_argument(
        "--quadrature-tolerance",
        help="error tolerance of the network path's Chebyshev rule, or 'none' for fixed nodes "
        "(default: the model's)",
    )
    parser.add_argument(
        "--original-code",
        type=Path,
        help="a checkout of https://github.com/djdanks/BasisDeVAE, for the path 'original'",
    )
    parser.add_argument(
        "--original-epochs",
        type=int,
        default=3,
        help="training epochs of the path 'original', whatever --epochs is",
    )
    parser.add_argument(
        "--accelerator",
        default="cpu",
        help="Lightning accelerator of scbasis and SCVI ('gpu': one GPU; no compute-alone "
        "timing; see benchmarks/gpu.py)",
    )
    parser.add_argument("--no-accuracy", dest="accuracy", action="store_false")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, size = args.child
        print(json.dumps(_child(path, *parse_size(size), args)))
        return
    if "original" in args.paths:
        problem = original_code_problem(args.original_code)
        if problem is not None:
            parser.error(problem)
    for n_cells, n_genes in args.sizes:
        runs = {}
        for path in args.paths:
            child = subprocess.run(
                _child_command(path, n_cells, n_genes, args), capture_output=True, text=True
            )
            if child.returncode != 0:
                sys.exit(f"{path} at {n_cells} x {n_genes} failed:\n{child.stderr}")
            runs[path] = json.loads(child.stdout.strip().splitlines()[-1])
            print(_run_line(n_cells, n_genes, runs[path]), flush=True)
        if {"reference", "network"} <= runs.keys():
            ref, fast = runs["reference"], runs["network"]
            ll_diff = abs(fast["held_out_conditional_ll"] / ref["held_out_conditional_ll"] - 1)
            print(
                f"  speed-up {ref['seconds_per_epoch'] / fast['seconds_per_epoch']:.1f}x, "
                f"held-out conditional LL relative difference {ll_diff:.2e}"
            )
        if {"network", "basis"} <= runs.keys():
            network, basis = runs["network"], runs["basis"]
            print(
                "  basis / network: "
                f"{basis['seconds_per_epoch'] / network['seconds_per_epoch']:.2f}x per epoch, "
                f"{basis['train_seconds'] / network['train_seconds']:.2f}x per whole training"
            )
        if "accuracy" in runs.get("network", {}):
            _print_accuracy(runs["network"]["accuracy"])
        print(
            f"\n### Whole trainings at {n_cells:,} x {n_genes:,} (cells x genes)\n\n"
            f"Batch {args.batch_size}, {args.epochs} epochs"
            + (f" ({args.original_epochs} for the original code)" if "original" in runs else "")
            + f", {args.threads} torch threads; seconds per epoch exclude validation.\n\n"
            + _whole_training_table(runs, args.epochs)
        )
        if "original" in runs:
            original_seconds = runs["original"]["seconds_per_epoch"] * args.epochs
            print(
                f"\nThe original code's whole training of {args.epochs} epochs, from its "
                f"seconds per epoch: {original_seconds:.2f} s."
            )
        print(flush=True)
        print(json.dumps(runs), file=sys.stderr)


if __name__ == "__main__":
    main()
