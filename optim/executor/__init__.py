"""The machinery that runs an optimizer's rule: one rule, written once, run several ways.

    trace.py          the rule run once on symbols: its operations, in order
    labels.py         each traced value named after the rule's variable, each line labelled
    plan.py           plan and dispatch: each task's plan (cached), its chunks, run()
    loop.py           the compiled loop (Numba, the `fast` extra)
    numpy_program.py  the NumPy program: in-place ufunc calls on cache-sized chunks
    cuda_kernel.py    one CUDA kernel (CuPy)
    pool.py           the worker threads that share a large step, and their batches of chunks
    listing.py        optim.show: the code each form runs, named and labelled as the rule

The public face: `run(tasks)`, `Task`, `apply_rule` (the rule on whole arrays, fused=False),
`set_jit`, `jit_available`, `jit_unavailable_reason`, `set_overlap`, `traced`.
"""
from .loop import jit_available, jit_unavailable_reason, set_jit
from .plan import Task, apply_rule, run, set_overlap
from .trace import traced

__all__ = ["run", "Task", "apply_rule", "set_jit", "jit_available", "jit_unavailable_reason",
           "set_overlap", "traced"]
