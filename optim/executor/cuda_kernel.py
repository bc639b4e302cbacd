"""The GPU form: a rule traced into one CuPy ElementwiseKernel (see trace.py).

The kernel reads every array element once and writes each updated one once: θ and the state
arrays are the kernel's outputs, bound to the arrays themselves, so the step is in place. It is
compiled with --fmad=false, so no multiply-add is fused and it computes what the NumPy form of
the rule computes, in the same order and precision (CUDA's sqrt and / are correctly rounded).
Its values are named and its lines labelled as the rule's; the labels are spelled in ASCII
(θ as theta), as CuPy may write a kernel's source where only ASCII is accepted.
"""
from minigrad import backend

_kernels = {}  # (Traced, dtype) -> (cupy.ElementwiseKernel, its parameters)


def parameters(traced):
    """The kernel's parameters, in order: (name, where its argument comes from), with where
    ("in", k) for array k read only, ("scalar", name of h's number), ("out", k) for array k
    read and written. An array's parameter is its element i: theta_i, g_i, ..."""
    reads = [(f"{name}_i", ("in", k)) for k, name in enumerate(traced.arrays)
             if name and traced.outputs[k] is None]
    scalars = [(spelled, ("scalar", name)) for name, spelled in zip(traced.scalars, traced.scalar_names)]
    writes = [(f"{traced.arrays[k]}_i", ("out", k)) for k, out in enumerate(traced.outputs)
              if out is not None]
    return reads + scalars + writes


def kernel_source(traced):
    """(in_params, out_params, operation) of the elementwise kernel for this traced rule."""
    params = parameters(traced)
    ins = [f"T {name}" for name, (kind, _) in params if kind != "out"]
    outs = [f"T {name}" for name, (kind, _) in params if kind == "out"]
    body = [("element i of each array", f"T {name} = {name}_i;") for name in traced.arrays if name]
    body += traced.c_body()
    for k, out in enumerate(traced.outputs):
        if out is not None:
            value = out.name if hasattr(out, "name") else f"(T){float(out)!r}"
            body.append(("the new values, into their arrays", f"{traced.arrays[k]}_i = {value};"))
    return ", ".join(ins), ", ".join(outs), "\n".join(traced.labelled(body, "//", ascii_only=True))


def listing(traced, dtype):
    """The kernel as `optim.show(..., form="cuda")` prints it: what CuPy is given, as C."""
    in_params, out_params, body = kernel_source(traced)
    ctype = {"float32": "float", "float64": "double", "float16": "half"}.get(dtype.name, dtype.name)
    head = traced.header("one CUDA elementwise kernel")
    return "\n".join([f"// {line}" for line in head] + [
        "// cupy.ElementwiseKernel(in_params, out_params, operation, options=('--fmad=false',)),",
        f"// run for each element i; T is {ctype}",
        f"// in_params:  {in_params}",
        f"// out_params: {out_params}  (the arrays themselves: the step is in place)",
        "// operation:", body]) + "\n"


def run(traced, arrays, h):
    """One step of the traced rule on CuPy arrays, in place."""
    cp = backend._import_cupy()
    dtype = arrays[0].dtype
    key = (traced, dtype.str)
    if key not in _kernels:
        in_params, out_params, body = kernel_source(traced)
        _kernels[key] = (cp.ElementwiseKernel(in_params, out_params, body, "optim_rule",
                                              options=("--fmad=false",)), parameters(traced))
    kernel, params = _kernels[key]
    kernel(*[getattr(h, which) if kind == "scalar" else arrays[which] for _, (kind, which) in params])
