"""SparseAdam: Adam for sparse gradients only; matches torch.optim.SparseAdam.

Kingma & Ba (2015), applied lazily to the rows a sparse gradient touches, in PyTorch's form,
which puts eps in the paper's section-2 "ε-hat" place: added to sqrt(v) BEFORE the bias
correction of v (unlike optim.Adam, whose lazy mode adds it after):

    g ← -g                                   if maximize
    m_i ← β1 m_i + (1 - β1) g_i              touched rows i only
    v_i ← β2 v_i + (1 - β2) g_i²
    θ_i ← θ_i - lr sqrt(1 - β2^t) / (1 - β1^t) · m_i / (sqrt(v_i) + ε)
t counts the parameter's steps. No weight decay. Dense gradients raise (use Adam).
"""
import math

from minigrad.sparse import RowSparseGrad

from .optimizer import Optimizer, check


class SparseAdam(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    lazy_sparse = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, maximize=maximize))

    def _check_group(self, group):
        super()._check_group(group)
        check(group["eps"] > 0.0, "eps", group["eps"], "> 0")

    def _check_grad(self, p):
        if not isinstance(p.grad, RowSparseGrad):
            raise TypeError("SparseAdam does not support dense gradients; use Adam, or "
                            "Embedding(sparse=True) for the parameters given to SparseAdam")
        super()._check_grad(p)

    def _init_state(self, theta, group):
        from minigrad.backend import get_array_module
        xp = get_array_module(theta)
        return {"step": 0, "exp_avg": xp.zeros_like(theta), "exp_avg_sq": xp.zeros_like(theta)}

    def _update_sparse(self, theta, grad, state, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        i, g = grad.indices, grad.values
        g = -g if group["maximize"] else g
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        m[i] = m[i] + (1 - beta1) * (g - m[i])                          # m_i ← β1 m_i + (1-β1) g_i
        v[i] = v[i] + (1 - beta2) * (g * g - v[i])                      # v_i ← β2 v_i + (1-β2) g_i²
        step_size = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        theta[i] -= step_size * m[i] / (v[i] ** 0.5 + eps)             # ε before the correction
