"""Training of the scbasis models."""

from ._training_plan import PseudotimeTrainingPlan, fused_adam

__all__ = ["PseudotimeTrainingPlan", "fused_adam"]
