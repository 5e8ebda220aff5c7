"""The observed-shape rule on closed-form curves, and the scores of calls against hand counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from scbasis.metrics import (
    SHAPES,
    confident_error_rate,
    curve_rise_fall,
    curve_shapes,
    reliability_table,
    score_calls,
)

T = np.linspace(0.0, 1.0, 401)[:, None]


def _bump(peak: float, width: float, height: float = 2.0) -> np.ndarray:
    return height * np.exp(-0.5 * ((T - peak) / width) ** 2)


def test_rise_and_fall_of_closed_form_curves():
    curves = np.hstack([_bump(0.5, 0.1), 3 * T, -2 * T, np.zeros_like(T) + 1.0])
    rise, fall, change = curve_rise_fall(curves)
    # the bump rises from 2 exp(-12.5) to 2 and falls back to the same value
    assert rise[0] == pytest.approx(2 - 2 * np.exp(-12.5))
    assert fall[0] == pytest.approx(rise[0])
    assert (rise[1], fall[1], change[1]) == pytest.approx((3.0, 0.0, 3.0))
    assert (rise[2], fall[2], change[2]) == pytest.approx((0.0, 2.0, -2.0))
    assert (rise[3], fall[3], change[3]) == pytest.approx((0.0, 0.0, 0.0))


def test_a_bump_peaking_outside_the_range_is_monotone():
    shapes = curve_shapes(np.hstack([_bump(1.3, 0.2), _bump(-0.4, 0.3), _bump(0.5, 0.1)]))
    assert list(shapes) == ["increasing", "decreasing", "transient"]
    assert list(shapes.categories) == list(SHAPES)


def test_a_sigmoid_is_never_transient():
    midpoints, steepness = np.linspace(0.05, 0.95, 7), np.geomspace(2, 200, 6)
    sigmoids = np.hstack([3 * expit(k * (T - m)) for m in midpoints for k in steepness])
    shapes = np.asarray(curve_shapes(np.hstack([sigmoids, -sigmoids])))
    n = sigmoids.shape[1]
    # shallow sigmoids change by less than the threshold: flat; none is ever transient
    assert set(shapes[:n]) <= {"increasing", "flat"} and "increasing" in set(shapes[:n])
    assert set(shapes[n:]) <= {"decreasing", "flat"} and "decreasing" in set(shapes[n:])


def test_threshold_decides_small_bumps_and_small_changes():
    # rises by 1.0 to its peak and falls by 0.4 after it
    curve = np.interp(T[:, 0], [0.0, 0.6, 1.0], [0.0, 1.0, 0.6])[:, None]
    assert curve_shapes(curve, threshold=0.5)[0] == "increasing"
    assert curve_shapes(curve, threshold=0.3)[0] == "transient"
    assert curve_shapes(curve, threshold=1.5)[0] == "flat"
    with pytest.raises(ValueError, match="positive"):
        curve_shapes(curve, threshold=0.0)
    with pytest.raises(ValueError, match="n_times"):
        curve_rise_fall(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        curve_rise_fall(np.array([[0.0], [np.nan]]))


def test_reliability_table_counts_by_hand():
    probabilities = np.array(
        [[0.55, 0.45], [0.65, 0.35], [0.62, 0.38], [0.95, 0.05], [1.0, 0.0], [0.3, 0.7]]
    )
    correct = [True, False, True, True, False, True]
    table = reliability_table(probabilities, correct, bins=(0.0, 0.6, 0.9, 1.0))
    assert table["n_genes"].tolist() == [1, 3, 2]
    # bin [0, 0.6): 0.55 right; [0.6, 0.9): 0.65 wrong, 0.62 right, 0.7 right; [0.9, 1]: ...
    np.testing.assert_allclose(table["mean_probability"], [0.55, (0.65 + 0.62 + 0.7) / 3, 0.975])
    np.testing.assert_allclose(table["fraction_correct"], [1.0, 2 / 3, 0.5])
    np.testing.assert_allclose(table["gap"], table["fraction_correct"] - table["mean_probability"])
    empty = reliability_table(probabilities[:1], [True], bins=(0.0, 0.5, 1.0))
    assert empty["n_genes"].tolist() == [0, 1] and np.isnan(empty["fraction_correct"][0])


def test_confident_error_rate_and_scores_by_hand():
    probabilities = np.array([[0.95, 0.05], [0.92, 0.08], [0.6, 0.4], [0.99, 0.01]])
    truth = ["increasing", "transient", "transient", "decreasing"]
    calls = ["increasing", "increasing", "transient", "decreasing"]
    correct = np.asarray(truth) == np.asarray(calls)
    assert confident_error_rate(probabilities, correct) == pytest.approx(1 / 3)
    assert np.isnan(confident_error_rate(probabilities, correct, threshold=0.999))
    scores = score_calls(pd.Categorical(truth), calls, probabilities)
    assert scores.accuracy == pytest.approx(0.75)
    assert scores.n_confident == 3
    assert scores.confident_error_rate == pytest.approx(1 / 3)
    # ARI of {a, b, b, c} against {a, a, b, c}: pairs (n choose 2) table by hand
    # contingency [[1,0,0],[1,1,0],[0,0,1]]: sum_ij C(n_ij, 2) = 0; rows C(1)+C(2)+C(1) = 1;
    # cols C(2)+C(1)+C(1) = 1; expected = 1 * 1 / C(4, 2) = 1/6; max = 1; ARI = -1/6 / (5/6)
    assert scores.ari == pytest.approx(-0.2)
    perfect = score_calls(truth, truth)
    assert perfect.ari == 1.0 and np.isnan(perfect.confident_error_rate)
    with pytest.raises(ValueError, match="differ in length"):
        score_calls(truth, calls[:2])
