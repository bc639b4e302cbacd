"""The GPU form: a rule traced into one CuPy ElementwiseKernel (see trace.py).

The kernel reads every array element once and writes each updated one once: θ and the state
arrays are the kernel's outputs, bound to the arrays themselves, so the step is in place. It is
compiled with --fmad=false, so no multiply-add is fused and it computes what the NumPy form of
the rule computes, in the same order and precision (CUDA's sqrt and / are correctly rounded).
"""
from minigrad import backend

_kernels = {}  # (Traced, dtype) -> cupy.ElementwiseKernel


def kernel_source(traced):
    """(in_params, out_params, operation) of the elementwise kernel for this traced rule."""
    reads = [f"T x{name[1:]}" for k, name in enumerate(traced.arrays)
             if name and traced.outputs[k] is None]
    scalars = [f"T s_{name}" for name in traced.scalars]
    writes = [f"T x{k}" for k, out in enumerate(traced.outputs) if out is not None]
    body = [f"T {name} = x{name[1:]};" for name in traced.arrays if name]
    body += traced.c_body()
    for k, out in enumerate(traced.outputs):
        if out is not None:
            body.append(f"x{k} = {out.name if hasattr(out, 'name') else f'(T){float(out)!r}'};")
    return ", ".join(reads + scalars), ", ".join(writes), "\n".join(body)


def run(traced, arrays, h):
    """One step of the traced rule on CuPy arrays, in place."""
    cp = backend._import_cupy()
    dtype = arrays[0].dtype
    key = (traced, dtype.str)
    if key not in _kernels:
        in_params, out_params, body = kernel_source(traced)
        _kernels[key] = cp.ElementwiseKernel(in_params, out_params, body, "optim_rule",
                                             options=("--fmad=false",))
    ins = [arrays[k] for k, name in enumerate(traced.arrays) if name and traced.outputs[k] is None]
    outs = [arrays[k] for k, out in enumerate(traced.outputs) if out is not None]
    scalars = [getattr(h, name) for name in traced.scalars]
    _kernels[key](*ins, *scalars, *outs)
