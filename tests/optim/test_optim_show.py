"""optim.show (optim/executor/listing.py): the code each form of a rule runs, its values named
after the rule's variables and each line under the rule line it came from; what it prints is
what runs. And docs/one-step.md, whose code blocks it writes, is not stale."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import optim
from optim import executor
from optim.executor import cuda_kernel, loop, numpy_program, plan

import conftest

ROOT = Path(conftest.ROOT)
GENERATED = ["numpy", "numba", "cuda"]
# Adam's rule lines, as each form labels them (CUDA's labels are ASCII)
LABELS = {"numpy": ["# m ← β1 m + (1-β1) g", "# v̂ = v / (1-β2^t)", "# θ ← θ - lr m̂ / (sqrt(v̂) + ε)"],
          "numba": ["# m ← β1 m + (1-β1) g", "# v̂ = v / (1-β2^t)", "# θ ← θ - lr m̂ / (sqrt(v̂) + ε)"],
          "cuda": ["// m <- beta1 m + (1-beta1) g", "// v_hat = v / (1-beta2^t)",
                   "// theta <- theta - lr m_hat / (sqrt(v_hat) + eps)"]}


def show(*args, **kw):
    return optim.show(*args, echo=False, **kw)


@pytest.mark.parametrize("form", GENERATED)
def test_each_form_is_named_and_labelled_as_the_rule(form):
    text = show(optim.Adam, form)
    for label in LABELS[form]:
        assert label in text
    for name in ["theta", "m_1", "v_1", "m_hat", "v_hat", "theta_1", "beta1", "bias_correction2"]:
        assert re.search(rf"\b{name}\b", text), name
    assert not re.search(r"\b(t\d+|s_\w+|a\d|x\d)\b", text)  # the old t7, s_lr, a0, x0 names


@pytest.mark.parametrize("form", GENERATED)
def test_every_generated_statement_sits_under_a_label(form):
    text = show(optim.Adam, form, weight_decay=0.1, maximize=True)
    comment = "//" if form == "cuda" else "#"
    body = text.split("operation:\n")[1] if form == "cuda" else text.split("):\n", 1)[1]
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    if form == "numba":
        lines = lines[1:]  # the for statement
    assert lines[0].startswith(comment)
    assert f"{comment} g ← -g" in text or f"{comment} g <- -g" in text
    assert "g_1" in text and "g_2" in text  # g is bound twice: by maximize, then by L2 decay


@pytest.mark.parametrize("form", GENERATED)
def test_flags_choose_the_lines_shown(form):
    plain, amsgrad = show(optim.Adam, form), show(optim.Adam, form, amsgrad=True)
    assert "v_max" not in plain and "v_max_1" in amsgrad
    assert "flags: amsgrad=True" in amsgrad and "flags: amsgrad=False" in plain


def test_the_reference_is_the_rule_and_what_it_calls():
    text = show(optim.Adam)
    assert "def rule(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray," in text
    assert "def weight_decay(theta: Array, g: Array, h: Scalars)" in text  # optim/common.py, which it calls
    assert "optim/adam.py" in text and "apply_rule" in text


def test_an_optimizer_shows_its_next_step_and_changes_nothing():
    p = mg.nn.Parameter(np.ones(3, np.float64))
    opt = optim.Adam([p], lr=0.1, amsgrad=True)
    p.grad = np.ones(3)
    opt.step()
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in opt.state[p].items()}
    text = show(opt, "numpy")
    assert text == show(optim.Adam, "numpy", dtype=np.float64, lr=0.1, amsgrad=True)
    assert all(np.array_equal(opt.state[p][k], v) for k, v in before.items())


def test_a_form_that_is_not_one_or_a_rule_that_is_not_elementwise_is_refused():
    with pytest.raises(ValueError, match="form must be one of"):
        show(optim.Adam, "c++")
    assert "its update" in show(optim.Adafactor)
    with pytest.raises(ValueError, match="no elementwise rule"):
        show(optim.Adafactor, "numpy")
    with pytest.raises(ValueError, match="float32 and float64 only"):
        show(optim.Adam, "numba", dtype=np.float16)


def test_show_prints_what_it_returns(capsys):
    text = optim.show(optim.SGD, "numpy", lr=0.1, momentum=0.9, step=2)
    assert capsys.readouterr().out == text
    assert "# b ← μ b + (1 - τ) g" in text  # the second step: the buffer exists


# ============================================================== what is printed is what runs

def _adam_step(dtype=np.float32):
    p = mg.nn.Parameter(np.ones(10, dtype))
    p.grad = np.ones(10, dtype)
    optim.Adam([p], lr=0.1).step()


def test_the_numpy_program_shown_is_the_one_compiled(monkeypatch):
    compiled, build = [], numpy_program.build

    def recording(traced, dtype):
        compiled.append(numpy_program.program_source(traced, dtype)[0])
        return build(traced, dtype)
    monkeypatch.setattr(numpy_program, "build", recording)
    monkeypatch.setattr(numpy_program, "_programs", {})
    monkeypatch.setattr(plan, "_plans", {})
    monkeypatch.setitem(loop._jit, "enabled", False)
    _adam_step()
    assert compiled == [show(optim.Adam, "numpy")]


@pytest.mark.skipif(not executor.jit_available(), reason="compiled loops unavailable")
def test_the_numba_loop_shown_is_the_one_compiled(monkeypatch):
    compiled, compile_ = [], loop._compile

    def recording(source, cached):
        compiled.append(source)
        return compile_(source, cached)
    monkeypatch.setattr(loop, "_compile", recording)
    monkeypatch.setattr(loop, "_compiled", {})
    monkeypatch.setattr(plan, "_plans", {})
    _adam_step()
    assert compiled == [show(optim.Adam, "numba")]


def test_the_cuda_kernel_shown_is_the_one_cupy_is_given(monkeypatch):
    given = []

    class FakeCuPy:  # records the kernel instead of compiling it: no GPU needed
        @staticmethod
        def ElementwiseKernel(in_params, out_params, body, name, options):
            given.append((in_params, out_params, body, options))
            return lambda *args: given.append(len(args))
    monkeypatch.setattr(mg.backend, "_import_cupy", lambda: FakeCuPy)
    monkeypatch.setattr(cuda_kernel, "_kernels", {})
    p, g = np.ones(4, np.float32), np.ones(4, np.float32)
    group = optim.Adam([mg.nn.Parameter(p)]).param_groups[0]
    task = optim.Adam.task(p, g, optim.Adam.start_state(p, group), group)
    cuda_kernel.run(executor.traced(task.rule, task.arrays, task.h), task.arrays, task.h)
    (in_params, out_params, body, options), n_args = given
    text = show(optim.Adam, "cuda")
    assert body in text and f"in_params:  {in_params}\n" in text and f"out_params: {out_params} " in text
    assert body.isascii() and options == ("--fmad=false",)
    assert n_args == len(in_params.split(",")) + len(out_params.split(","))


def test_show_needs_neither_numba_nor_cupy():
    code = ("import sys; sys.modules['numba'] = None; sys.modules['cupy'] = None\n"
            "import optim\n"
            "for form in ('reference', 'numpy', 'numba', 'cuda'): optim.show(optim.Adam, form)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    assert "def loop(" in out and "T theta_1 = theta - theta_tmp4;" in out


# ============================================================== the page that shows them

def test_the_one_step_page_is_not_stale():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import one_step
    finally:
        sys.path.remove(str(ROOT / "tools"))
    page = ROOT / "docs" / "one-step.md"
    assert one_step.regenerate(page.read_text(encoding="utf-8")) == page.read_text(encoding="utf-8"), \
        "docs/one-step.md is stale: run python tools/one_step.py"


def test_tracing_works_when_the_package_is_found_through_a_path_with_dots(tmp_path):
    """The tracer tells the rule's frames from its own by module, not by file name: imported
    through sys.path entry "<root>/tests/..", every file name has ".." in it (the MPI checks
    run so), and the step must trace as from anywhere else."""
    import os
    import subprocess
    import sys

    from conftest import ROOT
    code = (f"import sys; sys.path.insert(0, {os.path.join(ROOT, 'tests', '..')!r})\n"
            "import numpy as np, minigrad as mg, optim\n"
            "p = mg.nn.Parameter(np.ones(5)); p.grad = np.ones(5)\n"
            "optim.Adam([p], lr=0.5).step(); print(optim.executor.trace.__file__, p.data[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert ".." in out.stdout and abs(float(out.stdout.split()[-1]) - 0.5) < 1e-6


@pytest.mark.parametrize("name", [n for n in optim.__all__ if isinstance(getattr(optim, n), type)
                                  and issubclass(getattr(optim, n), optim.Optimizer)
                                  and n not in ("Optimizer", "ZeroRedundancyOptimizer")])
def test_every_optimizer_shows_its_reference_code_at_a_later_step(name):
    """Muon takes only matrices, SparseAdam only sparse gradients, schedule-free steps in train
    mode: show makes a parameter and gradients each accepts."""
    text = show(getattr(optim, name), step=3)
    assert text.startswith("# ") and "def " in text


@pytest.mark.parametrize("args, kw, error, message", [
    (("adam",), {}, TypeError, "takes an optimizer class .* got str"),
    ((None,), {}, TypeError, "got NoneType"),
    ((optim.Adam, "numpy"), {"step": 0}, ValueError, "step must be an integer >= 1"),
    ((optim.Adam, "numpy"), {"step": 2.5}, ValueError, "step must be an integer >= 1"),
    ((optim.Adam, "assembly"), {}, ValueError, "form must be one of"),
    ((optim.LAMB, "numpy"), {}, ValueError, "LAMB has no elementwise rule"),
])
def test_show_refuses_what_it_cannot_show_by_name(args, kw, error, message):
    with pytest.raises(error, match=message):
        show(*args, **kw)
