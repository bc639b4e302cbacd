"""The CUDA-graph replay (minigrad/jit/cuda_graph.py), run on the CPU through a stand-in for
CuPy's stream capture: the stand-in's capture runs the segment once, and each launch runs it
again and copies every array it makes into the array the capture made, as a graph's kernels
write into the same memory at each launch. What this checks is the replay's bookkeeping: the
fixed input buffers, the calls moved before and after the launch, the checks before it, the
leaves' .grad and the copied outputs, bit for bit against the eager step. CuPy's own API is
exercised only on a GPU (bench/gpu_check.sh runs the `cuda` case below)."""
import numpy as np
import pytest
from jit_steps import training_step

import minigrad as mg
import minigrad.jit as jit
import minigrad.nn as nn
import minigrad.nn.functional as F
import optim
from minigrad import backend
from minigrad.jit import cuda_graph
from minigrad.jit.instructions import Op


class StandInGraph:
    def __init__(self, replay, segment):
        self.replay, self.segment, self.launches = replay, segment, 0

    def launch(self, stream):
        r = self.replay
        ops = [i.fn for i in r.prog.instrs[:r.backward] if type(i) is Op]
        slots, dicts, found = list(r.slots), [dict(fn.__dict__) for fn in ops], r.found
        new_found = self.segment()
        for k, (old, new) in enumerate(zip(slots, r.slots)):
            r.slots[k] = _into(old, new)
        for fn, old in zip(ops, dicts):
            for key, value in old.items():
                fn.__dict__[key] = _into(value, fn.__dict__.get(key))
        for (_, old), (_, new) in zip(found, new_found):
            _into(old, new)
        self.launches += 1


def _into(old, new):
    """The captured array, holding what this launch computed (as the graph's kernels write)."""
    if backend.is_array(old) and backend.is_array(new) and old is not new:
        old[...] = new
    return old


class StandInStreams:
    def __init__(self):
        self.graphs = []

    def capture(self, fn):
        assert backend.capturing  # the ops' value checks are off during a capture
        result = fn()
        graph = StandInGraph(self.replay, fn)
        self.graphs.append(graph)
        return graph, result

    def current(self):
        return None


@pytest.fixture
def stand_in(monkeypatch):
    streams = StandInStreams()
    real_plan = cuda_graph.plan

    def plan(prog):
        replay, why = real_plan(prog)
        streams.replay = replay
        return replay, why
    monkeypatch.setattr(cuda_graph, "plan", plan)
    monkeypatch.setattr(jit, "_streams", lambda program: streams)
    return streams


class Net(nn.Module):
    def __init__(self, dropout):
        self.emb = nn.Embedding(11, 4)
        self.fc = nn.Linear(8, 16)
        self.bn = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(16, 11)

    def forward(self, x):
        h = self.emb(x).reshape(x.shape[0], 8)
        return self.out(self.drop(self.bn(self.fc(h)).tanh()))


def run(compiled, dropout, n=12):
    mg.manual_seed(0)
    model = Net(dropout)
    opt = optim.AdamW(model.parameters(), lr=1e-2)
    step = training_step(model, opt)
    f = mg.compile(step) if compiled else step
    rng = np.random.default_rng(0)
    losses = [f(rng.integers(0, 11, (8, 2)), rng.integers(0, 11, 8)) for _ in range(n)]
    state = [p.data.copy() for p in model.parameters()] + [model.bn.running_mean.copy()]
    return [np.asarray(loss.data).copy() for loss in losses], losses, state, f


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_the_graph_replay_equals_the_eager_step(stand_in, dropout):
    eager = run(False, dropout)
    compiled = run(True, dropout)
    assert compiled[3].stats["replayed"] == 10
    program = next(iter(compiled[3].entries.values())).programs[0]
    assert program.graph is not None, program.why_no_graph
    assert stand_in.graphs and stand_in.graphs[0].launches == 9  # the first replay warms up
    assert all(np.array_equal(a, b) for a, b in zip(eager[0], compiled[0]))
    assert all(np.array_equal(a, b) for a, b in zip(eager[2], compiled[2]))
    # each returned loss is its own array, not the graph's buffer (which the next launch rewrites)
    assert all(np.array_equal(t.data, v) for t, v in zip(compiled[1], compiled[0]))


def test_an_index_out_of_range_is_caught_before_the_launch(stand_in):
    _, _, _, f = run(True, 0.0, n=4)
    with pytest.raises(IndexError, match="index 11 is out of range"):
        f(np.full((8, 2), 11), np.zeros(8, np.int64))
    with pytest.raises(IndexError, match="target -3 is out of bounds"):
        f(np.zeros((8, 2), np.int64), np.full(8, -3))


def test_a_forward_that_calls_something_else_is_replayed_without_a_graph(stand_in):
    clip_in_forward = {"n": 0}

    def body():
        mg.manual_seed(0)
        model = Net(0.0)
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            loss = F.cross_entropy(model(x), y)
            optim.clip_grad_value_(model.parameters(), 1.0)  # a call before backward, not movable
            opt.zero_grad()
            loss.backward()
            opt.step()
            clip_in_forward["n"] += 1
            return loss
        return step
    f = mg.compile(body())
    rng = np.random.default_rng(0)
    for _ in range(4):
        f(rng.integers(0, 11, (8, 2)), rng.integers(0, 11, 8))
    program = next(iter(f.entries.values())).programs[0]
    assert program.graph is None and "clip_grad_value_ runs inside the forward" in program.why_no_graph
    assert not stand_in.graphs


def test_a_replaced_parameter_array_is_not_launched_on(stand_in):
    """p.data = a new array passes the guards (same shape), but the graph holds the old array's
    pointer: the call replays plainly and the next ones capture again."""
    eager = run(False, 0.0)
    mg.manual_seed(0)
    _, _, _, f = run(True, 0.0, n=5)
    model_params = [p for prog in f.entries.values() for p in prog.programs[0].leaves]
    w = model_params[0]
    w.data = w.data.copy()  # the same values in a new array
    rng = np.random.default_rng(1)
    for _ in range(3):
        f(rng.integers(0, 11, (8, 2)), rng.integers(0, 11, 8))
    assert len(stand_in.graphs) == 2  # captured again, on the new array
    assert eager  # (the eager run above builds the same model: its params are unaffected)


CUDA = [pytest.param("cuda", marks=pytest.mark.skipif(
    backend.gpu_unavailable_reason() is not None,
    reason=f"no usable GPU: {backend.gpu_unavailable_reason()}"))]


class NoMatmul(nn.Module):
    """A model without a matmul (CuPy refuses cuBLAS during capture) and without a scatter
    (cupy.add.at's atomics add repeated rows in any order): per-feature scale and shift, tanh,
    summed per example."""

    def __init__(self):
        self.scale = nn.Parameter(np.ones(6, np.float32))
        self.shift = nn.Parameter(np.zeros(6, np.float32))

    def forward(self, x):
        return (x * self.scale + self.shift).tanh().sum(axis=1)


class TwoLayers(nn.Module):
    def __init__(self):
        self.fc = nn.Linear(6, 16)
        self.out = nn.Linear(16, 4)

    def forward(self, x):
        return self.out(self.fc(x).tanh())


def gpu_run(make, compiled, device, loss_of):
    mg.manual_seed(0)
    model = make().to(device)
    step = training_step(model, optim.Adam(model.parameters(), lr=1e-2), loss_of)
    f = mg.compile(step) if compiled else step
    rng = np.random.default_rng(0)
    out = [backend.to_numpy(f(backend.to_device(rng.standard_normal((8, 6)).astype(np.float32), device),
                              backend.to_device(rng.integers(0, 4, 8), device)).data)
           for _ in range(8)]
    return out, [backend.to_numpy(p.data) for p in model.parameters()], f


@pytest.mark.parametrize("device", CUDA)
def test_on_a_gpu_a_step_without_matmuls_replays_as_a_cuda_graph(device):
    """With CuPy: the real stream capture, launched for the later calls, the same bits as eager."""
    def loss_of(out, y):
        return F.mse_loss(out, y.astype(np.float32))
    eager, compiled = gpu_run(NoMatmul, False, device, loss_of), gpu_run(NoMatmul, True, device, loss_of)
    program = next(iter(compiled[2].entries.values())).programs[0]
    assert program.graph is not None and program.graph.graph is not None, program.why_no_graph
    assert all(np.array_equal(a, b) for a, b in zip(eager[0], compiled[0]))
    assert all(np.array_equal(a, b) for a, b in zip(eager[1], compiled[1]))


@pytest.mark.parametrize("device", CUDA)
def test_on_a_gpu_a_step_with_matmuls_replays_without_a_graph_and_equals_eager(device):
    """CuPy refuses cuBLAS during capture: the replay says so and runs plainly, exactly."""
    eager = gpu_run(TwoLayers, False, device, F.cross_entropy)
    compiled = gpu_run(TwoLayers, True, device, F.cross_entropy)
    program = next(iter(compiled[2].entries.values())).programs[0]
    assert program.graph is None and "cuBLAS" in program.why_no_graph
    assert all(np.array_equal(a, b) for a, b in zip(eager[0], compiled[0]))
    assert all(np.array_equal(a, b) for a, b in zip(eager[1], compiled[1]))
