"""What a saved output ran: the commit, and a hash of the code that decides its numbers.

An experiment's output (docs/experiments/NAME.txt, .png, .json) is only true of the code that made
it. NAME.json records the commit (`commit(files)`: HEAD, with -dirty when one of the files below
differs from it) and `code_hash(module)`: a SHA-256 over the experiment's module, the shared code
every experiment runs through (common.py, verdicts.py), any other module of this package that it
imports (a sweep shared by two experiments), and the source file of each optimizer class in the
module's USES. The machinery that cannot change a number (parallel.py, provenance.py, the
registry) is left out. The
hash is of each file's syntax tree with its docstrings removed, so rewording a docstring or a
comment does not make an output stale, and changing a line that runs does. `stale(...)` compares a
saved record with today's code; the documentation build refuses a stale output and names it
(tools/mkdocs_hooks.py), and the tests check that each experiment's USES names every optimizer
class it makes.
"""
import ast
import hashlib
import inspect
import json
import os
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SHARED = ("common.py", "verdicts.py")
MACHINERY = ("__init__", "parallel", "provenance")  # how it runs, not what it computes


def _imported_here(path):
    """The modules of this package that the file at path imports (from . import x; from .x import y)."""
    found = set()
    for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [a.name for a in node.names]
            found |= {n.split(".")[0] for n in names if (HERE / f"{n.split('.')[0]}.py").exists()}
    return found - set(MACHINERY)


def _without_docstrings(source):
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def code_files(module):
    """The files whose code decides the module's numbers, relative to the checkout (absolute for
    one outside it), sorted."""
    files = {Path(module.__file__).resolve()} | {HERE / name for name in SHARED}
    todo = [Path(module.__file__).resolve()]
    while todo:  # what it imports from this package, and what those import
        for name in _imported_here(todo.pop()):
            path = HERE / f"{name}.py"
            if path not in files:
                files.add(path)
                todo.append(path)
    for cls in getattr(module, "USES", ()):
        files.add(Path(inspect.getsourcefile(cls)).resolve())
    return sorted(str(f.relative_to(ROOT)) if ROOT in f.parents else str(f) for f in files)


def code_hash(module):
    """SHA-256 (hex, first 16 digits) of code_files(module), docstrings and comments left out."""
    digest = hashlib.sha256()
    for rel in code_files(module):
        digest.update(rel.encode())
        digest.update(_without_docstrings((ROOT / rel).read_text(encoding="utf-8")).encode())
    return digest.hexdigest()[:16]


def commit(files=()):
    """The checkout's commit, with -dirty when one of files (paths relative to the checkout)
    differs from it or is not in it; 'unknown' outside a git checkout. Only the given files count:
    a run that rewrites docs/experiments/ does not make the next experiment's commit dirty."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True,
                              timeout=10).stdout.strip()
    try:
        head = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--", *files) if files else ""
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if changed else head


def save(path, record):
    """Write the record as JSON, through a temporary file (an interrupted run keeps the old one)."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


OUTCOMES = ("held", "held (exact)", "did not hold", "within noise", "note", "smoke run: no verdict")


def load(path, verdicts=True):
    """The saved record at path, or None when there is none. ValueError, naming the file and what
    is wrong, when it is not a record that run() writes (truncated, edited, another format);
    verdicts=False for a record without verdicts (tools/run_comparisons.py's)."""
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}): rerun the experiment to rewrite it") from None
    problem = None
    if not isinstance(record, dict):
        problem = f"it holds a {type(record).__name__}, not a record"
    elif not verdicts:
        pass
    elif not isinstance(record.get("verdicts"), list):
        problem = "its 'verdicts' is not a list"
    elif not isinstance(record.get("seconds"), (int, float)) or not isinstance(record.get("code_hash"), str):
        problem = "it lacks 'seconds' or 'code_hash'"
    else:
        for i, v in enumerate(record["verdicts"]):
            if not isinstance(v, dict) or not isinstance(v.get("claim"), str) or v.get("outcome") not in OUTCOMES:
                problem = (f"its verdict {i} is not a claim with one of the outcomes "
                           f"{', '.join(OUTCOMES)}")
                break
    if problem:
        raise ValueError(f"{path}: {problem}: rerun the experiment to rewrite it")
    return record


def stale(record, module):
    """Why a saved record does not describe today's code (a sentence), or None when it does."""
    if record is None:
        return "no saved output"
    if record.get("quick"):
        return "the saved output is a --quick smoke run"
    now = code_hash(module)
    if record.get("code_hash") != now:
        return (f"its code changed since the output was saved (hash {record.get('code_hash')} at "
                f"{record.get('commit', '?')}, {now} now; files: {', '.join(code_files(module))})")
    return None
