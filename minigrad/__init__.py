"""minigrad: a reverse-mode autograd engine over NumPy (CPU) and CuPy (GPU) arrays."""
from . import autograd, backend, nn, threads
from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .autograd import grad
from .backend import cuda_is_available, get_default_dtype, get_rng_state, manual_seed, set_default_dtype, set_rng_state
from .creation import cat, concatenate, ones, randn, stack, tensor, where, zeros
from .function import Function, enable_grad, is_grad_enabled, no_grad, sum_to
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .jit import compile
from .serialization import CheckpointError, load, save
from .sparse import RowSparseGrad
from .tensor import Tensor, increment_version
from .threads import get_num_threads, set_num_threads

__all__ = [
    "Tensor", "tensor", "zeros", "ones", "randn", "concatenate", "cat", "stack", "where",
    "no_grad", "enable_grad", "is_grad_enabled", "Function", "sum_to", "autograd", "grad",
    "gradcheck", "gradgradcheck", "GradcheckError", "manual_seed", "get_rng_state", "set_rng_state",
    "set_default_dtype", "get_default_dtype", "cuda_is_available", "backend", "nn",
    "RowSparseGrad", "save", "load", "CheckpointError",
    "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "AnomalyError",
    "increment_version",
    "threads", "set_num_threads", "get_num_threads", "compile",
]
__version__ = "0.1.0"
