"""Quiet training: Lightning's start-up chatter off, a progress bar only where one is read."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# Lightning's informational lines (accelerators found, product tips, why fitting stopped) go
# to this logger; its warnings (e.g. "GPU available but not used") are warnings and still show.
_LIGHTNING_LOGGER = "lightning.pytorch"

# Messages about Lightning's own internals or its defaults that a user cannot act on.
_NOISE = (
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # Lightning's use of torch's pytree
    r"The number of training batches \(\d+\) is smaller than the logging interval",
)


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's informational lines and known noise while the block runs.

    Lightning's logger is raised to ``WARNING`` and restored afterwards; warnings other than
    the messages in ``_NOISE`` are untouched.
    """
    logger = logging.getLogger(_LIGHTNING_LOGGER)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for message in _NOISE:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        logger.setLevel(level)


def progress_bar_is_read() -> bool:
    """Whether a progress bar would be seen: stdout (Lightning's bar) is a terminal, or Jupyter.

    Written to a file or a pipe, a progress bar keeps every refresh.
    """
    if "ipykernel" in sys.modules:
        return True
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())
