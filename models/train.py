"""The training loop behind `minigrad train` and `minigrad compare`."""
import contextlib
import math
import os
import signal
import sys
import threading
import time

import numpy as np

import minigrad as mg
import optim
from minigrad import backend
from minigrad import distributed as dist

from . import checkpoint
from .optimizers import make_optimizer, needs_graph, schedule_for

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
    """A tqdm bar when tqdm is installed and the output is a terminal, else a line every tenth of
    the run (a bar redrawn into a file or a pipe would fill it: 370 KB for one run)."""

    def __init__(self, total, initial, enabled, desc):
        self.bar, self.total, self.enabled = None, total, enabled
        if enabled and _terminal(sys.stdout) and _terminal(sys.stderr):  # tqdm draws on stderr
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

    def write(self, text):
        """A message that does not break the bar."""
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced by an object without it, or closed
        return False


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped training at a step boundary (after saving, when there is an out).
    A KeyboardInterrupt, so code that catches Ctrl-C still does; .signum says which signal."""

    def __init__(self, signum, step, saved):
        self.signum, self.step, self.saved = signum, step, saved
        where = f"; checkpoint saved in {saved}, continue with --resume" if saved else ""
        super().__init__(f"interrupted by {signal.Signals(signum).name} at step {step}{where}")


class Diverged(ValueError):
    """The loss, the gradient or the parameters became inf or NaN. The checkpoint then holds the
    last good step (or, when even that step's parameters were not finite, stays as it was)."""


class _StopAtStepBoundary:
    """While active, SIGINT and SIGTERM only set .signum: the loop finishes the step it is in and
    stops at the boundary, so a checkpoint never holds half a step (data drawn but parameters
    not updated, or updated but the step not counted). The first signal is the one reported (a
    SIGINT after a SIGTERM does not relabel it). A second Ctrl-C interrupts at once, as Ctrl-C
    normally does (the previous checkpoint stays as it was). Signal handlers can only be set in
    the main thread; elsewhere this does nothing."""

    def __enter__(self):
        self.signum, self.previous = None, {}
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self.previous[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signum is None:
            self.signum = signum

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def train(task, config, out=None, resume=False, stop_after=None, progress=True, checkpoint_every=0,
          overwrite=False, stop_on_nonfinite=True, zero=False, monitor=None, compiled=False):
    """Train task's model as config says ({optimizer, lr, schedule, clip, steps, batch_size,
    seed}); returns {metrics, history, seconds, step, model}.

    With out, the checkpoint is out/checkpoint.safetensors: written every checkpoint_every steps
    (0: only at the end), at the end, and on SIGINT/SIGTERM, always as of a step boundary (then
    Interrupted is raised). An existing checkpoint is continued with resume, bit for bit, replaced
    with overwrite, and otherwise refused. stop_after: stop (and checkpoint) at that step, as if
    interrupted. stop_on_nonfinite: raise Diverged when the loss, the gradient norm (computed
    when there is a monitor or a clip) or the parameters become inf or NaN, after saving the last
    good step: the step whose loss came out non-finite is abandoned before its update, so the
    parameters are still the previous step's, and the little else the step changed (the data and
    dropout generators, BatchNorm's running statistics) is put back from a snapshot taken at the
    top of each step (O(buffers), not O(parameters)). Parameters that an update itself made
    non-finite are never saved; the previous checkpoint then stays. Compare and its sweep turn
    stop_on_nonfinite off: divergence is a result there.
    monitor: an optim.TrainingMonitor, fed each step's loss, gradient norm and lr; its critical
    findings print at once (the caller prints the rest and monitor.health()).
    compiled: run the step through mg.compile (minigrad/jit/): the forward and backward pass
    as one compiled function, the optimizer's step as another, the checks between them as
    eagerly; the same bits as without it.

    Under `mpirun -n N` each rank trains a replica on its share of every global batch (the
    batch size stays the global one) and rank 0 alone writes the checkpoint; zero shards the
    optimizer state across the ranks (optim.ZeroRedundancyOptimizer). See docs/distributed.md.
    """
    if checkpoint_every < 0:
        raise ValueError(f"checkpoint_every must be >= 0 (0: only at the end), got {checkpoint_every}")
    task.check_batch_size(config["batch_size"])
    if out is None:
        return _train(task, config, None, resume, stop_after, progress, checkpoint_every,
                      stop_on_nonfinite, zero, monitor, compiled)
    # out is this run's alone while it trains (rank 0 holds the lock for every rank)
    with checkpoint.lock_out(out) if dist.get_rank() == 0 else contextlib.nullcontext():
        checkpoint.prepare_out(out)
        ckpt_path = os.path.join(out, checkpoint.NAME)
        if not resume:
            checkpoint.check_files(out, [checkpoint.NAME])
            if not overwrite and os.path.exists(ckpt_path):
                raise ValueError(f"{ckpt_path} exists: continue it with --resume, start over with "
                                 "--overwrite, or choose another --out")
        return _train(task, config, ckpt_path, resume, stop_after, progress, checkpoint_every,
                      stop_on_nonfinite, zero, monitor, compiled)


def _train(task, config, ckpt_path, resume, stop_after, progress, checkpoint_every,
           stop_on_nonfinite, zero, monitor, compiled):
    run = {"task": task.name, "data": getattr(task, "data", None)}
    model = task.build(config["seed"], config["optimizer"].partition("+")[2])
    net, sampler = _data_parallel(task, model, config["batch_size"])
    params = task.optimizer_params(model)  # param groups where the task has them (names-gpt)
    opt = make_optimizer(config["optimizer"], params, config["lr"]) if not zero else \
        optim.ZeroRedundancyOptimizer(params, lambda groups: make_optimizer(
            config["optimizer"], groups, config["lr"]))
    sched = make_schedule(schedule_for(config["optimizer"], config["schedule"]), opt, config["steps"])
    data_rng = np.random.default_rng(config["seed"] + 1)
    step, history = 0, {"loss": [], "lr": []}
    if resume:
        step, history = _restore(checkpoint.load(ckpt_path), run, config, model, opt, sched, data_rng)
    if monitor is not None:
        monitor.lr = monitor.lr or config["lr"]  # for the remedies
        monitor.batch_size = monitor.batch_size or config["batch_size"]
        for value, lr in zip(history["loss"], history["lr"]):  # catch up on a resumed run's steps
            monitor.update(value, lr=lr)
        # built here, after the monitor, for its AdaGrad check; only now, so that the replay
        # above does not read today's accumulator as step 1's (after a resume, its fall counts
        # from the resume)
        monitor.optimizer = opt
    create_graph = needs_graph(config["optimizer"])  # a second-order optimizer's Hessian
    if create_graph and net is not model:
        # each rank would estimate the Hessian from its own share of the batch (sync_gradients
        # averages .grad, not the recorded graph), and the replicas would drift apart
        raise ValueError(f"{config['optimizer']} does not train data-parallel yet: its Hessian "
                         "estimate would differ between the ranks; run it without mpirun")
    start = step  # 0, or the resumed step
    end = config["steps"] if stop_after is None else min(stop_after, config["steps"])
    bar = Progress(config["steps"], step, progress, f"{task.name} {config['optimizer']}")
    params = model.parameters()

    def save():
        if stop_on_nonfinite and not all(_finite(p.data) for p in params):
            raise Diverged(f"the parameters became inf or NaN by step {step}; nothing was saved "
                           "over the last checkpoint (lower --lr, or --clip)")
        _save(ckpt_path, run, config, step, model, opt, sched, data_rng, history)

    def stop_nonfinite(what, value, snapshot):
        """Abandon the step in progress: put back what it changed, save the last good step."""
        where = f"the {what} became {value} at step {step + 1} (lr {config['lr']:g} too high?); stopped"
        if ckpt_path:
            _restore_snapshot(snapshot, model, data_rng)
            if not _all_ranks(all(_finite(a) for s in opt.state.values() for a in s.values()
                                  if backend.is_array(a))):  # ZeRO: each rank checks its shard
                raise Diverged(f"{where}; the optimizer state is not finite, so nothing was saved "
                               "over the last checkpoint")
            save()  # raises Diverged, saving nothing, if the parameters are not finite
            raise Diverged(f"{where}; {ckpt_path} holds step {step}, the last good one")
        raise Diverged(f"{where}, nothing saved")

    def findings(new):
        for f in new:
            if f.severity == "critical" and dist.get_rank() == 0:  # the ranks agree: one says it
                bar.write(str(f))

    if hasattr(opt, "train"):
        opt.train()  # schedule-free: θ holds y, where gradients are taken
    if compiled and create_graph:  # say so once, plainly, and train as without --compile
        if dist.get_rank() == 0:
            print(f"--compile: {config['optimizer']} needs backward(create_graph=True) (its Hessian "
                  "estimate), which a compiled step cannot replay; training without it",
                  file=sys.stderr)
        compiled = False
    loss_and_grads, update = _step_functions(task, net, opt, compiled)
    t0 = time.perf_counter()
    try:
        with _StopAtStepBoundary() as stop:
            while step < end and _signal(stop) is None:
                # one step; a signal arriving anywhere in it is acted on after `step += 1`
                snapshot = _snapshot(model, data_rng) if ckpt_path and stop_on_nonfinite else None
                batch = sampler.shard(task.batch(data_rng, config["batch_size"]))
                # compiled: zero_grad and backward are done here; the arrays are its arguments
                loss = loss_and_grads(type(batch) is tuple, *(batch if type(batch) is tuple else (batch,)))
                value = _mean_over_ranks(loss.item())
                lr = opt.param_groups[0]["lr"]
                if not math.isfinite(value):
                    if monitor is not None:
                        findings(monitor.update(value, lr=lr))
                    if stop_on_nonfinite:
                        stop_nonfinite("loss", value, snapshot)
                if not compiled:
                    opt.zero_grad()
                    loss.backward(create_graph=create_graph)  # AdaHessian, Sophia: H z needs it
                if net is not model:
                    net.sync_gradients()
                norm = None
                if config["clip"]:
                    norm = optim.clip_grad_norm_(params, config["clip"])  # the norm before clipping
                elif monitor is not None:
                    norm = optim.grad_norm(params)  # only measures
                if monitor is not None and math.isfinite(value):
                    findings(monitor.update(value, grad_norm=norm, lr=lr))
                if stop_on_nonfinite and norm is not None and not math.isfinite(norm):
                    stop_nonfinite("gradient norm", norm, snapshot)
                update()
                if sched is not None:
                    sched.step()
                step += 1
                history["loss"].append(value)
                history["lr"].append(lr)
                bar.update(step, value, lr)
                if ckpt_path and checkpoint_every and step % checkpoint_every == 0 and step < end:
                    save()
            if ckpt_path:
                save()
            signum = _signal(stop)
            if signum is not None:
                raise Interrupted(signum, step, ckpt_path)
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    if hasattr(opt, "eval"):
        opt.eval()  # schedule-free: evaluate (and keep) x, the average (checkpoints hold y)
    metrics = task.evaluate(model)
    if monitor is not None:  # a run whose validation loss is not finite is never healthy
        findings(monitor.check_metrics(metrics))
    return {"metrics": metrics, "history": history, "seconds": seconds, "step": step,
            "start": start, "model": model, "compiled": compiled}


def _step_functions(task, net, opt, compiled):
    """(loss_and_grads(*batch), update()): eagerly, the loss (its backward is the loop's) and
    opt.step; compiled (mg.compile), the loss with zero_grad and backward done, and the step,
    each replayed. Split where the loop reads the loss and the gradients (the finite checks,
    the monitor, clipping, data-parallel averaging), which stay eager between them."""
    def loss_of(is_tuple, *parts):  # a batch (x, y) as its arrays; a function task's None as is
        return task.loss(net, parts if is_tuple else parts[0])

    if not compiled:
        return loss_of, opt.step

    def loss_and_grads(is_tuple, *parts):
        loss = loss_of(is_tuple, *parts)
        opt.zero_grad()
        loss.backward()
        return loss

    # one recording per batch shape (the GPT's batches are as long as their longest name)
    return mg.compile(loss_and_grads, cache_size=64), mg.compile(opt.step)


def _finite(a):
    return a.dtype.kind != "f" or bool(backend.get_array_module(a).isfinite(a).all())


def _data_parallel(task, model, batch_size):
    """(the model to call, the sampler): alone, the model itself and a sampler of one; under
    mpirun, a DistributedDataParallel replica and this rank's share of each batch."""
    sampler = dist.DistributedSampler()
    if sampler.num_replicas == 1 or task.kind != "nn":  # a test function has no batch to share
        return model, dist.DistributedSampler(1, 0)
    sampler.check_batch_size(batch_size)
    return dist.DistributedDataParallel(model), sampler


def _mean_over_ranks(value):
    """The global batch's loss: the mean of the ranks' (equal shares), the same on every rank."""
    n = dist.get_world_size()
    return value if n == 1 else float(dist.all_reduce(np.array([value]))[0] / n)


def _all_ranks(ok):
    """ok on every rank (the same answer on all of them, so that all take the same branch)."""
    if dist.get_world_size() == 1:
        return ok
    return bool(dist.all_reduce(np.array([int(ok)]), op="min")[0])


def _signal(stop):
    """The signal that asked any rank to stop, or None: all ranks agree, so all stop at the same
    step boundary (a rank that stopped alone would leave the others waiting in an all-reduce)."""
    if dist.get_world_size() == 1:
        return stop.signum
    return int(dist.all_reduce(np.array([stop.signum or 0]), op="max")[0]) or None


def _snapshot(model, data_rng):
    """What a step changes besides the parameters and the optimizer (which only its update
    changes): the generators' states and copies of the buffers (BatchNorm's running
    statistics; a few KB at most)."""
    return (data_rng.bit_generator.state, mg.get_rng_state(),
            {name: getattr(mod, attr).copy() for name, mod, attr in model.named_buffers()})


def _restore_snapshot(snapshot, model, data_rng):
    rng_data, rng_mg, buffers = snapshot
    data_rng.bit_generator.state = rng_data
    mg.set_rng_state(rng_mg)
    model.load_state_dict(buffers, strict=False)


def _save(path, run, config, step, model, opt, sched, data_rng, history):
    optimizer = _to_cpu(opt.state_dict())  # on every rank: ZeRO gathers its shards here
    if dist.get_rank() == 0:  # the replicas are equal: rank 0 alone writes
        _write(path, run, config, step, model, optimizer, sched, data_rng, history)
    # the others wait here until it is written, so none goes on (to report "saved", or to stop)
    # before it is; when rank 0's write fails, its error ends the job (models/cli.py) meanwhile
    dist.barrier()


def _write(path, run, config, step, model, optimizer, sched, data_rng, history):
    checkpoint.save(path, {
        **run, "config": dict(config), "step": step,
        "model": {k: backend.to_numpy(v) for k, v in model.state_dict().items()},
        "optimizer": optimizer,
        "scheduler": sched.state_dict() if sched is not None else None,
        "rng": {"minigrad": mg.get_rng_state(), "data": data_rng.bit_generator.state},
        "history": {k: np.asarray(v, np.float64) for k, v in history.items()},
    })


def _to_cpu(sd):
    return {"state": {i: {k: backend.to_numpy(v) if backend.is_array(v) else v for k, v in s.items()}
                      for i, s in sd["state"].items()},
            "param_groups": sd["param_groups"]}


def _restore(payload, run, config, model, opt, sched, data_rng):
    """Check every field of the checkpoint against this run, then load it (a CheckpointError
    leaves the run as it was)."""
    for key, flag in (("task", "--task"), ("data", "--data")):
        if payload[key] != run[key]:
            raise checkpoint.CheckpointError(f"the checkpoint is from {flag} {_shown(payload[key])}, "
                                             f"this run is {flag} {run[key]}")
    saved = payload["config"]
    if not isinstance(saved, dict) or not all(isinstance(v, (type(None), bool, int, float, str))
                                              for v in saved.values()):
        raise checkpoint.CheckpointError("checkpoint config: expected a dict of settings")
    different = {k: (saved.get(k), v) for k, v in config.items() if saved.get(k) != v}
    if different or set(saved) != set(config):
        desc = "; ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in different.items())
        raise checkpoint.CheckpointError(f"the checkpoint was made with other settings ({desc or sorted(saved)})")
    step = payload["step"]
    if type(step) is not int or not 0 <= step <= config["steps"]:
        raise checkpoint.CheckpointError(f"checkpoint step: expected an integer from 0 to "
                                         f"{config['steps']}, got {step!r}")
    check = checkpoint.check_like
    check(payload["history"], {"loss": np.zeros(step), "lr": np.zeros(step)}, "history")
    check(payload["model"], {k: backend.to_numpy(v) for k, v in model.state_dict().items()}, "model")
    _check_optimizer(payload["optimizer"], opt)
    if sched is None:
        check(payload["scheduler"], None, "scheduler")
    else:
        check(payload["scheduler"], sched.state_dict(), "scheduler")
        if payload["scheduler"]["last_epoch"] != step:
            raise checkpoint.CheckpointError(f"checkpoint scheduler: last_epoch "
                                             f"{payload['scheduler']['last_epoch']} at step {step}")
    rng = payload["rng"]
    check(rng, {"minigrad": mg.get_rng_state(), "data": data_rng.bit_generator.state}, "rng")
    for name, gen in (("minigrad", backend.rng()), ("data", data_rng)):
        try:  # on a scratch generator of the same kind, so a bad state changes nothing
            type(gen.bit_generator)().state = rng[name]
        except (TypeError, ValueError, KeyError, OverflowError) as e:
            raise checkpoint.CheckpointError(f"checkpoint rng[{name!r}]: not a valid generator state "
                                             f"({type(e).__name__}: {e})") from None
    # everything checked: now write (the optimizer first: it still checks names and shapes itself)
    try:
        opt.load_state_dict(payload["optimizer"])
    except (KeyError, ValueError, TypeError) as e:
        raise checkpoint.CheckpointError(f"checkpoint optimizer: {e}") from None
    model.load_state_dict(payload["model"])
    if sched is not None:
        sched.load_state_dict(payload["scheduler"])
    mg.set_rng_state(rng["minigrad"])
    data_rng.bit_generator.state = rng["data"]
    return step, {k: v.tolist() for k, v in payload["history"].items()}


def _shown(value):
    """A value read from a file, for a message: a plain printable string as it is, anything else
    as its repr, so that a file cannot print control characters (fake lines, terminal escapes)."""
    return value if isinstance(value, str) and value.isprintable() else repr(value)


def _check_optimizer(saved, opt):
    fresh = opt.state_dict()
    if type(saved) is not dict or set(saved) != {"state", "param_groups"}:
        raise checkpoint.CheckpointError("checkpoint optimizer: expected a dict of 'state' and 'param_groups'")
    checkpoint.check_like(saved["param_groups"], fresh["param_groups"], "optimizer param_groups")
    n = sum(len(g["params"]) for g in fresh["param_groups"])
    state = saved["state"]
    if type(state) is not dict or not all(type(i) is int and 0 <= i < n and type(s) is dict
                                          for i, s in state.items()):
        raise checkpoint.CheckpointError(f"checkpoint optimizer state: expected {{index < {n}: dict}}")
    for i, s in state.items():
        for k, v in s.items():
            if not (v is None or isinstance(v, np.ndarray)
                    or (isinstance(v, (int, float)) and not isinstance(v, bool))):
                raise checkpoint.CheckpointError(f"checkpoint optimizer state[{i}][{k!r}]: expected an "
                                                 f"array or a number, got {type(v).__name__}")
