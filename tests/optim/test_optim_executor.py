"""The executors (optim/executor/): each optimizer's one rule run as NumPy chunks, as a
compiled loop and as the reference (the rule once on whole arrays), all equal bit for bit."""
import inspect
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import minigrad as mg
import optim
from optim import executor
from optim.executor import loop, numpy_program, plan, pool

from conftest import to_np

_JIT_REASON = executor.jit_unavailable_reason()
FORMS = ["chunks", pytest.param("loops", marks=pytest.mark.skipif(
    _JIT_REASON is not None, reason=f"compiled loops unavailable: {_JIT_REASON}"))]


@pytest.fixture(params=FORMS)
def form(request, monkeypatch):
    monkeypatch.setitem(loop._jit, "enabled", request.param == "loops")
    monkeypatch.setattr(loop, "_compiled", {})
    monkeypatch.setattr(plan, "_plans", {})
    return request.param


# every option that changes a rule's work: each branch of each rule (Adafactor and LAMB are
# not elementwise: they have no rule, and are here to show fused=None and False agree)
CASES = [("SGD", {}), ("SGD", dict(momentum=0.9, dampening=0.1, weight_decay=0.1)),
         ("SGD", dict(momentum=0.9, nesterov=True, maximize=True)),
         ("Adam", {}), ("Adam", dict(amsgrad=True, weight_decay=0.1, maximize=True)),
         ("Adam", dict(decoupled_weight_decay=True, weight_decay=0.1)), ("AdamW", {}),
         ("AdamW", dict(amsgrad=True)), ("AMSGrad", {}),
         ("Adagrad", {}), ("Adagrad", dict(lr_decay=0.01, weight_decay=0.1, maximize=True)),
         ("RMSprop", {}), ("RMSprop", dict(centered=True)), ("RMSprop", dict(momentum=0.9)),
         ("RMSprop", dict(centered=True, momentum=0.9, maximize=True, weight_decay=0.1)),
         ("Adadelta", {}), ("Adadelta", dict(rho=0.5, weight_decay=0.1, maximize=True)),
         ("Adamax", {}), ("Adamax", dict(weight_decay=0.1, maximize=True)),
         ("NAdam", {}), ("NAdam", dict(weight_decay=0.1, maximize=True)),
         ("NAdam", dict(weight_decay=0.1, decoupled_weight_decay=True)),
         ("RAdam", {}), ("RAdam", dict(weight_decay=0.1, maximize=True)),
         ("RAdam", dict(weight_decay=0.1, decoupled_weight_decay=True)),
         ("AdaBelief", {}), ("AdaBelief", dict(weight_decay=0.1, maximize=True)),
         ("AdaBelief", dict(weight_decay=0.1, decoupled_weight_decay=False)),
         ("Lion", {}), ("Lion", dict(weight_decay=0.1, maximize=True)),
         ("Rprop", {}), ("Rprop", dict(etas=(0.3, 1.5), step_sizes=(1e-3, 0.05), maximize=True)),
         ("Adafactor", {}), ("Adafactor", dict(weight_decay=0.1, maximize=True, eps=(1e-20, 1e-2))),
         ("Adafactor", dict(beta2_decay=-0.5, d=2.0)),
         ("LAMB", {}), ("LAMB", dict(weight_decay=0.1, maximize=True)),
         ("Yogi", {}), ("Yogi", dict(weight_decay=0.1, maximize=True, initial_accumulator_value=0.1)),
         ("ASGD", {}), ("ASGD", dict(t0=3, lambd=0.1, weight_decay=0.1, maximize=True)),
         ("AdaHessian", {}), ("AdaHessian", dict(update_period=2, weight_decay=0.1, maximize=True)),
         ("AdaHessian", dict(weight_decouple=False, weight_decay=0.1, hessian_power=0.5)),
         ("Sophia", dict(p=1.0, update_period=3, weight_decay=0.1)),
         ("Sophia", dict(weight_decouple=False, weight_decay=0.1, maximize=True)),
         ("SophiaG", dict(bs=4)), ("SophiaG", dict(maximize=True, weight_decay=0.0))]


def step(opt):
    """opt.step(); AdaHessian and Sophia are given the Hessian's diagonal (here g ⊙ g), SophiaG
    takes its estimate from the gradients first."""
    if hasattr(opt, "update_hessian"):
        opt.update_hessian()
    given = "hessian" in inspect.signature(opt.step).parameters
    opt.step(**({"hessian": [p.grad * p.grad for g in opt.param_groups for p in g["params"]
                             if p.grad is not None]} if given else {}))


def params(dtype, device="cpu", shapes=((4, 3), (3,), (2, 2, 2))):
    rng = np.random.default_rng(0)
    return [mg.nn.Parameter(mg.backend.to_device(rng.standard_normal(s).astype(dtype), device))
            for s in shapes]


def run_steps(opt, ps, steps, seed=1, scale=1.0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        for p in ps:
            g = (scale * rng.standard_normal(p.shape)).astype(p.dtype)
            p.grad = mg.backend.to_device(g, p.device)
        step(opt)


@pytest.mark.parametrize("name,kw", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_equals_reference(name, kw, dtype, form, device):
    a, b = params(dtype, device), params(dtype, device)
    run_steps(getattr(optim, name)(a, **kw), a, 30)
    run_steps(getattr(optim, name)(b, fused=False, **kw), b, 30)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for p, q in zip(a, b):
        assert p.dtype == dtype
        np.testing.assert_allclose(to_np(p.data), to_np(q.data), rtol=tol, atol=tol)


@pytest.mark.parametrize("name,kw", CASES)
def test_fused_equals_reference_when_chunked_and_threaded(name, kw, form, monkeypatch):
    # several chunks of either form, an uneven last one, threads on
    monkeypatch.setattr(loop, "LOOP_CHUNK", numpy_program.CHUNK // 2)
    n = pool.PARALLEL_MIN + numpy_program.CHUNK // 3
    a, b = params(np.float32, shapes=[(n,)]), params(np.float32, shapes=[(n,)])
    run_steps(getattr(optim, name)(a, lr=1e-2, **kw), a, 3)
    run_steps(getattr(optim, name)(b, lr=1e-2, fused=False, **kw), b, 3)
    np.testing.assert_allclose(a[0].data, b[0].data, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(a[0].data, params(np.float32, shapes=[(n,)])[0].data)


FORMS_BY_NAME = {"loop": dict(jit=True, fused=None), "chunks": dict(jit=False, fused=None),
                 "reference": dict(jit=True, fused=False)}


@pytest.mark.parametrize("name,kw", [c for c in CASES if getattr(optim, c[0]).rule is not None])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the inf and nan gradients
@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_every_form_runs_the_rule_bit_for_bit(name, kw, dtype, monkeypatch):
    # gradients over 12 orders of magnitude, zeros, inf, nan; chunks of the NumPy form too
    monkeypatch.setattr(numpy_program, "CHUNK", 4096)
    n = 20_000
    results = {}
    forms = ["chunks", "reference"] + (["loop"] if _JIT_REASON is None else [])
    for form in forms:
        monkeypatch.setitem(loop._jit, "enabled", FORMS_BY_NAME[form]["jit"])
        ps = params(dtype, shapes=[(n,), (5, 7)])
        opt = getattr(optim, name)(ps, lr=1e-2, fused=FORMS_BY_NAME[form]["fused"], **kw)
        rng = np.random.default_rng(2)
        for _ in range(8):  # RAdam rectifies from step 6
            for p in ps:
                g = rng.standard_normal(p.shape) * 10.0 ** rng.integers(-6, 6, p.shape)
                g.reshape(-1)[:4] = [0.0, np.inf, -np.inf, np.nan]
                p.grad = g.astype(dtype)
            step(opt)
        results[form] = [p.data.copy() for p in ps] + [
            v.copy() for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray)]
    for form in forms[1:]:
        for x, y in zip(results["chunks"], results[form]):
            if form == "loop" and _runs_exp_or_log(name, kw):
                # exp and log are not correctly rounded: Numba's (LLVM's libm) and NumPy's (its SIMD
                # loops) may differ by an ulp, where + - * / and sqrt never do; over 8 steps the
                # ulps of the update compound in θ (measured: 256 ulp, 6e-14 relative, in float64)
                # (and where θ came back near 0 from thousands, a rounding of those thousands)
                rtol = 1e-4 if dtype == np.float32 else 1e-11
                scale = np.nanmax(np.abs(np.where(np.isfinite(x), x, np.nan)), initial=0.0)
                np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * scale * 1e-2, equal_nan=True,
                                           err_msg=f"chunks and {form} differ beyond exp/log rounding")
            else:
                np.testing.assert_array_equal(x, y, err_msg=f"chunks and {form} differ")


def _runs_exp_or_log(name, kw):
    """Whether the rule runs exp or log for these options: AdaHessian's v̂^(k/2) for k != 1."""
    return name == "AdaHessian" and kw.get("hessian_power", 1.0) != 1.0


@pytest.mark.skipif(_JIT_REASON is not None, reason=f"compiled loops unavailable: {_JIT_REASON}")
def test_a_loop_compiles_without_a_disk_cache_when_caching_fails(monkeypatch):
    # Numba raises when it finds no writable cache directory (a read-only install)
    numba = loop._jit["numba"]
    njit = numba.njit

    def njit_without_cache_dir(fn, cache=False, **kw):
        if cache:
            raise RuntimeError(f"cannot cache function {fn.__name__!r}: no locator available")
        return njit(fn, cache=False, **kw)

    monkeypatch.setattr(numba, "njit", njit_without_cache_dir)
    monkeypatch.setattr(loop, "_compiled", {})
    monkeypatch.setattr(plan, "_plans", {})
    monkeypatch.setitem(loop._jit, "enabled", True)
    import warnings
    a, b = params(np.float64), params(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning: the loop compiled
        run_steps(optim.Adagrad(a), a, 3)
    assert [v for v in loop._compiled.values() if v is not None]
    run_steps(optim.Adagrad(b, fused=False), b, 3)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("second", [dict(lr=0.2), dict(betas=(0.8, 0.99)), dict(amsgrad=True),
                                    dict(weight_decay=0.1), dict()])
def test_consecutive_parameters_reuse_a_plan_only_when_their_scalars_are_the_same(second, form):
    # run() reuses the previous task's loop and numbers when every scalar is the same object;
    # a second group differing in one number, in a flag, or not at all, against the reference
    shapes = [(5,), (4, 3), (6,), (2, 2)]
    a, b = params(np.float32, shapes=shapes), params(np.float32, shapes=shapes)
    fast = optim.Adam([{"params": a[:2]}, {"params": a[2:], **second}], lr=0.1)
    ref = optim.Adam([{"params": b[:2]}, {"params": b[2:], **second}], lr=0.1, fused=False)
    run_steps(fast, a, 4)
    run_steps(ref, b, 4)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=1.0)), ("SGD", dict(lr=1.0, momentum=1.0)),
                                     ("SGD", dict(lr=0.5, momentum=0.9)), ("Adam", dict(lr=1.0)),
                                     ("Lion", dict(lr=1.0))])
def test_a_product_by_exactly_one_is_skipped_and_changes_no_bit(name, kw):
    # the NumPy chunks skip s * A when s == 1 (SGD's 1 - τ with τ = 0, an lr of 1): x * 1 is
    # x in every bit, signed zeros, infinities and NaN included
    executor.set_jit(False)
    try:
        special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -3.5, 2.0], np.float32)
        a, b = params(np.float32, shapes=[(8,), (3, 4)]), params(np.float32, shapes=[(8,), (3, 4)])
        fast, ref = getattr(optim, name)(a, **kw), getattr(optim, name)(b, fused=False, **kw)
        for step in range(3):
            for ps, opt in ((a, fast), (b, ref)):
                ps[0].grad, ps[1].grad = special * (step + 1), np.full((3, 4), -0.0, np.float32)
                with np.errstate(all="ignore"):
                    opt.step()
        for p, q in zip(a, b):
            assert np.array_equal(p.data, q.data, equal_nan=True)
            assert np.array_equal(np.signbit(p.data), np.signbit(q.data))
    finally:
        executor.set_jit(True)


@pytest.mark.parametrize("fused", [None, False])
@pytest.mark.parametrize("n", [5, 600_000])  # one chunk, and several on two threads
def test_a_gradient_that_is_the_parameters_own_array_matches_torch(n, fused, form):
    torch = pytest.importorskip("torch")
    p = mg.nn.Parameter(np.linspace(-1, 1, n))
    t = torch.tensor(p.data.copy(), requires_grad=True)
    ours = optim.SGD([p], lr=0.1, momentum=0.9, fused=fused)
    theirs = torch.optim.SGD([t], lr=0.1, momentum=0.9)
    for _ in range(3):
        p.grad, t.grad = p.data, t.data  # the parameter's own array as its gradient
        ours.step()
        theirs.step()
    np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-15)


def _recording_jobs(n, seen, fail_at=None, wait=0.002):
    """n fake jobs in the executor's (job, fn, views, extra) form: each records (its index, its
    thread) after a short GIL-free wait; job fail_at raises."""
    def job(i, _views, _extra):
        time.sleep(wait)
        seen.append((i, threading.get_ident()))
        if i == fail_at:
            raise ArithmeticError(f"job {i}")
    return [(job, i, [np.empty(n - i)], None) for i in range(n)]


@pytest.mark.skipif(pool.workers() < 2, reason="one core: every job runs on the calling thread")
def test_a_large_run_shares_its_jobs_among_threads_and_runs_each_once():
    seen = []
    pool.execute(_recording_jobs(20, seen), pool.PARALLEL_MIN)
    assert sorted(i for i, _ in seen) == list(range(20))
    assert len({t for _, t in seen}) >= 2  # a worker thread took some


def test_a_small_run_stays_on_the_calling_thread():
    seen = []
    pool.execute(_recording_jobs(5, seen), pool.PARALLEL_MIN - 1)
    assert seen == [(i, threading.get_ident()) for i in range(5)]


def test_an_error_in_a_job_is_raised_after_every_job_has_ended():
    seen = []
    with pytest.raises(ArithmeticError, match="job 3"):
        pool.execute(_recording_jobs(12, seen, fail_at=3), pool.PARALLEL_MIN)
    done = sorted(i for i, _ in seen)
    time.sleep(0.05)
    assert done == sorted(i for i, _ in seen) == list(range(12))


@pytest.mark.skipif(pool.workers() < 2, reason="one core: every job runs on the calling thread")
@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="a signal interrupts the main thread only")
def test_an_interrupt_starts_no_more_jobs_and_returns_when_none_runs():
    seen, main = [], threading.get_ident()
    jobs = _recording_jobs(40, seen, wait=0.01)
    interrupt = (lambda *_: (time.sleep(0.005), signal.pthread_kill(main, signal.SIGINT)), 0,
                 [np.empty(100)], None)  # the largest: it goes first, to a worker
    with pytest.raises(KeyboardInterrupt):
        pool.execute([interrupt] + jobs, pool.PARALLEL_MIN)
    done = len(seen)
    time.sleep(0.1)
    assert len(seen) == done < 40  # the queued jobs were dropped, and none ran afterwards


@pytest.fixture
def no_workers(monkeypatch):
    """Batches queue their jobs where no worker thread takes them: only join() runs them."""
    jobs = queue.SimpleQueue()
    monkeypatch.setattr(pool, "_queue", lambda: jobs)
    return jobs


def test_an_interrupt_that_cuts_short_another_threads_chunk_stops_both_steps(no_workers):
    def interrupted(*_):
        raise KeyboardInterrupt
    other, mine, seen = pool._Batch(), pool._Batch(), []
    def record(tag, _views, _extra):
        seen.append(tag)

    other.add([(interrupted, None, None, None), (record, "other's", None, None)])
    mine.add([(record, "mine", None, None)])
    with pytest.raises(KeyboardInterrupt):  # this thread's step stops ...
        mine.join()  # ... though the job it cut short was the other batch's (queued first)
    with pytest.raises(RuntimeError, match="cut short by KeyboardInterrupt"):
        other.join()  # and the other step fails instead of returning half done
    assert seen == []  # neither batch started another job


def test_a_cancelled_batch_waits_for_running_jobs_only(no_workers):
    batch = pool._Batch()
    batch.add([(time.sleep, 0, None, None)] * 2)
    no_workers.get_nowait()  # taken, never run: as if an interrupt came between taking and running
    stopper = threading.Thread(target=batch.cancel)
    stopper.start()
    stopper.join(5)
    assert not stopper.is_alive()


def _adam_tasks_failing_at(n, count, fail_at):
    """count parameters of n elements, and a generator of their Adam tasks that raises
    KeyError("made up") instead of making task number fail_at."""
    ps = params(np.float32, shapes=[(n,)] * count)
    opt = optim.Adam(ps, lr=0.1)
    for p in ps:
        p.grad = np.ones(n, np.float32)

    def tasks():
        for k, p in enumerate(ps):
            if k == fail_at:
                raise KeyError("made up")
            yield type(opt).task(p.data, p.grad, opt._init_state(p.data, opt.param_groups[0]),
                            opt.param_groups[0])
    return ps, tasks()


def test_tasks_that_fail_to_be_made_write_nothing(form):
    # the step's tasks come from a generator: the chunks start only once every task is made,
    # so if making one raises, no parameter is written
    n = pool.PARALLEL_MIN * 2
    ps, tasks = _adam_tasks_failing_at(n, 3, fail_at=2)
    with pytest.raises(KeyError, match="made up"):
        executor.run(tasks)
    before = params(np.float32, shapes=[(n,)] * 3)
    assert all(np.array_equal(p.data, b.data) for p, b in zip(ps, before))


# ============================================================== a step made while it runs

MULTI_CORE = pytest.mark.skipif(pool.workers() < 2,
                                reason="one core: a step is made and run on the calling thread")


def _big_model():
    """A step large enough to overlap: the first parameter alone is PARALLEL_MIN elements, then
    dense ones of several sizes and a sparse embedding."""
    n = pool.PARALLEL_MIN
    return params(np.float32, shapes=[(n,), (300, 7), (5,), (n // 3,), (64, 4)])


@pytest.fixture
def worker_makes(monkeypatch):
    """In an overlapped step the worker thread, not this one, takes the making of the later
    tasks: this thread waits (up to 5 s) for it to start before running its own first chunks.
    Without the fixture a late-waking worker (a loaded machine) leaves it to this thread."""
    add, main = pool._Batch.add, threading.get_ident()

    def add_then_wait(self, jobs):
        add(self, jobs)
        if threading.get_ident() == main and any(job[0] is pool._make_rest for job in jobs):
            deadline = time.monotonic() + 5
            while not self.running and time.monotonic() < deadline:
                time.sleep(0.001)
    monkeypatch.setattr(pool._Batch, "add", add_then_wait)


def _making_threads(monkeypatch, cls):
    """Record which thread computes each parameter's scalars (makes its task)."""
    seen, scalars = [], cls.scalars

    def recording(*args):  # a declaration's scalars(t, group, state), or an older (self, ...)
        seen.append(threading.get_ident())
        return scalars(*args)
    monkeypatch.setattr(cls, "scalars", recording)
    return seen


@MULTI_CORE
@pytest.mark.parametrize("name,kw", [("SGD", dict(momentum=0.9)), ("Adam", {}),
                                     ("Adagrad", {}), ("AdamW", dict(amsgrad=True))])
def test_a_step_made_by_a_worker_while_it_runs_equals_one_made_first(name, kw, form, monkeypatch,
                                                                      worker_makes):
    seen = _making_threads(monkeypatch, getattr(optim, name))
    a, b = _big_model(), _big_model()
    opt_a, opt_b = getattr(optim, name)(a, lr=1e-2, **kw), getattr(optim, name)(b, lr=1e-2, **kw)
    rng = np.random.default_rng(3)
    for _ in range(3):
        for p, q in zip(a, b):
            p.grad = rng.standard_normal(p.shape).astype(np.float32)
            q.grad = p.grad.copy()
        rows = np.array([5, 0, 5, 63])  # the embedding's gradient is sparse, made on the way
        a[-1].grad = mg.RowSparseGrad(rows, rng.standard_normal((4, 4)).astype(np.float32), (64, 4))
        b[-1].grad = a[-1].grad.copy()  # row 5's two lookups already summed
        opt_a.step()  # overlapped: every parameter is on the CPU
        work = opt_b._checked_work()
        executor.run(opt_b._tasks(work, []))  # made first, then run
    for p, q in zip(a, b):
        assert np.array_equal(p.data, q.data)
    assert threading.get_ident() in seen and len(set(seen)) == 2  # the worker made some tasks


@MULTI_CORE
@pytest.mark.parametrize("overlap", [True, False])
def test_set_overlap_chooses_who_makes_a_cpu_steps_tasks(overlap, monkeypatch, worker_makes):
    monkeypatch.setitem(plan._overlap, "enabled", True)  # restored afterwards
    executor.set_overlap(overlap)
    seen = _making_threads(monkeypatch, optim.Adam)
    ps = _big_model()[:4]
    for p in ps:
        p.grad = np.ones(p.shape, np.float32)
    optim.Adam(ps).step()
    assert seen[0] == threading.get_ident() and len(seen) == len(ps)
    assert (set(seen) != {threading.get_ident()}) is overlap


@MULTI_CORE
def test_a_step_made_by_a_worker_keeps_the_callers_numpy_error_state(monkeypatch, worker_makes):
    ps = _big_model()[:3]
    opt = optim.SGD(ps, lr=0.1)
    task, seen = optim.SGD.task, []

    def dividing(theta, g, state, group):
        seen.append(threading.get_ident())
        if theta.size == 5:
            np.float64(1.0) / np.float64(0.0)  # a warning, or an error under np.errstate
        return task(theta, g, state, group)
    monkeypatch.setattr(optim.SGD, "task", staticmethod(dividing))
    for p in ps:
        p.grad = np.ones(p.shape, np.float32)
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        opt.step()
    assert seen[-1] != threading.get_ident()  # the failing task was made on the worker


@MULTI_CORE
def test_numpy_chunks_on_worker_threads_keep_the_callers_numpy_error_state(monkeypatch):
    monkeypatch.setitem(loop._jit, "enabled", False)  # ufuncs honour np.errstate
    for _ in range(5):  # whichever thread takes the overflowing chunk
        ps = params(np.float32, shapes=[(pool.PARALLEL_MIN,)] * 2 + [(1000,)] * 30)
        opt = optim.SGD(ps, lr=1.0)
        for p in ps:
            p.grad = np.ones(p.shape, np.float32)
        ps[20].grad[:], ps[20].data[:] = 3e38, -3e38  # θ - lr g overflows here only
        with np.errstate(over="raise"), pytest.raises(FloatingPointError):
            opt.step()


@MULTI_CORE
def test_a_task_that_fails_to_be_made_by_the_worker_is_raised_and_nothing_runs_after(form):
    n = pool.PARALLEL_MIN
    ps, tasks = _adam_tasks_failing_at(n, 4, fail_at=3)
    with pytest.raises(KeyError, match="made up"):
        executor.run(tasks, overlap=True)
    after = [p.data.copy() for p in ps]
    time.sleep(0.05)
    assert all(np.array_equal(p.data, a) for p, a in zip(ps, after))
    assert not np.array_equal(ps[0].data, params(np.float32, shapes=[(n,)])[0].data)  # ran
    assert np.array_equal(ps[3].data, params(np.float32, shapes=[(n,)] * 4)[3].data)


@MULTI_CORE
@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="a signal interrupts the main thread only")
def test_an_interrupt_while_the_worker_makes_the_step_stops_it_before_returning(monkeypatch,
                                                                              worker_makes):
    ps = params(np.float32, shapes=[(pool.PARALLEL_MIN,)] + [(1000,)] * 60)
    opt = optim.SGD(ps, lr=0.1, momentum=0.9)
    for p in ps:
        p.grad = np.ones(p.shape, np.float32)
    task, made, main = optim.SGD.task, [], threading.get_ident()

    def slow(theta, g, state, group):
        if threading.get_ident() != main:
            if len(made) == 3:
                signal.pthread_kill(main, signal.SIGINT)
            time.sleep(0.005)
        made.append(theta.size)
        return task(theta, g, state, group)
    monkeypatch.setattr(optim.SGD, "task", staticmethod(slow))
    with pytest.raises(KeyboardInterrupt):
        opt.step()
    after, count = [p.data.copy() for p in ps], len(made)
    time.sleep(0.1)
    assert len(made) == count < len(ps)  # the worker stopped making tasks
    assert all(np.array_equal(p.data, a) for p, a in zip(ps, after))


def test_non_contiguous_gradient_runs_the_rule_on_whole_arrays_and_stays_exact(form):
    a, b = params(np.float64, shapes=[(6, 5)]), params(np.float64, shapes=[(6, 5)])
    fast, ref = optim.Adam(a, lr=0.1), optim.Adam(b, lr=0.1, fused=False)
    rng = np.random.default_rng(0)
    for _ in range(5):
        g = rng.standard_normal((5, 6)).T  # a transposed view: not C-contiguous
        a[0].grad, b[0].grad = g, np.ascontiguousarray(g)
        fast.step()
        ref.step()
    np.testing.assert_allclose(a[0].data, b[0].data, rtol=1e-12)


def test_rmsprop_buffers_switched_on_mid_run_start_at_zero(form):
    # OneCycleLR(cycle_momentum=True) sets momentum on an RMSprop that started without it
    a, b = params(np.float64), params(np.float64)
    fast, ref = optim.RMSprop(a, lr=1e-2), optim.RMSprop(b, lr=1e-2, fused=False)
    run_steps(fast, a, 3)
    run_steps(ref, b, 3)
    for opt in (fast, ref):
        opt.param_groups[0].update(momentum=0.9, centered=True)
    run_steps(fast, a, 3, seed=2)
    run_steps(ref, b, 3, seed=2)
    for p, q in zip(a, b):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12)
        assert set(fast.state[p]) == {"step", "square_avg", "momentum_buffer", "grad_avg"}


def test_without_numba_the_rules_run_as_numpy_chunks_and_say_why():
    code = ("import sys; sys.modules['numba'] = None\n"  # as if Numba were not installed
            "import numpy as np, minigrad as mg, optim\n"
            "from optim import executor\n"
            "p = mg.nn.Parameter(np.ones(3)); p.grad = np.ones(3)\n"
            "optim.Adam([p], lr=0.5).step()\n"
            "print(executor.jit_available(), p.data[0]); print(executor.jit_unavailable_reason())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    first, reason = out.splitlines()
    available, theta = first.split()
    assert available == "False" and float(theta) == pytest.approx(0.5)  # 1 - lr m̂ / (sqrt(v̂) + ε)
    assert "Numba is not usable" in reason and "pip install 'minigrad[fast]'" in reason


def test_minigrad_jit_0_turns_the_loops_off():
    code = "from optim import executor; print(executor.jit_available(), executor.jit_unavailable_reason())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MINIGRAD_JIT": "0"}).stdout
    assert out.split() == ["False", "MINIGRAD_JIT=0"]


@pytest.mark.skipif(_JIT_REASON is not None, reason=f"compiled loops unavailable: {_JIT_REASON}")
def test_a_loop_that_fails_to_compile_leaves_the_step_to_the_numpy_chunks(monkeypatch):
    def broken(source, cached):
        raise RuntimeError("LLVM is unhappy")

    monkeypatch.setattr(loop, "_compile", broken)
    monkeypatch.setattr(loop, "_compiled", {})
    monkeypatch.setattr(plan, "_plans", {})
    monkeypatch.setitem(loop._jit, "enabled", True)
    a, b = params(np.float64), params(np.float64)
    with pytest.warns(RuntimeWarning, match=r"compiling optim.adagrad.(update|rule) for float64 failed"):
        run_steps(optim.Adagrad(a), a, 3)
    run_steps(optim.Adagrad(b, fused=False), b, 3)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_steps_on_its_own_threads(form):
    # the parent's pool is copied into the child without its threads; using it would hang
    import multiprocessing as mp
    n = pool.PARALLEL_MIN + 1
    ps = params(np.float32, shapes=[(n,)])
    ps[0].grad = np.ones(n, np.float32)
    opt = optim.Adam(ps, lr=0.1)
    opt.step()  # the pool now exists in the parent

    def child(queue):
        opt.step()
        queue.put(float(ps[0].data[0]))

    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=child, args=(queue,))
    proc.start()
    proc.join(60)
    if proc.is_alive():
        proc.kill()
        pytest.fail("the forked child's step hung")
    before = float(ps[0].data[0])
    assert queue.get(timeout=5) < before  # the child took a second step down the gradient
