"""Parameter initialisers, drawing from minigrad's seeded generator (mg.manual_seed)."""
import math

from .. import backend


def uniform(shape, low, high, dtype=None, device="cpu"):
    """U(low, high) samples from the seeded generator."""
    return backend.uniform(low, high, shape, dtype or backend.get_default_dtype(), device)


def normal(shape, mean=0.0, std=1.0, dtype=None, device="cpu"):
    """N(mean, std²) samples from the seeded generator."""
    return backend.normal(mean, std, shape, dtype or backend.get_default_dtype(), device)


def kaiming_uniform(shape, a=0.0, fan_in=None, dtype=None, device="cpu"):
    """U(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a²)) (leaky ReLU)."""
    fan_in = fan_in if fan_in is not None else _fan_in(shape)
    gain = math.sqrt(2.0 / (1 + a * a))
    bound = gain * math.sqrt(3.0 / fan_in) if fan_in else 0.0
    return uniform(shape, -bound, bound, dtype, device)


def xavier_uniform(shape, gain=1.0, dtype=None, device="cpu"):
    """U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_out, fan_in = shape[0], _fan_in(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape, -bound, bound, dtype, device)


def _fan_in(shape):
    n = 1
    for d in shape[1:]:
        n *= d
    return n
