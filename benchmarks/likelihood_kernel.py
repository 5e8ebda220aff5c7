"""Forward + backward time of the fused ZINB log-likelihood: compiled kernel, torch, torch.compile.

The fused path (:func:`scbasis.nn.cell_log_likelihood`, family-independent terms once per
entry, hand-written backward), with the compiled C kernel (the default where it runs) and with
torch operations (``SCBASIS_NATIVE_KERNEL=0``), against the same log-likelihood written densely
with ``torch.where`` over every (cell, gene, family), eager and compiled by TorchInductor, at the
single-cell benchmark's minibatch (128 cells x 5,216 genes, K = 3, about 24 % non-zero; log means
stored family-major, as the decoder returns them)::

    python benchmarks/likelihood_kernel.py [--genes 5216] [--repeats 20]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch.nn.functional import softplus

from scbasis.nn import cell_log_likelihood, native_kernel_available
from scbasis.nn._native_kernel import SWITCH


def dense_zinb(x, log_mean, log_theta, zi_logits, weights):
    """``sum_jk w_jk log ZINB(x_ij | exp(log_mean_ijk), theta_j, pi_ij)`` per cell, densely."""
    theta = torch.exp(log_theta)
    u = log_mean - log_theta[:, None]
    s = softplus(u)
    xk = x[..., None]
    nonzero = xk * u - (theta[:, None] + xk) * s
    zero = softplus(-theta[:, None] * s - zi_logits[..., None])
    dependent = (torch.where(xk > 0, nonzero, zero) * weights).sum((1, 2))
    lgammas = torch.lgamma(x + theta) - torch.lgamma(theta) - torch.lgamma(x + 1)
    independent = torch.where(x > 0, lgammas, 0.0).sum(1)
    return dependent + independent - (softplus(-zi_logits) + zi_logits * (x > 0)).sum(1)


def _milliseconds(step, repeats: int) -> float:
    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=128)
    parser.add_argument("--genes", type=int, default=5216)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(2)
    n, d, k = args.cells, args.genes, 3
    generator = torch.Generator().manual_seed(0)
    rate = torch.rand(n, d, generator=generator) * 2
    x = torch.poisson(rate, generator=generator) * (torch.rand(n, d, generator=generator) < 0.35)
    family_major = torch.randn(n, k, d, generator=generator) - 1
    params = [
        family_major.transpose(1, 2).requires_grad_(),  # log means, (n, d, k)
        torch.randn(d, generator=generator).requires_grad_(),  # log theta
        torch.randn(n, d, generator=generator).requires_grad_(),  # zero-inflation logits
        torch.softmax(torch.randn(d, k, generator=generator), -1).requires_grad_(),  # weights
    ]
    log_mean, log_theta, zi_logits, weights = params

    def fused():
        return cell_log_likelihood(
            x, "zinb", weights, log_mean=log_mean, theta=log_theta.exp(), zi_logits=zi_logits
        )

    compiled = torch.compile(dense_zinb)
    start = time.perf_counter()
    compiled(x, *params).sum().backward()
    compile_seconds = time.perf_counter() - start
    gap = (compiled(x, *params) - fused()).abs().max() / fused().abs().max()
    print(f"{n} cells x {d} genes x {k} families, {float((x > 0).float().mean()):.0%} non-zero")
    print(f"max relative difference, compiled dense vs fused: {gap.item():.1e}")
    for name, function in {
        "fused, compiled kernel": fused,
        "fused, torch operations": fused,
        "dense, eager": lambda: dense_zinb(x, *params),
        "dense, torch.compile": lambda: compiled(x, *params),
    }.items():
        os.environ[SWITCH] = "0" if name == "fused, torch operations" else "1"
        if name == "fused, compiled kernel" and not native_kernel_available():
            print(f"{name:<26}not available on this machine")
            continue
        ms = _milliseconds(lambda f=function: f().sum().backward(), args.repeats)
        print(f"{name:<26}{ms:8.1f} ms forward + backward")
    os.environ.pop(SWITCH)
    print(f"(compilation and first call: {compile_seconds:.1f} s)")


if __name__ == "__main__":
    main()
