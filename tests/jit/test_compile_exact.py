"""mg.compile replays the training step of every bundled model bit for bit: the losses, the
parameters, the optimizer's state, batch norm's buffers and the generator (dropout masks) equal
an eager run's after every step; and a checkpoint written by either resumes the other exactly."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import backend
from models.optimizers import make_optimizer
from models.tasks import make_task

# (task, optimizer, steps, dropout to switch on where the model has it)
CASES = [
    ("names", "adam", 100, None),
    ("digits", "adamw", 100, None),          # BatchNorm, ReLU, dropout 0.1 (masks in order)
    ("names-gpt", "adamw", 100, None),       # attention, LayerNorm, GELU, param groups
    ("names-gpt", "adam", 30, 0.2),          # with dropout in every block
    ("names", "nadam", 30, None),            # a rule with carried numbers (mu products)
    ("names", "momentum", 30, None),
    ("sparse", "adagrad", 30, None),         # sparse embedding: the step replays uncaptured
]


def build(task_name, opt_name, dropout=None):
    task = make_task(task_name)
    if task_name == "names-gpt" and dropout is not None:
        mg.manual_seed(0)
        from models.gpt import GPT
        model = GPT(block_size=task.block_size, n_layer=task.n_layer, n_head=task.n_head,
                    n_embd=task.n_embd, dropout=dropout)
    else:
        model = task.build(0, "")
    opt = make_optimizer(opt_name, task.optimizer_params(model), task.lr_for(opt_name))

    def step(x, y):
        loss = task.loss(model, (x, y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return task, model, opt, step


def snapshot(model, opt):
    arrays = [p.data.copy() for p in model.parameters()]
    arrays += [np.asarray(v).copy() for _, v in sorted(model.state_dict().items())]
    for s in opt.state.values():
        arrays += [np.asarray(v).copy() for _, v in sorted(s.items()) if backend.is_array(v)]
    return arrays


def train(task_name, opt_name, steps, dropout, compiled, start=None):
    mg.manual_seed(0)
    task, model, opt, step = build(task_name, opt_name, dropout)
    if start is not None:
        model.load_state_dict(start[0])
        opt.load_state_dict(start[1])
    f = mg.compile(step, cache_size=32) if compiled else step
    rng = np.random.default_rng(1)
    losses = []
    for _ in range(steps):
        x, y = task.batch(rng, 32)
        losses.append(float(np.asarray(f(x, y).data)))
    return losses, snapshot(model, opt), backend.get_rng_state(), f, model, opt


@pytest.mark.parametrize("task_name,opt_name,steps,dropout", CASES)
def test_replay_is_bit_exact(task_name, opt_name, steps, dropout):
    eager = train(task_name, opt_name, steps, dropout, compiled=False)
    compiled = train(task_name, opt_name, steps, dropout, compiled=True)
    f = compiled[3]
    assert f.stats["replayed"] >= steps - 2 * len(f.entries), f.stats  # it did replay
    assert f.stats["eager"] == 0
    assert eager[0] == compiled[0]
    assert len(eager[1]) == len(compiled[1])
    for a, b in zip(eager[1], compiled[1]):
        assert np.array_equal(a, b)
    assert eager[2] == compiled[2]  # the generator: the same draws, in the same order
