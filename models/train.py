"""The training loop behind `minigrad train` and `minigrad compare`."""
import os
import time

import numpy as np

import minigrad as mg
import optim
from minigrad import backend

from . import checkpoint
from .optimizers import make_optimizer, schedule_for

SCHEDULES = ("warmup-cosine", "cosine", "step", "none")


def make_schedule(name, opt, steps):
    """warmup-cosine: 5% linear warmup then cosine to 1% of lr; cosine: cosine to 0; step: x0.1
    at 1/2 and 3/4 of the run; none."""
    if name == "none":
        return None
    if name == "warmup-cosine":
        lr = opt.param_groups[0]["lr"]
        return optim.lr_scheduler.WarmupCosine(opt, max(1, steps // 20), max(steps, 2), min_lr=lr * 0.01)
    if name == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    if name == "step":
        return optim.lr_scheduler.MultiStepLR(opt, [steps // 2, 3 * steps // 4], gamma=0.1)
    raise ValueError(f"unknown schedule {name!r}; choose from {', '.join(SCHEDULES)}")


class Progress:
    """A tqdm bar when tqdm is installed, else a line every tenth of the run."""

    def __init__(self, total, initial, enabled, desc):
        self.bar, self.total, self.enabled = None, total, enabled
        if enabled:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True, leave=True)
            except ImportError:
                pass

    def update(self, step, loss, lr):
        if self.bar is not None:
            self.bar.update(1)
            if step % 20 == 0 or step == self.total:
                self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", refresh=False)
        elif self.enabled and (step % max(self.total // 10, 1) == 0 or step == self.total):
            print(f"step {step:6d}/{self.total}  loss {loss:.4f}  lr {lr:.3e}", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def train(task, config, out=None, resume=False, stop_after=None, progress=True, checkpoint_every=0):
    """Train task's model as config says ({optimizer, lr, schedule, clip, steps, batch_size,
    seed}); returns {metrics, history, seconds, step, model}.

    With resume, state comes from out/checkpoint.pkl and the run continues where it stopped,
    bit for bit. stop_after: stop (and checkpoint) at that step, as if interrupted.
    """
    ckpt_path = os.path.join(out, "checkpoint.pkl") if out else None
    model = task.build(config["seed"], config["optimizer"].partition("+")[2])
    opt = make_optimizer(config["optimizer"], model.parameters(), config["lr"])
    sched = make_schedule(schedule_for(config["optimizer"], config["schedule"]), opt, config["steps"])
    data_rng = np.random.default_rng(config["seed"] + 1)
    step, history = 0, {"loss": [], "lr": []}
    if resume:
        step, history = _restore(checkpoint.load(ckpt_path), config, model, opt, sched, data_rng)
    end = config["steps"] if stop_after is None else min(stop_after, config["steps"])
    bar = Progress(config["steps"], step, progress, f"{task.name} {config['optimizer']}")
    params = model.parameters()
    if hasattr(opt, "train"):
        opt.train()  # schedule-free: θ holds y, where gradients are taken
    t0 = time.perf_counter()
    try:
        while step < end:
            batch = task.batch(data_rng, config["batch_size"])
            loss = task.loss(model, batch)
            opt.zero_grad()
            loss.backward()
            if config["clip"]:
                optim.clip_grad_norm_(params, config["clip"])
            lr = opt.param_groups[0]["lr"]
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
            value = loss.item()
            history["loss"].append(value)
            history["lr"].append(lr)
            bar.update(step, value, lr)
            if ckpt_path and checkpoint_every and step % checkpoint_every == 0 and step < end:
                _save(ckpt_path, config, step, model, opt, sched, data_rng, history)
    except KeyboardInterrupt:
        if ckpt_path:
            _save(ckpt_path, config, step, model, opt, sched, data_rng, history)
            print(f"\ninterrupted at step {step}; checkpoint saved, continue with --resume")
        raise
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    if ckpt_path:
        _save(ckpt_path, config, step, model, opt, sched, data_rng, history)
    if hasattr(opt, "eval"):
        opt.eval()  # schedule-free: evaluate (and keep) x, the average
    return {"metrics": task.evaluate(model), "history": history, "seconds": seconds, "step": step,
            "model": model}


def _save(path, config, step, model, opt, sched, data_rng, history):
    checkpoint.save(path, {
        "config": dict(config), "step": step,
        "model": {k: backend.to_numpy(v).copy() for k, v in model.state_dict().items()},
        "optimizer": _to_cpu(opt.state_dict()),
        "scheduler": sched.state_dict() if sched is not None else None,
        "rng": {"minigrad": mg.get_rng_state(), "data": data_rng.bit_generator.state},
        "history": history,
    })


def _to_cpu(sd):
    return {"state": {i: {k: backend.to_numpy(v) if backend.is_array(v) else v for k, v in s.items()}
                      for i, s in sd["state"].items()},
            "param_groups": sd["param_groups"]}


def _restore(payload, config, model, opt, sched, data_rng):
    saved = payload["config"]
    different = {k: (saved.get(k), v) for k, v in config.items() if saved.get(k) != v}
    if different:
        desc = "; ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in different.items())
        raise checkpoint.CheckpointError(f"the checkpoint was made with other settings ({desc})")
    try:
        model.load_state_dict(payload["model"])
        opt.load_state_dict(payload["optimizer"])
    except (KeyError, ValueError) as e:
        raise checkpoint.CheckpointError(f"the checkpoint does not fit this model: {e}") from None
    if sched is not None:
        sched.load_state_dict(payload["scheduler"])
    mg.set_rng_state(payload["rng"]["minigrad"])
    data_rng.bit_generator.state = payload["rng"]["data"]
    return payload["step"], payload["history"]
