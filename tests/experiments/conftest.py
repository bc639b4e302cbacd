"""The experiments' smoke runs, each run once per test session and shared by every test that
asks (`smoke("warmup")`), with the optimizer classes each one made."""
import os

import pytest

from models import experiments
from optim.optimizer import Optimizer


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """smoke(name) -> the result dict of `minigrad experiment NAME --quick` (run once), with
    result["made"]: the set of optimizer classes constructed during the run."""
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
