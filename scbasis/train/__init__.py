"""Training of the scbasis models."""

from ._interrupt import StopOnInterrupt
from ._threads import ThreadsFollowFreeCores
from ._training_plan import PseudotimeTrainingPlan, check_finite, fused_adam

__all__ = [
    "PseudotimeTrainingPlan",
    "StopOnInterrupt",
    "ThreadsFollowFreeCores",
    "check_finite",
    "fused_adam",
]
