"""gradcheck itself: it passes correct ops, catches a wrong one, and says where."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.function import Function


class BuggyCube(Function):
    """x³ with a wrong backward at one element: 3x² everywhere except flat index 4."""

    def forward(self, x):
        self.x = x
        return x ** 3

    def backward(self, gy):
        g = 3 * self.x ** 2
        g.reshape(-1)[4] *= 1.5
        return (gy * g,)


def test_catches_a_wrong_backward_and_names_the_element():
    x = mg.tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    with pytest.raises(mg.GradcheckError) as e:
        mg.gradcheck(lambda t: BuggyCube().apply(t), [x])
    msg = str(e.value)
    assert "input 0" in msg
    assert "d output0[1, 1] / d input0[1, 1]" in msg  # flat index 4 of a (2, 3) array
    assert "analytic = 112.5" in msg  # 1.5 * 3 * 5²
    assert "numeric  = 75.0000" in msg
    assert isinstance(e.value, AssertionError)


def test_names_which_input_is_wrong():
    a = mg.tensor(np.ones(3), requires_grad=True)
    b = mg.tensor(np.arange(1.0, 7.0), requires_grad=True)
    with pytest.raises(mg.GradcheckError, match="input 1"):
        mg.gradcheck(lambda p, q: p.sum() + BuggyCube().apply(q), [a, b])


def test_refuses_float32():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="input 0 has dtype float32"):
        mg.gradcheck(lambda t: t * 2, [x])


def test_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="no input requires grad"):
        mg.gradcheck(lambda t: t * 2, [mg.tensor(np.ones(2))])


def test_leaves_inputs_as_found():
    x = mg.tensor(np.array([0.5, 1.5]), requires_grad=True)
    x.grad = np.array([7.0, 7.0])
    before = x.data.copy()
    assert mg.gradcheck(lambda t: (t * t).sum(), [x])
    np.testing.assert_array_equal(x.data, before)
    np.testing.assert_array_equal(x.grad, [7.0, 7.0])


def test_tuple_outputs_and_non_differentiable_inputs():
    a = mg.tensor(np.array([0.3, -0.2, 1.1]), requires_grad=True)
    c = mg.tensor(np.array([2.0, 3.0, 4.0]))  # a constant, not checked
    assert mg.gradcheck(lambda x, k: (x * k, x.exp().sum()), [a, c])


class ScalarGradSum(Function):
    """x.sum() whose backward returns the 0-d gy itself: a gradient of the wrong shape that
    NumPy would broadcast into every Jacobian row without complaint."""

    def forward(self, x):
        return x.sum()

    def backward(self, gy):
        return (gy,)


def test_a_wrong_shaped_gradient_fails_naming_the_op_and_shapes():
    x = mg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    with pytest.raises(mg.GradcheckError, match=r"ScalarGradSum\.backward returned a gradient "
                                                r"of shape \(\) for input 0 of shape \(3,\)"):
        mg.gradcheck(lambda t: ScalarGradSum().apply(t), [x])
    assert x.grad is None


def test_a_function_with_several_outputs_reuses_its_graph():
    x = mg.tensor(np.array([0.5, -1.0]), requires_grad=True)

    def fn(t):
        h = t * t  # shared by both outputs: one backward per Jacobian row goes through it
        return h.exp(), h.sum()

    assert mg.gradcheck(fn, [x])


def test_an_empty_input_with_a_non_empty_output_checks_cleanly():
    # (2, 0) summed over its empty axis gives two zeros: a Jacobian of shape (2, 0)
    x = mg.tensor(np.zeros((2, 0)), requires_grad=True, dtype="float64")
    assert mg.gradcheck(lambda t: t.sum(axis=1), [x])


def test_on_the_device(device):
    """gradcheck on device tensors: it passes a correct layer stack (two outputs, an integer
    target on the device), catches the wrong backward with the CPU's report, and leaves data
    and grads as found, on the device."""
    rng = np.random.default_rng(0)
    x, W = (mg.tensor(rng.standard_normal(s), device=device, requires_grad=True) for s in [(3, 4), (2, 4)])
    target = mg.backend.to_device(np.array([1, 0, 1]), device)
    W.grad = mg.backend.to_device(np.full((2, 4), 7.0), device)
    data, grad = [mg.backend.to_numpy(t.data).copy() for t in (x, W)], mg.backend.to_numpy(W.grad).copy()

    def fn(x, W):
        z = F.linear(x.tanh(), W)
        return F.cross_entropy(z, target, label_smoothing=0.1), (z * z).sum(axis=0)
    assert mg.gradcheck(fn, [x, W])
    assert x.grad is None and W.device.startswith(device) and W.grad is not None
    np.testing.assert_array_equal(mg.backend.to_numpy(W.grad), grad)
    for t, d in zip((x, W), data):
        assert t.device.startswith(device)
        np.testing.assert_array_equal(mg.backend.to_numpy(t.data), d)

    cube = mg.tensor(np.arange(1.0, 7.0).reshape(2, 3), device=device, requires_grad=True)
    with pytest.raises(mg.GradcheckError) as e:
        mg.gradcheck(lambda t: BuggyCube().apply(t), [cube])
    assert "d output0[1, 1] / d input0[1, 1]" in str(e.value) and "analytic = 112.5" in str(e.value)
