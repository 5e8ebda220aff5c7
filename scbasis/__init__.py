"""scbasis: interpretable pseudotime and gene-behaviour clustering for scverse.

The submodules (:mod:`scbasis.model`, :mod:`scbasis.module`, :mod:`scbasis.nn`,
:mod:`scbasis.train`, :mod:`scbasis.data`, :mod:`scbasis.pl`) are imported on first access, so that
``import scbasis`` stays quick although scvi-tools and torch are heavy to import.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

try:
    #: The installed version of scbasis.
    __version__ = version("scbasis")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

_SUBMODULES = ("data", "metrics", "model", "module", "nn", "pl", "train")

__all__ = ["__version__", *_SUBMODULES]

if TYPE_CHECKING:
    from . import data, metrics, model, module, nn, pl, train  # noqa: F401


def __getattr__(name: str):
    if name in _SUBMODULES:
        submodule = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = submodule
        return submodule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
