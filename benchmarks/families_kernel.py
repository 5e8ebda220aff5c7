"""Forward + backward time of BasisDeVAE's three families: compiled kernel against torch.

:func:`scbasis.nn.families` turns the decoder's integrals into the increasing, decreasing and
transient curves (with the basal level and log scale the count models use). Timed at the
single-cell benchmark's minibatch (128 cells x 5,216 genes), with the compiled kernel (the
default where it runs) and with torch operations (``SCBASIS_NATIVE_KERNEL=0``); each figure is
the median of ``--repeats`` calls::

    python benchmarks/families_kernel.py [--genes 5216] [--repeats 40]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from scbasis.nn import families, native_kernel_available
from scbasis.nn._native_kernel import SWITCH


def _median_milliseconds(step, repeats: int) -> float:
    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return sorted(times)[repeats // 2] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=128)
    parser.add_argument("--genes", type=int, default=5216)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(2)
    n, d = args.cells, args.genes
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(n, generator=generator).requires_grad_()
    integrals = torch.randn(n, 3 * d, generator=generator).abs().requires_grad_()
    moment = torch.randn(n, d, generator=generator).abs().requires_grad_()
    genes = [torch.randn(d, generator=generator).requires_grad_() for _ in range(5)]
    weights = torch.randn(n, d, 3, generator=generator)

    def forward():
        return families(z, integrals, moment, *genes, min_slope=1.0, log_scale=True)

    def forward_backward():
        (forward() * weights).sum().backward()

    print(f"{n} cells x {d} genes, basal level, log scale, kappa = 1")
    for name, switch in [("compiled kernel", "1"), ("torch operations", "0")]:
        os.environ[SWITCH] = switch
        if switch == "1" and not native_kernel_available():
            print(f"{name:<18}not available on this machine")
            continue
        with torch.no_grad():
            forward_ms = _median_milliseconds(forward, args.repeats)
        both_ms = _median_milliseconds(forward_backward, args.repeats)
        print(f"{name:<18}{forward_ms:6.1f} ms forward, {both_ms:6.1f} ms forward + backward")
    os.environ.pop(SWITCH)


if __name__ == "__main__":
    main()
