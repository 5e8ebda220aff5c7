"""Command-line sizes such as ``8509x5216``, shared by the benchmark scripts."""

from __future__ import annotations

import argparse


def parse_size(text: str) -> tuple[int, int]:
    """``"8509x5216"`` -> ``(8509, 5216)`` (cells, genes), for ``argparse`` ``type=``."""
    try:
        n_cells, n_genes = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 8509x5216, got {text!r}") from None
    return n_cells, n_genes
