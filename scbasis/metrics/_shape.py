"""The observed shape of a curve over a stretch of time: the truth a gene call is scored against.

A gene drawn as a bump whose peak lies at the edge of the cells' time range is monotone on the
data, and a sigmoid that switches before the first cell is flat on it. What any method can be
asked to find is the shape each curve takes over the range the cells cover, read off by one rule:

* **transient** when the curve rises by more than ``threshold`` to its maximum and falls by more
  than ``threshold`` after it;
* otherwise **flat** when its whole range is at most ``threshold``;
* otherwise **increasing** or **decreasing** by the sign of its end-to-end change.

Curves are on a log scale (natural-log rates or log-normalised expression), so ``threshold`` is
in log units (0.5: a 1.65-fold change).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Observed shapes, in the order of the model's families plus ``"flat"``.
SHAPES: tuple[str, ...] = ("increasing", "decreasing", "transient", "flat")
#: Default threshold of :func:`curve_shapes`, in natural-log units.
DEFAULT_SHAPE_THRESHOLD = 0.5


def curve_rise_fall(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rise to the maximum, fall after it and end-to-end change of each curve.

    Parameters
    ----------
    curves
        Values on an increasing time grid, ``(n_times, n_curves)``.

    Returns
    -------
    rise, fall, change : numpy.ndarray
        ``max - min(before the maximum)``, ``max - min(after the maximum)`` and
        ``last - first``, each ``(n_curves,)``.
    """
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 2 or curves.shape[0] < 2:
        raise ValueError(
            f"curves must be (n_times, n_curves) with at least 2 times, got {curves.shape}."
        )
    if not np.all(np.isfinite(curves)):
        raise ValueError("curves hold NaN or infinite values; a log of a zero rate?")
    top = np.argmax(curves, axis=0)
    time_index = np.arange(curves.shape[0])[:, None]
    peak = curves.max(axis=0)
    rise = peak - np.where(time_index <= top, curves, np.inf).min(axis=0)
    fall = peak - np.where(time_index >= top, curves, np.inf).min(axis=0)
    return rise, fall, curves[-1] - curves[0]


def curve_shapes(curves: np.ndarray, threshold: float = DEFAULT_SHAPE_THRESHOLD) -> pd.Categorical:
    """The observed shape of each curve by the rule of this module.

    Parameters
    ----------
    curves
        Log-scale values on an increasing time grid, ``(n_times, n_curves)``.
    threshold
        Smallest rise and fall (log units) that make a curve transient, and largest range of a
        flat curve.

    Returns
    -------
    pandas.Categorical
        Of length ``n_curves``, with categories :data:`SHAPES`.
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be positive, got {threshold!r}.")
    rise, fall, change = curve_rise_fall(curves)
    shape = np.where(change > 0, "increasing", "decreasing").astype(object)
    shape[np.maximum(rise, fall) <= threshold] = "flat"
    shape[(rise > threshold) & (fall > threshold)] = "transient"
    return pd.Categorical(shape.astype(str), categories=list(SHAPES))
