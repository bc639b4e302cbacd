import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend

# the helpers shared by test files hold plain asserts: rewrite them as in a test file, so that a
# failure shows the values
pytest.register_assert_rewrite("fuzzing")

# the repository (tests/..), for the test files in any folder below this one: the code run in
# subprocesses, the README and docs read
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def cli(*args, check=True):
    """`python -m models ARGS` in a subprocess from the repository; raises, showing its output,
    when it fails and `check`."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-m", "models", *args], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def assert_same_checkpoint(a, b):
    """Two `minigrad train` checkpoints hold the same step, history, model and optimizer state."""
    assert a["step"] == b["step"]
    for k in a["history"]:
        np.testing.assert_array_equal(a["history"][k], b["history"][k])
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k], b["model"][k])
    for i, s in a["optimizer"]["state"].items():
        for k, v in s.items():
            np.testing.assert_array_equal(v, b["optimizer"]["state"][i][k])


_GPU_REASON = backend.gpu_unavailable_reason()

# Device-parametrized tests take the `device` fixture: the cuda case skips, saying why, when no
# usable GPU is present. Nothing is copied to run on the GPU.
requires_gpu = pytest.mark.skipif(_GPU_REASON is not None, reason=f"no usable GPU: {_GPU_REASON}")
DEVICES = ["cpu", pytest.param("cuda", marks=requires_gpu)]


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture(autouse=True)
def _seed_and_dtype():
    mg.manual_seed(0)
    before = mg.get_default_dtype()
    yield
    mg.set_default_dtype(before)


TORCH_MISSING = "PyTorch is not installed"


def torch_or_skip():
    return pytest.importorskip("torch", reason=f"{TORCH_MISSING}; parity tests skipped")


def pytest_terminal_summary(terminalreporter):
    """Say in one line how many PyTorch parity tests were skipped, and how to run them: a
    newcomer without torch otherwise sees only a count of skips."""
    skipped = terminalreporter.stats.get("skipped", [])
    n = sum(1 for report in skipped  # ours, or importorskip("torch")'s own wording
            if TORCH_MISSING in str(report.longrepr) or "import 'torch'" in str(report.longrepr))
    if n:
        terminalreporter.write_line(
            f"{n} PyTorch parity tests skipped because PyTorch is not installed; to run them: "
            "pip install torch (the CPU build is enough), then run pytest again", yellow=True)


def to_np(a):
    return backend.to_numpy(a)


# The experiments' smoke runs, each run once per test session and shared by every test that asks
# (`smoke("warmup")`), with the optimizer classes each one made. Here, not in tests/experiments/:
# a second conftest.py would shadow this one for the test files that `import conftest`.
@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """smoke(name) -> the result dict of `minigrad experiment NAME --quick` (run once), with
    result["made"]: the set of optimizer classes constructed during the run."""
    from models import experiments
    from optim.optimizer import Optimizer
    done = {}

    def run(name):
        if name not in done:
            out = str(tmp_path_factory.mktemp(name))
            made, real = set(), Optimizer.__init__

            def spy(self, *args, **kwargs):
                made.add(type(self))
                return real(self, *args, **kwargs)

            Optimizer.__init__ = spy  # the test's own spy, put back below
            try:
                result = experiments.run(name, quick=True, out=out)
            finally:
                Optimizer.__init__ = real
            result["made"] = made
            assert os.path.dirname(result["txt"]) == out
            done[name] = result
        return done[name]

    return run
