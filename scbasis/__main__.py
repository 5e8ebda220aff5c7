"""Command line: ``python -m scbasis demo`` (also the ``scbasis`` console script)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scbasis", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="train BasisDeVAE on simulated counts; write an .h5ad, a figure and a summary",
    )
    demo.add_argument("--out", default="scbasis_demo", help="output folder (default: %(default)s)")
    demo.add_argument("--cells", type=int, default=2000, help="cells (default: %(default)s)")
    demo.add_argument("--genes", type=int, default=200, help="genes (default: %(default)s)")
    demo.add_argument("--epochs", type=int, default=100, help="epochs (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.add_argument("--no-progress", action="store_true", help="hide the training progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the command line."""
    args = _parser().parse_args(argv)
    from ._demo import run_demo

    summary = run_demo(
        out=args.out,
        n_cells=args.cells,
        n_genes=args.genes,
        max_epochs=args.epochs,
        seed=args.seed,
        progress_bar=not args.no_progress,
    )
    print(summary.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
