"""Without PyTorch the run ends with one line saying how many parity tests were skipped and how
to run them (tests/conftest.py's pytest_terminal_summary), checked in a pytest subprocess where
`import torch` fails."""
import os
import pathlib
import subprocess
import sys

import pytest

TESTS = pathlib.Path(__file__).parent

TINY = '''
import sys
sys.modules["torch"] = None  # `import torch` now raises ImportError, as if not installed

import pytest
from conftest import torch_or_skip

@pytest.mark.parametrize("k", range(3))
def test_parity(k):
    torch_or_skip()

def test_signature():
    pytest.importorskip("torch", reason="PyTorch is not installed")

def test_plain_importorskip():
    pytest.importorskip("torch")

def test_other_skip():
    pytest.skip("no usable GPU")

def test_runs():
    assert sum([1, 1]) == 2  # a test that runs and passes
'''


def run_pytest(tmp_path, body):
    (tmp_path / "conftest.py").write_text((TESTS / "conftest.py").read_text())
    (tmp_path / "test_tiny.py").write_text(body)
    root = str(TESTS.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    return done.returncode, done.stdout


@pytest.mark.parametrize("body, expected", [
    (TINY, "5 PyTorch parity tests skipped because PyTorch is not installed; to run them: "
           "pip install torch"),
    ("def test_runs():\n    assert sum([1, 1]) == 2\n", None),  # nothing skipped: no line
])
def test_the_run_ends_saying_how_many_parity_tests_were_skipped(tmp_path, body, expected):
    rc, out = run_pytest(tmp_path, body)
    assert rc == 0, out
    if expected is None:
        assert "PyTorch parity tests skipped" not in out
    else:
        assert expected in out
        assert out.count("PyTorch parity tests skipped") == 1
