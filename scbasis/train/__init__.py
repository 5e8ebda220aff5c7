"""Training of the scbasis models."""

from ._heap import KeepFreedMemory
from ._interrupt import StopOnInterrupt
from ._threads import ThreadsFollowFreeCores
from ._training_plan import PseudotimeTrainingPlan, check_finite, fused_adam

__all__ = [
    "KeepFreedMemory",
    "PseudotimeTrainingPlan",
    "StopOnInterrupt",
    "ThreadsFollowFreeCores",
    "check_finite",
    "fused_adam",
]
