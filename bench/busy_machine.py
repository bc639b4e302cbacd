"""Training speed on a busy machine: every bundled task (and a large MLP), idle and beside CPU hogs,
with the BLAS thread policy (minigrad/threads.py) and without it (today's default: the BLAS's own
thread count, one per core, never changed).

A hog is a separate process spinning on one core (a `for` loop in Python), started and stopped
by this script. Each measurement is a fresh process (`--worker`), so that `import minigrad` looks
at the machine as a user's run would: it trains the task for a warm-up then for --steps steps
with models.train.train and reports the seconds of the loop. The two modes take turns, task by
task, for --rounds rounds; the table gives the medians in ms per step, and under load the
slowdown against the default's idle time. "fair" is the slowdown that losing a share of the
cores to the hogs justifies: the scheduler gives each runnable process an equal share, so with
k hogs on C cores a run keeps max(C - k, C / (k + 1)) cores, and fair = C / that.

    python bench/busy_machine.py [--rounds 3] [--hogs 0,1,2] [--tasks digits,names,...]
                                 [--scale 1.0]

The load printed beside each condition is os.getloadavg(), the 1-minute average (it counts the
hogs and this script's own runs too): "idle" was idle only if it read well under 1 before the
hogs started. --scale multiplies every task's steps (0.2 for a quick check).
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

STEPS = {  # a few hundred ms idle on a 2-core machine (more for the large MLP)
    "digits": 300, "names": 500, "names-gpt": 40, "sparse": 2000, "sparse-vocab": 300,
    "rosenbrock": 3000, "beale": 3000, "quadratic": 3000, "mlp-784": 100,
}
MODES = ("default", "policy")
WARMUP = 10


# ============================================================== one measurement (a fresh process)

def big_mlp_task():
    """An MLP 784-512-512-10 on random MNIST-shaped data, batch 128: products large enough for
    two BLAS threads to pay on an idle machine."""
    import numpy as np

    import minigrad as mg
    from models.mlp import MLP
    from models.tasks import Task

    class BigMLP(Task):
        name, batch_size, optimizer, schedule = "mlp-784", 128, "adamw", "none"

        def __init__(self):
            super().__init__()
            rng = np.random.default_rng(0)
            self.train = (rng.standard_normal((4096, 784), dtype=np.float32),
                          rng.integers(0, 10, 4096))

        def build(self, seed, variant=""):
            mg.manual_seed(seed)
            return MLP([784, 512, 512, 10], activation="relu")

        def evaluate(self, model):
            return {}

    return BigMLP()


def worker(task_name, steps, mode):
    """Train task_name for `steps` steps in this process; print {seconds, threads, busy}."""
    import minigrad as mg
    from models.tasks import make_task
    from models.train import train

    if mode == "default":  # today's behaviour: the BLAS's own count, whatever the load
        mg.set_num_threads(mg.threads.status()["default"])
    task = big_mlp_task() if task_name == "mlp-784" else make_task(task_name)
    config = {"optimizer": task.optimizer, "lr": task.lr_for(task.optimizer), "schedule": "none",
              "clip": None, "steps": WARMUP, "batch_size": task.batch_size, "seed": 0}
    train(task, config, progress=False)  # compiles the optimizer's loop, warms the caches
    seconds = train(task, {**config, "steps": steps}, progress=False)["seconds"]
    status = mg.threads.status()
    print(json.dumps({"seconds": seconds, "threads": status["threads"], "busy": status["busy"]}))


def measure(task_name, steps, mode, timeout):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", task_name, str(steps), mode]
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                        "GOTO_NUM_THREADS", "BLIS_NUM_THREADS")}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ============================================================== the hogs and the table

HOG = """import os
parent = os.getppid()
while os.getppid() == parent:  # spin; stop if this script dies without stopping us
    for _ in range(10**6):
        pass
"""


def start_hogs(k):
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(k)]
    time.sleep(0.5 if k else 0)  # running before the first measurement starts
    return hogs


def stop_hogs(hogs):
    for p in hogs:
        p.kill()
        p.wait()


def fair(cores, k):
    """The slowdown that k hogs on `cores` cores justify (see the module docstring)."""
    return cores / max(cores - k, cores / (k + 1)) if k else 1.0


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def table(results, tasks, hogs, n_cores):
    """Markdown: ms per step (median) for each task, condition and mode; under load, also the
    slowdown against the default's idle time; and the policy's thread count."""
    head = ["task", "steps"]
    for k in hogs:
        where = "idle" if k == 0 else f"{k} hog{'s' * (k > 1)} (fair ≤ {fair(n_cores, k):.1f}x)"
        head += [f"{where}: default", f"{where}: policy"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, steps in tasks:
        row = [name, str(steps)]
        idle = results.get((name, 0, "default"))
        base = statistics.median(r["seconds"] for r in idle) if idle else None
        for k in hogs:
            for mode in MODES:
                runs = results.get((name, k, mode), [])
                if not runs:
                    row.append("")
                    continue
                sec = statistics.median(r["seconds"] for r in runs)
                cell = f"{sec / steps * 1e3:.2f} ms"
                if k and base:
                    cell += f" ({sec / base:.1f}x)"
                if mode == "policy":
                    cell += f", {'/'.join(sorted({str(r['threads']) for r in runs}))} thr"
                row.append(cell)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--hogs", default="0,1,2", help="hog counts to run beside (0: idle)")
    p.add_argument("--tasks", default=",".join(STEPS), help=f"from: {', '.join(STEPS)}")
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every task's steps")
    p.add_argument("--timeout", type=float, default=600, help="seconds for one measurement")
    p.add_argument("--worker", nargs=3, metavar=("TASK", "STEPS", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), args.worker[2])
        return
    names = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in names if t not in STEPS]
    if unknown:
        p.error(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}")
    tasks = [(t, max(1, round(STEPS[t] * args.scale))) for t in names]
    hogs = [int(k) for k in args.hogs.split(",")]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the hogs on kill too
    n_cores = cores()
    print(f"{n_cores} cores; {args.rounds} rounds; load before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)", flush=True)
    results, loads = {}, []
    for k in hogs:
        running = start_hogs(k)
        try:
            start = os.getloadavg()[0]
            for r in range(args.rounds):
                for name, steps in tasks:
                    for mode in (MODES if r % 2 == 0 else MODES[::-1]):  # take turns
                        res = measure(name, steps, mode, args.timeout)
                        results.setdefault((name, k, mode), []).append(res)
                        print(f"  hogs {k} round {r + 1} {name:12s} {mode:7s} "
                              f"{res['seconds'] / steps * 1e3:8.2f} ms/step  threads "
                              f"{res['threads']}  busy {res['busy']}", flush=True)
            loads.append((k, start, os.getloadavg()[0]))
        finally:
            stop_hogs(running)
    print()
    print(table(results, tasks, hogs, n_cores))
    print()
    print("load (1-min average) at the start and end of each condition: " + "; ".join(
        f"{k} hog{'s' * (k != 1)} {a:.2f} -> {b:.2f}" for k, a, b in loads))


if __name__ == "__main__":
    main()
