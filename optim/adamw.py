"""AdamW: Adam with decoupled weight decay; matches torch.optim.AdamW.

Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization", in PyTorch's form. The
decay comes first, then the Adam step (see optim/adam.py):

    θ ← θ (1 - lr λ)                    weight_decay λ, default 1e-2
    m ← β1 m + (1 - β1) g
    v ← β2 v + (1 - β2) g²
    θ ← θ - lr m̂ / (sqrt(v̂) + ε)         m̂, v̂ bias-corrected; eps ε after the correction

How far θ shrinks is where this differs from the paper. Its Algorithm 2 writes the step as
θ ← θ - η_t (α m̂ / (sqrt(v̂) + ε) + λ θ): α is the base learning rate and η_t the schedule
multiplier alone (1 without a schedule), so θ shrinks by η_t λ, whatever α is. PyTorch, and so
this class, has one lr = α η_t and shrinks θ by lr λ. The two agree when the paper's λ equals
α times weight_decay (lr 1e-3 with weight_decay 1e-2 is the paper's λ = 1e-5); they differ when
lr is tuned: here the decay per step moves with lr, in the paper it does not. Both decouple the
decay from Adam's rescaling, the paper's point: L2's g + λθ would be divided by sqrt(v̂) too.

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
