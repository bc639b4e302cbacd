"""Learning-rate schedules with torch.optim.lr_scheduler's semantics.

Constructing a scheduler applies its first value; each `step()` (after `optimizer.step()`)
moves one step along. Most schedules are written, like PyTorch's, as a recursive update of the
group's current lr (so they can be chained); `_closed_form` gives lr(step) directly where one
exists, and is what `step(epoch)` uses. `WarmupCosine` is a plain function of the step.
"""
from .base import LRScheduler
from .combined import ChainedScheduler, SequentialLR
from .cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts, WarmupCosine
from .cyclic import CyclicLR, OneCycleLR
from .multiplicative import (ConstantLR, ExponentialLR, LambdaLR, LinearLR, MultiplicativeLR,
                             MultiStepLR, PolynomialLR, StepLR)
from .plateau import ReduceLROnPlateau

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR",
           "LinearLR", "ExponentialLR", "PolynomialLR", "CosineAnnealingLR",
           "CosineAnnealingWarmRestarts", "WarmupCosine", "CyclicLR", "OneCycleLR",
           "ReduceLROnPlateau", "SequentialLR", "ChainedScheduler"]
