"""How well gene calls and pseudotimes match a known truth, and the observed-shape rule."""

from ._calls import (
    CONFIDENT,
    DEFAULT_RELIABILITY_BINS,
    CallScores,
    confident_error_rate,
    reliability_table,
    score_calls,
)
from ._shape import DEFAULT_SHAPE_THRESHOLD, SHAPES, curve_rise_fall, curve_shapes

__all__ = [
    "CONFIDENT",
    "DEFAULT_RELIABILITY_BINS",
    "DEFAULT_SHAPE_THRESHOLD",
    "SHAPES",
    "CallScores",
    "confident_error_rate",
    "curve_rise_fall",
    "curve_shapes",
    "reliability_table",
    "score_calls",
]
