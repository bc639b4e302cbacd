"""Data-parallel speed on this machine: steps/s of 1 vs 2 MPI ranks at the same global batch,
the all-reduce time per step, and ZeRO's per-rank optimizer state, for two workloads:

    names    the `minigrad train --task names` model (CharMLP, 45,675 float32 parameters), AdamW
    mlp784   MLP 784-512-512-10 (669,706 float32 parameters) on random data, Adam

    python bench/distributed.py [--steps 60] [--repeats 3]

It launches itself under `mpirun -n N` (Open MPI from the `mpi` extra) for each configuration,
`--repeats` times, and prints a Markdown table (median, min-max over repeats). Numbers from a
shared, loaded machine are noisy: quote them with the machine and the load. docs/distributed.md
turns the measured step time into a cost model for 8, 64 and 512 ranks.
"""
import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def worker(args):
    import minigrad as mg
    import minigrad.distributed as dist
    import minigrad.nn as nn
    import minigrad.nn.functional as F
    import optim
    from optim.tools.zero import state_bytes
    rank, n = dist.init()
    rng = np.random.default_rng(0)
    if args.workload == "names":
        from models.tasks import make_task
        task = make_task("names")
        model = task.build(0)
        X, y = task.train
        make = functools.partial(optim.AdamW, lr=3e-3, weight_decay=1e-2)  # make(params)
    else:
        mg.manual_seed(0)
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                              nn.Linear(512, 10))
        X = rng.standard_normal((4096, 784)).astype(np.float32)
        y = rng.integers(0, 10, 4096)
        make = functools.partial(optim.Adam, lr=1e-3)
    net = dist.DistributedDataParallel(model) if n > 1 else model
    opt = optim.ZeroRedundancyOptimizer(model.parameters(), make) if args.zero else make(model.parameters())
    sampler = dist.DistributedSampler()
    sync = step_time = 0.0
    for i in range(args.steps + 5):  # the first 5 steps warm up (allocations, state creation)
        if i == 5:
            dist.barrier()
            sync = step_time = 0.0
            t0 = time.perf_counter()
        ix = rng.integers(0, len(X), args.batch)
        xb, yb = sampler.shard((X[ix], y[ix]))
        loss = F.cross_entropy(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        if n > 1:
            t = time.perf_counter()
            net.sync_gradients()
            sync += time.perf_counter() - t
        t = time.perf_counter()
        opt.step()
        step_time += time.perf_counter() - t
    dist.barrier()
    seconds = time.perf_counter() - t0
    state = [int(b[0]) for b in dist.all_gather(np.array([state_bytes(opt)], np.int64))]
    if rank == 0:
        print(json.dumps({"steps_per_s": args.steps / seconds, "allreduce_ms": 1e3 * sync / args.steps,
                          "opt_step_ms": 1e3 * step_time / args.steps, "state_bytes": state}))


def mpirun():
    path = os.path.join(sysconfig.get_paths()["scripts"], "mpirun")
    return path if os.access(path, os.X_OK) else "mpirun"


def launch(n, workload, batch, steps, zero):
    cmd = [mpirun(), "--allow-run-as-root", "--oversubscribe", "-n", str(n), sys.executable,
           os.path.abspath(__file__), "--worker", "--workload", workload, "--batch", str(batch),
           "--steps", str(steps)] + (["--zero"] if zero else [])
    # one BLAS thread per rank, as `minigrad train` sets under mpirun (models/__init__.py): BLAS
    # threads per core on top of one rank per core make the ranks fight over the cores
    env = {**{v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
           **os.environ}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


# the cost model: parameters (float32) of each workload, and its per-rank batch when scaled out
SHAPES = {"names": [(27, 24), (300, 120), (300,), (300,), (300,), (27, 300), (27,)],
          "mlp784": [(512, 784), (512,), (512, 512), (512,), (10, 512), (10,)]}
PARAMS = {w: sum(int(np.prod(s)) for s in shapes) for w, shapes in SHAPES.items()}
LATENCY_S = 20e-6  # one message between two machines over TCP, order of magnitude


def cost_model(step_ms):
    """Predicted step time at N ranks, each with the per-rank batch that measured step_ms[w]
    alone: T = T_compute + T_allreduce, a ring all-reduce of the gradients taking
    2(N-1)/N * bytes / bandwidth + 2(N-1) * latency (compute and communication not overlapped)."""
    from optim.tools.zero import rows, shard
    print("| workload | link | N | all-reduce ms | efficiency | Adam state per rank, plain -> ZeRO (largest share) |")
    print("|---|---|---|---|---|---|")
    for w, ms in step_ms.items():
        grad = 4 * PARAMS[w]
        state = 2 * 4 * PARAMS[w]
        for gbps in (10, 100):
            for n in (8, 64, 512):
                t = 2 * (n - 1) / n * grad / (gbps * 1e9 / 8) + 2 * (n - 1) * LATENCY_S
                shares = shard(SHAPES[w], n)  # elementwise sharding, cut between rows
                zero = 2 * 4 * max(sum((r1 - r0) * rows(SHAPES[w][i])[1] for i, r0, r1 in share)
                                   for share in shares)
                print(f"| {w} | {gbps} Gb/s | {n} | {1e3 * t:.2f} | {ms / (ms + 1e3 * t):.0%} | "
                      f"{state / 1e6:.2f} MB -> {zero / 1e6:.4f} MB (S/N {state / n / 1e6:.4f} MB) |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--workload", default="names")
    ap.add_argument("--batch", type=int, default=96)
    ap.add_argument("--zero", action="store_true")
    ap.add_argument("--cost-model", metavar="W=MS,...",
                    help="only print the cost model, from per-rank step times in ms (names=20,mlp784=30)")
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.cost_model:
        return cost_model({k: float(v) for k, v in (p.split("=") for p in args.cost_model.split(","))})
    configs = [(w, b, n, z) for w, b in (("names", 96), ("mlp784", 128))
               for n, z in ((1, False), (2, False), (2, True))]
    results = {c: [] for c in configs}
    for _ in range(args.repeats):  # interleaved, so that a burst of load hits every config alike
        for c in configs:
            results[c].append(launch(c[2], c[0], c[1], args.steps, c[3]))
    print(f"{args.steps} timed steps, {args.repeats} repeats; median (min-max); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    print("| workload | global batch | ranks | optimizer | steps/s | all-reduce ms/step | "
          "optimizer step ms | state bytes per rank |")
    print("|---|---|---|---|---|---|---|---|")
    for (w, b, n, z), runs in results.items():
        sps = [r["steps_per_s"] for r in runs]
        ar = statistics.median(r["allreduce_ms"] for r in runs)
        st = statistics.median(r["opt_step_ms"] for r in runs)
        print(f"| {w} | {b} | {n} | {'ZeRO' if z else 'plain'} | {statistics.median(sps):.1f} "
              f"({min(sps):.1f}-{max(sps):.1f}) | {ar:.2f} | {st:.2f} | "
              f"{' / '.join(f'{s:,}' for s in runs[0]['state_bytes'])} |")
    # each rank of 2 computes half the global batch: about half of one rank's step time
    half = {w: 1e3 / statistics.median(r["steps_per_s"] for r in runs) / 2
            for (w, b, n, z), runs in results.items() if n == 1}
    print("\ncost model (per-rank compute from the 1-rank runs, halved): --cost-model "
          + ",".join(f"{w}={ms:.1f}" for w, ms in half.items()) + "\n")
    cost_model(half)


if __name__ == "__main__":
    main()
