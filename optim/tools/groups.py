"""param_groups: the usual weight-decay split, as one call."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

NO_DECAY = ("bias", "norm", "bn", "ln")


def param_groups(module: Any, weight_decay: float, no_decay: Sequence[str] = NO_DECAY, no_decay_1d: bool = True
                 ) -> list[dict[str, Any]]:
    """Two param groups for an optimizer: one with weight_decay, one without.

    A parameter goes to the no-decay group when a part of its dotted name starts with one of
    the words in `no_decay`, or contains one of four letters or more (by default biases and
    normalisation parameters: 'fc.bias', 'bn1.weight', 'ln_f.weight', 'layernorm.weight'), or,
    with no_decay_1d, when it has fewer than two dimensions (biases and norm scales of any
    name). Embedding and Linear weights are decayed, as in nanoGPT. Pass `no_decay=()` and
    `no_decay_1d=False` to decay everything.

        opt = optim.AdamW(optim.param_groups(model, weight_decay=0.1), lr=3e-4)
    """
    decay, keep = [], []
    for name, p in module.named_parameters():
        parts = name.lower().split(".")
        named = any(part.startswith(word) or (len(word) >= 4 and word in part)
                    for part in parts for word in no_decay)
        (keep if named or (no_decay_1d and p.ndim < 2) else decay).append(p)
    groups = []
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay})
    if keep:
        groups.append({"params": keep, "weight_decay": 0.0})
    return groups
