"""A hostile user's tests of mg.compile: each runs a step compiled and eagerly from the same seed on
the same batches and compares, bit for bit, the step's results, the parameters, the optimizer's
state arrays, the model's buffers and the generator's state.

The first half are holes (they fail on the code they were written against): the replay silently
differs from the eager step. Each says, in one line, what should happen. The second half are
things that held, kept so that they stay held."""
import copy
import warnings

import numpy as np
import pytest
from jit_steps import training_step

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
import optim
from minigrad import backend


class MLP(nn.Module):
    def __init__(self, p=0.0, bn=False, ln=False):
        self.fc = nn.Linear(6, 16)
        self.bn = nn.BatchNorm1d(16) if bn else None
        self.ln = nn.LayerNorm(16) if ln else None
        self.drop = nn.Dropout(p)
        self.out = nn.Linear(16, 4)

    def forward(self, x):
        h = self.fc(x)
        if self.bn is not None:
            h = self.bn(h)
        if self.ln is not None:
            h = self.ln(h)
        return self.out(self.drop(F.gelu(h)))


def batches(n=10, seed=1, pad_from=0):
    """(x, y) Tensors; labels are 1..3 before batch `pad_from` and 0..3 (0 = padding) after."""
    rng = np.random.default_rng(seed)
    return [(mg.tensor(rng.standard_normal((8, 6)).astype(np.float32)),
             mg.tensor(rng.integers(1 if i < pad_from else 0, 4, 8))) for i in range(n)]


def plain_step(model, opts):
    return training_step(model, opts[0])


def flat(r):
    if isinstance(r, mg.Tensor):
        return [np.asarray(r.data).copy()]
    if isinstance(r, (tuple, list)):
        return [a for x in r for a in flat(x)]
    if isinstance(r, dict):
        return [a for k in sorted(r) for a in flat(r[k])]
    return [np.asarray(r).copy()]


def snapshot(model, opts):
    arrays = [p.data.copy() for p in model.parameters()]
    arrays += [np.asarray(v).copy() for _, v in sorted(model.state_dict().items())]
    for opt in opts:
        for s in opt.state.values():
            arrays += [np.asarray(v).copy() for _, v in sorted(s.items()) if backend.is_array(v)]
    return arrays


def run(compiled, make_model=MLP, make_opts=None, body=plain_step, data=None, between=None,
        call=None):
    mg.manual_seed(0)
    model = make_model()
    opts = make_opts(model) if make_opts else [optim.Adam(model.parameters(), lr=1e-2)]
    step = body(model, opts)
    f = mg.compile(step) if compiled else step
    outs = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, b in enumerate(data if data is not None else batches()):
            if between:
                between(i, model, opts)
            outs.append(flat(call(f, b) if call else f(*b)))
    return outs, snapshot(model, opts), repr(backend.get_rng_state()), f, \
        [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


def assert_same(**kw):
    """The compiled run equals the eager one bit for bit; returns (compiled fn, its warnings)."""
    o1, s1, r1, _, _ = run(False, **kw)
    o2, s2, r2, f, warned = run(True, **kw)
    for i, (a, b) in enumerate(zip(o1, o2)):
        assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b)), \
            f"call {i}'s result differs ({f.stats})"
    assert len(s1) == len(s2)
    assert all(np.array_equal(x, y) for x, y in zip(s1, s2)), f"final state differs ({f.stats})"
    assert r1 == r2, "generator state differs"
    return f, warned


# ================================================================================== holes

def test_hole_module_zero_grad_in_the_step():
    # model.zero_grad() inside the step must clear the grads at every replay (it is dropped)
    def body(model, opts):
        def step(x, y):
            loss = F.cross_entropy(model(x), y)
            model.zero_grad()
            loss.backward()
            opts[0].step()
            return loss
        return step
    assert_same(body=body)


def test_hole_grad_set_to_none_by_hand_in_the_step():
    # `p.grad = None` for each parameter inside the step must happen at every replay
    def body(model, opts):
        def step(x, y):
            loss = F.cross_entropy(model(x), y)
            for p in model.parameters():
                p.grad = None
            loss.backward()
            opts[0].step()
            return loss
        return step
    assert_same(body=body)


@pytest.mark.parametrize("how", ["grad *= 2", "grad[...] = 0", "grad = grad * 0", "data *= 0.9",
                                 "data = data * 0.9"])
def test_hole_numpy_write_to_grad_or_data_in_the_step(how):
    # a NumPy write to p.grad / p.data in the step must replay, or run eagerly with a warning
    def body(model, opts):
        def step(x, y):
            loss = F.cross_entropy(model(x), y)
            opts[0].zero_grad()
            loss.backward()
            b = model.fc.bias
            if how == "grad *= 2":
                b.grad *= 2
            elif how == "grad[...] = 0":
                b.grad[...] = 0
            elif how == "grad = grad * 0":
                b.grad = b.grad * 0
            opts[0].step()
            if how == "data *= 0.9":
                b.data *= 0.9
            elif how == "data = data * 0.9":
                b.data = b.data * 0.9
            return loss
        return step
    assert_same(body=body)


def test_hole_requires_grad_turned_off_between_calls():
    # freezing a parameter (requires_grad=False) between calls must re-record (a guard)
    def between(i, model, opts):
        if i == 5:
            model.fc.weight.requires_grad = False
    assert_same(between=between)


@pytest.mark.parametrize("what", ["dropout p", "batchnorm momentum", "layernorm eps"])
def test_hole_layer_hyperparameter_changed_between_calls(what):
    # a layer's number changed between calls (a dropout schedule) must take effect or re-record
    def between(i, model, opts):
        if i == 5:
            if what == "dropout p":
                model.drop.p = 0.5
            elif what == "batchnorm momentum":
                model.bn.momentum = 0.9
            else:
                model.ln.eps = 0.5
    assert_same(make_model=lambda: MLP(p=0.1, bn=True, ln=True), between=between)


def test_hole_submodule_replaced_between_calls():
    # a new head (model.out = nn.Linear(...)) must re-record: the replay still uses the old one
    def between(i, model, opts):
        if i == 5:
            mg.manual_seed(7)
            model.out = nn.Linear(16, 4)
            opts[0].param_groups[0]["params"] = model.parameters()
    assert_same(make_opts=lambda m: [optim.SGD(m.parameters(), lr=0.1)], between=between)


def test_hole_modulelist_entry_replaced_between_calls():
    # replacing a layer inside a ModuleList must re-record
    class Stack(nn.Module):
        def __init__(self):
            self.blocks = nn.ModuleList([nn.Linear(6, 6), nn.Linear(6, 4)])

        def forward(self, x):
            for b in self.blocks.layers:
                x = b(x)
            return x

    def between(i, model, opts):
        if i == 5:
            mg.manual_seed(9)
            model.blocks.layers[1] = nn.Linear(6, 4)
            opts[0].param_groups[0]["params"] = model.parameters()
    assert_same(make_model=Stack, make_opts=lambda m: [optim.SGD(m.parameters(), lr=0.1)],
                between=between)


def test_hole_parameter_in_a_list_attribute_replaced():
    # parameters() finds Parameters in list attributes; replacing one must re-record
    class ListParams(nn.Module):
        def __init__(self):
            self.ws = [nn.Parameter(np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32))]

        def forward(self, x):
            return x @ self.ws[0]

    def between(i, model, opts):
        if i == 5:
            model.ws[0] = nn.Parameter(np.ones((6, 4), np.float32))
            opts[0].param_groups[0]["params"] = model.parameters()
    assert_same(make_model=ListParams, make_opts=lambda m: [optim.SGD(m.parameters(), lr=0.1)],
                between=between)


def test_hole_parameter_of_a_layer_read_without_calling_it_replaced():
    # the step reads model.fc.weight through F.linear (fc is not called): replacing it must re-record
    def body(model, opts):
        def step(x, y):
            h = F.linear(x, model.fc.weight, model.fc.bias).relu()
            loss = F.cross_entropy(model.out(h), y)
            opts[0].zero_grad()
            loss.backward()
            opts[0].step()
            return loss
        return step

    def between(i, model, opts):
        if i == 5:
            model.fc.weight = nn.Parameter(model.fc.weight.data * 2)
            opts[0].param_groups[0]["params"] = model.parameters()
    assert_same(body=body, make_opts=lambda m: [optim.SGD(m.parameters(), lr=0.1)],
                between=between)


@pytest.mark.parametrize("tensors", [True, False])
def test_hole_aliased_arguments_at_recording(tensors):
    # step(x, x) twice, then step(x, t): the replay must read each argument (it reads t for both)
    def body(model, opts):
        def step(x, t):
            loss = ((model(x) - t) ** 2).mean()
            opts[0].zero_grad()
            loss.backward()
            opts[0].step()
            return loss
        return step
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((8, 6)).astype(np.float32) for _ in range(16)]
    if tensors:
        xs = [mg.tensor(x) for x in xs]
    data = [(x, x) for x in xs[:2]] + list(zip(xs[2:9], xs[9:16]))
    assert_same(make_model=lambda: nn.Linear(6, 6), body=body, data=data)


def test_hole_padding_mask_made_by_a_comparison():
    # (y != 0) is a tensor made outside the graph; when the first two batches have no padding its
    # values are baked in: later batches' masks must be computed (or the step run eagerly)
    def body(model, opts):
        def step(x, y):
            mask = mg.where(y != 0, mg.ones(8), mg.zeros(8))
            loss = (F.cross_entropy(model(x), y, reduction="none") * mask).sum() / 8
            opts[0].zero_grad()
            loss.backward()
            opts[0].step()
            return loss
        return step
    assert_same(body=body, data=batches(pad_from=2))


def test_limitation_a_branch_on_raw_data_is_baked_in():
    # documented in minigrad/jit/__init__.py: Python that reads .data (a raw array) and branches
    # on it is not seen, and a replay takes the branch the recordings took (as jax.jit bakes in
    # a closed-over value). Pinned here, so that changing it is a decision.
    def body(model, opts):
        def step(x, y):
            out = model(x)
            if x.data.max() > 100:
                out = out * 0.5
            loss = F.cross_entropy(out, y)
            opts[0].zero_grad()
            loss.backward()
            opts[0].step()
            return loss
        return step
    data = [(mg.tensor(x.data + (1000 if i == 6 else 0)), y) for i, (x, y) in enumerate(batches())]
    eager, compiled = run(False, body=body, data=data), run(True, body=body, data=data)
    same = [all(np.array_equal(a, b) for a, b in zip(o1, o2)) for o1, o2 in zip(eager[0], compiled[0])]
    assert same[:6] == [True] * 6 and not same[6]
    assert compiled[3].stats["replayed"] == 8 and not compiled[4]  # silently: the limitation


@pytest.mark.parametrize("what", ["float(loss.data)", "loss.data.copy()", "argmax", "grad", "lr"])
def test_hole_result_not_made_by_an_op_is_frozen(what):
    # what the step returns must be this call's value; the replay returns the recording's
    def body(model, opts):
        opt = opts[0]
        sched = optim.lr_scheduler.ExponentialLR(opt, 0.9)

        def step(x, y):
            out = model(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            grad = model.fc.bias.grad
            opt.step()
            sched.step()
            return {"float(loss.data)": lambda: float(loss.data),
                    "loss.data.copy()": lambda: loss.data.copy(),
                    "argmax": lambda: out.argmax(-1),
                    "grad": lambda: grad,
                    "lr": lambda: opt.param_groups[0]["lr"]}[what]()
        return step
    assert_same(body=body)


def test_hole_compiled_forward_used_in_an_outer_backward():
    # a compiled function without backward inside (a forward) must return a tensor in the graph,
    # or run eagerly: its replay returns a detached tensor, and the gradients through it vanish
    def body(model, opts):
        fwd = mg.compile(lambda x: model(x))

        def step(x, y):
            loss = F.cross_entropy(fwd(x), y) + 1e-3 * (model.fc.weight ** 2).sum()
            opts[0].zero_grad()
            loss.backward()
            opts[0].step()
            return loss
        return step
    mg.manual_seed(0)
    model = MLP()
    opts = [optim.Adam(model.parameters(), lr=1e-2)]
    step = body(model, opts)

    def reference(model, opts):
        def step(x, y):
            loss = F.cross_entropy(model(x), y) + 1e-3 * (model.fc.weight ** 2).sum()
            opts[0].zero_grad()
            loss.backward()
            opts[0].step()
            return loss
        return step
    _, s1, _, _, _ = run(False, body=reference)
    for x, y in batches():
        step(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(s1, snapshot(model, opts)))


def test_hole_draw_on_minigrads_generator_in_the_step():
    # a draw from backend.rng() in the step (random augmentation) must replay or run eagerly: the
    # replay skips it, so the generator (and every later dropout mask) leaves the eager stream
    def body(model, opts):
        def step(x, y):
            if backend.rng().random() < 0.5:  # the first two draws (0.64, 0.27) disagree
                x = x * -1.0
            k = int(backend.rng().integers(0, 4))  # a draw only for its effect on the stream
            loss = F.cross_entropy(model(x), y) + 0 * k
            opts[0].zero_grad()
            loss.backward()
            opts[0].step()
            return loss
        return step
    assert_same(make_model=lambda: MLP(p=0.3), body=body)


# ================================================================================== held

OPTIMIZERS = [
    (optim.Adam, {}), (optim.AdamW, {"amsgrad": True}), (optim.SGD, {"momentum": 0.9, "nesterov": True}),
    (optim.Adagrad, {}), (optim.RMSprop, {"momentum": 0.5, "centered": True}), (optim.Lion, {}),
    (optim.NAdam, {}), (optim.Prodigy, {"lr": 1.0}),
]


@pytest.mark.parametrize("cls,kw", OPTIMIZERS, ids=[c.__name__ for c, _ in OPTIMIZERS])
def test_held_optimizers_with_batchnorm_dropout_layernorm(cls, kw):
    f, warned = assert_same(make_model=lambda: MLP(p=0.3, bn=True, ln=True),
                            make_opts=lambda m: [cls(m.parameters(), **({"lr": 1e-2} | kw))])
    assert f.stats["replayed"] == 8 and not warned


def test_held_schedule_free_with_train_mode():
    def make_opts(m):
        opt = optim.ScheduleFreeAdamW(m.parameters(), lr=1e-2)
        opt.train()
        return [opt]
    f, _ = assert_same(make_model=lambda: MLP(p=0.3), make_opts=make_opts)
    assert f.stats["replayed"] == 8


def test_held_accumulation_two_backwards_clipping_and_no_grad():
    def body(model, opts):
        def step(x, y):
            opts[0].zero_grad()
            with mg.no_grad():
                ref = model(x)
            out = model(x)
            l1 = F.cross_entropy(out[:4], y[:4]) / 2
            l1.backward(retain_graph=True)
            l2 = F.cross_entropy(out[4:], y[4:]) / 2 + (ref * 0).sum()
            l2.backward()
            norm = optim.clip_grad_norm_(model.parameters(), 0.1)
            opts[0].step()
            return (l1, l2), {"norm": norm}
        return step
    f, _ = assert_same(make_model=lambda: MLP(p=0.2, bn=True), body=body)
    assert f.stats["replayed"] == 8


def test_held_two_optimizers_and_schedulers_inside_and_outside():
    holder = {}

    def make_opts(m):
        o1 = optim.Adam(m.fc.parameters(), lr=1e-2)
        o2 = optim.SGD(m.out.parameters(), lr=0.1, momentum=0.9)
        holder["inside"] = optim.lr_scheduler.StepLR(o1, 3, 0.5)
        holder["outside"] = optim.lr_scheduler.CosineAnnealingLR(o2, 5)
        return [o1, o2]

    def body(model, opts):
        def step(x, y):
            loss = F.cross_entropy(model(x), y)
            for o in opts:
                o.zero_grad()
            loss.backward()
            for o in opts:
                o.step()
            holder["inside"].step()
            return loss
        return step

    def between(i, model, opts):
        if i:
            holder["outside"].step()
    f, _ = assert_same(make_opts=make_opts, body=body, between=between)
    assert f.stats["replayed"] == 8


@pytest.mark.parametrize("key,value", [("weight_decay", 0.1), ("amsgrad", True), ("maximize", True),
                                       ("lr", 0.05), ("betas", (0.5, 0.6))])
def test_held_hyperparameter_changed_between_calls(key, value):
    def between(i, model, opts):
        if i == 5:
            opts[0].param_groups[0][key] = value
    assert_same(between=between)


def test_held_checkpoint_restore_mid_run():
    saved = {}

    def between(i, model, opts):
        if i == 3:
            saved["c"] = copy.deepcopy((model.state_dict(), opts[0].state_dict(),
                                        backend.get_rng_state()))
        if i == 7:
            model.load_state_dict(saved["c"][0])
            opts[0].load_state_dict(saved["c"][1])
            backend.set_rng_state(saved["c"][2])
    assert_same(make_model=lambda: MLP(p=0.3, bn=True), between=between)


def test_held_guards_eval_train_replaced_parameter_and_new_shapes():
    def between(i, model, opts):
        if i == 3:
            model.eval()
        if i == 5:
            model.train()
            model.fc.weight = nn.Parameter(model.fc.weight.data * 0.5)
            opts[0].param_groups[0]["params"][0] = model.fc.weight
    data = batches()
    data[8] = (mg.tensor(np.ones((3, 6), np.float32)), mg.tensor(np.arange(3) % 4))
    f, _ = assert_same(make_model=lambda: MLP(p=0.3, bn=True), between=between, data=data)
    assert f.stats["re-recorded"] >= 2


@pytest.mark.parametrize("what", ["item", "bool", "create_graph", "autograd.grad"])
def test_held_refusals_run_eagerly_with_a_warning(what):
    def body(model, opts):
        def step(x, y):
            loss = F.cross_entropy(model(x), y)
            opts[0].zero_grad()
            if what == "autograd.grad":
                for p, g in zip(model.parameters(), mg.autograd.grad(loss, model.parameters())):
                    p.grad = g.data if isinstance(g, mg.Tensor) else g
            else:
                loss.backward(create_graph=what == "create_graph")
            opts[0].step()
            if what == "item":
                return loss.item()
            if what == "bool" and loss > 1e9:
                return loss * 2
            return loss
        return step
    f, warned = assert_same(body=body)
    assert f.stats["replayed"] == 0 and any("runs eagerly" in w for w in warned)


def test_held_exceptions_at_recording_and_replay_then_later_calls():
    def body(model, opts):
        def step(x, y):
            loss = F.cross_entropy(model(x), y)
            opts[0].zero_grad()
            loss.backward()
            opts[0].step()
            return loss
        return step

    def call(f, b):
        try:
            return f(*b)
        except Exception:  # noqa: BLE001
            return -1.0
    data = batches()
    data[1] = (data[1][0], mg.tensor(np.full(8, 99)))  # at the second recording
    data[6] = (data[6][0], mg.tensor(np.full(8, 99)))  # at a replay
    f, _ = assert_same(body=body, data=data, call=call)
    assert f.stats["replayed"] >= 5


def test_held_a_compiled_step_called_inside_another_runs_as_part_of_it():
    # the inner call runs eagerly inside the outer recording, so the outer one records its work
    def body(model, opts):
        @mg.compile
        def inner(x, y):
            loss = F.cross_entropy(model(x), y)
            opts[0].zero_grad()
            loss.backward()
            opts[0].step()
            return loss

        def step(x, y):
            inner(x, y)
            return inner(x, y)
        return step
    f, warned = assert_same(body=body)
    assert f.stats["replayed"] == 8 and not warned


def test_held_randn_noise_and_dropout_masks_in_order():
    def body(model, opts):
        def step(x, y):
            loss = F.cross_entropy(model(x + mg.randn(8, 6) * 0.1), y)
            opts[0].zero_grad()
            loss.backward()
            opts[0].step()
            return loss
        return step
    f, _ = assert_same(make_model=lambda: MLP(p=0.3), body=body)
    assert f.stats["replayed"] == 8
