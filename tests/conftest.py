import pytest

import minigrad as mg
from minigrad import backend

_GPU_REASON = backend.gpu_unavailable_reason()

# Device-parametrized tests take the `device` fixture: the cuda case skips, saying why, when no
# usable GPU is present. Nothing is copied to run on the GPU.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    _GPU_REASON is not None, reason=f"no usable GPU: {_GPU_REASON}"))]


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture(autouse=True)
def _seed_and_dtype():
    mg.manual_seed(0)
    before = mg.get_default_dtype()
    yield
    mg.set_default_dtype(before)


def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch is not installed; parity tests skipped")


def to_np(a):
    return backend.to_numpy(a)
