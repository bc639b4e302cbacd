"""Cosine schedules: annealing (PyTorch's recursive form), warm restarts, and WarmupCosine."""
import math

from .base import LRScheduler


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (base_lr - η_min)(1 + cos(π step / T_max)) / 2, written recursively as in
    PyTorch (past T_max it rises again: a period of 2 T_max)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        e, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._group_lrs()
        if self._step_count == 1 and e > 0:
            return [lo + (base - lo) * (1 + math.cos(e * math.pi / T)) / 2 for base in self.base_lrs]
        if (e - 1 - T) % (2 * T) == 0:
            return [lr + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for base, lr in zip(self.base_lrs, self._group_lrs())]
        return [(1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (lr - lo) + lo
                for lr in self._group_lrs()]

    def _closed_form(self):
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter 2017): cosine from base_lr to η_min over T_i steps, then
    restart, with T_i ← T_i · T_mult."""

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        self.T_0, self.T_i, self.T_mult, self.eta_min = T_0, T_0, T_mult, eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base in self.base_lrs]

    def step(self, epoch=None):
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur -= self.T_i
                self.T_i *= self.T_mult
        elif epoch >= self.T_0:
            if self.T_mult == 1:
                self.T_cur = epoch % self.T_0
            else:
                n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                self.T_i = self.T_0 * self.T_mult ** n
        else:
            self.T_i, self.T_cur = self.T_0, epoch
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._group_lrs()


class WarmupCosine(LRScheduler):
    """Linear warmup, then cosine decay to min_lr: the standard transformer recipe, one object.

        lr(s) = base_lr · (s + 1) / warmup_steps                          s < warmup_steps
        lr(s) = min_lr + (base_lr - min_lr)(1 + cos(π p)) / 2,  p = (s - warmup_steps) /
                (total_steps - warmup_steps), clipped to [0, 1]           afterwards
    so the first step already has a non-zero rate, the peak is at s = warmup_steps, and the rate
    stays at min_lr from total_steps on. s counts scheduler steps from 0.
    """

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr=0.0, last_epoch=-1):
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"Invalid warmup_steps: {warmup_steps!r} (expected an integer >= 0)")
        if not isinstance(total_steps, int) or total_steps <= warmup_steps:
            raise ValueError(f"Invalid total_steps: {total_steps!r} (expected an integer > "
                             f"warmup_steps = {warmup_steps})")
        if min_lr < 0:
            raise ValueError(f"Invalid min_lr: {min_lr!r} (expected >= 0)")
        self.warmup_steps, self.total_steps, self.min_lr = warmup_steps, total_steps, min_lr
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        s, W, T = self.last_epoch, self.warmup_steps, self.total_steps
        if s < W:
            return [base * (s + 1) / W for base in self.base_lrs]      # 1. linear warmup
        p = min((s - W) / (T - W), 1.0)                                 # 2. progress in [0, 1]
        return [self.min_lr + (base - self.min_lr) * (1 + math.cos(math.pi * p)) / 2
                for base in self.base_lrs]                              # 3. cosine to min_lr

    _closed_form = get_lr
