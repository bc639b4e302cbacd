"""AdamW: Adam with decoupled weight decay; matches torch.optim.AdamW.

Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization", Algorithm 2. The decay
uses the current (scheduled) learning rate, first, then the Adam step (see optim/adam.py):

    θ ← θ (1 - lr λ)                    weight_decay λ, default 1e-2
    m ← β1 m + (1 - β1) g
    v ← β2 v + (1 - β2) g²
    θ ← θ - lr m̂ / (sqrt(v̂) + ε)         m̂, v̂ bias-corrected; eps ε after the correction

Sparse gradients: lazy, as Adam (optim/adam.py); the decay shrinks touched rows only, like
TensorFlow Addons' lazy AdamW.
"""
from .adam import Adam


class AdamW(Adam):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    fixed = {"decoupled_weight_decay": True}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, fused=None, foreach=None, capturable=False,
                 differentiable=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         fused=fused, foreach=foreach, capturable=capturable,
                         differentiable=differentiable)
