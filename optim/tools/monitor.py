"""TrainingMonitor: the practitioner's debugging table, run on the loss as training goes.

Feed it every step's loss (and, when you have them, the gradient norm and the learning rate);
it keeps a handful of running statistics, O(1) work per step and no stored history (plus, for
an optimizer whose steps only shrink, as AdaGrad's, one O(parameters) look at its step sizes
every CHECK_EVERY steps), and turns them into findings. Each finding names the symptom, the
evidence (numbers), the likely cause and the remedy as the `minigrad train` flag to try:

    symptom              fires when (the thresholds are the class attributes in CAPITALS)
    non-finite loss      the loss is inf or NaN (at once)                               critical
    non-finite gradient  the gradient norm is inf or NaN (at once)                      critical
    divergence           the smoothed loss rises to DIVERGE (2x) the start              critical
    exploding gradient   the gradient norm EXPLODE (100x) above its running level       critical
    no progress          after the warm-up window, the smoothed loss is less than
                         NO_PROGRESS (2%) below the start (or the first loss, if lower)  warning
    slow progress        after the warm-up window, the rate so far, kept up for the
                         planned steps, will not bring the loss to half the start        warning
    oscillation          after the warm-up window, the mean step-to-step swing is
                         more than OSCILLATION (half) of the descent so far (when
                         there is one) and more than SWING_MIN (10%) of the smoothed
                         loss                                                           warning
    dying learning rate  the median effective step of an optimizer whose steps only
                         shrink (AdaGrad's η_t/(√G+ε)) has fallen DYING (100x) below
                         its value after the first step                                 warning
    non-finite metric    a metric given to check_metrics after training (val_loss,
                         train_loss, ...) is inf or NaN                                 critical
    plateau then drop    the lr fell >= 2x in one step after being constant (a
                         MultiStepLR milestone), and in the DROP_WINDOW steps after it
                         the smoothed loss fell by more than 1% and over twice as fast
                         as before it: expected under step decay, not a fault          expected

The start is the mean of the first START losses (not the first loss alone: with small batches
one loss can be far from the level); the smoothed loss is an exponential moving
average over about WINDOW steps (bias-corrected, as Adam's moments); the warm-up window is a
tenth of the planned steps, kept within [WARMUP_MIN, WARMUP_MAX] (WARMUP_MAX without planned
steps). The warm-up-window checks run once, at its end: a healthy run slows down as it goes, so
its average rate at the end of the window overestimates what is left, and a too-low learning
rate, which descends in a straight line, is the one it catches. The gradient norm's running
level is an average of log-norms over about WINDOW steps. Each symptom is reported once, at the
first step it fires. The thresholds assume each loss averages a batch of a few samples or more:
with one sample per step on a loss that is all noise, ten losses make a poor start.

The effective step is the optimizer's own: its declaration's per-element step size (what
optim.explain shows), over the elements its steps have reached (where the state is no longer
what the declaration starts it at), for a declaration that says why its steps only shrink
(`shrinking_steps`: AdaGrad's accumulated squared gradients only grow).

    monitor = optim.TrainingMonitor(optimizer, steps=5000)
    for step in range(5000):
        loss = loss_fn(model, batch)
        opt.zero_grad(); loss.backward()
        gn = optim.grad_norm(model.parameters())                    # the norm, nothing clipped
        for finding in monitor.update(loss.item(), grad_norm=gn):
            print(finding)
        opt.step()
    monitor.check_metrics({"val_loss": evaluate(model)})  # what the losses fed cannot show
    print(monitor.health())

The training losses alone cannot vouch for a run: a model whose evaluation path differs (a
BatchNorm that normalises with its running statistics in eval mode) can train on finite
losses and evaluate to NaN. Give the monitor the final metrics before asking for its health.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from minigrad import backend

from .explain import step_size
from ..optimizer import Optimizer


@dataclass(frozen=True)
class Finding:
    """One diagnosis: what, where, the numbers, why, and the flag to try."""
    symptom: str
    step: int
    severity: str   # "critical", "warning", or "expected" (not a fault)
    evidence: str
    cause: str
    remedy: str

    def __str__(self) -> str:
        return (f"[{self.severity}] {self.symptom} at step {self.step}: {self.evidence}\n"
                f"  likely cause: {self.cause}\n  try: {self.remedy}")


def _rate(x):
    """A learning rate as a flag value: 3e-4, 0.03, 1."""
    return f"{x:.0e}".replace("e-0", "e-").replace("e+0", "e") if x < 1e-2 or x >= 1e3 else f"{x:.3g}"


class _Average:
    """A bias-corrected exponential moving average over about `window` values (as Adam's m̂)."""

    def __init__(self, window):
        self.beta, self.m, self.n = 1.0 - 1.0 / window, 0.0, 0

    def add(self, x):
        self.n += 1
        self.m = self.beta * self.m + (1.0 - self.beta) * x
        return self.value

    @property
    def value(self):
        return self.m / (1.0 - self.beta ** self.n) if self.n else math.nan


class TrainingMonitor:
    __doc__ = __doc__  # the module docstring: the symptoms and their thresholds

    START = 10            # losses averaged into the starting loss
    WINDOW = 50           # steps in the smoothed loss and in the gradient norm's running level
    WARMUP_MIN, WARMUP_MAX = 100, 1000
    DIVERGE = 2.0         # smoothed loss / start
    EXPLODE = 100.0       # gradient norm / its running level
    NO_PROGRESS = 0.02    # fraction of the start the loss must fall by the end of the warm-up
    OSCILLATION = 0.5     # mean |loss_t - loss_{t-1}| / (start - smoothed loss)
    SWING_MIN = 0.1       # mean |loss_t - loss_{t-1}| / smoothed loss
    DYING = 100.0         # steps that only shrink: median effective step after step 1 / now
    DROP_WINDOW = 100     # steps compared before and after a step-schedule milestone
    CHECK_EVERY = 100     # steps between the O(parameters) looks at the step sizes

    def __init__(self, optimizer: Optimizer | None = None, steps: int | None = None,
                 lr: float | None = None, batch_size: int | None = None) -> None:
        """optimizer: read for the learning rate (param_groups[0]) and, every CHECK_EVERY
        steps, for its step sizes where they only shrink (it may also be set later, as
        monitor.optimizer); steps: the planned number (for slow progress); lr, batch_size: the
        run's settings, for the remedies (lr defaults to the optimizer's)."""
        if steps is not None and (not isinstance(steps, int) or steps <= 0):
            raise ValueError(f"TrainingMonitor: steps must be a positive integer or None, got {steps!r}")
        self.optimizer, self.steps, self.batch_size = optimizer, steps, batch_size
        if lr is None and optimizer is not None:
            group = optimizer.param_groups[0]
            lr = group.get("initial_lr", group["lr"])
        self.lr = lr
        self.warmup = (self.WARMUP_MAX if steps is None
                       else min(max(steps // 10, self.WARMUP_MIN), self.WARMUP_MAX))
        self.findings = []
        self._fired = set()
        self.t = 0
        self._start_sum, self.start, self.first = 0.0, math.nan, math.nan
        self._loss = _Average(self.WINDOW)          # the smoothed loss
        self._swing = _Average(self.WINDOW)         # mean |loss_t - loss_{t-1}|
        self._log_gn = _Average(self.WINDOW)        # the gradient norm's running level (log)
        self._previous = None                       # the last finite loss
        self._peak = -math.inf                      # the highest smoothed loss after the start
        self._lrs = (None, None)                    # the lr of the two previous steps
        self._marks = (None, None)                  # (step, smoothed loss) at the last two multiples of DROP_WINDOW
        self._milestone = None                      # (step, lr before, lr after, loss then, loss before)
        self._step0 = None                          # the median effective step after step 1

    # ======================================================================== feeding

    def update(self, loss: float, grad_norm: float | None = None,
               lr: float | None = None) -> list[Finding]:
        """Take one step's loss (a float), and optionally its gradient norm and the lr it was
        taken with (default: the optimizer's now); returns the findings new at this step."""
        self.t += 1
        before = len(self.findings)
        loss = float(loss)
        if lr is None and self.optimizer is not None:
            lr = self.optimizer.param_groups[0]["lr"]
        if not math.isfinite(loss):
            self._nonfinite("loss", loss, grad_norm)
            return self.findings[before:]
        if grad_norm is not None and not math.isfinite(grad_norm):
            self._nonfinite("gradient", grad_norm, grad_norm)
            return self.findings[before:]
        s = self._loss.add(loss)
        if self._previous is not None:
            self._swing.add(abs(loss - self._previous))
        self._previous = loss
        if self.t == 1:
            self.first = loss
        if self.t <= self.START:
            self._start_sum += loss
            self.start = self._start_sum / self.t
        else:
            self._peak = max(self._peak, s)
            self._check_divergence(s)
        if grad_norm is not None:
            self._check_gradient(grad_norm)
        if self.t == self.warmup:
            self._check_progress(s)
        if self.t > self.warmup:
            self._check_oscillation(s)
        if lr is not None:
            self._check_milestone(s, lr)
        if self.optimizer is not None and (self.t <= 2 or self.t % self.CHECK_EVERY == 0):
            # steps 1 and 2: the first step's state is there by then, fed before or after step()
            self._check_dying_step()
        return self.findings[before:]

    def check_metrics(self, metrics: Mapping[str, object]) -> list[Finding]:
        """Take the run's final metrics ({name: number}, as a task's evaluate() returns them):
        each that is inf or NaN (val_loss nan) is a critical finding, so that health() never
        calls such a run healthy. Entries that are not numbers are ignored. Returns the
        findings new at this call."""
        if not isinstance(metrics, Mapping):
            raise TypeError(f"TrainingMonitor.check_metrics expects a mapping of metric names to "
                            f"numbers, got {type(metrics).__name__}")
        before = len(self.findings)
        for name, value in metrics.items():
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray)):
                continue
            if np.ndim(value) != 0:
                continue
            value = float(value)
            if not math.isfinite(value):
                smoothed = (f"; the smoothed training loss was {self._loss.value:.4g}"
                            if self._loss.n else "")
                self._fire(f"non-finite {name}", "critical",
                           f"{name} is {value} after {self.t} steps{smoothed}",
                           "the model computes inf or NaN where it is evaluated: weights or "
                           "statistics that are not finite (a BatchNorm running variance, say, "
                           "from a damaged checkpoint), or an evaluation that overflows",
                           f"start over (--overwrite) rather than --resume, or {self._lower_lr()}")
        return self.findings[before:]

    def health(self) -> str:
        """One line: 'healthy' when no fault fired, else the faults by name and step. It
        knows only what it was fed: call check_metrics with the final metrics first."""
        faults = [f for f in self.findings if f.severity != "expected"]
        notes = [f for f in self.findings if f.severity == "expected"]
        noted = "; ".join(f"{f.symptom} at step {f.step}, expected" for f in notes)
        if not faults:
            return "health: healthy" + (f" ({noted})" if noted else "")
        named = ", ".join(f"{f.symptom} ({f.severity}, step {f.step})" for f in faults)
        return f"health: {len(faults)} problem{'s' * (len(faults) > 1)}: {named}" + (
            f"; {noted}" if noted else "")

    # ======================================================================== the checks

    def _fire(self, symptom, severity, evidence, cause, remedy):
        if symptom not in self._fired:
            self._fired.add(symptom)
            self.findings.append(Finding(symptom, self.t, severity, evidence, cause, remedy))

    def _lower_lr(self, factor=10):
        return f"--lr {_rate(self.lr / factor)}" if self.lr else "a learning rate 10x lower"

    def _nonfinite(self, what, value, grad_norm):
        level = self._log_gn.value
        evidence = f"the {what} is {value}" + (
            f"; the last smoothed loss was {self._loss.value:.4g} (start {self.start:.4g})"
            if self._loss.n else "")
        if grad_norm is not None and math.isfinite(grad_norm) and self._log_gn.n:
            evidence += f"; gradient norm {grad_norm:.3g}, {grad_norm / math.exp(level):.3g}x its running level"
        self._fire(f"non-finite {what}", "critical", evidence,
                   "the updates overflowed: a learning rate too high, or a gradient explosion",
                   f"{self._lower_lr()}, or --clip 1.0")

    def _check_divergence(self, s):
        start = self.start
        if s - start > (self.DIVERGE - 1) * abs(start):
            self._fire("divergence", "critical",
                       f"the smoothed loss {s:.4g} is {s / start:.3g}x its start {start:.4g} (the "
                       f"first loss was {self.first:.4g})" if start > 0
                       else f"the smoothed loss rose from {start:.4g} to {s:.4g}",
                       "the learning rate is too high", self._lower_lr())

    def _check_gradient(self, gn):
        if self._log_gn.n >= 3 and gn > self.EXPLODE * math.exp(self._log_gn.value):
            self._fire("exploding gradient", "critical",
                       f"gradient norm {gn:.3g}, {gn / math.exp(self._log_gn.value):.3g}x its running "
                       f"level {math.exp(self._log_gn.value):.3g}",
                       "a steep region (or a learning rate too high) multiplies the gradient step "
                       "after step", f"--clip 1.0, or {self._lower_lr()}")
        if gn > 0:  # a zero norm (no gradient at all) says nothing about its level
            self._log_gn.add(math.log(gn))

    def _check_progress(self, s):
        if "divergence" in self._fired:
            return  # said already, and louder
        # from the first loss when it is lower: a loss that jumped at step 2 inflates the start
        ref = min(self.start, self.first)
        fell = (ref - s) / abs(ref) if ref else 0.0
        if fell < self.NO_PROGRESS:
            rose = self._peak > ref + 0.05 * abs(ref)
            self._fire("no progress", "warning",
                       f"after {self.t} steps the smoothed loss is {s:.4g}; it started at {ref:.4g} "
                       f"(fell {100 * fell:.2g}%, less than {100 * self.NO_PROGRESS:g}%)"
                       + (f"; it rose to {self._peak:.4g} on the way" if rose else ""),
                       "the learning rate is too high (the loss rose)" if rose else
                       "the learning rate is too low, or the start is in a flat region",
                       self._lower_lr() if rose else
                       (f"--lr {_rate(self.lr * 10)}, or --schedule warmup-cosine" if self.lr
                        else "a learning rate 10x higher, or --schedule warmup-cosine"))
        elif self.steps is not None and self.start > 0:
            projected = self.start - (self.start - s) * self.steps / self.t
            if projected > self.start / 2:
                self._fire("slow progress", "warning",
                           f"the smoothed loss fell {self.start:.4g} -> {s:.4g} in {self.t} steps; at "
                           f"that rate it is {projected:.4g} after {self.steps}, not half the start",
                           "the learning rate is too low, or a flat region",
                           (f"--lr {_rate(self.lr * 10)}" if self.lr else "a learning rate 10x higher")
                           + ", or --schedule warmup-cosine")

    def _check_oscillation(self, s):
        """Swings measured against the descent: a loss near zero swings little in absolute
        terms but much relative to itself, and a healthy run's batch noise is small next to
        how far it has come."""
        swing = self._swing.value
        descent = self.start - s
        if 0 < descent < swing / self.OSCILLATION and swing > self.SWING_MIN * abs(s):
            bs = f"--batch-size {max(64, 4 * self.batch_size)}" if self.batch_size else "a larger batch"
            self._fire("oscillation", "warning",
                       f"the loss swings {swing:.3g} from step to step on average, more than half "
                       f"its descent so far ({self.start:.4g} -> {s:.4g})",
                       "gradient noise (a small batch) or a learning rate too high",
                       f"{bs}, or {self._lower_lr(3)}")

    def _check_milestone(self, s, lr):
        t, window = self.t, self.DROP_WINDOW
        if t % window == 0:
            self._marks = (self._marks[1], (t, s))
        before, constant = self._lrs
        if before is not None and before == constant and lr <= before / 2 and self._milestone is None:
            self._milestone = (t, before, lr, s, self._marks[0])  # a mark 1-2 windows back
        self._lrs = (lr, before)
        if self._milestone is not None and t == self._milestone[0] + window:
            m, lr0, lr1, at, mark = self._milestone
            self._milestone = None
            after = (at - s) / window                                   # per step, since m
            before = (mark[1] - at) / (m - mark[0]) if mark else 0.0    # per step, up to m
            if at - s > 0.01 * abs(at) and after > 2 * max(before, 0.0):
                self._fire("plateau then drop", "expected",
                           f"the lr fell {_rate(lr0)} -> {_rate(lr1)} at step {m}; the smoothed loss "
                           f"then fell {at:.4g} -> {s:.4g} in {window} steps, "
                           + (f"{after / before:.2g}x as fast as before" if before > 0 else "after a plateau"),
                           "step decay: each milestone lowers the noise floor of the loss; normal",
                           "nothing needed; for a smooth descent instead, --schedule warmup-cosine")

    def _check_dying_step(self):
        """The median effective step, the declaration's, over the elements the steps have
        reached, for a declaration that says its steps only shrink (`shrinking_steps`)."""
        opt = self.optimizer
        cls = type(opt)
        why = getattr(cls, "shrinking_steps", None)
        if why is None:
            return
        steps = []
        for group in opt.param_groups:
            for p in group["params"]:
                size = step_size(opt, p)  # the state stays as it was
                if size is not None:
                    steps.append(backend.to_numpy(size[_reached(cls, p.data, opt.state[p], group)]))
        if not sum(a.size for a in steps):
            return
        now = float(np.median(np.concatenate(steps)))
        if self._step0 is None:
            self._step0 = now
        elif now * self.DYING < self._step0:
            self._fire("dying learning rate", "warning",
                       f"{cls.__name__}'s median effective step {cls.step_size_rule} fell "
                       f"{self._step0:.3g} -> {now:.3g} ({self._step0 / now:.0f}x) since step 1",
                       f"{cls.__name__}'s {why}, so its steps shrink until the run stalls",
                       "--optimizer rmsprop (or adam)")


def _reached(cls, theta, state, group):
    """The elements a step has reached: where some state array is no longer the one the
    declaration starts with (AdaGrad's G above G_0)."""
    xp = backend.get_array_module(theta)
    reached = xp.zeros(theta.shape, dtype=bool)
    for key, start in cls.init(theta, group).items():
        now = state.get(key)
        if backend.is_array(start) and backend.is_array(now) and now.shape == theta.shape:
            reached |= now != start
    return reached
