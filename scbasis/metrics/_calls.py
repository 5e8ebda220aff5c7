"""Scores of gene-behaviour calls against a known truth: agreement and calibration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

#: Bin edges of :func:`reliability_table` over the top probability (the last bin holds 1).
DEFAULT_RELIABILITY_BINS: tuple[float, ...] = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
#: Top probability from which a call counts as confident.
CONFIDENT = 0.9


def _top(probabilities: np.ndarray) -> np.ndarray:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2:
        raise ValueError(
            f"probabilities must be (n_genes, n_families), got shape {probabilities.shape}."
        )
    return probabilities.max(axis=1)


def reliability_table(
    probabilities: np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    bins: Sequence[float] = DEFAULT_RELIABILITY_BINS,
) -> pd.DataFrame:
    """Predicted top probability in bins against the observed fraction of right calls.

    A calibrated caller is right, among the genes it calls with top probability near ``p``,
    a fraction ``p`` of the time.

    Parameters
    ----------
    probabilities
        Family probabilities ``(n_genes, n_families)``; each gene is called its most probable
        family with its top probability.
    correct
        Whether each gene's call is right, ``(n_genes,)``.
    bins
        Increasing bin edges over ``[0, 1]``; a bin holds ``low <= p < high``, the last also
        ``p = high``.

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``low``, ``high``, ``n_genes``, ``mean_probability`` and
        ``fraction_correct`` (NaN in empty bins) and ``gap``
        (``fraction_correct - mean_probability``).
    """
    top = _top(probabilities)
    correct = np.asarray(correct, dtype=bool)
    if correct.shape != top.shape:
        raise ValueError(f"correct must have one entry per gene ({top.size}), got {correct.size}.")
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins must be at least two increasing edges, got {list(bins)}.")
    index = np.clip(np.searchsorted(edges, top, side="right") - 1, 0, edges.size - 2)
    rows = []
    for b in range(edges.size - 1):
        members = index == b
        n = int(members.sum())
        mean_p = float(top[members].mean()) if n else np.nan
        right = float(correct[members].mean()) if n else np.nan
        rows.append((edges[b], edges[b + 1], n, mean_p, right, right - mean_p))
    return pd.DataFrame(
        rows,
        columns=["low", "high", "n_genes", "mean_probability", "fraction_correct", "gap"],
    )


def confident_error_rate(
    probabilities: np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    threshold: float = CONFIDENT,
) -> float:
    """Share of wrong calls among those made with top probability ``>= threshold``.

    NaN when no call is that confident.
    """
    top = _top(probabilities)
    correct = np.asarray(correct, dtype=bool)
    confident = top >= threshold
    return float((~correct[confident]).mean()) if confident.any() else float("nan")


@dataclass(frozen=True)
class CallScores:
    """How a set of gene calls matches the truth."""

    #: Adjusted Rand index of the calls against the truth.
    ari: float
    #: Fraction of genes called right.
    accuracy: float
    #: Genes called with top probability >= 0.9.
    n_confident: int
    #: Share of those that are wrong (NaN without confident calls or without probabilities).
    confident_error_rate: float


def score_calls(
    truth: Sequence[str],
    calls: Sequence[str],
    probabilities: np.ndarray | None = None,
) -> CallScores:
    """Score gene-behaviour calls against the truth (for example ``var["observed_family"]``).

    Parameters
    ----------
    truth, calls
        Family of each gene, ``(n_genes,)``.
    probabilities
        The caller's family probabilities ``(n_genes, n_families)``, if it gives any.
    """
    truth, calls = np.asarray(truth).astype(str), np.asarray(calls).astype(str)
    if truth.shape != calls.shape:
        raise ValueError(f"truth and calls differ in length: {truth.size} and {calls.size}.")
    correct = truth == calls
    if probabilities is None:
        n_confident, error = 0, float("nan")
    else:
        n_confident = int((_top(probabilities) >= CONFIDENT).sum())
        error = confident_error_rate(probabilities, correct)
    return CallScores(
        ari=float(adjusted_rand_score(truth, calls)),
        accuracy=float(correct.mean()),
        n_confident=n_confident,
        confident_error_rate=error,
    )
