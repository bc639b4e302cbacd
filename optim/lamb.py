"""LAMB: layer-wise adaptive moments, for large batches.

You et al. (2020), "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
Algorithm 2, with φ the identity. Not in torch.optim; tested against a literal transcription of
the paper's algorithm. Each parameter tensor is one "layer": its step is scaled by the trust
ratio ||θ|| / ||r + λθ||.

    g ← -g                                  if maximize
    m ← β1 m + (1 - β1) g
    v ← β2 v + (1 - β2) g²
    m̂ = m / (1 - β1^t),  v̂ = v / (1 - β2^t)
    r = m̂ / (sqrt(v̂) + ε)                  eps ε after the bias correction
    u = r + λθ                              weight_decay λ: decoupled, inside the trust ratio
    θ ← θ - lr ||θ|| / ||u|| · u            trust ratio 1 when either norm is 0
"""
import math

from minigrad.backend import get_array_module

from .optimizer import Optimizer


class LAMB(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    dense_only_reason = "its trust ratio needs the norm of the whole tensor"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, *,
                 maximize=False, fused=None):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        maximize=maximize, fused=fused)
        super().__init__(params, defaults)


    def _init_state(self, theta, group):
        xp = get_array_module(theta)
        return {"step": 0, "exp_avg": xp.zeros_like(theta), "exp_avg_sq": xp.zeros_like(theta)}

    def _update(self, theta, g, state, group):
        xp = get_array_module(theta)
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        g = -g if group["maximize"] else g
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        m[...] = beta1 * m + (1 - beta1) * g            # m ← β1 m + (1-β1) g
        v[...] = beta2 * v + (1 - beta2) * g * g        # v ← β2 v + (1-β2) g²
        m_hat = m / (1 - beta1 ** t)                    # m̂
        v_hat = v / (1 - beta2 ** t)                    # v̂
        r = m_hat / (xp.sqrt(v_hat) + eps)              # r = m̂ / (sqrt(v̂) + ε)
        u = r + wd * theta                              # u = r + λθ
        theta_norm = float(xp.linalg.norm(theta.ravel()))
        u_norm = float(xp.linalg.norm(u.ravel()))
        trust = theta_norm / u_norm if theta_norm > 0 and u_norm > 0 else 1.0
        theta -= lr * trust * u                         # θ ← θ - lr ||θ||/||u|| u
