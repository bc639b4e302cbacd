"""Optimizers, learning-rate schedules and gradient clipping (see issue #3)."""
