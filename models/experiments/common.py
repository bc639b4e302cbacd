"""What the experiments share: a table printer, a verdict line, where a figure goes, a
training loop that lets an experiment look inside every step, and what an optimizer's
declaration says of the step it took (explained)."""
import inspect
import os

import numpy as np

import minigrad as mg
import minigrad.nn.functional as F


def table(headers, rows):
    """Print rows (sequences of already formatted strings) under headers, aligned; return the
    lines, so a caller (and a test) has exactly what was printed."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    def line(cells):
        return "  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    lines = [line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
    print("\n".join(lines))
    return lines


def verdict(held, claim, numbers):
    """One line: whether the claim held here, and the numbers that decide it."""
    line = f"{'held' if held else 'did NOT hold here'}: {claim} ({numbers})"
    print(line)
    return line


def explained(cls, theta, state, group, g=None):
    """What optimizer class `cls`'s declaration says of a parameter's last step: its explain()
    (the per-element "step_size", the "update", its own columns), given the state that step left
    and the scalars of that step, `cls.scalars(t, group, state)` (pure: nothing is written).
    Not for a declaration that carries numbers from step to step (NAdam's): its state holds the
    next step's."""
    if cls.carry:
        raise ValueError(f"{cls.__name__} carries {', '.join(cls.carry)}: its state holds the "
                         "next step's numbers, not the last step's")
    h = cls.scalars(state.get("step"), group, state)
    given = {"theta": theta, "g": g, "h": h}
    return cls.explain(**{name: given[name] if name in given else state.get(cls.symbols[name])
                          for name in inspect.signature(cls.explain).parameters})


def figure_path(out, name):
    """out/<name>.png, creating out."""
    os.makedirs(out, exist_ok=True)
    return os.path.join(out, f"{name}.png")


def fit(task, model, opt, steps, batch_size, seed=0, sched=None, on_step=None):
    """Train model on task's batches for `steps` steps; returns the per-step training losses.

    The loop of models/train.py without its checkpoints and signals, so that an experiment can
    look inside: on_step(step) runs after each update (step counts from 1)."""
    rng = np.random.default_rng(seed + 1)  # the data stream of `minigrad train --seed seed`
    losses = []
    for step in range(1, steps + 1):
        loss = task.loss(model, task.batch(rng, batch_size))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step)
    return losses


def first_at_or_below(values, target):
    """The first step (from 1) at which values[step - 1] <= target, or None."""
    hit = np.flatnonzero(np.asarray(values) <= target)
    return int(hit[0]) + 1 if hit.size else None


@mg.no_grad()
def val_loss(task, model, n=20_000):
    """Cross entropy on a fixed subsample of n validation examples, in eval mode: a cheaper
    task.evaluate for the names model."""
    X, y = task.val
    ix = np.random.default_rng(0).choice(len(X), min(n, len(X)), replace=False)
    model.eval()
    loss = F.cross_entropy(model(task.to_device(X[ix])), task.to_device(y[ix])).item()
    model.train()
    return loss
