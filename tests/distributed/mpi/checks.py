"""Checks that need several processes, run by tests/distributed/test_distributed.py as
`mpirun -n 2 python tests/distributed/mpi/checks.py OUT`: one launch runs them all (each launch
costs seconds), and rank 0 writes the measured values to OUT/results.json for the tests to judge.
OUT also receives a checkpoint written at 2 ranks, which the tests resume in one process.

Everything is float64. The training runs use a small model without BatchNorm: Embedding ->
Linear -> tanh -> Linear, global batch 16 (8 per rank), a StepLR schedule, 20 steps.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
import minigrad as mg  # noqa: E402
import minigrad.distributed as dist  # noqa: E402
import minigrad.nn as nn  # noqa: E402
import minigrad.nn.functional as F  # noqa: E402
import optim  # noqa: E402

STEPS, SAVE_AT, GLOBAL_BATCH = 20, 10, 16
OPTIMIZERS = {
    "sgd": lambda groups: optim.SGD(groups, lr=0.1, momentum=0.9),
    "adam": lambda groups: optim.Adam(groups, lr=1e-2),
    "adamw": lambda groups: optim.AdamW(groups, lr=1e-2, weight_decay=0.1),
    "adagrad": lambda groups: optim.Adagrad(groups, lr=0.1),
}


class Net(nn.Module):
    def __init__(self, sparse):
        self.emb = nn.Embedding(200, 4, sparse=sparse)  # ZeRO cuts its rows between the ranks
        self.fc1 = nn.Linear(12, 16)
        self.fc2 = nn.Linear(16, 5)

    def forward(self, idx):
        return self.fc2(self.fc1(self.emb(idx).reshape(len(idx), -1)).tanh())


def batch(rng):
    return rng.integers(0, 200, (GLOBAL_BATCH, 3)), rng.integers(0, 5, GLOBAL_BATCH)


def train(opt_name, mode, sparse=False, resume=None, bucket_cap_mb=25, steps=STEPS):
    """mode: 'single' (this process alone, the whole global batch), 'ddp', or 'zero'.
    Returns (the parameters at the end, the checkpoint at SAVE_AT, the optimizer)."""
    mg.manual_seed(0)
    model = Net(sparse)
    if mode == "single":
        net, sampler = model, dist.DistributedSampler(num_replicas=1, rank=0)
    else:
        net, sampler = dist.DistributedDataParallel(model, bucket_cap_mb), dist.DistributedSampler()
    make = OPTIMIZERS[opt_name]
    opt = optim.ZeroRedundancyOptimizer(model.parameters(), make) if mode == "zero" \
        else make(model.parameters())
    sched = optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    rng, step, saved = np.random.default_rng(1), 0, None
    if resume is not None:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        rng.bit_generator.state = resume["rng"]
        step = resume["step"]
    while step < steps:
        X, y = sampler.shard(batch(rng))
        loss = F.cross_entropy(net(X), y)
        opt.zero_grad()
        loss.backward()
        if mode != "single":
            net.sync_gradients()
        opt.step()
        sched.step()
        step += 1
        if step == SAVE_AT:
            saved = {"model": {k: v.copy() for k, v in model.state_dict().items()},
                     "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "rng": rng.bit_generator.state, "step": step}
    return [p.data.copy() for p in model.parameters()], saved, opt


# not sharded element by element: whole parameters (Adafactor, LAMB), or with train()/eval()
# and group counters (schedule-free)
OTHERS = {
    "adafactor": lambda groups: optim.Adafactor(groups, lr=1e-2),
    "lamb": lambda groups: optim.LAMB(groups, lr=1e-2, weight_decay=0.01),
    "schedulefree": lambda groups: optim.ScheduleFreeAdamW(groups, lr=1e-2, warmup_steps=3),
}


def others():
    """ZeRO against plain DDP for the optimizers of OTHERS (8 steps), and Prodigy's refusal."""
    out = {}
    for name, make in OTHERS.items():
        finals, states = {}, {}
        for mode in ("ddp", "zero"):
            mg.manual_seed(0)
            model = Net(False)
            net, sampler = dist.DistributedDataParallel(model), dist.DistributedSampler()
            opt = optim.ZeroRedundancyOptimizer(model.parameters(), make) if mode == "zero" \
                else make(model.parameters())
            if hasattr(opt, "train"):
                opt.train()
            rng = np.random.default_rng(1)
            for _ in range(8):
                X, y = sampler.shard(batch(rng))
                loss = F.cross_entropy(net(X), y)
                opt.zero_grad()
                loss.backward()
                net.sync_gradients()
                opt.step()
            if hasattr(opt, "eval"):
                opt.eval()
            finals[mode], states[mode] = [p.data.copy() for p in model.parameters()], opt.state_dict()
        plain, zero = states["ddp"], states["zero"]
        out[name] = {
            "zero_vs_ddp_bitexact": same(finals["zero"], finals["ddp"]),
            "replicas_equal": replicas_equal(finals["zero"]),
            "state_dict_equal": plain["param_groups"] == zero["param_groups"] and set(plain["state"]) == set(
                zero["state"]) and all(set(s) == set(zero["state"][i]) and all(
                    np.array_equal(zero["state"][i][k], v) for k, v in s.items())
                for i, s in plain["state"].items())}
    try:
        optim.ZeroRedundancyOptimizer(Net(False).parameters(), optim.Prodigy)
        out["prodigy_refused"] = None
    except ValueError as e:
        out["prodigy_refused"] = str(e)
    return out


def failures(rank):
    """Bad input to ZeRO's load_state_dict, and an error inside one rank's step: every rank must
    raise (none left waiting in a collective), and a refused load must change nothing."""
    out = {}
    mg.manual_seed(0)
    model = Net(False)
    opt = optim.ZeroRedundancyOptimizer(model.parameters(), optim.Adam, lr=1e-2)
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    opt.step()
    good = opt.state_dict()
    before = {id(p): {k: (v.copy() if hasattr(v, "copy") else v) for k, v in s.items()}
              for p, s in opt.state.items()}
    last = max(good["state"])  # fc2's bias: owned by the last rank alone
    for case, edit in {"shape": lambda s: s.update(exp_avg=np.zeros(7)),
                       "missing": lambda s: s.pop("exp_avg_sq"),
                       "step": lambda s: s.update(step="abc")}.items():
        bad = {"state": {i: dict(s) for i, s in good["state"].items()},
               "param_groups": [dict(g, lr=0.5) for g in good["param_groups"]]}
        edit(bad["state"][last])
        try:
            opt.load_state_dict(bad)
            raised = None
        except ValueError as e:
            raised = str(e)
        unchanged = opt.param_groups[0]["lr"] == 1e-2 and all(
            all(np.array_equal(v, before[id(p)][k]) if hasattr(v, "shape") else v == before[id(p)][k]
                for k, v in s.items()) for p, s in opt.state.items())
        out[f"load_{case}"] = dist.all_gather_object({"raised": raised, "unchanged": unchanged})

    class FailsOnRank1(optim.SGD):
        def step(self, closure=None):
            if rank == 1:
                raise ArithmeticError("made up, rank 1 only")
            return super().step(closure)
    opt = optim.ZeroRedundancyOptimizer(model.parameters(), FailsOnRank1, lr=0.1)
    try:
        opt.step()
        raised = None
    except Exception as e:
        raised = f"{type(e).__name__}: {e}"
    out["step_error"] = dist.all_gather_object(raised)
    return out


def rel_diff(a, b):
    """The largest |a - b| / max(|a|, |b|) over all elements of two lists of arrays."""
    worst = 0.0
    for x, y in zip(a, b):
        scale = np.maximum(np.abs(x), np.abs(y))
        d = np.abs(x - y)
        worst = max(worst, float(np.max(np.where(scale > 0, d / np.where(scale > 0, scale, 1), 0))))
    return worst


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def replicas_equal(params):
    """True when every rank holds bit-identical parameters."""
    flat = np.concatenate([p.reshape(-1) for p in params])
    return all(np.array_equal(flat, other) for other in dist.all_gather(flat))


def primitives(rank, n):
    out = {}
    a = np.array([1.0, 2.0, 3.0]) * (rank + 1)
    out["all_reduce_sum"] = dist.all_reduce(a.copy()).tolist()
    out["all_reduce_max"] = dist.all_reduce(a.copy(), op="max").tolist()
    out["broadcast_from_1"] = dist.broadcast(np.full(2, float(rank)), src=n - 1).tolist()
    parts = dist.all_gather(np.full((rank + 1, 2), rank, np.int64))
    out["all_gather_shapes"] = [list(p.shape) for p in parts]
    out["all_gather_values"] = [int(p.sum()) for p in parts]
    objs = dist.all_gather_object({"rank": rank, "x": np.arange(rank + 2.0)})
    out["all_gather_object"] = [[o["rank"], o["x"].tolist()] for o in objs]
    # a parameter that only rank 0's loss uses: counted as zero on the other ranks
    w, b = mg.Tensor(np.ones(2), requires_grad=True), mg.Tensor(np.ones(2), requires_grad=True)

    class Two(nn.Module):
        def __init__(self):
            self.w, self.b = nn.Parameter(w), nn.Parameter(b)
    two = Two()
    loss = (two.w * 2.0).sum() + ((two.b * 4.0).sum() if rank == 0 else 0.0)
    ddp = dist.DistributedDataParallel(two)
    loss.backward()
    ddp.sync_gradients()
    out["grad_used_everywhere"] = two.w.grad.tolist()
    out["grad_used_on_rank0"] = two.b.grad.tolist()
    # buffers: every rank starts from rank 0's running statistics
    bn = nn.BatchNorm1d(3)
    bn.running_mean[...] = rank + 1.0
    dist.DistributedDataParallel(bn)
    out["bn_running_mean_after_wrap"] = bn.running_mean.tolist()
    return out


def main(out_dir):
    mg.set_default_dtype(np.float64)
    rank, n = dist.init()
    results = {"world_size": n, "primitives": primitives(rank, n), "runs": {}, "memory": {},
               "others": others(), "failures": failures(rank)}
    for sparse in (False, True):
        for name in OPTIMIZERS:
            if sparse and name in ("adamw", "adagrad"):
                continue  # the sparse path is the same for every lazy optimizer; two suffice
            key = f"{name}{'-sparse' if sparse else ''}"
            ref, _, _ = train(name, "single", sparse)
            ddp, ddp_ckpt, _ = train(name, "ddp", sparse, bucket_cap_mb=0.001)  # several buckets
            zero, zero_ckpt, zopt = train(name, "zero", sparse)
            row = {"ddp_vs_single_rel": rel_diff(ddp, ref), "ddp_vs_single_bitexact": same(ddp, ref),
                   "zero_vs_ddp_bitexact": same(zero, ddp), "replicas_equal": replicas_equal(zero),
                   "ddp_replicas_equal": replicas_equal(ddp)}
            # a checkpoint written at 2 ranks, resumed at 2 ranks: with ZeRO, and without it
            row["resume2_zero_bitexact"] = same(train(name, "zero", sparse, resume=zero_ckpt)[0], zero)
            row["resume2_ddp_from_zero_bitexact"] = same(train(name, "ddp", sparse, resume=zero_ckpt)[0], ddp)
            row["resume2_zero_from_ddp_bitexact"] = same(train(name, "zero", sparse, resume=ddp_ckpt)[0], zero)
            # ZeRO's consolidated state equals the plain optimizer's at 2 ranks, array for array
            plain = ddp_ckpt["optimizer"]
            row["zero_state_dict_equals_ddp"] = all(
                set(zero_ckpt["optimizer"]["state"][i]) == set(s) and all(
                    np.array_equal(zero_ckpt["optimizer"]["state"][i][k], v) for k, v in s.items())
                for i, s in plain["state"].items()) and set(plain["state"]) == set(zero_ckpt["optimizer"]["state"])
            row["state_bytes_per_rank"] = [int(b[0]) for b in dist.all_gather(
                np.array([optim.tools.zero.state_bytes(zopt)], np.int64))]
            results["runs"][key] = row
            if rank == 0:
                mg.save({**zero_ckpt, "final": zero, "final_single": ref},
                        os.path.join(out_dir, f"{key}.safetensors"))
    # memory on the MLP 784-512-512-10 (float32, Adam): one step creates the state
    mg.set_default_dtype(np.float32)
    mg.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    for mode in ("plain", "zero"):
        opt = optim.ZeroRedundancyOptimizer(mlp.parameters(), optim.Adam, lr=1e-3) if mode == "zero" \
            else optim.Adam(mlp.parameters(), lr=1e-3)
        for p in mlp.parameters():
            p.grad = np.ones_like(p.data)
        opt.step()
        results["memory"][f"mlp784_adam_{mode}"] = [int(b[0]) for b in dist.all_gather(
            np.array([optim.tools.zero.state_bytes(opt)], np.int64))]
    if rank == 0:
        with open(os.path.join(out_dir, "results.json"), "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
