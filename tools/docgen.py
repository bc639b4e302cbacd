"""The documentation site's generated pages, made from the source when the site is built.

- One page per optimizer module (optim/<name>.py): its docstring's equations rendered as math,
  then the lines of code that implement them (the elementwise `update` rule, or `_update` /
  `_update_sparse`, and the per-step scalars), each line beside the equation in its trailing
  comment. Both are read from the source at build time, so the page cannot drift from the code.
- One page per experiment of the registry in models/experiments (when it exists): the claim, the
  command, the table the command printed and the figure it saved, both read from docs/experiments/
  where `python tools/run_experiments.py` leaves them.

tools/mkdocs_hooks.py hands these pages to MkDocs; tests/docs/test_docs.py checks them.
"""
import ast
import html
import importlib
import inspect
import io
import pkgutil
import re
import textwrap
import tokenize
from pathlib import Path

from mathtex import is_equation, to_latex

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENT_OUTPUTS = ROOT / "docs" / "experiments"


def math(text, display=False):
    """Text of plain-text math as the markup that pymdownx.arithmatex (generic) produces and the
    site's KaTeX script renders."""
    tex = html.escape(to_latex(text), quote=False)
    return (f'<div class="arithmatex">\\[{tex}\\]</div>' if display
            else f'<span class="arithmatex">\\({tex}\\)</span>')


# ================================================================================ optimizers

def optimizer_modules():
    """[(module, [classes])] for every module of `optim` that defines an Optimizer subclass, in the
    order of optim.__all__ (then any other exported class)."""
    import optim
    _check_checkout(optim)
    names = list(getattr(optim, "__all__", [])) + sorted(set(dir(optim)) - set(optim.__all__))
    modules = {}
    for name in names:
        cls = getattr(optim, name, None)
        if (inspect.isclass(cls) and issubclass(cls, optim.Optimizer) and cls is not optim.Optimizer
                and cls.__module__.startswith("optim.") and _has_update(cls, optim.Optimizer)):
            modules.setdefault(cls.__module__, []).append(cls)
    return [(importlib.import_module(m), classes) for m, classes in modules.items()]


def _has_update(cls, base):
    """An algorithm, not a wrapper of one (ZeroRedundancyOptimizer): a rule or its own update."""
    return cls.rule is not None or cls._update is not base._update \
        or cls._update_sparse is not base._update_sparse


def _check_checkout(package):
    where = Path(package.__file__).resolve()
    if ROOT not in where.parents:
        raise RuntimeError(f"{package.__name__} was imported from {where}, not from this checkout "
                           f"({ROOT}): the pages would describe another copy of the code")


def page_name(module):
    return module.__name__.rsplit(".", 1)[-1]


def split_docstring(doc):
    """A module docstring as (paragraphs before the equations, equation rows, paragraphs after).
    The equations are the first block indented by four spaces; each row is (depth, equation,
    note), the note being whatever follows three or more spaces, continued on deeper lines."""
    lines = doc.expandtabs().strip("\n").splitlines()  # a module docstring is not indented
    start = next((i for i, line in enumerate(lines) if line.startswith("    ") and line.strip()), None)
    if start is None:
        return doc.strip(), [], ""
    end = start
    while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
        end += 1
    rows = []
    for line in lines[start:end]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        parts = re.split(r"\s{3,}", line.strip())
        if indent >= 16 and rows:  # a note that goes on, under the previous one
            d, eq, note = rows[-1]
            rows[-1] = (d, eq, (note + " " + line.strip()).strip())
            continue
        rows.append(((indent - 4) // 4, parts[0], " ".join(parts[1:])))
    before = "\n".join(lines[:start]).strip()
    after = "\n".join(lines[end:]).strip()
    return before, rows, after


def _comments(source):
    """{line index: comment text} for the trailing comments of a piece of source."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and source.splitlines()[tok.start[0] - 1][:tok.start[1]].strip():
            out[tok.start[0] - 1] = (tok.start[1], tok.string[1:].strip())
    return out


def source_rows(fn):
    """The lines of a function (its docstring left out) as (line number, code, comment), the
    trailing comment split off the code."""
    lines, first = inspect.getsourcelines(fn)
    source = textwrap.dedent("".join(lines))
    tree = ast.parse(source)
    body = tree.body[0].body
    skip = set()
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        skip = set(range(body[0].lineno - 1, body[0].end_lineno))
    comments = _comments(source)
    rows = []
    for i, line in enumerate(source.splitlines()):
        if i in skip or not line.strip():
            continue
        col, comment = comments.get(i, (None, ""))
        code = line[:col].rstrip() if col is not None else line.rstrip()
        rows.append((first + i, code, comment))
    return rows


def _source_path(fn):
    return Path(inspect.getsourcefile(fn)).resolve().relative_to(ROOT).as_posix()


def rule_functions(module, classes):
    """[(title, function)]: the update rule first (the elementwise `rule`, a module-level
    `update`, which a subclass such as AdamW may inherit from another file; else the classes'
    own `_update` / `_update_sparse`), then the shared pieces it calls from optim.common, then
    every other method of the module's classes whose comments hold an equation (the per-step
    scalars)."""
    import optim.common as common
    found = []

    def add(title, fn):
        if inspect.isfunction(fn) and not any(f is fn for _, f in found):
            found.append((title, fn))

    for cls in classes:
        rule = getattr(cls, "rule", None)
        if rule is not None:
            where = _source_path(rule)
            add("The update rule" + ("" if rule.__module__ == module.__name__ else f", from {where}"), rule)
    for cls in classes:
        for name in ("_update", "_update_sparse"):
            fn = getattr(cls, name, None)
            if fn is not None and fn.__module__ != "optim.optimizer" and getattr(cls, "rule", None) is None:
                add(f"{fn.__qualname__}" + ("" if fn.__module__ == module.__name__
                                            else f", from {_source_path(fn)}"), fn)
    for _, fn in list(found):
        called = {n.func.id for n in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(fn))))
                  if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        for name in sorted(called):
            helper = getattr(common, name, None)
            if inspect.isfunction(helper) and helper.__module__ == common.__name__:
                add(f"{name}, from optim/common.py", helper)
    for cls in classes:
        for name, fn in cls.__dict__.items():
            if inspect.isfunction(fn) and any(c and is_equation(c) for _, _, c in source_rows(fn)):
                add(f"{cls.__name__}.{name}", fn)
    return found


def _code_cell(code):
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer
    body = highlight(code, PythonLexer(), HtmlFormatter(nowrap=True)).rstrip("\n")
    return f'<td class="code highlight"><code>{body}</code></td>'


def code_table(fn):
    """A function's lines, each beside the equation (or note) in its trailing comment."""
    path = _source_path(fn)
    out = ['<table class="eqcode">',
           f'<thead><tr><th>line</th><th><code>{path}</code></th><th>equation</th></tr></thead>',
           "<tbody>"]
    for number, code, comment in source_rows(fn):
        if not comment:
            right = ""
        elif is_equation(comment):
            right = math(comment)
        else:
            right = f'<span class="note">{html.escape(comment)}</span>'
        out.append(f'<tr><td class="ln">{number}</td>{_code_cell(code)}<td class="eq">{right}</td></tr>')
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def equation_table(rows):
    out = ['<table class="equations">', "<tbody>"]
    for depth, eq, note in rows:
        pad = f' style="padding-left: {1 + 2 * depth}em"' if depth else ""
        cell = math(eq) if is_equation(eq) or "(" in eq else html.escape(eq)
        out.append(f'<tr><td class="eq"{pad}>{cell}</td><td class="note">{html.escape(note)}</td></tr>')
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def _prose(text):
    """Docstring prose as Markdown paragraphs, safe from Markdown's own syntax."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "\n\n".join(html.escape(p, quote=False).replace("*", r"\*").replace("_", r"\_")
                       for p in paragraphs)


def optimizer_title(classes):
    return ", ".join(c.__name__ for c in classes)


def optimizer_page(module, classes):
    """The Markdown of one optimizer's page."""
    before, rows, after = split_docstring(module.__doc__ or "")
    head, _, rest = before.partition("\n")
    source = Path(module.__file__).resolve().relative_to(ROOT).as_posix()
    parts = [f"# {optimizer_title(classes)}", "", f"**{_prose(head)}**", "", _prose(rest), ""]
    if rows:
        parts += ["## The equations", "",
                  f"From the docstring of `{source}`, as the code names each symbol:", "",
                  equation_table(rows), ""]
    if after:
        parts += [_prose(after), ""]
    parts += ["## The code", "",
              f"The lines of `{source}` that implement the equations, read from the source when this "
              "page was built; each equation beside its line is that line's own comment.", ""]
    for title, fn in rule_functions(module, classes):
        parts += [f"### {title}", "", code_table(fn), ""]
    parts += ["## API", ""]
    parts += [f"- [`optim.{c.__name__}`][optim.{c.__name__}]" for c in classes]
    return "\n".join(parts) + "\n"


def optimizers_table(modules):
    lines = ["| optimizer | what it is | source |", "| --- | --- | --- |"]
    for module, classes in modules:
        first = inspect.cleandoc(module.__doc__ or "").splitlines()[0] if module.__doc__ else ""
        source = Path(module.__file__).resolve().relative_to(ROOT).as_posix()
        lines.append(f"| [{optimizer_title(classes)}]({page_name(module)}.md) | "
                     f"{html.escape(first, quote=False)} | `{source}` |")
    return "\n".join(lines)


# ================================================================================ experiments

def _attr(obj, *names):
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


def experiments(package=None):
    """The registry's experiments, in its order, as dicts with name, claim and command.

    The registry is models/experiments/__init__.py: a dict or list of experiments (under one of
    the names EXPERIMENTS, REGISTRY, registry), each a module or object with `name` (or NAME) and
    `claim` (or CLAIM; else its docstring's first paragraph), and optionally `command` (for an entry
    that another command runs, such as `minigrad compare --lr-sweep`). Without one of those lists,
    every submodule that has a `run` and a name. No registry: no experiments."""
    if package is None:
        try:
            package = importlib.import_module("models.experiments")
        except ModuleNotFoundError as e:
            if e.name not in ("models", "models.experiments"):
                raise  # the registry exists but something it imports does not
            return []
        _check_checkout(package)
    entries = None
    for attr in ("EXPERIMENTS", "REGISTRY", "registry"):
        value = getattr(package, attr, None)
        if isinstance(value, dict):
            entries = list(value.items())
            break
        if isinstance(value, (list, tuple)):
            entries = [(None, v) for v in value]
            break
    if entries is None:
        entries = []
        for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            if callable(getattr(module, "run", None)):
                entries.append((None, module))
    found = []
    for key, entry in entries:
        name = _attr(entry, "name", "NAME") or key
        if name is None:
            raise ValueError(f"experiment {entry!r} in the registry has no name")
        claim = _attr(entry, "claim", "CLAIM")
        if claim is None:
            doc = inspect.getdoc(entry) if not isinstance(entry, dict) else None
            claim = (doc or "").split("\n\n")[0]
        command = _attr(entry, "command", "COMMAND")
        pending = _attr(entry, "pending", "PENDING")
        # run here (its outputs belong in docs/experiments), run by another command, or pending
        kind = "pending" if pending else ("elsewhere" if command else "run")
        found.append({"name": str(name), "claim": " ".join(str(claim).split()), "kind": kind,
                      "command": command or f"minigrad experiment {name}", "pending": pending})
    return found


def experiment_outputs(name, outputs=None):
    """(figure file name or None, printed output or None) of an experiment under docs/experiments."""
    outputs = Path(outputs or EXPERIMENT_OUTPUTS)
    figure = outputs / f"{name}.png"
    printed = outputs / f"{name}.txt"
    return (figure.name if figure.exists() else None,
            printed.read_text(encoding="utf-8") if printed.exists() else None)


def _printed_block(printed):
    """The command's output: a Markdown table stays a table; anything else is shown verbatim."""
    lines = printed.rstrip("\n").splitlines()
    if lines and lines[0].startswith("$ "):
        lines = lines[1:]
    out, block = [], []
    for line in lines + [""]:
        if line.lstrip().startswith("|"):
            if block:
                out += ["```text", *block, "```", ""]
                block = []
            out.append(line.strip())
        else:
            if out and out[-1].startswith("|"):
                out.append("")
            if line.strip() or block:
                block.append(line)
    while block and not block[-1].strip():
        block.pop()
    if block:
        out += ["```text", *block, "```"]
    return "\n".join(out)


def experiment_page(exp, outputs=None):
    """The Markdown of one experiment's page, and the problems that keep it from being complete."""
    figure, printed = experiment_outputs(exp["name"], outputs)
    if exp.get("kind", "run") != "run" and not (figure or printed):
        return _elsewhere_page(exp), []
    missing = []
    command = exp["command"]
    if printed and printed.startswith("$ "):  # the command that made the output, as it was run
        command = printed.splitlines()[0][2:]
    parts = [f"# {exp['name']}", "", f"**Claim.** {_text(exp['claim'])}", "",
             "## The command", "", "```bash", command, "```", ""]
    parts += ["## What it measured", ""]
    if printed is None:
        missing.append(f"{exp['name']}.txt")
        parts += ['!!! warning "Not yet run"', "",
                  "    Its output is not in docs/experiments/ yet: "
                  f"`python tools/run_experiments.py {exp['name']}` runs it and saves it.", ""]
    else:
        parts += ["Printed by the command above (saved by `tools/run_experiments.py`):", "",
                  _printed_block(printed), ""]
    if figure is None:
        missing.append(f"{exp['name']}.png")
    else:
        alt = html.escape(exp["claim"], quote=False).replace("[", r"\[").replace("]", r"\]")
        parts += ["## The figure", "", f"![{alt}]({figure})", ""]
    return "\n".join(parts) + "\n", missing


def _elsewhere_page(exp):
    """An entry of the subject that is not run by `minigrad experiment`: where it is, or why not."""
    parts = [f"# {exp['name']}", "", f"**Claim.** {_text(exp['claim'])}", ""]
    if exp["kind"] == "pending":
        parts += ['!!! note "Not yet available"', "", f"    {html.escape(exp['pending'], quote=False)}", ""]
    else:
        parts += ["Run by another command:", "", "```bash", exp["command"], "```", ""]
    return "\n".join(parts)


def _text(text):
    """Plain text in Markdown: no emphasis from the * and _ of formulas such as lr*lambda."""
    return html.escape(text, quote=False).replace("*", "&#42;").replace("_", "&#95;")


def _cell(text):
    return _text(text).replace("|", "&#124;")


def experiments_table(exps, outputs=None):
    if not exps:
        return ("No experiment registry yet (`models/experiments/__init__.py`): its experiments "
                "appear here, one page each, once it exists.")
    lines = ["| experiment | claim | command | measured |", "| --- | --- | --- | --- |"]
    for exp in exps:
        figure, printed = experiment_outputs(exp["name"], outputs)
        status = "yes" if figure and printed else {"pending": "not yet available",
                                                   "elsewhere": "by its command"}.get(exp.get("kind"), "not yet run")
        lines.append(f"| [{exp['name']}]({exp['name']}.md) | {_cell(exp['claim'])} "
                     f"| <code>{_cell(exp['command'])}</code> | {status} |")
    return "\n".join(lines)
