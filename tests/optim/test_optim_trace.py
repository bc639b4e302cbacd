"""Tracing a rule (optim/executor/trace.py): the rules a tracer refuses, and the CUDA kernel's C body,
compiled here with a C++ compiler and run on the CPU, equal to the rule on NumPy bit for bit."""
import copy
import ctypes
import pickle
import shutil
import subprocess

import numpy as np
import pytest

import optim
from optim import executor
from optim.executor import cuda_kernel, numpy_program
from optim.executor.trace import Traced
from optim.scalars import Scalars

H = Scalars(lr=0.1, beta=0.9, flag=True)


def trace(rule, n_arrays=3, h=H):
    return Traced(rule, n_arrays, (True,) * n_arrays, dict(h.items()))


@pytest.mark.parametrize("rule,message", [
    (lambda theta, g, m, h: dict(theta=theta - h.lr * g if g > 0 else theta), "branch only on the flags"),
    (lambda theta, g, m, h: dict(theta=theta - h.lr * g if h.lr else theta), "branch only on the flags"),
    (lambda theta, g, m, h: dict(theta=theta - np.tanh(g)), "cannot use 'tanh'"),
    (lambda theta, g, m, h: dict(theta=theta - g ** 3), "power 3"),
    (lambda theta, g, m, h: theta - g, "returned a Sym; a rule returns a dict"),
    (lambda theta, g, m, h: (m, theta), r"returned a tuple; a rule returns a dict .*dict\(theta=theta, m=m\)"),
    (lambda theta, g, m, h: dict(m=m), "returned no 'theta'"),
    (lambda theta, g, m, h: dict(theta=theta, v=m), r"returned 'v', which is not theta or one of its state"),
    (lambda theta, g, m, h: dict(theta=theta - h.missing), "no 'missing'"),
])
def test_a_rule_the_executors_cannot_run_is_refused_by_name(rule, message):
    with pytest.raises((TypeError, AttributeError), match=message):
        trace(rule)


def test_flags_choose_the_lines_and_the_numbers_read_become_kernel_arguments():
    def rule(theta, g, m, h):
        if h.flag:
            m = h.beta * m + (1 - h.beta) * g
        return dict(theta=theta - h.lr * m, m=m)
    on, off = trace(rule), trace(rule, h=Scalars(lr=0.1, beta=0.9, flag=False))
    assert on.scalars == ["lr", "beta"]
    assert off.scalars == ["lr"]  # beta is read only on the lines the flag leaves out
    assert len(on.lines) == 6 and len(off.lines) == 2
    assert off.outputs[2] is None  # m is left as it was: nothing to write back


def test_scalars_are_read_only_and_cast_to_the_arrays_precision():
    h = Scalars(lr=0.1, amsgrad=True)
    with pytest.raises(AttributeError, match="read-only"):
        h.lr = 1.0
    cast = h.cast(np.dtype(np.float32))
    assert type(cast.lr) is np.float32 and cast.amsgrad is True
    assert h.flags() == (("amsgrad", True),)


@pytest.mark.parametrize("copy_of", [copy.copy, copy.deepcopy, lambda h: pickle.loads(pickle.dumps(h))])
def test_scalars_copy_and_pickle_as_the_same_numbers(copy_of):
    h = Scalars(lr=0.1, amsgrad=True)
    c = copy_of(h)
    assert type(c) is Scalars and dict(c.items()) == dict(h.items())
    with pytest.raises(AttributeError, match="read-only"):
        c.lr = 1.0


# ============================================================== the CUDA kernel's body, on the CPU

CXX = shutil.which("g++") or shutil.which("c++")


_built = {}


def compile_kernel(traced, dtype, tmp_path):
    """The kernel's in/out parameters and body in a C++ loop, compiled into a shared library,
    with multiply-adds kept apart as CUDA's --fmad=false keeps them."""
    if (traced, dtype) in _built:
        return _built[traced, dtype]
    tmp_path.mkdir(parents=True, exist_ok=True)
    body = cuda_kernel.kernel_source(traced)[2]
    params = cuda_kernel.parameters(traced)  # (name, where its argument comes from)
    arrays = [(name, k) for name, (kind, k) in params if kind != "scalar"]
    scalars = [(name, h_name) for name, (kind, h_name) in params if kind == "scalar"]
    written = {name for name, (kind, _) in params if kind == "out"}
    ctype = {"float32": "float", "float64": "double"}[np.dtype(dtype).name]
    src = "\n".join([
        "#include <cmath>", "using std::sqrt; using std::exp; using std::log; using std::fabs;",
        "using std::isnan;", f"typedef {ctype} T;",
        "extern \"C\" void run(long n, " + ", ".join(
            [f"T* {a}_" for a, _ in arrays] + [f"T {s}" for s, _ in scalars]) + ") {",
        "  for (long i = 0; i < n; ++i) {",
        *[f"    {'T&' if a in written else 'const T'} {a} = {a}_[i];" for a, _ in arrays],
        *[f"    {line}" for line in body.split("\n")],
        "  }", "}"])
    (tmp_path / "kernel.cpp").write_text(src)
    lib = tmp_path / "kernel.so"
    subprocess.run([CXX, "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-o", str(lib),
                    str(tmp_path / "kernel.cpp")], check=True, capture_output=True)
    fn = ctypes.CDLL(str(lib)).run
    scalar_type = ctypes.c_float if ctype == "float" else ctypes.c_double
    fn.argtypes = [ctypes.c_long] + [ctypes.c_void_p] * len(arrays) + [scalar_type] * len(scalars)
    _built[traced, dtype] = fn, arrays, scalars
    return fn, arrays, scalars


CASES = [("Adam", dict(amsgrad=True, weight_decay=0.1)), ("AdamW", {}), ("Rprop", {}),
         ("Adamax", dict(maximize=True)), ("Yogi", {}), ("Lion", dict(weight_decay=0.1)),
         ("RMSprop", dict(centered=True, momentum=0.9)), ("RAdam", {}), ("SGD", dict(momentum=0.9, nesterov=True))]


@pytest.mark.skipif(CXX is None, reason="no C++ compiler to build the CUDA kernel's body on the CPU")
@pytest.mark.parametrize("name,kw", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf and nan on purpose
def test_the_cuda_kernel_body_computes_what_the_rule_computes(name, kw, dtype, tmp_path):
    import minigrad as mg
    n = 1000
    rng = np.random.default_rng(0)
    p = mg.nn.Parameter(rng.standard_normal(n).astype(dtype))
    opt = getattr(optim, name)([p], lr=1e-2, **kw)
    for step in range(7):  # into RAdam's rectified phase
        g = rng.standard_normal(n) * 10.0 ** rng.integers(-6, 6, n)
        g[:4] = [0.0, np.inf, -np.inf, np.nan]
        p.grad = g.astype(dtype)
        task = type(opt).task(p.data, p.grad, opt.state[p] if p in opt.state else
                         opt.state.setdefault(p, opt._init_state(p.data, opt.param_groups[0])),
                         opt.param_groups[0])
        h = task.h.cast(np.dtype(dtype))
        expected = [None if a is None else a.copy() for a in task.arrays]
        executor.apply_rule(task.rule, expected, h)
        t = executor.traced(task.rule, task.arrays, h)
        fn, arrays, scalars = compile_kernel(t, dtype, tmp_path / str(step))
        fn(n, *[task.arrays[k].ctypes.data for _, k in arrays],
           *[getattr(h, h_name) for _, h_name in scalars])
        for k, (got, want) in enumerate(zip(task.arrays, expected)):
            if want is not None:
                np.testing.assert_array_equal(got, want, err_msg=f"array {k} after step {step}")


def test_the_numpy_program_writes_in_place_and_refuses_a_swap():
    def adamish(theta, g, m, h):
        m = h.beta * m + (1 - h.beta) * g
        return dict(theta=theta - h.lr * m, m=m)
    source, n_work, n_mask = numpy_program.program_source(trace(adamish), np.float64)
    assert "m_1 = np.add(" in source and "out=m)" in source and "out=theta)" in source
    assert "copyto" not in source
    assert n_work == 2 and n_mask == 0

    def swap(theta, g, m, v, h):
        return dict(theta=theta, m=v, v=m)
    with pytest.raises(TypeError, match="cannot run in place"):
        numpy_program.program_source(trace(swap, 4), np.float64)


# ============================================================== names and labels

def _names(traced):
    return [sym.name for sym, _ in traced.lines]


def test_values_are_named_after_the_rules_variables_each_name_once():
    def rule(theta, g, m, h):
        m = h.beta * m + g                               # m ← β m + g
        m = m * m                                        # m ← m²
        i = theta - h.lr * m                             # a name the generated code uses
        return dict(theta=i, m=m)
    t = trace(rule)
    assert t.arrays == ["theta", "g", "m"] and t.scalar_names == ["lr", "beta"]
    assert _names(t) == ["m_tmp1", "m_1", "m_2", "i_tmp1", "i_1"]
    body = t.labelled(t.python_body())
    assert body[0] == "# m ← β m + g" and "# m ← m²" in body
    assert body[-3:] == ["# a name the generated code uses", "i_tmp1 = lr * m_2", "i_1 = theta - i_tmp1"]


def test_a_value_no_variable_held_is_named_for_the_array_it_is_written_to():
    # and labelled with its line's code, which has no comment
    t = trace(lambda theta, g, m, h: dict(theta=theta - h.lr * g))
    assert _names(t) == ["theta_tmp1", "theta_1"]
    assert t.labelled(t.python_body())[0] == "# t = trace(lambda theta, g, m, h: dict(theta=theta - h.lr * g))"


def test_a_scalar_named_as_an_array_is_read_as_h_dot_name():
    t = trace(lambda theta, g, m, h: dict(theta=theta - h.m * g), h=Scalars(m=0.5))
    assert t.scalar_names == ["h_m"] and "theta_tmp1 = h_m * g" in "\n".join(
        s for _, s in t.python_body())


def test_tracing_leaves_a_debuggers_tracer_in_place():
    import sys

    def tracer(frame, event, arg):
        return None
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        trace(lambda theta, g, m, h: dict(theta=theta - h.lr * g))
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(previous)
