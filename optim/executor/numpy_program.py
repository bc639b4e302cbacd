"""The NumPy program (the CPU form without Numba): a rule traced into NumPy ufunc calls that
write in place.

Called on its own, a rule allocates a new array for every operation. Traced (trace.py),
the same operations become `np.multiply(a, b, out=w0)`-style calls into a few work arrays,
reused as soon as a value is no longer needed, and a result goes straight into its state array
once the old value has been read for the last time. Run on chunks of 128K elements, the work
arrays stay in cache. Operations on scalars alone (1 - β1, the bias corrections) run once per
call, not per element. Same ufuncs, same order, same precision: the rule's results, bit for bit.
"""
import threading

import numpy as np

from .trace import FUNCTIONS, Sym, traced

CHUNK = 1 << 17           # elements per NumPy chunk: work arrays of 512 KB (float32), kept per thread
                          # (not smaller: each ufunc call takes the GIL to start; see docs/benchmarks.md)

_programs = {}            # (Traced, dtype) -> (program, work arrays, bool work arrays, scalar names)
_local = threading.local()

_UFUNCS = {"+": "np.add", "-": "np.subtract", "*": "np.multiply", "/": "np.divide",
           ">": "np.greater", "<": "np.less", ">=": "np.greater_equal", "<=": "np.less_equal",
           np.sqrt: "np.sqrt", np.exp: "np.exp", np.log: "np.log", np.absolute: "np.absolute",
           np.negative: "np.negative", np.sign: "np.sign", np.maximum: "np.maximum",
           np.minimum: "np.minimum"}


def products_by_a_number(lines, array_valued, results, last):
    """The products s * A that may be skipped: s a number of this call, A an array that is not
    itself a result. When s is exactly 1 (SGD's dampening 1 - τ with τ = 0, an lr of 1), the
    product is A itself, as x * 1 is x in every bit (signed zeros, infinities and NaN included),
    and the program tests for it each call instead of multiplying. A must then be kept (not
    written over) while the product is read: its last read moves to the product's.

    Returns ({product's name: A's name}, the last reads so extended). Walked backwards, so that
    chains of products extend too."""
    scaled, last = {}, dict(last)
    for i in reversed(range(len(lines))):
        sym, (op, *args) = lines[i]
        if op == "*" and sym.name in array_valued and sym.name not in results and all(
                isinstance(a, Sym) for a in args):
            arrays_in = [a for a in args if a.name in array_valued]
            if len(arrays_in) == 1:
                scaled[sym.name] = arrays_in[0].name
                last[arrays_in[0].name] = max(last[arrays_in[0].name], last.get(sym.name, i))
    return scaled, last


class _Slots:
    """The program's work arrays: w0, w1, ... (the arrays' dtype) and mask0, ... (bool), each
    taken when a value is made into it and given back when that value is read for the last
    time, so that a few of them hold every value."""

    def __init__(self):
        self.free, self.count, self.kind = {"w": [], "mask": []}, {"w": 0, "mask": 0}, {}

    def take(self, kind):
        if self.free[kind]:
            return self.free[kind].pop()
        name = f"{kind}{self.count[kind]}"
        self.count[kind] += 1
        self.kind[name] = kind
        return name

    def give_back(self, name):
        kind = self.kind.get(name)  # None: an argument's array, not a work array
        if kind is not None and name not in self.free[kind]:
            self.free[kind].append(name)


def program_source(traced, dtype):
    """(source of `def program(<arrays>, <numbers>, w0.., mask0..)`, number of work arrays w,
    of bool ones mask). The arrays are named as the rule's arguments (theta, g, m, ...), every
    value as the rule's variable that held it, and each run of lines is labelled with the rule
    line it came from (`optim.show(..., form="numpy")` prints it)."""
    lines, end = traced.lines, len(traced.lines)
    inputs = {name: k for k, name in enumerate(traced.arrays) if name}  # an argument -> its index
    array_valued = set(inputs)
    for sym, (_op, *args) in lines:
        if any(isinstance(a, Sym) and a.name in array_valued for a in args):
            array_valued.add(sym.name)
    last = {}  # name -> index of the last line reading it (end: read when writing results)
    for i, (_sym, (_op, *args)) in enumerate(lines):
        for a in args:
            if isinstance(a, Sym):
                last[a.name] = i
    first_target = {}  # a result's name -> the first array it is written to
    for k, out in enumerate(traced.outputs):
        if isinstance(out, Sym):
            last[out.name] = end
            first_target.setdefault(out.name, k)
    read_until = dict(last)
    scaled, last = products_by_a_number(lines, array_valued, first_target, last)
    place = dict(zip(inputs, inputs))  # an array value's name -> the array that holds it
    slots, body, written, reserved = _Slots(), [], set(), {}

    def release(args, i):
        for a in args:
            if isinstance(a, Sym) and last.get(a.name) == i:
                slots.give_back(reserved.get(a.name, place.get(a.name)))

    for i, (sym, (op, *args)) in enumerate(lines):
        names = [_operand(a) for a in args]
        if sym.name not in array_valued:  # numbers only: once per call
            spelled = f"{names[0]} {op} {names[1]}" if isinstance(op, str) else \
                FUNCTIONS[op][1].format(*names)
            body.append((sym, f"{sym.name} = {spelled}"))
            continue
        k, kind = first_target.get(sym.name), "mask" if sym.is_bool else "w"
        if op is not np.where:
            release(args, i)  # an elementwise ufunc may write over its own operand
        if sym.name in scaled:
            statement, place[sym.name] = product_by_a_number(
                sym, args, scaled[sym.name], place, in_place=read_until[scaled[sym.name]] == i,
                slots=slots, reserved=reserved)
            body.append((sym, statement))
            continue
        if k is not None and last.get(traced.arrays[k], -1) <= i and op is not np.where:
            dest = traced.arrays[k]  # the old value was read for the last time: write the new one there
            written.add(k)
        else:
            dest = slots.take(kind)
        if op is np.where:  # where(c, a, b): b, then a where c
            body += [(sym, f"{sym.name} = {dest}"), (sym, f"np.copyto({sym.name}, {names[2]})"),
                     (sym, f"np.copyto({sym.name}, {names[1]}, where={names[0]})")]
            release(args, i)
        else:
            body.append((sym, f"{sym.name} = {_UFUNCS[op]}({', '.join(names)}, out={dest})"))
        place[sym.name] = dest
    copies = [(k, out) for k, out in enumerate(traced.outputs) if out is not None and k not in written]
    # results that are old input values are copied first, before any array is overwritten
    copies.sort(key=lambda c: not (isinstance(c[1], Sym) and c[1].name in inputs))
    moved = {k for k, out in copies if isinstance(out, Sym) and out.name in inputs}
    for k, out in copies:
        if isinstance(out, Sym) and out.name in inputs and inputs[out.name] in moved:
            raise TypeError("a rule that moves one state array's old value into another, itself "
                            "given an old value, cannot run in place")
        body.append(("the new values, into their arrays", f"np.copyto({traced.arrays[k]}, {_operand(out)})"))
    params = list(inputs) + traced.scalar_names + [f"w{j}" for j in range(slots.count["w"])] + \
        [f"mask{j}" for j in range(slots.count["mask"])]
    header = [f"# {line}" for line in traced.header(
        "a NumPy program, run on chunks of the arrays")]
    source = "\n".join(header + ["import numpy as np", f"T = np.{np.dtype(dtype).name}", "",
                                 f"def program({', '.join(params)}):"] +
                        [f"    {s}" for s in traced.labelled(body) or ["pass"]])
    return source + "\n", slots.count["w"], slots.count["mask"]


def product_by_a_number(sym, args, array, place, in_place, slots, reserved):
    """The statement for s * A, one of products_by_a_number's: A itself when s is 1, else the
    product into A's own work array (in_place: A is read here for the last time) or into a
    work array of its own, kept until the product's last read. Returns (statement, where the
    product is)."""
    s_name = next(_operand(a) for a in args if a.name != array)
    names = ", ".join(_operand(a) for a in args)
    if in_place and slots.kind.get(place[array]) == "w":
        where = place[array]
        return f"{sym.name} = {array} if {s_name} == 1 else np.multiply({names}, out={where})", where
    reserved[sym.name] = dest = slots.take("w")
    return f"{sym.name} = {array} if {s_name} == 1 else np.multiply({names}, out={dest})", None


def _operand(a):
    return a.name if isinstance(a, Sym) else f"T({float(a)!r})"


def build(traced, dtype):
    """(program function, number of work arrays, number of bool work arrays)."""
    source, n_work, n_mask = program_source(traced, dtype)
    namespace = {}
    exec(compile(source, "<optim numpy program>", "exec"), namespace)
    return namespace["program"], n_work, n_mask


def program(rule, arrays, h):
    """(program, number of work arrays, of bool ones, its scalars' names) for these present
    arrays, flags and dtype (cached)."""
    t, dtype = traced(rule, arrays, h), arrays[0].dtype
    if (t, dtype) not in _programs:
        _programs[t, dtype] = (*build(t, dtype), t.scalars)
    return _programs[t, dtype]


def chunk_job(program, views, numbers):
    """One chunk: the program on these views of the arrays, with this thread's work arrays."""
    fn, n_work, n_mask, _ = program
    n, dtype = views[0].size, views[0].dtype
    fn(*views, *numbers, *[_work(dtype, n, j) for j in range(n_work)],
       *[_work(np.dtype(bool), n, j) for j in range(n_mask)])


def _work(dtype, n, slot):
    """This thread's work array number `slot` of dtype, n elements (kept for the thread's life)."""
    arrays = getattr(_local, "work", None)
    if arrays is None:
        arrays = _local.work = {}
    a = arrays.get((dtype, slot))
    if a is None or a.size < n:
        a = arrays[(dtype, slot)] = np.empty(max(n, CHUNK), dtype=dtype)
    return a[:n]
