"""Command line: ``python -m scbasis demo`` (also the ``scbasis`` console script)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _at_least(minimum: int):
    """An argparse type: an integer of at least ``minimum``, else a usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="scbasis",
        description="Interpretable pseudotime and gene-behaviour clustering for scverse.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="train BasisDeVAE on simulated counts; write an .h5ad, figures and a summary",
        description="Simulate counts with known pseudotime and gene families, train "
        "BasisDeVAE, write the results and figures, and score them against the truth.",
    )
    demo.add_argument("--out", default="scbasis_demo", help="output folder (default: %(default)s)")
    demo.add_argument(
        "--cells", type=_at_least(20), default=2000, help="cells, >= 20 (default: %(default)s)"
    )
    demo.add_argument(
        "--genes", type=_at_least(3), default=200, help="genes, >= 3 (default: %(default)s)"
    )
    demo.add_argument(
        "--epochs", type=_at_least(1), default=100, help="epochs, >= 1 (default: %(default)s)"
    )
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
        progress_bar=False if args.no_progress else None,
    )
    print(summary.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
