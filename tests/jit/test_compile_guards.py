"""mg.compile's guards, re-recordings and eager fallbacks: each change that a recording did not
see either records again or runs eagerly with a warning that names why, and every call's
result equals the eager step's, bit for bit."""
import tracemalloc
import warnings

import numpy as np
import pytest
from jit_steps import training_step

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
import optim


class Net(nn.Module):
    def __init__(self):
        self.emb = nn.Embedding(11, 4)
        self.fc = nn.Linear(8, 16)
        self.bn = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.25)
        self.out = nn.Linear(16, 11)

    def forward(self, x):
        h = self.emb(x).reshape(x.shape[0], 8)
        return self.out(self.drop(self.bn(self.fc(h)).relu()))


def batches(n, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 11, (size, 2)), rng.integers(0, 11, size)) for _ in range(n)]


def setup(body=None, opt_cls=optim.Adam, **opt_kw):
    """A fresh model and optimizer (same seed each time) and the step `body` makes of them."""
    mg.manual_seed(0)
    model = Net()
    opt = opt_cls(model.parameters(), **({"lr": 1e-2} | opt_kw))
    return model, opt, (body(model, opt) if body else training_step(model, opt))


def step_value(step, x, y):
    r = step(x, y)
    return r.data if isinstance(r, mg.Tensor) else r


def same_run(body=None, between=None, data=None, compile_kw=None, **opt_kw):
    """The compiled and the eager runs of one step: their outputs and final parameters."""
    data = data or batches(12)
    runs = []
    for compiled in (False, True):
        model, opt, step = setup(body, **opt_kw)
        f = mg.compile(step, **(compile_kw or {})) if compiled else step
        outs = []
        for i, (x, y) in enumerate(data):
            if between:
                between(i, model, opt)
            outs.append(np.asarray(step_value(f, x, y)).copy())
        runs.append((outs, [p.data.copy() for p in model.parameters()], f))
    (o1, p1, _), (o2, p2, f) = runs
    assert all(np.array_equal(a, b) for a, b in zip(o1, o2))
    assert all(np.array_equal(a, b) for a, b in zip(p1, p2))
    return f


def test_replays_after_two_recordings():
    f = same_run()
    assert f.stats == {"recorded": 2, "replayed": 10, "eager": 0, "re-recorded": 0}


def test_a_learning_rate_change_takes_effect():
    def between(i, model, opt):
        opt.param_groups[0]["lr"] = 1e-2 / (1 + i)
    assert same_run(between=between).stats["replayed"] == 10


def test_a_scheduler_stepped_inside_the_step_is_replayed():
    def body(model, opt):
        sched = optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)

        def step(x, y):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            return loss
        return step
    assert same_run(body).stats["replayed"] == 10


def test_a_switch_changed_between_steps_records_nothing_wrong():
    def between(i, model, opt):
        opt.param_groups[0]["amsgrad"] = i >= 5   # a switch: the captured step steps aside
        opt.param_groups[0]["weight_decay"] = 0.1 if i >= 8 else 0.0  # a number that is a flag
    same_run(between=between)


@pytest.mark.parametrize("size", [8, 5])
def test_new_shapes_record_again_and_old_ones_replay(size):
    data = batches(6) + batches(6, size=size, seed=1) + batches(4)
    f = same_run(data=data)
    assert f.stats["recorded"] == (2 if size == 8 else 4)


def test_eval_mode_is_guarded():
    def between(i, model, opt):
        model.train(i % 4 != 3)
    f = same_run(between=between)
    assert f.stats["re-recorded"] >= 2


def test_a_replaced_parameter_records_again():
    def between(i, model, opt):
        if i == 6:
            with mg.no_grad():
                w = nn.Parameter(model.fc.weight.data * 0.5)
            model.fc.weight = w
            opt.param_groups[0]["params"][2] = w
    f = same_run(between=between)
    assert f.stats["re-recorded"] == 2  # the two calls that record the new parameter


def test_the_cache_is_bounded(capsys):
    data = [b for size in (4, 5, 6) for b in batches(3, size=size)] * 2
    f = same_run(data=data, compile_kw={"cache_size": 2, "debug": True})
    assert len(f.entries) == 2
    err = capsys.readouterr().err
    assert "cache full (2)" in err and "recording for" in err


@pytest.mark.parametrize("body,why", [
    (lambda model, opt: lambda x, y: _item_step(model, opt, x, y), ".item()"),
    (lambda model, opt: lambda x, y: _branch_step(model, opt, x, y), "bool()"),
    (lambda model, opt: lambda x, y: _second_order_step(model, opt, x, y), "create_graph"),
])
def test_what_cannot_be_replayed_runs_eagerly_with_a_warning(body, why):
    with pytest.warns(RuntimeWarning, match=f"runs eagerly: .*{why.replace('(', '.').replace(')', '.')}"):
        f = same_run(body)
    assert f.stats["replayed"] == 0


def _item_step(model, opt, x, y):
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def _branch_step(model, opt, x, y):
    loss = F.cross_entropy(model(x), y)
    if loss > 2.3:  # data-dependent control flow
        loss = loss * 2
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def _second_order_step(model, opt, x, y):
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward(create_graph=True)
    opt.step()
    return loss


def test_a_value_baked_from_python_that_changes_is_caught():
    scale = {"v": 1.0}

    def body(model, opt):
        def step(x, y):
            loss = F.cross_entropy(model(x), y) * scale["v"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            scale["v"] += 1.0  # differs between the two recordings
            return loss
        return step
    with pytest.warns(RuntimeWarning, match="holds different values on two calls"):
        f = mg.compile(body(*setup()[:2]))
        for x, y in batches(3):
            f(x, y)
    assert f.stats["replayed"] == 0


def test_a_bad_index_at_replay_raises_and_names_it():
    _, _, step = setup()
    f = mg.compile(step)
    for x, y in batches(3):
        f(x, y)
    x, y = batches(1)[0]
    with pytest.raises(IndexError, match="index -1 is out of range"):
        f(np.where(x == x[0, 0], -1, x), y)
    with pytest.raises(IndexError, match="target 11 is out of bounds"):
        f(x, np.full_like(y, 11))


def test_show_prints_the_program():
    _, _, step = setup()
    f = mg.compile(step)
    assert "nothing recorded yet" in f.show()
    for x, y in batches(3):
        f(x, y)
    text = f.show()
    for name in ("Embedding", "Linear", "BatchNorm", "Dropout", "CrossEntropy", "keep_mask",
                 "backward", "Optimizer.step", "fused", "_update_running_stats"):
        assert name in text


def test_decorator_forms_and_bad_arguments():
    assert mg.compile(cache_size=3)(lambda: None).cache_size == 3
    with pytest.raises(ValueError, match="cache_size"):
        mg.compile(lambda: None, cache_size=0)
    with pytest.raises(TypeError, match="expects a function"):
        mg.compile(3)


def test_peak_memory_is_no_more_than_eager():
    data = batches(6, size=64)
    peaks = []
    for compiled in (False, True):
        _, _, step = setup()
        f = mg.compile(step) if compiled else step
        for x, y in data[:4]:
            f(x, y)
        tracemalloc.start()
        f(*data[4])
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] <= peaks[0], peaks


def test_no_warning_on_a_plain_step():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same_run()


def test_another_threads_ops_are_not_recorded():
    """Ops another thread runs while a step records (here: in the middle of every call) belong
    to that thread, not to the step's recording."""
    import threading
    other = nn.Linear(3, 3)
    go, done, stop = threading.Semaphore(0), threading.Semaphore(0), threading.Event()

    def worker():  # ops of its own each time the step asks, one more each time (not under
        n = 0      # no_grad: grad mode is one flag for all threads)
        while go.acquire() and not stop.is_set():
            n += 1
            for _ in range(n):
                other(mg.tensor(np.ones((2, 3), np.float32))).sum()
            done.release()

    def body(model, opt):
        def step(x, y):
            h = model(x)
            go.release()
            done.acquire()  # the other thread's op ran while this call was recorded
            loss = F.cross_entropy(h, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step
    thread = threading.Thread(target=worker)
    thread.start()
    try:
        f = same_run(body)
    finally:
        stop.set()
        go.release()
        thread.join()
    assert f.stats["replayed"] == 10


def test_a_constant_holding_nan_is_the_same_constant_on_both_recordings():
    def body(model, opt):
        def step(x, y):
            const = mg.tensor(np.array([np.nan, 0.5], np.float32))  # made anew at each call
            loss = F.cross_entropy(model(x), y) + const[1:].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step
    assert same_run(body).stats["replayed"] == 10


def test_an_error_caught_inside_the_step_runs_it_eagerly():
    def body(model, opt):
        def step(x, y):
            try:
                F.cross_entropy(model(x), y + 100)  # out of range: the op raises
            except IndexError:
                pass
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step
    with pytest.warns(RuntimeWarning, match="an op raised inside the step"):
        f = same_run(body)
    assert f.stats["replayed"] == 0


class _NoBackward(mg.Function):
    def forward(self, x):
        return x * 1

    def backward(self, gy):
        raise ValueError("this op has no gradient")


def test_a_backward_that_raised_and_was_caught_is_not_replayed():
    def body(model, opt):
        def step(x, y):
            loss = F.cross_entropy(model(x), y)
            try:
                _NoBackward().apply(loss).backward()
            except ValueError:
                pass
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step
    assert same_run(body).stats["replayed"] == 10
