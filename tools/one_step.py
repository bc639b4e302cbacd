"""docs/one-step.md's code blocks, written from the source, and the lines one Adam step reads.

    python tools/one_step.py                 # rewrite the page's generated blocks in place
    python tools/one_step.py --count [DIR]   # the lines of optim/ one Adam step runs (DIR's optim)

The page marks each generated block with an HTML comment, and the block runs to the next
`<!-- end -->`:
- `<!-- source: optim.optimizer.Optimizer.step -->`: that function's source;
- `<!-- show: numpy -->`: `optim.show(optim.Adam, "numpy")` (any form);
- `<!-- count -->`: the table of lines that `--count` prints.
tests/optim/test_optim_show.py regenerates the page and fails if it differs (a stale page). The blocks
are fenced ```py (and ```c): listings of the library's source, not snippets to paste, which
tests/docs/test_snippets.py runs (it runs the ```python blocks).

The count: the lines (docstrings and comments included, as a reader reads them) of every
function in DIR/optim/ that runs during one `opt.step()` of Adam on one small CPU parameter, on
the NumPy path (MINIGRAD_JIT=0, no Numba), plus the generated program it runs: the first step
(which traces the rule and writes the program) and a later one (the plan cached). A tracer that
the step sets (labels.Recorder) runs unseen by the profiler: every method of its class counts.
"""
import argparse
import builtins
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "one-step.md"
MARK = re.compile(r"<!-- (source|show|count)(?:: ([\w.]+))? -->\n.*?<!-- end -->", re.S)


def regenerate(text):
    """The page with each marked block written anew."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return MARK.sub(lambda m: f"{m[0].split(chr(10))[0]}\n{_block(m[1], m[2])}\n<!-- end -->", text)


def _block(kind, what):
    if kind == "count":
        return _table(count(ROOT))
    if kind == "show":
        import optim
        language = "c" if what == "cuda" else "py"
        return f"```{language}\n{optim.show(optim.Adam, what, echo=False)}```"
    module, _, name = what.rpartition(".")
    obj = None
    while obj is None:
        try:
            obj = importlib.import_module(module)
        except ImportError:
            module, _, outer = module.rpartition(".")
            name = f"{outer}.{name}"
    for part in name.split("."):
        obj = getattr(obj, part)
    obj = inspect.unwrap(getattr(obj, "__func__", obj))
    path = Path(inspect.getsourcefile(obj)).resolve().relative_to(ROOT)
    return f"```py\n# {path}\n{textwrap.dedent(inspect.getsource(obj))}```"


def count(root):
    """{"first": {file: lines}, "later": {file: lines}} for root's optim (in a fresh process)."""
    out = subprocess.run([sys.executable, __file__, "--count-json", str(root)], check=True,
                         capture_output=True, text=True, env={**os.environ, "MINIGRAD_JIT": "0"},
                         cwd=root).stdout
    return json.loads(out)


def _count_here(root):
    """Run two Adam steps with a profiler that notes every function of root/optim/ called."""
    sys.path.insert(0, str(root))
    import numpy as np

    import optim
    from minigrad.tensor import Tensor
    optim_dir = str(Path(optim.__file__).resolve().parent) + os.sep
    p = Tensor(np.ones(1000, np.float32))
    opt = optim.Adam([p], lr=1e-3)
    programs, compile_, settrace = [], builtins.compile, sys.settrace

    def recording_compile(source, filename, *args, **kw):
        if isinstance(source, str) and filename.startswith("<optim"):
            programs.append(source)
        return compile_(source, filename, *args, **kw)

    counts = {}
    for step in ("first", "later"):
        seen = set()

        def profile(frame, event, arg, seen=seen):
            if event == "call" and frame.f_code.co_filename.startswith(optim_dir) \
                    and not frame.f_code.co_name.startswith("<"):
                seen.add(frame.f_code)
        def recording_settrace(tracer, seen=seen):
            # a tracer (labels.Recorder's) runs unprofiled: count its class's every method
            owner = getattr(tracer, "__self__", None)
            for fn in vars(type(owner)).values() if owner is not None else [tracer]:
                code = getattr(fn, "__code__", None)
                if code is not None and code.co_filename.startswith(optim_dir):
                    seen.add(code)
            settrace(tracer)
        p.grad = np.ones(1000, np.float32)
        builtins.compile, sys.settrace = recording_compile, recording_settrace
        sys.setprofile(profile)
        try:
            opt.step()
        finally:
            sys.setprofile(None)
            builtins.compile, sys.settrace = compile_, settrace
        files = {}
        for code in seen:
            name = os.path.relpath(code.co_filename, root)
            files[name] = files.get(name, 0) + len(inspect.getsourcelines(code)[0])
        # the generated program a step runs, as a reader sees it (optim.show prints it)
        files["(the generated NumPy program)"] = len(programs[0].splitlines())
        counts[step] = files
    return counts


def _table(counts):
    rows = ["| lines | the first step | a later step |", "| --- | ---: | ---: |"]
    for name in sorted(set(counts["first"]) | set(counts["later"]),
                       key=lambda n: (-counts["first"].get(n, 0), n)):
        rows.append(f"| `{name}` | {counts['first'].get(name, 0)} | {counts['later'].get(name, 0)} |")
    files = [sum(name.endswith(".py") for name in counts[step]) for step in ("first", "later")]
    rows.append(f"| all: {files[0]} and {files[1]} files, and the program | "
                f"{sum(counts['first'].values())} | {sum(counts['later'].values())} |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", nargs="?", const=str(ROOT), metavar="DIR",
                    help="print the lines one Adam step reads in DIR's optim (default: this checkout)")
    ap.add_argument("--count-json", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.count_json:
        print(json.dumps(_count_here(Path(args.count_json).resolve())))
    elif args.count:
        print(_table(count(Path(args.count).resolve())))
    else:
        text = PAGE.read_text(encoding="utf-8")
        new = regenerate(text)
        PAGE.write_text(new, encoding="utf-8")
        print(f"{PAGE.relative_to(ROOT)}: {'rewritten' if new != text else 'up to date'}")


if __name__ == "__main__":
    main()
