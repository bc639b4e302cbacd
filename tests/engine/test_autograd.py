"""The graph machinery: ordering, accumulation, no_grad, edge cases and bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import optim
from conftest import ROOT, requires_gpu, torch_or_skip


def test_diamond_graph_gets_both_contributions():
    x = mg.tensor(3.0, requires_grad=True, dtype=np.float64)
    a = x * 2
    y = a * a + a  # a is used twice
    y.backward()
    assert x.grad == pytest.approx(2 * (2 * 6.0) + 2)  # dy/dx = (2a + 1) * 2


def test_tensor_used_twice_in_one_op():
    x = mg.tensor([1.0, -2.0], requires_grad=True, dtype=np.float64)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, -4.0])


def test_gradients_accumulate_over_backward_calls():
    x = mg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3 + 2.0, 3 + 4.0])


def test_leaves_never_share_a_gradient_array():
    a = mg.tensor([1.0], requires_grad=True)
    b = mg.tensor([2.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad += 10
    assert b.grad[0] == 1.0


def test_ten_thousand_op_chain_has_no_recursion_limit():
    x = mg.tensor(1.0, requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001 ** 10_000, rel=1e-9)


def test_no_grad_records_nothing():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with mg.no_grad():
        y = (x * 2).exp()
    assert not y.requires_grad and y.creator is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()
    assert mg.is_grad_enabled()


def test_no_graph_when_nothing_requires_grad():
    y = mg.tensor([1.0, 2.0]) * 3 + 1
    assert not y.requires_grad and y.creator is None


def test_no_grad_as_decorator_restores_mode_on_error():
    @mg.no_grad()
    def boom():
        assert not mg.is_grad_enabled()
        raise KeyError("x")

    with pytest.raises(KeyError):
        boom()
    assert mg.is_grad_enabled()


def test_max_ties_share_the_gradient_like_torch_amax():
    x = mg.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True, dtype=np.float64)
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0, 0.5, 0.5, 0])
    torch = torch_or_skip()
    t = torch.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True, dtype=torch.float64)
    t.amax().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


@pytest.mark.parametrize("method", ["abs", "relu"])
def test_subgradient_at_zero_is_zero(method):
    x = mg.tensor([0.0, 0.0], requires_grad=True, dtype=np.float64)
    getattr(x, method)().sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_clip_passes_gradient_at_the_bounds():
    x = mg.tensor([-1.0, -0.5, 0.5, 1.0], requires_grad=True, dtype=np.float64)
    x.clip(-0.5, 0.5).sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 1, 1, 0])


def test_python_scalars_keep_float32():
    x = mg.tensor([1.0, 2.0])
    assert x.dtype == np.float32
    for y in (x + 1.5, 2.0 * x, x / 3, 1 - x, x ** 2, 2.0 ** x):
        assert y.dtype == np.float32


def test_default_dtype():
    assert mg.tensor(1.0).dtype == np.float32
    mg.set_default_dtype(np.float64)
    assert mg.tensor([1.0]).dtype == np.float64 and mg.get_default_dtype() == np.float64
    assert mg.tensor(np.zeros(2, np.float32)).dtype == np.float32  # arrays keep their dtype
    assert mg.tensor([1, 2]).dtype == np.int64
    with pytest.raises(TypeError):
        mg.set_default_dtype(np.int32)


# ============================================================================ bad input

def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        mg.tensor([1, 2], requires_grad=True)


def test_backward_on_non_scalar_needs_grad():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(2,\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\)"):
        (x * 2).backward(np.ones(3))
    for bad, dtype in [([None, 1.0], "object"), ("ab", "<U2"), (["a", "b"], "<U1")]:
        with pytest.raises(TypeError, match=f"backward\\(grad\\): grad must hold numbers, got dtype {dtype}"):
            (x * 2).backward(bad)
    assert x.grad is None
    (x * 2).backward([1, True])  # integers and bools are numbers
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_shape_mismatch_names_both_shapes():
    a, b = mg.tensor(np.ones((2, 3))), mg.tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(2, ?3\).*\(4, ?5\)"):
        a + b
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
        a @ b
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(7,\)"):
        a.reshape(7)


def test_cuda_without_gpu_names_the_cause():
    reason = mg.backend.gpu_unavailable_reason()
    if reason is None:
        pytest.skip("a GPU is available here, so there is no failure to check")
    x = mg.tensor([1.0])
    with pytest.raises(RuntimeError, match="cuda") as e:
        x.to("cuda")
    assert reason in str(e.value)
    with pytest.raises(RuntimeError):
        mg.tensor([1.0], device="cuda")


def test_unknown_device_is_rejected():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        mg.tensor([1.0]).to("tpu")


@requires_gpu
def test_mixing_devices_names_both():
    a = mg.tensor([1.0])
    b = mg.tensor([1.0], device="cuda")
    with pytest.raises(RuntimeError, match="cpu.*cuda:0"):
        a + b


def _on(device):
    return lambda a: mg.tensor(a, device=device, requires_grad=True)


@requires_gpu
@pytest.mark.parametrize("call", [
    lambda gpu, cpu: mg.where(cpu(np.array([True, False])).detach(), gpu(np.ones(2)), 0.0),
    lambda gpu, cpu: mg.where(gpu(np.array([True, False])).data, cpu(np.ones(2)), 0.0),
    lambda gpu, cpu: mg.nn.functional.scaled_dot_product_attention(
        *(gpu(np.ones((2, 3))),) * 3, attn_mask=cpu(np.ones((2, 2), dtype=bool)).detach()),
    lambda gpu, cpu: mg.nn.functional.cross_entropy(cpu(np.zeros((2, 3))), gpu(np.array([0, 2])).data),
    lambda gpu, cpu: mg.nn.functional.cross_entropy(gpu(np.zeros((2, 3))), cpu(np.full((2, 3), 0.5)).detach()),
    lambda gpu, cpu: mg.nn.functional.embedding(gpu(np.array([0, 1])).data, cpu(np.ones((3, 2)))),
    lambda gpu, cpu: (cpu(np.ones(2)) * 2).backward(grad=gpu(np.ones(2)).data),
    lambda gpu, cpu: (gpu(np.ones(2)) * 2).backward(grad=cpu(np.ones(2)).detach()),
], ids=["where-tensor", "where-cupy", "sdpa-mask", "ce-index", "ce-probability", "embedding",
        "grad-cupy", "grad-tensor"])
def test_a_tensor_or_gpu_array_on_the_other_device_is_refused_naming_both_cuda(call):
    with pytest.raises(RuntimeError, match=r"is on (cpu but the tensor is on cuda:0|cuda:0 but the tensor is on cpu)"):
        call(_on("cuda"), _on("cpu"))


@requires_gpu
def test_attention_on_two_devices_is_refused_before_it_draws_a_dropout_mask_cuda():
    q, k = _on("cuda")(np.ones((2, 3))), _on("cpu")(np.ones((2, 3)))
    state = mg.get_rng_state()
    with pytest.raises(RuntimeError, match=r"cuda:0.*cpu"):
        mg.nn.functional.scaled_dot_product_attention(q, k, k, dropout_p=0.5)
    assert mg.get_rng_state() == state


@pytest.mark.parametrize("call", [
    lambda on: mg.where(np.array([True, False]), on(np.array([1.0, 2.0])), 0.0),
    lambda on: mg.nn.functional.scaled_dot_product_attention(
        *(on(np.arange(6.0).reshape(2, 3)),) * 3, attn_mask=np.array([[True, False], [True, True]])),
    lambda on: mg.nn.functional.cross_entropy(on(np.arange(6.0).reshape(2, 3)), np.array([0, 2])),
    lambda on: mg.nn.functional.cross_entropy(on(np.arange(6.0).reshape(2, 3)), [[0.5, 0.5, 0.0]] * 2),
    lambda on: mg.nn.functional.embedding([[0, 1], [1, 1]], on(np.arange(6.0).reshape(3, 2))),
    lambda on: mg.nn.functional.binary_cross_entropy_with_logits(on(np.zeros(2)), np.array([0.0, 1.0])),
], ids=["where", "sdpa-mask", "ce-index", "ce-probability", "embedding", "bce"])
def test_host_data_given_as_a_constant_goes_to_the_data(device, call):
    """A NumPy array or a list as a condition, mask, target or indices is a constant: it is
    moved to the data's device, and the result is the CPU's."""
    got, want = call(_on(device)), call(_on("cpu"))
    assert got.device.startswith(device)
    np.testing.assert_allclose(mg.backend.to_numpy(got.data), want.data, rtol=1e-12)
    if device == "cuda":  # and a host gradient for a device output
        (got * 1.0).sum().backward()


def test_to_device_round_trip_is_differentiable(device):
    x = mg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    y = (x.to(device) * 3).to("cpu").sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    assert x.to(device).device.startswith(device)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("draw", [
    lambda x, p: mg.nn.functional.dropout(x, p),
    lambda x, p: mg.nn.functional.scaled_dot_product_attention(x, x, x, dropout_p=p),
], ids=["dropout", "attention-dropout"])
def test_a_seed_draws_the_same_masks_on_every_device(device, dtype, draw):
    """Masks come from minigrad's one generator, whatever the device: a GPU run repeats the CPU
    run's masks, and the generator's state (checkpointed) resumes it exactly."""
    x = np.random.default_rng(1).standard_normal((2, 6, 6)).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    mg.manual_seed(5)
    want = draw(mg.tensor(x), 0.3).data
    assert not np.allclose(want, draw(mg.tensor(x), 0.0).data)  # something was dropped
    mg.manual_seed(5)
    state = mg.get_rng_state()
    got = draw(mg.tensor(x, device=device), 0.3)
    assert got.device.startswith(device) and got.dtype == dtype
    np.testing.assert_allclose(mg.backend.to_numpy(got.data), want, **tol)
    mg.set_rng_state(state)
    np.testing.assert_array_equal(mg.backend.to_numpy(draw(mg.tensor(x, device=device), 0.3).data),
                                  mg.backend.to_numpy(got.data))


@pytest.mark.parametrize("make", [lambda mask: mask, lambda mask: np.where(mask, 0.0, -np.inf)],
                         ids=["bool", "additive"])
def test_a_raw_mask_or_condition_is_a_constant_moved_to_the_data(device, make):
    rng = np.random.default_rng(2)
    q = rng.standard_normal((3, 4))
    keep = np.tril(np.ones((3, 3), dtype=bool))
    got = mg.nn.functional.scaled_dot_product_attention(*(mg.tensor(q, device=device),) * 3,
                                                        attn_mask=make(keep))
    want = mg.nn.functional.scaled_dot_product_attention(*(mg.tensor(q),) * 3, is_causal=True)
    np.testing.assert_allclose(mg.backend.to_numpy(got.data), want.data, rtol=1e-12)
    w = mg.where(keep[0], mg.tensor([1.0, 2.0, 3.0], device=device), 0.0)
    np.testing.assert_array_equal(mg.backend.to_numpy(w.data), [1.0, 0.0, 0.0])


@requires_gpu
def test_a_cupy_array_made_before_minigrad_looks_for_cuda_is_one():
    """CuPy imported first: minigrad had not yet imported it when the array arrived."""
    import os
    import subprocess
    import sys
    code = ("import cupy as cp, minigrad as mg, optim\n"
            "p = mg.nn.Parameter(cp.ones(3, cp.float32)); p.grad = cp.ones(3, cp.float32)\n"
            "assert p.device == 'cuda:0', p.device\n"
            "optim.Adam([p], lr=0.5).step()\n"
            "print(cp.asnumpy(p.data).tolist())")
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    p = mg.nn.Parameter(np.ones(3, np.float32))
    p.grad = np.ones(3, np.float32)
    optim.Adam([p], lr=0.5).step()  # the same step on the CPU, to the bit
    assert out.stdout.strip() == str(p.data.tolist())


# ============================================================================ properties

def _broadcast_pair():
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


@settings(max_examples=40, deadline=None)
@given(shapes=_broadcast_pair(), op=st.sampled_from(["add", "sub", "mul", "div"]))
def test_broadcasting_gradients_property(shapes, op):
    rng = np.random.default_rng(0)
    a_shape, b_shape = shapes.input_shapes
    a = mg.tensor(rng.standard_normal(a_shape), requires_grad=True)
    b = mg.tensor(rng.uniform(0.5, 2, b_shape), requires_grad=True)
    fn = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y,
          "mul": lambda x, y: x * y, "div": lambda x, y: x / y}[op]
    assert mg.gradcheck(fn, [a, b])
    out = fn(a, b)
    assert out.shape == shapes.result_shape
    out.backward(np.ones(out.shape))
    assert a.grad.shape == a_shape and b.grad.shape == b_shape


@settings(max_examples=30, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), data=st.data())
def test_reduction_gradients_property(shape, data):
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    keepdims = data.draw(st.booleans())
    x = mg.tensor(np.random.default_rng(1).standard_normal(shape), requires_grad=True)
    for method in ("sum", "mean"):
        assert mg.gradcheck(lambda t, m=method: getattr(t, m)(axis=axis, keepdims=keepdims), [x])
    ref = x.data.sum(axis=axis, keepdims=keepdims)
    assert x.sum(axis=axis, keepdims=keepdims).shape == np.shape(ref)


def test_sum_to_reverses_broadcasting():
    g = np.ones((2, 3, 4))
    assert mg.sum_to(g, (3, 1)).shape == (3, 1)
    assert mg.sum_to(g, (3, 1))[0, 0] == 8
    assert mg.sum_to(g, ()).shape == () and mg.sum_to(g, ()) == 24


def test_truth_value_of_a_multi_element_tensor_is_ambiguous():
    assert bool(mg.tensor([1.0]) > 0)
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(mg.tensor([1.0, 2.0]) > 0)


def test_no_grad_decorator_is_reentrant():
    @mg.no_grad()
    def depth(n):
        assert not mg.is_grad_enabled()
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(3) == 3
    assert mg.is_grad_enabled()


@settings(max_examples=25, deadline=None)
@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
       n=st.integers(1, 3), k=st.integers(1, 3), m=st.integers(1, 3),
       vec=st.sampled_from(["none", "left", "right"]))
def test_matmul_gradients_property(batch, n, k, m, vec):
    rng = np.random.default_rng(0)
    a_shape = (k,) if vec == "left" else batch.input_shapes[0] + (n, k)
    b_shape = (k,) if vec == "right" else batch.input_shapes[1] + (k, m)
    a = mg.tensor(rng.standard_normal(a_shape), requires_grad=True)
    b = mg.tensor(rng.standard_normal(b_shape), requires_grad=True)
    assert (a @ b).shape == (a.data @ b.data).shape
    assert mg.gradcheck(lambda x, y: x @ y, [a, b])


def test_leaf_gradients_keep_the_leaf_dtype_under_promotion():
    w = mg.nn.Parameter(np.ones((3, 2), np.float32))
    x = mg.tensor(np.ones((4, 3)))  # float64 input: the forward promotes to float64
    y = x @ w
    assert y.dtype == np.float64
    y.sum().backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad, 4.0)
