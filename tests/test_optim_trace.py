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
    (lambda theta, g, m, h: (theta - h.lr * g if g > 0 else theta, m), "branch only on the flags"),
    (lambda theta, g, m, h: (theta - h.lr * g if h.lr else theta, m), "branch only on the flags"),
    (lambda theta, g, m, h: (theta - np.tanh(g), m), "cannot use 'tanh'"),
    (lambda theta, g, m, h: (theta - g ** 3, m), "power 3"),
    (lambda theta, g, m, h: theta - g, "returned 1 values"),
    (lambda theta, g, m, h: (theta, m, m), "returned 3 values"),
    (lambda theta, g, m, h: (theta - h.missing, m), "no 'missing'"),
])
def test_a_rule_the_executors_cannot_run_is_refused_by_name(rule, message):
    with pytest.raises((TypeError, AttributeError), match=message):
        trace(rule)


def test_flags_choose_the_lines_and_numbers_become_kernel_arguments():
    def rule(theta, g, m, h):
        if h.flag:
            m = h.beta * m + (1 - h.beta) * g
        return theta - h.lr * m, m
    on, off = trace(rule), trace(rule, h=Scalars(lr=0.1, beta=0.9, flag=False))
    assert on.scalars == off.scalars == ["lr", "beta"]
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
    in_params, out_params, body = cuda_kernel.kernel_source(traced)
    params = [p.split()[1] for p in filter(None, (in_params + ", " + out_params).split(", "))]
    arrays = [p for p in params if p.startswith("x")]
    scalars = [p for p in params if p.startswith("s_")]
    written = {p.split()[1] for p in out_params.split(", ") if p}
    ctype = {"float32": "float", "float64": "double"}[np.dtype(dtype).name]
    src = "\n".join([
        "#include <cmath>", "using std::sqrt; using std::exp; using std::log; using std::fabs;",
        "using std::isnan;", f"typedef {ctype} T;",
        "extern \"C\" void run(long n, " + ", ".join(
            [f"T* {a}_" for a in arrays] + [f"T {s}" for s in scalars]) + ") {",
        "  for (long i = 0; i < n; ++i) {",
        *[f"    {'T&' if a in written else 'const T'} {a} = {a}_[i];" for a in arrays],
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
        task = opt._task(p.data, p.grad, opt.state[p] if p in opt.state else
                         opt.state.setdefault(p, opt._init_state(p.data, opt.param_groups[0])),
                         opt.param_groups[0])
        h = task.h.cast(np.dtype(dtype))
        expected = [None if a is None else a.copy() for a in task.arrays]
        executor.apply_rule(task.rule, expected, h)
        t = executor.traced(task.rule, task.arrays, h)
        fn, arrays, scalars = compile_kernel(t, dtype, tmp_path / str(step))
        fn(n, *[task.arrays[int(a[1:])].ctypes.data for a in arrays],
           *[getattr(h, s[2:]) for s in scalars])
        for k, (got, want) in enumerate(zip(task.arrays, expected)):
            if want is not None:
                np.testing.assert_array_equal(got, want, err_msg=f"array {k} after step {step}")


def test_the_numpy_program_writes_in_place_and_refuses_a_swap():
    def adamish(theta, g, m, h):
        m = h.beta * m + (1 - h.beta) * g
        return theta - h.lr * m, m
    source, n_work, n_mask = numpy_program.program_source(trace(adamish), np.float64)
    assert "out=x2" in source and "out=x0" in source and "copyto" not in source
    assert n_work == 2 and n_mask == 0

    def swap(theta, g, m, v, h):
        return theta, v, m
    with pytest.raises(TypeError, match="cannot run in place"):
        numpy_program.program_source(trace(swap, 4), np.float64)
