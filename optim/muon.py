"""Muon: momentum, orthogonalized by Newton-Schulz; matches torch.optim.Muon.

Jordan et al. (2024), "Muon: An optimizer for hidden layers in neural networks"
(kellerjordan.github.io/posts/muon), with the learning-rate adjustment of Liu et al. (2025),
"Muon is Scalable for LLM Training" as an option. For 2-D parameters only (weight matrices);
give biases, norms and other parameters to AdamW (models/optimizers.py's "muon" does).

    B ← μ B + (1 - μ) g                    momentum μ: an EMA (torch's lerp), not B ← μ B + g
    U = (1 - μ) g + μ B    if nesterov     else U = B
    O = NS_k(U)                            ns_steps k, ns_coefficients (a, b, c), eps ε:
        X = U / max(||U||_F, ε)            (transposed first when U has more rows than columns)
        k times:  A = X Xᵀ;  X ← a X + (b A + c A²) X
    θ ← θ (1 - lr λ)                       weight_decay λ: decoupled, with the unadjusted lr
    θ ← θ - lr' O                          lr' = lr sqrt(max(1, rows/cols))   adjust_lr_fn "original"
                                           lr' = 0.2 lr sqrt(max(rows, cols)) "match_rms_adamw"

Two-meaning conventions: the momentum is the EMA form above (torch's code; its docstring writes
B ← μ B + g). torch runs Newton-Schulz in bfloat16 (Keller Jordan's speed choice for GPUs);
here it runs in the parameter's dtype, so float64 parameters get a float64 orthogonalization.
The iteration does not converge to UVᵀ exactly: its coefficients trade accuracy for speed, and
the singular values end near 1 (about 0.7 to 1.2), not at 1; very small ones may stay small.
"""
import math

from minigrad.backend import get_array_module

from .optimizer import Optimizer, check, check_real

ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


class Muon(Optimizer):
    __doc__ = __doc__  # the module docstring: citation, equations, conventions
    dense_only_reason = "it orthogonalizes the whole matrix"

    def __init__(self, params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                 ns_coefficients=(3.4445, -4.775, 2.0315), eps=1e-7, ns_steps=5,
                 adjust_lr_fn=None):
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                        ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps,
                        adjust_lr_fn=adjust_lr_fn)
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        for p in self.param_groups[-1]["params"]:
            if p.ndim != 2:
                self.param_groups.pop()  # a failed call changes nothing
                raise ValueError("Muon only supports 2D parameters whereas we found a parameter "
                                 f"with size: {tuple(p.shape)}; optimize it with AdamW")

    def _check_group(self, group):
        super()._check_group(group)  # lr, eps, weight_decay, momentum >= 0
        fn, steps, coefficients = group["adjust_lr_fn"], group["ns_steps"], group["ns_coefficients"]
        if fn not in ADJUST_LR_FNS:
            raise ValueError(f"Adjust learning rate function {fn} is not supported (adjust_lr_fn: "
                             "expected None, 'original' or 'match_rms_adamw')")
        check(isinstance(steps, int) and not isinstance(steps, bool) and 0 <= steps < 100,
              "ns_steps", steps, "an integer 0 <= ns_steps < 100")
        check(isinstance(coefficients, (tuple, list)) and len(coefficients) == 3,
              "ns_coefficients", coefficients, "three numbers (a, b, c)")
        group["ns_coefficients"] = tuple(check_real(f"ns_coefficients[{i}]", c)
                                         for i, c in enumerate(coefficients))

    def _init_state(self, theta, group):
        return {"momentum_buffer": get_array_module(theta).zeros_like(theta)}

    def _update(self, theta, g, state, group):
        lr, wd, mu = group["lr"], group["weight_decay"], group["momentum"]
        B = state["momentum_buffer"]
        B[...] = mu * B + (1 - mu) * g                    # B ← μ B + (1 - μ) g
        U = (1 - mu) * g + mu * B if group["nesterov"] else B
        O = newton_schulz(U, group["ns_coefficients"], group["ns_steps"], group["eps"])
        theta *= 1 - lr * wd                              # θ ← θ (1 - lr λ)
        theta -= adjusted_lr(lr, group["adjust_lr_fn"], theta.shape) * O  # θ ← θ - lr' O


def newton_schulz(U, ns_coefficients, ns_steps, eps):
    """O = NS_k(U): k quintic Newton-Schulz steps towards the orthogonal factor of U."""
    xp = get_array_module(U)
    a, b, c = ns_coefficients
    tall = U.shape[0] > U.shape[1]
    X = U.T if tall else U                                # iterate on the wide side: X Xᵀ is small
    X = X / max(float(xp.linalg.norm(X)), eps)            # X = U / max(||U||_F, ε): spectral norm <= 1
    for _ in range(ns_steps):
        A = X @ X.T                                       # A = X Xᵀ
        X = a * X + (b * A + c * (A @ A)) @ X             # X ← a X + (b A + c A²) X
    return X.T if tall else X


def adjusted_lr(lr, adjust_lr_fn, shape):
    """lr': the same update RMS across matrix shapes ("original"), or AdamW's ("match_rms_adamw")."""
    rows, cols = shape
    if adjust_lr_fn == "match_rms_adamw":
        return lr * (0.2 * math.sqrt(max(rows, cols)))    # lr' = 0.2 lr sqrt(max(rows, cols))
    return lr * math.sqrt(max(1, rows / cols))            # lr' = lr sqrt(max(1, rows/cols))
