"""Automatic differentiation beyond backward(): `grad` (torch.autograd.grad) and, in
`minigrad.autograd.functional`, vjp, jvp, hvp, vhp, jacobian and hessian.

The engine itself is engine.py; how one op's derivative serves the first-order and the recorded
backward is explained in minigrad/function.py.
"""
from . import functional
from .engine import grad

__all__ = ["grad", "functional"]
