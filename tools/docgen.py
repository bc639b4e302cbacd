"""The documentation site's generated pages, made from the source when the site is built.

- One page per optimizer module (optim/<name>.py): its docstring's equations rendered as math,
  then its declaration in the order of the file (optim/optimizer.py says what one holds): the
  hyperparameters with their defaults and checks, the state (each symbol of the rule and its
  state_dict key), then init, scalars, the rule (or `update`, for an algorithm that is not
  elementwise) and explain as code, each line beside the equation in its trailing comment. All
  of it is read from the source at build time, so the page cannot drift from the code.
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
    """[(module, [classes])] for every module of `optim` that defines a declared algorithm (one of
    the registry, optim/optimizer.py's ALGORITHMS: not a wrapper such as ZeroRedundancyOptimizer),
    in the order of optim.__all__ (then any other exported class)."""
    import optim
    from optim.optimizer import ALGORITHMS
    _check_checkout(optim)
    registered = set(ALGORITHMS.values())
    names = list(getattr(optim, "__all__", [])) + sorted(set(dir(optim)) - set(optim.__all__))
    modules = {}
    for name in names:
        cls = getattr(optim, name, None)
        if inspect.isclass(cls) and cls in registered and cls.__module__.startswith("optim."):
            modules.setdefault(cls.__module__, []).append(cls)
    return [(importlib.import_module(m), classes) for m, classes in modules.items()]


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


# the parts of a declaration a page shows, by attribute; the page takes the file's order
CODE_PARTS = {"validate": "validate: the hyperparameters together",
              "init": "init: the state a parameter starts with",
              "add_state": "add_state: arrays a group's flags switch on",
              "scalars": "scalars: the numbers of step t",
              "rule": "The update rule",
              "update": "update: the step, not elementwise",
              "explain": "explain: what optim.explain shows"}
TABLE_PARTS = {"hyperparameters": "Hyperparameters", "symbols": "State"}


def _defining_class(cls, name):
    """The class of cls's declaration (its MRO below Optimizer) whose body defines `name`."""
    import optim
    for k in cls.__mro__:
        if k is optim.Optimizer or k is object:
            return None
        if name in vars(k):
            return k
    return None


def _class_body(k):
    """{name: (line number, ast node, the class's dedented source)} for what k's body defines."""
    lines, first = inspect.getsourcelines(k)
    source = textwrap.dedent("".join(lines))
    out = {}
    for node in ast.parse(source).body[0].body:
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [node.name]
        else:
            names = []
        for name in names:
            line = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            out[name] = (first + line - 1, node, source)
    return out


def _function(k, name):
    fn = vars(k)[name]
    return fn.__func__ if isinstance(fn, (staticmethod, classmethod)) else fn


def declaration_parts(module, classes):
    """[(title, kind, value)]: what a page shows of the classes' declaration, in the order of the
    file that declares it (a part inherited from another file, as AdamW's from optim/adam.py,
    after the module's own, and titled with where it is): ("Hyperparameters", "hyperparameters",
    the declaring class), ("State", "state", the declaring class), and code, ("...", "code",
    function), for validate, init, add_state, scalars, the rule or update, and explain. Then the
    shared pieces they call from optim.common, and every other method of the classes whose
    comments hold an equation (schedule-free's and Prodigy's step)."""
    import optim.common as common
    here = Path(module.__file__).resolve()
    found, seen = [], set()
    for cls in classes:
        for name in list(TABLE_PARTS) + list(CODE_PARTS):
            k = _defining_class(cls, name)
            if k is None or (k, name) in seen:
                continue
            seen.add((k, name))
            if name in CODE_PARTS and not inspect.isfunction(_function(k, name)):
                continue  # rule = None: the algorithm is not elementwise
            where = Path(inspect.getsourcefile(k)).resolve()
            line = _class_body(k)[name][0]
            title = TABLE_PARTS.get(name) or CODE_PARTS[name]
            if len(classes) > 1 and k is not classes[0] and k in classes:
                title = f"{k.__name__}: {title}"
            if where != here:
                title += f", from {where.relative_to(ROOT).as_posix()}"
            kind = "hyperparameters" if name == "hyperparameters" else "state" if name == "symbols" else "code"
            value = k if kind != "code" else _function(k, name)
            found.append(((where != here, str(where), line), title, kind, value))
    parts = [(title, kind, value) for _, title, kind, value in sorted(found, key=lambda f: f[0])]
    shown = [value for _, kind, value in parts if kind == "code"]
    for fn in [f for f in shown if f.__name__ in ("scalars", "rule", "update")]:
        for name in sorted(_called(fn)):
            helper = getattr(common, name, None)
            if inspect.isfunction(helper) and helper.__module__ == common.__name__ and helper not in shown:
                parts.append((f"{name}, from optim/common.py", "code", helper))
                shown.append(helper)
    for cls in classes:
        for name, fn in cls.__dict__.items():
            fn = fn.__func__ if isinstance(fn, (staticmethod, classmethod)) else fn
            if inspect.isfunction(fn) and fn not in shown \
                    and any(c and is_equation(c) for _, _, c in source_rows(fn)):
                parts.append((f"{cls.__name__}.{name}", "code", fn))
                shown.append(fn)
    return parts


def _called(fn):
    """The names a function calls directly (f(...), not obj.f(...))."""
    return {n.func.id for n in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(fn))))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def hyperparameter_table(classes, declaring):
    """The hyperparameters `declaring` checks: each with its default for every class of the page
    (from its signature, `defaults_of()`; a value the class pins marked fixed), the check as
    the declaration writes it, and what that check accepts."""
    written = {}
    node = _class_body(declaring)["hyperparameters"]
    if isinstance(node[1].value, ast.Dict):
        for key, value in zip(node[1].value.keys, node[1].value.values):
            if isinstance(key, ast.Constant):
                written[key.value] = ast.get_source_segment(node[2], value)
    head = ["hyperparameter"] + [f"default ({c.__name__})" if len(classes) > 1 else "default"
                                 for c in classes] + ["check", "accepts"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name, check in declaring.hyperparameters.items():
        cells = [_code(name)]
        for cls in classes:
            defaults = cls.defaults_of()
            value = repr(defaults[name]) if name in defaults else ""
            cells.append(_code(value) + " (fixed)" if name in cls.fixed else _code(value) if value else "")
        doc = (inspect.getdoc(check) or "").split("\n\n")[0]
        cells += [_code(written.get(name, getattr(check, "__name__", repr(check)))),
                  _cell(" ".join(doc.split()))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def state_table(declaring):
    """Each symbol of the rule (the paper's) beside its state_dict key (torch's), then the numbers
    the owner keeps: the step count, and what the scalars carry from step to step."""
    lines = ["| symbol | state_dict key | |", "| --- | --- | --- |"]
    for symbol, key in declaring.symbols.items():
        lines.append(f"| {math(symbol)} | {_code(key)} | an array shaped like {math('θ')} |")
    if declaring.counts_steps:
        lines.append(f"| {math('t')} | {_code('step')} | the steps taken, counted by the owner (optim/optimizer.py) |")
    for key, name in declaring.carry.items():
        lines.append(f"| {_code(name)} | {_code(key)} | a number the scalars advance each step |")
    for key in getattr(declaring, "group_state", {}):
        lines.append(f"| | {_code(key)} | a number of the group, which its step() advances |")
    return "\n".join(lines)


def _code(text):
    """Text as inline code in a Markdown table cell."""
    return f"<code>{_cell(text)}</code>"


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
    return "\n\n".join("".join(part if i % 2 else  # `code` stays as it is
                                 html.escape(part, quote=False).replace("*", r"\*").replace("_", r"\_")
                                 for i, part in enumerate(re.split(r"(`[^`]*`)", p)))
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
    parts += ["## The declaration", "",
              f"What `{source}` declares, in the order of the file, read from the source when this "
              "page was built: the hyperparameters, the state, and the code that implements the "
              "equations, each equation beside its line being that line's own comment.", ""]
    for title, kind, value in declaration_parts(module, classes):
        parts += [f"### {title}", ""]
        if kind == "hyperparameters":
            parts += [hyperparameter_table(classes, value), ""]
        elif kind == "state":
            parts += [state_table(value), ""]
        else:
            doc = (inspect.getdoc(value) or "").split("\n\n")[0]
            parts += [_prose(doc), ""] if doc else []
            if value.__name__ == "explain" and getattr(classes[0], "step_size_rule", None):
                parts += [f"The step size it shows: {_code(classes[0].step_size_rule)}.", ""]
            parts += [code_table(value), ""]
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
