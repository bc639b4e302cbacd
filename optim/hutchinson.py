"""Hutchinson's estimate of the Hessian diagonal, and the step of the optimizers that read it
(AdaHessian, Sophia).

Hutchinson (1990); Bekas, Kokiopoulou & Saad (2007) for the diagonal: for z with independent
entries of mean 0 and variance 1 (Rademacher ±1, or Gaussian),

    E[z ⊙ (H z)] = diag(H)

so one Hessian-vector product per sample gives an unbiased estimate D of the diagonal:

    D = (1/n) Σ_i z_i ⊙ (H z_i)          num_samples n; H z = ∇(g · z), the gradient of the
                                          gradient, which is why the gradient must have a graph

The gradient's graph is what `loss.backward(create_graph=True)` leaves in each parameter's
`.grad_graph` (minigrad/function.py); the product is one `minigrad.autograd.grad` of all of them
at once, with the z's as grad_outputs, as pytorch_optimizer computes it. z is drawn from
minigrad's generator (`mg.manual_seed` makes a run reproducible), in the parameter's dtype.

D enters the rule as state ("hessian", the reference's key), written here before the rule runs:
a rule's arrays are θ, g and its state, and D must outlive the step anyway when it is estimated
only every `update_period` steps (the reference keeps it too, so the layouts agree). The step of
its last estimate is kept beside it ("hessian_step"), and a rule folds D into its moment only on
that step: between estimates the moment holds, as pytorch_optimizer's does.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad import backend, tracer
from minigrad.autograd import grad as autograd_grad
from minigrad.function import enable_grad
from minigrad.tensor import Tensor

from .checks import check
from .optimizer import Optimizer

DISTRIBUTIONS = ("rademacher", "gaussian")

NO_GRAPH = ("{name} estimates the Hessian from the gradient's graph, and parameter {i} (shape "
            "{shape}) has a gradient without one: call loss.backward(create_graph=True) before "
            "step(), or pass step(hessian=[...]) with your own estimates")


def count(name: str, value: Any) -> int:
    """An integer >= 1 (a number of steps or samples)."""
    check(isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1,
          name, value, "an integer >= 1")
    return int(value)


def distribution(name: str, value: Any) -> str:
    """'rademacher' (z = ±1) or 'gaussian' (z ~ N(0, 1))."""
    check(value in DISTRIBUTIONS, name, value, "'rademacher' or 'gaussian'")
    return value


def draw(shape: tuple[int, ...], dtype: Any, device: Any, kind: str) -> Any:
    """One z: independent entries of mean 0 and variance 1, on minigrad's generator."""
    if kind == "gaussian":
        return backend.normal(0.0, 1.0, shape, dtype, device)
    z = backend.rng().integers(0, 2, size=shape).astype(dtype) * 2 - 1  # Rademacher: ±1
    return backend.to_device(z, device)


def hutchinson(params: Sequence[Tensor], num_samples: int, kind: str,
               name: str = "the optimizer") -> list[Any]:
    """D ≈ diag(H) for each parameter (raw arrays, in order): the mean over num_samples of
    z ⊙ (H z), from the graphs in the parameters' `.grad_graph`. RuntimeError, naming the
    parameter, for a gradient made without create_graph, and for one that is a constant of the
    graph (the loss is linear in everything it depends on): its D would be exactly 0, and a step
    divided by D's root (AdaHessian's lr m̂ / (sqrt(v̂) + ε), ε = 1e-16) would throw the parameter
    to ±1e15. The references refuse it too (torch.autograd.grad: "element i of tensors does not
    require grad")."""
    for i, p in enumerate(params):
        if p.grad_graph is None:
            raise RuntimeError(NO_GRAPH.format(name=name, i=i, shape=tuple(p.shape)))
        if not p.grad_graph.requires_grad:
            raise RuntimeError(
                f"{name} estimates the Hessian's diagonal, and parameter {i} (shape {tuple(p.shape)}) "
                "has a gradient that depends on no parameter: the loss is linear in it, its Hessian "
                "diagonal is 0, and a step divided by it would blow up. Give this parameter to "
                "another optimizer, or pass step(hessian=[...]) with your own estimates")
    xp = backend.get_array_module
    D = [xp(p.data).zeros_like(p.data) for p in params]
    if not params:
        return D
    outputs = [p.grad_graph for p in params]
    for s in range(num_samples):
        zs = [draw(p.shape, p.dtype, p.device, kind) for p in params]
        with enable_grad():
            Hz = autograd_grad(outputs, list(params), grad_outputs=zs,
                               retain_graph=s < num_samples - 1, allow_unused=True)
        for d, z, hz in zip(D, zs, Hz):
            if hz is not None:
                d += z * hz.data / num_samples                      # D ← D + z ⊙ (H z) / n
    return D


def spatial_average(D: Any) -> Any:
    """A convolution kernel's (4-D: out, in, kh, kw) D, averaged over each kernel's positions
    as |D|, as the AdaHessian authors do (their block-diagonal averaging); others unchanged."""
    if D.ndim != 4:
        return D
    xp = backend.get_array_module(D)
    return xp.broadcast_to(xp.abs(D).mean(axis=(2, 3), keepdims=True), D.shape).copy()


class HessianOptimizer(Optimizer):
    """The step of an optimizer whose rule reads D, the Hessian's diagonal (state "hessian"):
    estimate D where it is due, then run the rule. Not an algorithm itself (no hyperparameters)."""

    average_conv_kernel = False  # AdaHessian's spatial averaging of 4-D parameters' D
    needs_graph = True  # the estimate differentiates .grad_graph (a training loop reads this)
    carried_ranges = {"hessian_step": (lambda t: 0 <= t <= 2 ** 53,
                                       "an integer 0 <= hessian_step (the step D was made for)")}
    dense_only_reason = "its Hessian estimate differentiates the dense gradient"

    @tracer.replayed  # outside the graph: a compiled step (mg.compile) calls it again
    def step(self, closure: Callable[[], Any] | None = None,
             hessian: Sequence[Any] | None = None) -> Any:
        """One update; returns closure()'s loss.

        D is estimated (Hutchinson, from `.grad_graph`) for each parameter whose step t has
        (t - 1) % update_period == 0, unless `hessian` is given: then it is D for every
        parameter with a gradient, in the order of the groups (arrays or Tensors of each
        parameter's shape; a list over all parameters, as pytorch_optimizer's, works too),
        used as given, on any step. Everything is checked, and D computed, before any state or
        parameter is written."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        work = [(p, group) for group in self.param_groups for p in group["params"]
                if p.grad is not None]
        for p, _ in work:
            self._check_grad(p)  # sparse refused here, naming why
        first = self.param_groups[0]
        for group in self.param_groups:  # one estimate serves every group
            for name in ("num_samples", "hessian_distribution"):
                if group[name] != first[name]:
                    raise ValueError(f"{type(self).__name__}: {name} is {group[name]!r} in one "
                                     f"group and {first[name]!r} in the first; one Hessian "
                                     "estimate serves all groups")
        if hessian is not None:
            fresh = self._given(work, hessian)
        else:
            due = [(p, group) for p, group in work if self._due(p, group)]
            D = hutchinson([p for p, _ in due], first["num_samples"],
                           first["hessian_distribution"], type(self).__name__)
            fresh = [(p, group, d) for (p, group), d in zip(due, D)]
        for p, group, d in fresh:
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = self.start_state(p.data, group)
            if self.average_conv_kernel and hessian is None:
                d = spatial_average(d)
            state["hessian"] = d
            state["hessian_step"] = state["step"] + 1  # the step about to be taken
        Optimizer.step(self)
        return loss

    def _due(self, p: Tensor, group: dict) -> bool:
        """Whether parameter p's next step t estimates D: (t - 1) % update_period == 0."""
        state = self.state.get(p)
        t = 1 if state is None else state["step"] + 1
        return (t - 1) % group["update_period"] == 0

    def _given(self, work: list, hessian: Sequence[Any]) -> list:
        """[(p, group, D)] from the hessian argument, each checked against its parameter and
        copied into the parameter's dtype."""
        if isinstance(hessian, (Tensor, np.ndarray)) or backend.is_array(hessian):
            raise TypeError(f"{type(self).__name__}.step: hessian is a list of arrays, one per "
                            "parameter with a gradient; got a single array")
        hessian = list(hessian)
        everyone = [(p, group) for group in self.param_groups for p in group["params"]]
        if len(hessian) == len(everyone) != len(work):
            hessian = [d for (p, _), d in zip(everyone, hessian) if p.grad is not None]
        if len(hessian) != len(work):
            raise ValueError(f"{type(self).__name__}.step: hessian has {len(hessian)} entries "
                             f"for {len(work)} parameters with a gradient; give one per "
                             "parameter with a gradient, in the order of the groups")
        out = []
        for i, ((p, group), d) in enumerate(zip(work, hessian)):
            d = d.data if isinstance(d, Tensor) else d
            if not (isinstance(d, np.ndarray) or backend.is_array(d)):
                raise TypeError(f"{type(self).__name__}.step: hessian[{i}] is a "
                                f"{type(d).__name__}, expected an array of shape {p.shape}")
            if tuple(d.shape) != tuple(p.shape):
                raise ValueError(f"{type(self).__name__}.step: hessian[{i}] has shape "
                                 f"{tuple(d.shape)}, its parameter {tuple(p.shape)}")
            if d.dtype.kind != "f":
                raise TypeError(f"{type(self).__name__}.step: hessian[{i}] has dtype {d.dtype}, "
                                "expected a floating-point array")
            if backend.device_of(d) != p.device:
                raise RuntimeError(f"{type(self).__name__}.step: hessian[{i}] is on "
                                   f"{backend.device_of(d)}, its parameter on {p.device}")
            out.append((p, group, d.astype(p.dtype, copy=True)))
        return out
