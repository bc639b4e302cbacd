"""In-place writes between forward and backward (version counters, as torch).

A tensor counts the in-place writes made through minigrad (assigning `.data`,
`increment_version`); an op notes the versions of the tensors its backward reads, and backward()
refuses to run it if one has moved. The decision to raise is compared with torch's for the same
program, op by op, write by write, for every pattern of which inputs require grad.
"""
import itertools

import numpy as np
import pytest
from conftest import torch_or_skip

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F
from minigrad import ops
from minigrad.function import Function, ViewFunction
from minigrad.tensor import increment_version

SHAPE = (3, 3)
IDX = np.array([0, 2, 2])
COND = np.array([[True, False, True]] * 3)
TARGET = np.array([0, 2, 1])

# name, the minigrad op that saves (named in the message), shapes of the inputs,
# minigrad f(*inputs), torch f(torch, *inputs)
OPS = [
    ("add", "Add", [SHAPE, SHAPE], lambda a, b: a + b, lambda t, a, b: a + b),
    ("sub", "Sub", [SHAPE, SHAPE], lambda a, b: a - b, lambda t, a, b: a - b),
    ("mul", "Mul", [SHAPE, SHAPE], lambda a, b: a * b, lambda t, a, b: a * b),
    ("div", "Div", [SHAPE, SHAPE], lambda a, b: a / b, lambda t, a, b: a / b),
    ("pow", "Pow", [SHAPE, SHAPE], lambda a, b: a ** b, lambda t, a, b: a ** b),
    ("matmul", "MatMul", [SHAPE, SHAPE], lambda a, b: a @ b, lambda t, a, b: a @ b),
    ("matmul-vec", "MatMul", [(3,), SHAPE], lambda a, b: a @ b, lambda t, a, b: a @ b),
    ("where", "Where", [SHAPE, SHAPE], lambda a, b: mg.where(COND, a, b),
     lambda t, a, b: t.where(t.tensor(COND), a, b)),
    ("cat", "Concatenate", [SHAPE, SHAPE], lambda a, b: mg.cat([a, b]),
     lambda t, a, b: t.cat([a, b])),
    ("stack", "Stack", [SHAPE, SHAPE], lambda a, b: mg.stack([a, b]),
     lambda t, a, b: t.stack([a, b])),
    ("linear", "Linear", [SHAPE, SHAPE], lambda a, b: F.linear(a, b),
     lambda t, a, b: t.nn.functional.linear(a, b)),
    ("linear-bias", "Linear", [SHAPE, SHAPE, (3,)], lambda a, b, c: F.linear(a, b, c),
     lambda t, a, b, c: t.nn.functional.linear(a, b, c)),
    ("layer_norm", "LayerNorm", [SHAPE, (3,), (3,)], lambda a, b, c: F.layer_norm(a, 3, b, c),
     lambda t, a, b, c: t.nn.functional.layer_norm(a, (3,), b, c)),
    ("layer_norm-plain", "LayerNorm", [SHAPE], lambda a: F.layer_norm(a, 3),
     lambda t, a: t.nn.functional.layer_norm(a, (3,))),
    ("batch_norm", "BatchNorm", [SHAPE, (3,), (3,)],
     lambda a, b, c: F.batch_norm(a, np.zeros(3), np.ones(3), b, c, training=True),
     lambda t, a, b, c: t.nn.functional.batch_norm(
         a, t.zeros(3, dtype=t.float64), t.ones(3, dtype=t.float64), b, c, training=True)),
    ("batch_norm-eval", "BatchNorm", [SHAPE, (3,), (3,)],
     lambda a, b, c: F.batch_norm(a, np.zeros(3), np.ones(3), b, c, training=False),
     lambda t, a, b, c: t.nn.functional.batch_norm(
         a, t.zeros(3, dtype=t.float64), t.ones(3, dtype=t.float64), b, c, training=False)),
    ("dropout", "Dropout", [SHAPE], lambda a: F.dropout(a, 0.5),
     lambda t, a: t.nn.functional.dropout(a, 0.5)),
    ("neg", "Neg", [SHAPE], lambda a: -a, lambda t, a: -a),
    ("pow-scalar", "PowScalar", [SHAPE], lambda a: a ** 3, lambda t, a: a ** 3),
    ("rpow-scalar", "RPowScalar", [SHAPE], lambda a: 2.0 ** a, lambda t, a: 2.0 ** a),
    ("exp", "Exp", [SHAPE], lambda a: a.exp(), lambda t, a: a.exp()),
    ("log", "Log", [SHAPE], lambda a: a.log(), lambda t, a: a.log()),
    ("sqrt", "Sqrt", [SHAPE], lambda a: a.sqrt(), lambda t, a: a.sqrt()),
    ("tanh", "Tanh", [SHAPE], lambda a: a.tanh(), lambda t, a: a.tanh()),
    ("sigmoid", "Sigmoid", [SHAPE], lambda a: a.sigmoid(), lambda t, a: a.sigmoid()),
    ("relu", "ReLU", [SHAPE], lambda a: a.relu(), lambda t, a: a.relu()),
    ("abs", "Abs", [SHAPE], lambda a: a.abs(), lambda t, a: a.abs()),
    ("clip", "Clip", [SHAPE], lambda a: a.clip(0.6, 1.2), lambda t, a: a.clamp(0.6, 1.2)),
    ("gelu", "GELU", [SHAPE], lambda a: F.gelu(a), lambda t, a: t.nn.functional.gelu(a)),
    ("gelu-tanh", "GELU", [SHAPE], lambda a: F.gelu(a, approximate="tanh"),
     lambda t, a: t.nn.functional.gelu(a, approximate="tanh")),
    ("softmax", "Softmax", [SHAPE], lambda a: a.softmax(-1), lambda t, a: a.softmax(-1)),
    ("log_softmax", "LogSoftmax", [SHAPE], lambda a: a.log_softmax(-1),
     lambda t, a: a.log_softmax(-1)),
    ("sum", "Sum", [SHAPE], lambda a: a.sum(axis=0), lambda t, a: a.sum(0)),
    ("mean", "Mean", [SHAPE], lambda a: a.mean(), lambda t, a: a.mean()),
    ("max", "Max", [SHAPE], lambda a: a.max(), lambda t, a: a.amax()),
    ("max-axis", "Max", [SHAPE], lambda a: a.max(axis=1), lambda t, a: a.amax(1)),
    ("min-axis", "Min", [SHAPE], lambda a: a.min(axis=0, keepdims=True),
     lambda t, a: a.amin(0, keepdim=True)),
    ("var", "Var", [SHAPE], lambda a: a.var(axis=0), lambda t, a: a.var(0)),
    ("reshape", "Reshape", [SHAPE], lambda a: a.reshape(9), lambda t, a: a.reshape(9)),
    ("transpose", "Transpose", [SHAPE], lambda a: a.T, lambda t, a: a.T),
    ("getitem-basic", "GetItem", [SHAPE], lambda a: a[1:], lambda t, a: a[1:]),
    ("getitem-array", "GetItem", [SHAPE], lambda a: a[IDX], lambda t, a: a[t.tensor(IDX)]),
    ("embedding", "Embedding", [SHAPE], lambda a: F.embedding(IDX, a),
     lambda t, a: t.nn.functional.embedding(t.tensor(IDX), a)),
    ("cross_entropy", "CrossEntropy", [SHAPE], lambda a: F.cross_entropy(a, TARGET),
     lambda t, a: t.nn.functional.cross_entropy(a, t.tensor(TARGET))),
    ("bce_with_logits", "BinaryCrossEntropyWithLogits", [SHAPE],
     lambda a: F.binary_cross_entropy_with_logits(a, np.full(SHAPE, 0.3), reduction="none"),
     lambda t, a: t.nn.functional.binary_cross_entropy_with_logits(
         a, t.full(SHAPE, 0.3, dtype=t.float64), reduction="none")),
]


def _values(shapes):
    rng = np.random.default_rng(0)
    return [rng.uniform(0.5, 1.5, s) for s in shapes]  # positive: log, sqrt and pow are defined


def _cases():
    for name, op, shapes, f, tf in OPS:
        n = len(shapes)
        for needs in itertools.product([True, False], repeat=n):
            if not any(needs):
                continue
            for written in [*range(n), "out"]:
                yield pytest.param(op, shapes, f, tf, needs, written,
                                   id=f"{name}-{''.join('gc'[not r] for r in needs)}-{written}")


def _minigrad_raises(f, shapes, needs, written):
    xs = [mg.tensor(v, requires_grad=r) for v, r in zip(_values(shapes), needs)]
    out = f(*xs)
    if written == "out":
        out.data = out.data  # an assignment is a write, whatever it assigns
    else:
        increment_version(xs[written])
    grads_before = [x.grad for x in xs]
    try:
        out.backward(np.ones(out.shape))
    except RuntimeError as e:
        assert all(x.grad is g for x, g in zip(xs, grads_before)), "a failed backward wrote"
        return str(e)
    return None


def _torch_raises(torch, tf, shapes, needs, written):
    xs = [torch.tensor(v, requires_grad=r) for v, r in zip(_values(shapes), needs)]
    out = tf(torch, *xs)
    with torch.no_grad():
        (out if written == "out" else xs[written]).add_(0.0)
    try:
        out.backward(torch.ones_like(out))
    except RuntimeError as e:
        assert "modified by an inplace operation" in str(e), e  # no other kind of refusal
        return True
    return False


@pytest.mark.parametrize("op, shapes, f, tf, needs, written", list(_cases()))
def test_a_write_between_forward_and_backward_raises_exactly_where_torch_does(
        op, shapes, f, tf, needs, written):
    torch = torch_or_skip()
    torch.set_default_dtype(torch.float64)
    try:
        expected = _torch_raises(torch, tf, shapes, needs, written)
    finally:
        torch.set_default_dtype(torch.float32)
    message = _minigrad_raises(f, shapes, needs, written)
    assert (message is not None) == expected, message or "minigrad did not raise; torch did"
    if message:
        what = "the output" if written == "out" else f"input {written}"
        assert (f"modified by an inplace operation: {what} of {op} (shape" in message
                and "is at version 1; expected version 0 instead" in message), message


# ============================================================================ the message

def test_the_message_names_the_op_the_tensor_its_shape_dtype_and_both_versions():
    x = mg.tensor(np.ones((2, 3)), requires_grad=True)
    c = mg.tensor(np.ones(3, dtype=np.float32))
    increment_version(c)  # a version before the forward pass is what the op expects
    y = x * c
    increment_version(c)
    c.data = c.data * 2
    with pytest.raises(RuntimeError) as info:
        y.sum().backward()
    message = str(info.value)
    assert ("one of the variables needed for gradient computation has been modified by an "
            "inplace operation: input 1 of Mul (shape (3,), dtype float32) is at version 3; "
            "expected version 1 instead") in message
    assert "detect_anomaly" in message  # the hint


def test_anomaly_mode_adds_where_the_op_was_created():
    x = mg.tensor(np.ones(3), requires_grad=True)
    with mg.detect_anomaly():
        y = x.exp()  # the line the message points at
        y.data = y.data + 1
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
    message = str(info.value)
    assert "the output of Exp" in message
    assert "The Exp was created in the forward pass at" in message
    assert "y = x.exp()  # the line the message points at" in message


def test_a_write_to_an_input_of_an_op_that_needs_no_gradient_there_is_fine():
    # y = x * c with only x requiring grad: backward reads c, never x (torch saves only c)
    x = mg.tensor(np.ones(3), requires_grad=True)
    c = mg.tensor(np.full(3, 2.0))
    y = x * c
    increment_version(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


def test_a_failed_backward_writes_no_gradient_and_a_fresh_forward_works():
    w = mg.tensor(np.ones(3), requires_grad=True)
    w.grad = np.full(3, 7.0)
    loss = (w * w).sum()
    w.data = w.data - 0.1  # an optimizer step before backward
    with pytest.raises(RuntimeError, match="input 1 of Mul"):  # w * w: w is both inputs
        loss.backward()
    np.testing.assert_array_equal(w.grad, [7.0, 7.0, 7.0])
    (w * w).sum().backward()  # the next forward saves the new version
    np.testing.assert_allclose(w.grad, 7.0 + 2 * 0.9)


def test_retain_graph_keeps_the_check_for_the_next_backward():
    x = mg.tensor(np.ones(3), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    increment_version(x)
    with pytest.raises(RuntimeError, match="input 1 of Mul .* is at version 1; expected version 0"):
        y.backward()


def test_an_op_the_gradient_never_reaches_is_not_checked():
    # as torch: only ops that backward runs are checked
    x = mg.tensor(np.ones(3), requires_grad=True)
    y = x * 2
    z = (x * x).sum() + 0 * y.detach().sum()
    increment_version(y)
    z.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


# ============================================================================ .data

def test_assigning_data_moves_the_version_reading_it_does_not():
    x = mg.tensor(np.zeros(3))
    assert x._version == 0
    x.data.sum()
    _ = x.data
    assert x._version == 0
    x.data = np.ones(3)
    x.data += 1  # an in-place operator on .data also assigns it back
    assert x._version == 2
    np.testing.assert_array_equal(x.data, [2.0, 2.0, 2.0])


def test_writing_into_the_raw_array_bypasses_the_check_as_torch_data_does():
    x = mg.tensor(np.ones(3), requires_grad=True)
    y = (x * x).sum()
    x.data[...] = 5.0  # documented: invisible to minigrad
    assert x._version == 0
    y.backward()
    np.testing.assert_array_equal(x.grad, [10.0, 10.0, 10.0])  # computed with the new values


def test_a_parameter_counts_like_a_tensor():
    p = mg.nn.Parameter(np.ones(3))
    loss = (p * p).sum()
    p.data = p.data - 0.1
    with pytest.raises(RuntimeError, match="input 1 of Mul"):
        loss.backward()


@pytest.mark.parametrize("value", ["abc", [1.0, 2.0, 3.0], None, 5.0, np.ones(3, int), np.ones(3, complex)],
                         ids=["str", "list", "None", "float", "int-array", "complex-array"])
def test_assigning_data_that_is_no_float_array_is_refused(value):
    """x.data = "abc" (or a list, None, int data on a tensor that requires grad) was accepted and
    failed later inside backward with AttributeError or a dtype message about Sum.backward."""
    x = mg.Tensor(np.ones(3), requires_grad=True)
    version = x._version
    with pytest.raises(TypeError, match="assigned data"):
        x.data = value
    assert x._version == version and x.data.dtype == np.float64 and (x.data == 1).all()


def test_assigning_a_numpy_scalar_or_other_float_array_is_a_write():
    x = mg.Tensor(np.ones(3), requires_grad=True)
    x.data = x.data.sum()  # np.float64: a 0-d array
    assert type(x.data) is np.ndarray and x.data.shape == () and x._version == 1
    y = mg.Tensor(np.ones(3, int))  # no grad: any dtype
    y.data = np.arange(4)
    assert y._version == 1


# ============================================================================ increment_version

@pytest.mark.parametrize("target", ["tensor", "parameter", "list", "tuple", "generator"])
def test_increment_version_counts_tensors_and_parameters_alone_or_in_an_iterable(target):
    a, b = mg.tensor(np.ones(2)), mg.nn.Parameter(np.ones(2))
    arg = {"tensor": a, "parameter": b, "list": [a, b], "tuple": (a, b),
           "generator": (t for t in [a, b])}[target]
    assert increment_version(arg) is None
    assert (a._version, b._version) == {"tensor": (1, 0), "parameter": (0, 1)}.get(target, (1, 1))


class _DuckParameter:  # what a duck-typed optimizer may hold: only .data and .grad
    def __init__(self):
        self.data, self.grad = np.ones(2), None


@pytest.mark.parametrize("thing", [np.ones(3), None, 1.5, _DuckParameter(), [np.ones(2), None]],
                         ids=["array", "None", "number", "duck", "list-of-others"])
def test_increment_version_leaves_anything_without_a_version_alone(thing):
    before = np.array(thing.data if isinstance(thing, _DuckParameter) else 0)
    increment_version(thing)
    if isinstance(thing, np.ndarray):
        np.testing.assert_array_equal(thing, np.ones(3))  # not iterated, not changed
    if isinstance(thing, _DuckParameter):
        np.testing.assert_array_equal(thing.data, before)


def test_an_optimizer_style_step_between_forward_and_backward_raises_as_torch():
    # two layers: the second layer's weight is read for the gradient of its input (as torch);
    # the first layer's is not (its input is data), so writing it alone is fine
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    W1, W2 = (mg.nn.Parameter(rng.standard_normal(s)) for s in [(5, 3), (2, 5)])
    out = F.linear(F.linear(x, W1).tanh(), W2).sum()
    increment_version([W1])
    out.backward(retain_graph=True)
    increment_version([W1, W2])  # what Optimizer.step does after writing p.data in place
    with pytest.raises(RuntimeError, match=r"input 1 of Linear \(shape \(2, 5\), dtype float64\) "
                                           r"is at version 1; expected version 0"):
        out.backward()


# ============================================================================ views

@pytest.mark.parametrize("make_view", [lambda w: w.T, lambda w: w.reshape(9), lambda w: w[1:],
                                       lambda w: w.transpose(1, 0).T, lambda w: w.detach()],
                         ids=["T", "reshape", "slice", "transpose-of-transpose", "detach"])
def test_a_view_shares_its_base_version_both_ways(make_view):
    w = mg.tensor(np.ones(SHAPE), requires_grad=True)
    v = make_view(w)
    assert np.shares_memory(v.data, w.data)
    increment_version(w)
    assert v._version == 1
    increment_version(v)
    assert w._version == 2


@pytest.mark.parametrize("make_copy", [lambda w: w.T.reshape(9), lambda w: w[IDX],
                                       lambda w: w[np.array([True, False, True])], lambda w: w * 1],
                         ids=["reshape-that-copies", "array-index", "mask", "op"])
def test_a_copy_has_a_version_of_its_own(make_copy):
    w = mg.tensor(np.ones(SHAPE), requires_grad=True)
    c = make_copy(w)
    assert not np.shares_memory(c.data, w.data)
    increment_version(w)
    assert c._version == 0


@pytest.mark.parametrize("needs, written, raises", [
    ((True, True, True), 2, True), ((True, False, False), 0, False),
    ((True, False, False), 1, True), ((False, False, True), 0, False),
    ((True, True, True), "out", False),
])
def test_attention_refuses_a_write_to_what_its_backward_reads(needs, written, raises):
    # torch's attention saves differently per backend (math, flash); this is what ours reads:
    # dq reads k and v, dk reads q and v, dv only its own softmax
    q, k, v = (mg.tensor(a, requires_grad=r) for a, r in zip(_values([(2, 3, 4)] * 3), needs))
    y = F.scaled_dot_product_attention(q, k, v)
    if written == "out":
        y.data = y.data
    else:
        increment_version((q, k, v)[written])
    if not raises:
        y.sum().backward()
        return
    with pytest.raises(RuntimeError, match=f"input {written} of ScaledDotProductAttention"):
        y.sum().backward()


def test_a_write_to_a_weight_seen_through_its_transpose_raises_as_torch():
    torch = torch_or_skip()
    x, W = np.ones((2, 3)), np.ones((4, 3))
    h = mg.tensor(x, requires_grad=True) @ (w := mg.tensor(W, requires_grad=True)).T
    increment_version(w)
    with pytest.raises(RuntimeError, match=r"input 1 of MatMul \(shape \(3, 4\)"):
        h.sum().backward()
    th = torch.tensor(x, requires_grad=True) @ (tw := torch.tensor(W, requires_grad=True)).T
    with torch.no_grad():
        tw.add_(0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        th.sum().backward()


# ============================================================================ the declarations

def _all_ops():
    return [c for c in vars(ops).values() if isinstance(c, type) and issubclass(c, Function)]


@pytest.mark.parametrize("op", _all_ops(), ids=lambda c: c.__name__)
def test_every_op_declares_what_its_backward_reads_in_the_declared_form(op):
    assert isinstance(op.saves, tuple) and isinstance(op.saves_output, tuple)
    for reads in op.saves:
        assert isinstance(reads, tuple) and all(isinstance(j, int) and j >= 0 for j in reads)
    assert all(isinstance(flag, bool) for flag in op.saves_output)
    # a view's output shares its input's counter, so "the output is at version 0" would not hold
    assert not (issubclass(op, ViewFunction) and any(op.saves_output))


def test_an_op_that_declares_nothing_is_never_checked():
    class Twice(Function):  # a user's op: reads its input in backward, but did not say so
        def forward(self, x):
            self.x = x
            return 2 * x

        def backward(self, gy):
            return (2 * gy,)

    x = mg.tensor(np.ones(3), requires_grad=True)
    y = Twice().apply(x)
    increment_version(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


def test_a_users_op_that_declares_what_it_reads_is_checked():
    class Square(Function):
        saves = ((0,),)

        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, gy):
            return (2 * self.x * gy,)

    x = mg.tensor(np.ones(3), requires_grad=True)
    y = Square().apply(x)
    increment_version(x)
    with pytest.raises(RuntimeError, match="input 0 of Square"):
        y.sum().backward()


# ======================================================================== writes made by the library

def _step_with(opt_name):
    import optim
    mg.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = getattr(optim, opt_name)(model.parameters(), lr=0.1)
    return model, opt


def _write_by_step(model, opt):
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    opt.step()


def _write_by_load(model, opt):
    model.load_state_dict({k: v + 1 for k, v in model.state_dict().items()})


def _write_by_eval(model, opt):  # schedule-free's eval() moves θ from y to x in place
    opt.eval()


@pytest.mark.parametrize("opt_name, write", [
    ("SGD", _write_by_step), ("Adam", _write_by_step), ("Prodigy", _write_by_step),
    ("ScheduleFreeAdamW", _write_by_step), ("ScheduleFreeAdamW", _write_by_eval),
    ("SGD", _write_by_load),
])
def test_a_library_write_between_forward_and_backward_raises_naming_the_op(opt_name, write):
    model, opt = _step_with(opt_name)
    if opt_name == "ScheduleFreeAdamW":
        opt.train()
        _write_by_step(model, opt)  # a state for eval() to move θ with
        opt.zero_grad()
    x = mg.tensor(np.ones((4, 3)), requires_grad=True)
    loss = (model(x) ** 2).sum()  # x's gradient reads the weight
    write(model, opt)
    grads = [None if p.grad is None else p.grad.copy() for p in model.parameters()]
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    for p, g in zip(model.parameters(), grads):  # a refused backward writes no gradient
        assert (p.grad is None and g is None) or np.array_equal(p.grad, g)


def test_embedding_max_norm_counts_its_renorm_as_a_write():
    emb = nn.Embedding(5, 3, max_norm=0.5)
    emb.weight.data[...] = 3.0
    y = (emb(np.array([1])) * emb.weight[0:1]).sum()  # the Mul saves a view of the weight
    emb(np.array([0]))  # renormalises row 0 in place
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
