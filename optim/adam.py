"""Adam, with AMSGrad and decoupled weight decay as options; matches torch.optim.Adam.

Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization", Algorithm 1; the AMSGrad
variant from Reddi, Kale & Kumar (2018), "On the Convergence of Adam and Beyond":

    g ← -g                               if maximize
    θ ← θ (1 - lr λ)                     weight_decay λ with decoupled_weight_decay (AdamW)
    g ← g + λθ                           weight_decay λ otherwise: an L2 penalty
    m ← β1 m + (1 - β1) g                first moment
    v ← β2 v + (1 - β2) g²               second moment
    v_max ← max(v_max, v); v ← v_max     amsgrad: the running max of the raw v
    m̂ = m / (1 - β1^t)
    v̂ = v / (1 - β2^t)
    θ ← θ - lr m̂ / (sqrt(v̂) + ε)         eps ε added AFTER bias-correcting v (Algorithm 1),
                                         not the "ε-hat" form of the paper's section 2

Sparse gradients: lazy (as TensorFlow's LazyAdam): only touched rows of m, v (v_max) and θ
change. The bias corrections use the parameter's step count t, which advances every step, so a
row touched again after a gap is corrected as if its stale moments were current. Decoupled decay
(AdamW) shrinks touched rows only, like TensorFlow Addons' lazy AdamW; L2 decay likewise.
"""
import math

import numpy as np

from minigrad.backend import get_array_module

from ._kernels import ema_, ema_square_, loop_form
from .optimizer import Optimizer


class Adam(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False, fused=None,
                 foreach=None, capturable=False, differentiable=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay, fused=fused,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)


    def _init_state(self, theta, group):
        xp = get_array_module(theta)
        state = {"step": 0, "exp_avg": xp.zeros_like(theta), "exp_avg_sq": xp.zeros_like(theta)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(theta)
        return state

    def _update(self, theta, g, state, group):
        xp = get_array_module(theta)
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        g = self._grad_with_decay(theta, g, group)
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        m[...] = beta1 * m + (1 - beta1) * g            # m ← β1 m + (1-β1) g
        v[...] = beta2 * v + (1 - beta2) * g * g        # v ← β2 v + (1-β2) g²
        if group["amsgrad"]:
            v_max = state["max_exp_avg_sq"]
            v_max[...] = xp.maximum(v_max, v)           # v_max ← max(v_max, v)
            v = v_max
        m_hat = m / (1 - beta1 ** t)                    # m̂ = m / (1-β1^t)
        v_hat = v / (1 - beta2 ** t)                    # v̂ = v / (1-β2^t)
        theta -= lr * m_hat / (xp.sqrt(v_hat) + eps)    # θ ← θ - lr m̂ / (sqrt(v̂) + ε)

    # ======================================================================== fast path
    def _update_fast(self, theta, g, state, group):
        """The scalar half of the step; _adam_kernel does the arrays (see optim/_kernels.py)."""
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        g, decay = self._grad_and_decay_factor(theta, g, group)   # decay: applied in the kernel
        state["step"] += 1
        t = state["step"]
        arrays = [theta, g, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq")]
        # m̂ / (sqrt(v̂) + ε) = (sqrt(1-β2^t) / (1-β1^t)) m / (sqrt(v) + ε sqrt(1-β2^t))
        root_bc2 = math.sqrt(1 - beta2 ** t)
        c = (decay, 1 - beta1, beta2, 1 - beta2, eps * root_bc2, lr * root_bc2 / (1 - beta1 ** t))
        return _adam_kernel, arrays, c


class AMSGrad(Adam):
    """Adam with amsgrad=True: Reddi, Kale & Kumar (2018). The running maximum is taken over
    the raw second moment v, and bias-corrected afterwards (as torch.optim.Adam(amsgrad=True))."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *,
                 maximize=False, decoupled_weight_decay=False, fused=None, foreach=None,
                 capturable=False, differentiable=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad=True, maximize=maximize,
                         decoupled_weight_decay=decoupled_weight_decay, fused=fused,
                         foreach=foreach, capturable=capturable, differentiable=differentiable)


def _adam_kernel(c, theta, g, m, v, v_max, tmp):
    """Adam in place, with ufuncs; v_max is None without amsgrad."""
    decay, one_minus_beta1, beta2, one_minus_beta2, eps_scaled, step_size = c
    xp = get_array_module(theta)
    if decay != 1.0:
        theta *= decay              # θ ← θ (1 - lr λ), decoupled weight decay
    ema_(m, g, one_minus_beta1, tmp)  # m ← β1 m + (1-β1) g
    ema_square_(v, g, beta2, one_minus_beta2, tmp)  # v ← β2 v + (1-β2) g²
    if v_max is not None:
        xp.maximum(v_max, v, out=v_max)
        v = v_max                   # v_max ← max(v_max, v)
    xp.sqrt(v, out=tmp)
    tmp += eps_scaled
    xp.divide(m, tmp, out=tmp)
    tmp *= step_size
    theta -= tmp                    # θ ← θ - lr m̂ / (sqrt(v̂) + ε)


@loop_form(_adam_kernel)
def _adam_loop(theta, g, m, v, v_max, decay, one_minus_beta1, beta2, one_minus_beta2,
               eps_scaled, step_size):
    """The same, one element at a time (compiled; see optim/_kernels.py); v_max empty without
    amsgrad."""
    amsgrad = v_max.size > 0
    for i in range(theta.size):
        theta[i] *= decay                                           # θ ← θ (1 - lr λ)
        m[i] += (g[i] - m[i]) * one_minus_beta1                     # m ← β1 m + (1-β1) g
        v[i] = v[i] * beta2 + g[i] * g[i] * one_minus_beta2         # v ← β2 v + (1-β2) g²
        v_i = v[i]
        if amsgrad:
            v_max[i] = np.maximum(v_max[i], v_i)                    # v_max ← max(v_max, v)
            v_i = v_max[i]
        theta[i] -= m[i] / (np.sqrt(v_i) + eps_scaled) * step_size  # θ ← θ - lr m̂ / (sqrt(v̂) + ε)
