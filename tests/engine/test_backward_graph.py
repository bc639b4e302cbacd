"""What backward() checks and frees: a misfit gradient from an op's backward, and the graph
being consumed by a backward pass unless retain_graph=True."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.function import Function


class Scale(Function):
    """x * 2 with a backward that returns whatever `make(gy)` gives, to plant a bug."""

    def __init__(self, make):
        self.make = make

    def forward(self, x):
        return x * 2

    def backward(self, gy):
        return self.make(gy)


class MulBy(Function):
    """x0 * x1 whose gradient for input 1 is replaced by `make(gy)`."""

    def __init__(self, make):
        self.make = make

    def forward(self, x0, x1):
        self.x0 = x0
        return x0 * x1

    def backward(self, gy):
        return gy * 1.0, self.make(gy, self.x0)


# (backward that returns, the message it must give)
MISFITS = [
    (lambda gy: (gy.sum(),), r"Scale\.backward returned a gradient of shape \(\) for input 0 "
                             r"of shape \(3,\)"),
    (lambda gy: (gy[:1],), r"Scale\.backward returned a gradient of shape \(1,\) for input 0 "
                           r"of shape \(3,\)"),
    (lambda gy: (np.ones((2, 3)),), r"shape \(2, 3\) for input 0 of shape \(3,\)"),
    (lambda gy: (gy.astype(np.int64),), r"dtype int64 for input 0 of dtype float64"),
    (lambda gy: (1.5,), r"returned a float as the gradient for input 0"),
    (lambda gy: gy * 2, r"Scale\.backward returned shape \(3,\), dtype float64; expected a "
                        r"tuple of 1 gradients"),
    (lambda gy: (gy, gy), r"expected a tuple of 1 gradients"),
]


@pytest.mark.parametrize("make, message", MISFITS, ids=[
    "0-d", "too-short", "broadcast-shaped", "int-dtype", "python-float", "not-a-tuple", "too-many"])
def test_a_misfit_gradient_names_the_op_the_input_and_both_shapes(make, message):
    x = mg.tensor(np.arange(3.0), requires_grad=True)
    x.grad = np.full(3, 7.0)
    y = Scale(make).apply(x)
    with pytest.raises(RuntimeError, match=message):
        y.sum().backward()
    np.testing.assert_array_equal(x.grad, [7.0, 7.0, 7.0])  # a failed backward changes nothing
    assert not y.creator.released  # ... and frees nothing


def test_the_check_names_the_right_input_of_a_two_input_op():
    a = mg.tensor(np.ones(3), requires_grad=True)
    b = mg.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"MulBy\.backward returned a gradient of shape "
                                           r"\(1, 3\) for input 1 of shape \(3,\)"):
        MulBy(lambda gy, x0: gy[None] * x0).apply(a, b).sum().backward()
    assert a.grad is None and b.grad is None  # input 0's gradient was fine, yet not written


def test_a_wrong_gradient_for_an_input_that_needs_none_is_ignored():
    a = mg.tensor(np.ones(3), requires_grad=True)
    b = mg.tensor(np.ones(3))  # a constant: whatever backward says for it is dropped
    MulBy(lambda gy, x0: gy[:1]).apply(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [1.0, 1.0, 1.0])


def test_a_second_backward_raises_and_changes_nothing():
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*"
                                           "retain_graph=True"):
        y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # not doubled


def test_backward_frees_what_the_ops_saved():
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * x
    y = h.exp().sum()
    y.backward()
    for fn in (h.creator, y.creator):
        assert fn.released and not hasattr(fn, "x0") and fn.inputs == ()


def test_a_new_graph_over_a_consumed_part_raises_too():
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match=r"second time \(through Exp"):
        (h * 3).sum().backward()


def test_retain_graph_allows_a_second_backward_that_accumulates():
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()  # allowed, and this one frees the graph
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_two_outputs_of_one_graph_with_retain_graph():
    x = mg.tensor(np.array([3.0]), requires_grad=True)
    h = x * x
    a, b = h.sum(), (h * 2).sum()
    a.backward(retain_graph=True)
    b.backward()
    np.testing.assert_array_equal(x.grad, [6.0 + 12.0])


def test_backward_on_a_leaf_twice_is_fine_as_in_torch():
    x = mg.tensor(np.array([1.0]), requires_grad=True)
    x.backward()  # a leaf: no graph to free, so backward on it again is fine, as in torch
    x.backward()
    np.testing.assert_array_equal(x.grad, [2.0])
