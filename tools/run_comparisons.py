"""Run the `minigrad compare` commands that docs/comparisons.md shows, and keep what they print.

    python tools/run_comparisons.py [NAME ...] [--out docs/comparisons] [--steps N]

COMPARISONS below is the page's list: each entry is one `minigrad compare ...` command, run as a
reader runs it, in a process of its own, with --quiet (no progress bar) and --out a scratch
directory. What it printed is saved as NAME.txt (the scratch paths of its figures written as
<saved>), its figures as NAME.png (and NAME-<what>.png for the others, such as the Rosenbrock
trajectories; `shown` names those the page shows), and NAME.json records the command, the table
it printed parsed into columns and rows, the commit and a hash of the code that decides its
numbers. The page's `<!-- comparison: NAME -->` markers become that table at build time
(tools/docgen.py comparison_block, tools/mkdocs_hooks.py), so no number on the page is typed by
hand, and `mkdocs build --strict` fails on an output that is missing, stale or a smoke run.

The table keeps what is reproducible: learning rates, losses, accuracies and steps to the target
are the same on every run (one initialisation, one seed, the same batches). compare's `time s`
column is wall clock, which depends on the machine and on what else runs on it: it is kept in
NAME.txt and in the record under "timing", and left out of the table the page shows.

The code that decides a comparison's numbers (`code_files(name)`), hashed like an experiment's
(models/experiments/provenance.py: each file's syntax tree without docstrings, so rewording a
docstring or comment does not make an output stale):

- models/compare.py, which trains and prints, and models/tasks.py, which holds every task, with
  every module of models/ that either imports, transitively (train.py, optimizers.py with the
  recommended learning rates, plots.py whose smoothing decides "steps to", problems.py, names.py,
  char_mlp.py, ...), except checkpoint.py, which only writes files. A change to another task's
  model therefore marks these outputs stale too: it errs on the side of rerunning.
- for each optimizer the command runs, the source files of its class and of its base classes in
  optim/, and every module of optim/ that those import, transitively.

Left out, as for the experiments: the engine (minigrad/), whose changes are checked against
PyTorch by its own tests, the bundled data files, and the command-line parsing (models/cli.py).

--steps N replaces each command's step count: a smoke run for the tests, whose record says so,
and which the documentation build refuses like a stale one. An unknown NAME is refused (exit
status 2) before anything runs; a command that fails makes the exit status 1, the others still run.
"""
import argparse
import ast
import hashlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple, Optional

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models.experiments import provenance  # noqa: E402 (this checkout's, through the entry above)

OUT = ROOT / "docs" / "comparisons"
NOT_DECIDING = ("checkpoint",)  # modules of models/ that write files and compute nothing shown


class Comparison(NamedTuple):
    task: str
    args: tuple[str, ...] = ()            # after `minigrad compare --task TASK`
    optimizers: Optional[tuple[str, ...]] = None  # None: the task's default list
    shown: tuple[tuple[str, str], ...] = ()  # (saved figure, alt text): the figures the page shows


COMPARISONS = {
    "names": Comparison("names", ("--steps", "10000"),
                        shown=(("names.png", "loss curves of eight optimizers on the names task"),)),
    "names-second-order": Comparison("names", ("--steps", "10000"), ("adam", "adahessian", "sophia"), shown=(
        ("names-second-order.png", "loss curves of Adam, AdaHessian and Sophia on the names task"),)),
    "sparse": Comparison("sparse"),
    "rosenbrock": Comparison("rosenbrock", shown=(
        ("rosenbrock.png", "loss curves of eight optimizers on the Rosenbrock function"),
        ("rosenbrock-trajectories.png", "trajectories on the Rosenbrock function"))),
    "lr-sweep": Comparison("names", ("--steps", "4000", "--lr-sweep"), ("sgd", "momentum", "adam"), shown=(
        ("lr-sweep-names.png", "final validation loss against the learning rate, for SGD, momentum and Adam"),)),
}


def entry(name):
    """The comparison called name; ValueError, naming the known ones, when there is none."""
    if name not in COMPARISONS:
        raise ValueError(f"unknown comparison {name!r}; choose from {', '.join(COMPARISONS)}")
    return COMPARISONS[name]


def command(name, steps=None):
    """The command line, as the page shows it (`minigrad compare ...`), as a list of words."""
    c = entry(name)
    words = ["compare", "--task", c.task]
    if c.optimizers:
        words += ["--optimizers", ",".join(c.optimizers)]
    args = list(c.args)
    if steps is not None:
        if "--steps" in args:
            args[args.index("--steps") + 1] = str(steps)
        else:
            args += ["--steps", str(steps)]
    return words + args


def optimizer_names(name):
    from models.optimizers import DEFAULT_COMPARE
    from models.tasks import TASKS
    c = entry(name)
    return list(c.optimizers or TASKS[c.task].default_optimizers or DEFAULT_COMPARE)


def _imports(path, package_dir):
    """The modules of package_dir that the file at path imports with `from . import x` or
    `from .x import y`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [a.name for a in node.names]
            found |= {package_dir / f"{n.split('.')[0]}.py" for n in names
                      if (package_dir / f"{n.split('.')[0]}.py").exists()}
    return found


def _closure(start, package_dir, skip=()):
    files, todo = set(start), list(start)
    while todo:
        for path in _imports(todo.pop(), package_dir):
            if path not in files and path.stem not in skip:
                files.add(path)
                todo.append(path)
    return files


def _optimizer_classes(name):
    """The optimizer classes that `name` makes (built on a one-element parameter)."""
    import minigrad as mg
    from models.optimizers import make_optimizer
    opt = make_optimizer(name, [mg.Tensor([0.0], requires_grad=True)], 1e-3)
    return [k for k in type(opt).__mro__ if k.__module__.split(".")[0] == "optim"]


def code_files(name):
    """The files whose code decides the comparison's numbers (see the module docstring), relative
    to the checkout, sorted."""
    models, optim = ROOT / "models", ROOT / "optim"
    files = _closure({models / "compare.py", models / "tasks.py"}, models, NOT_DECIDING)
    sources = {Path(inspect.getsourcefile(k)).resolve()
               for n in optimizer_names(name) for k in _optimizer_classes(n)}
    files |= _closure({p for p in sources if optim in p.parents}, optim)
    return sorted(str(f.relative_to(ROOT)) for f in files)


def code_hash(name):
    """SHA-256 (hex, first 16 digits) of code_files(name), docstrings and comments left out, as
    provenance.code_hash does for an experiment."""
    digest = hashlib.sha256()
    for rel in code_files(name):
        digest.update(rel.encode())
        digest.update(provenance._without_docstrings((ROOT / rel).read_text(encoding="utf-8")).encode())
    return digest.hexdigest()[:16]


def stale(record, name):
    """Why a saved record does not describe today's code (a sentence), or None when it does."""
    if record is None:
        return "no saved output"
    if record.get("smoke"):
        return "the saved output is a --steps smoke run"
    if record.get("command") != "minigrad " + " ".join(command(name)):
        return f"it ran `{record.get('command')}`, not the page's `minigrad {' '.join(command(name))}`"
    now = code_hash(name)
    if record.get("code_hash") != now:
        return (f"its code changed since the output was saved (hash {record.get('code_hash')} at "
                f"{record.get('commit', '?')}, {now} now; files: {', '.join(code_files(name))})")
    return None


# -- reading what compare printed ---------------------------------------------------------------

def parse_compare(printed):
    """compare's table: (columns, rows, timing). The `time s` column is wall clock: it goes to
    timing ({optimizer: seconds}), not to the rows."""
    lines = printed.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("optimizer ") and i + 1 < len(lines) and set(lines[i + 1]) == {"-"}:
            break
    else:
        raise ValueError("compare printed no table (no 'optimizer ...' header over a line of dashes)")
    head = lines[i].split()
    if head[-2:] != ["time", "s"]:
        raise ValueError(f"compare's table does not end with its time column: {lines[i]!r}")
    head = head[:-2]
    target = " ".join(head[head.index("steps"):]) if "steps" in head else None
    metrics = head[2:head.index("steps")] if target else head[2:]
    columns = ["optimizer", "lr"] + [m.replace("_", " ") for m in metrics] + ([target] if target else [])
    rows, timing = [], {}
    for line in lines[i + 2:]:
        if not line.strip() or ":" in line:  # a blank line or 'loss curves: ...' ends it
            break
        words = line.split()
        *cells, seconds = words
        if not target:
            cells = cells[:len(columns)]
        if len(cells) != len(columns):
            raise ValueError(f"a row of compare's table does not match its header: {line!r}")
        rows.append(cells)
        timing[cells[0]] = float(seconds)
    return columns, rows, timing


def parse_sweep(printed):
    """lr_sweep's table: (columns, rows)."""
    lines = printed.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("learning-rate sweep on ")]
    if not starts:
        raise ValueError("compare --lr-sweep printed no sweep table")
    i = starts[0]
    losses_at = lines[i + 1].split("losses at ", 1)[1].strip()
    columns = ["optimizer", "best lr", "best loss", "worst loss", "mean excess", f"losses at {losses_at}"]
    rows = []
    for line in lines[i + 2:]:
        words = line.split()
        if not words or line.startswith("sweep plot:"):
            break
        rows.append(words[:5] + [", ".join(words[5:])])
    return columns, rows


def _figure_name(name, task, original):
    """compare-TASK.png becomes NAME.png; another figure NAME-<it>.png unless it starts with NAME."""
    new = original.replace(f"compare-{task}", name)
    return new if new.startswith(name) else f"{name}-{new}"


def run(name, out=OUT, steps=None, echo=True):
    """Run the comparison called name; save NAME.txt, its figures and NAME.json in out; return the
    record."""
    c = entry(name)
    words = command(name, steps)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        argv = [sys.executable, "-m", "models", *words, "--quiet", "--out", scratch]
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if echo:
            sys.stdout.write(done.stdout)
        if done.returncode != 0:
            raise RuntimeError(f"`minigrad {' '.join(words)}` exited with status {done.returncode}:\n"
                               f"{done.stderr[-2000:]}")
        printed = re.sub(r"(loss curves|trajectories|sweep plot): .*",
                         lambda m: f"{m.group(1)}: <saved>", done.stdout)
        figures = []
        for png in sorted(Path(scratch).glob("*.png")):
            target = _figure_name(name, c.task, png.name)
            shutil.copyfile(png, out / target)
            figures.append(target)
    figures.sort(key=lambda f: (f != f"{name}.png", f))
    columns, rows, timing = parse_compare(printed)
    if "--lr-sweep" in c.args:
        columns, rows = parse_sweep(printed)
    (out / f"{name}.txt").write_text(printed, encoding="utf-8")
    files = code_files(name)
    record = {"name": name, "command": "minigrad " + " ".join(words), "smoke": steps is not None,
              "columns": columns, "rows": rows, "timing": timing, "seconds": round(seconds, 1),
              "figures": figures, "commit": provenance.commit(files), "code_hash": code_hash(name),
              "files": files}
    provenance.save(out / f"{name}.json", record)
    return record


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help=f"comparisons to run (default: all: {', '.join(COMPARISONS)})")
    ap.add_argument("--out", default=str(OUT), help="where the outputs go")
    ap.add_argument("--steps", type=int, help="a smoke run: this many steps (the build refuses it)")
    args = ap.parse_args(argv)
    try:
        names = [n for n in args.names if entry(n)] or list(COMPARISONS)
    except ValueError as e:
        print(f"run_comparisons: {e}", file=sys.stderr)
        return 2
    failed, times = [], []
    for name in names:
        print(f"$ minigrad {' '.join(command(name, args.steps))}", flush=True)
        started = time.perf_counter()
        try:
            run(name, args.out, args.steps)
        except (RuntimeError, ValueError) as e:
            failed.append(name)
            print(f"run_comparisons: {name}: {e}", file=sys.stderr)
        times.append((name, time.perf_counter() - started))
    for name, seconds in times:
        print(f"{name:24s} {seconds:7.0f} s")
    print(f"{'total':24s} {sum(s for _, s in times):7.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
