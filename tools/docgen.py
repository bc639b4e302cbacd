"""The documentation site's generated pages, made from the source when the site is built.

- One page per optimizer module (optim/<name>.py): its docstring's equations rendered as math,
  then its declaration in the order of the file (optim/optimizer.py says what one holds): the
  hyperparameters with their defaults and checks, the state (each symbol of the rule and its
  state_dict key), then init, scalars, the rule (or `update`, for an algorithm that is not
  elementwise) and explain as code, each line beside the equation in its trailing comment. All
  of it is read from the source at build time, so the page cannot drift from the code.
- One page per experiment of the registry in models/experiments: the claim quoted, the setup (the
  module's docstring), the figure, what to look for, each verdict as a callout, the command and
  the code it exercises, read from the module and from docs/experiments/, where
  `python tools/run_experiments.py` leaves the outputs; a stale or missing output is a problem.
- The comparisons page's tables, from docs/comparisons/ (tools/run_comparisons.py).

tools/mkdocs_hooks.py hands these pages to MkDocs; tests/docs/test_docs.py checks them.
"""
import ast
import html
import importlib
import inspect
import io
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

_CALLOUT = {"held": ("success", "Held"), "held (exact)": ("success", "Held (exact)"),
            "did not hold": ("failure", "Did not hold"), "within noise": ("warning", "Within noise"),
            "note": ("note", "Note"), "smoke run: no verdict": ("info", "Smoke run: no verdict")}


def experiments():
    """The registry's entries (models/experiments/__init__.py: EXPERIMENTS), in course order, as
    (entry, module or None for a pending entry)."""
    package = importlib.import_module("models.experiments")
    _check_checkout(package)
    return [(e, package.module_of(e)) for e in package.EXPERIMENTS]


def experiment_outputs(name, outputs=None):
    """(figure file name or None, printed output or None, saved record or None) of an experiment
    under docs/experiments."""
    from models.experiments import provenance
    outputs = Path(outputs or EXPERIMENT_OUTPUTS)
    # ValueError, naming the file, when the record is corrupt
    return (*_figure_and_printed(name, outputs), provenance.load(outputs / f"{name}.json"))


def _figure_and_printed(name, outputs=None):
    outputs = Path(outputs or EXPERIMENT_OUTPUTS)
    figure, printed = outputs / f"{name}.png", outputs / f"{name}.txt"
    return (figure.name if figure.exists() else None,
            printed.read_text(encoding="utf-8") if printed.exists() else None)


def _indented(text):
    return "\n".join("    " + line if line else "" for line in text.splitlines())


def verdict_callouts(record):
    """Each saved verdict as a visible admonition: held, did not hold, within noise, or a note."""
    out = []
    for v in record.get("verdicts", []):
        kind, title = _CALLOUT.get(v["outcome"], ("note", v["outcome"]))
        body = f"**{_text(v['claim'])}**"
        if v.get("numbers"):
            body += f"  \n{_text(v['numbers'])}"
        out += [f'!!! {kind} "{title}"', "", _indented(body), ""]
    return out


def _setup(module):
    """The module docstring as the page's setup: prose, and its indented block as equations."""
    before, rows, after = split_docstring(module.__doc__ or "")
    head, _, rest = before.partition("\n")
    parts = [f"**{_prose(head)}**", "", _prose(rest), ""] if head else []
    if rows:
        parts += [equation_table(rows), ""]
    if after:
        parts += [_prose(after), ""]
    return parts


def _exercised(module):
    """Links to the optimizer pages of the classes the experiment runs, and their rules' lines."""
    parts = []
    for cls in getattr(module, "USES", ()):
        page = page_name(importlib.import_module(cls.__module__))
        fn = cls.rule or getattr(cls, "update", None)
        where = ""
        if fn is not None:
            rows = source_rows(fn)
            where = f": `{_source_path(fn)}`, lines {rows[0][0]}-{rows[-1][0]} (`{fn.__qualname__}`)"
        parts.append(f"- [`optim.{cls.__name__}`](../optimizers/{page}.md){where}")
    return parts


def experiment_page(entry, module, outputs=None):
    """The Markdown of one experiment's page, and the problems that keep it from being current."""
    from models.experiments import provenance
    parts = ["---", "hide:", "  - toc", "---", "", f"# {entry.title}", ""]
    if module is None:
        parts += [f"**Claim.** {_text(entry.claim)}", "", '!!! note "Not yet available"', "",
                  f"    {_text(entry.pending)}", ""]
        return "\n".join(parts) + "\n", []
    problems = []
    try:
        figure, printed, record = experiment_outputs(entry.name, outputs)
    except ValueError as e:  # a corrupt record: the page is made without it, and the build fails
        figure, printed, record = *_figure_and_printed(entry.name, outputs), None
        problems.append(str(e))
    else:
        why = provenance.stale(record, module)
        if why:
            problems.append(why)
    quote, section = getattr(module, "QUOTE", None), getattr(module, "SECTION", None)
    if quote:
        parts += [f'!!! quote "The claim{(", from " + _text(section)) if section else ""}"', "",
                  _indented(_text(quote)), ""]
    else:
        problems.append("its module has no QUOTE (the claim as the article states it)")
        parts += [f"**Claim.** {_text(entry.claim)}", ""]
    parts += ["## The setup", ""] + _setup(module)
    if figure is None:
        problems.append(f"{entry.name}.png is missing")
    else:
        alt = _text(entry.claim).replace("[", r"\[").replace("]", r"\]")
        parts += ["## The figure", "", f'[![{alt}]({figure}){{ .experiment-figure }}]({figure} "click to '
                  'open the figure at full size")', ""]
        look = getattr(module, "LOOK_FOR", None)
        if look:
            parts += ['!!! tip "What to look for"', "", _indented(_prose(look)), ""]
        else:
            problems.append("its module has no LOOK_FOR (what to look for in the figure)")
    parts += ["## The verdicts", ""]
    if record is None:
        parts += ["Not yet run.", ""]
    else:
        parts += verdict_callouts(record)
    took = f" (the full run took {record['seconds']:.0f} s on the machine that made these outputs)" \
        if record else ""
    parts += ["## Run it yourself", "", f"What this page shows was printed and drawn by{took}:", "",
              "```bash", f"minigrad experiment {entry.name}", "```", "",
              f"`minigrad experiment {entry.name} --quick` is a smoke run of a few seconds. "
              "The outputs here were made at commit "
              f"`{record.get('commit', '?') if record else '?'}`. The site's build refuses them when "
              "the code they are hashed over has changed: the experiment's module, the modules of "
              "this package it imports, and the source files of the optimizers it runs (listed in "
              "its record). Changes elsewhere (the engine, the models, an optimizer's shared helpers) "
              "are not detected: rerun the experiments after such a change.", ""]
    used = _exercised(module)
    source = Path(module.__file__).resolve().relative_to(ROOT).as_posix()
    parts += ["## The code it exercises", "", f"- the experiment: `{source}`"] + used + [""]
    if printed is None:
        problems.append(f"{entry.name}.txt is missing")
    else:
        parts += ['??? abstract "Everything the command printed"', "", _indented(_printed_block(printed)), ""]
    return "\n".join(parts) + "\n", problems


def _printed_block(printed):
    """The command's output, verbatim."""
    return "\n".join(["```text", printed.rstrip("\n"), "```"])


def _text(text):
    """Plain text in Markdown: no emphasis from the * and _ of formulas such as lr*lambda."""
    return html.escape(text, quote=False).replace("*", "&#42;").replace("_", "&#95;")


def _cell(text):
    return _text(text).replace("|", "&#124;")


def experiments_table(found, outputs=None):
    """The index: each experiment in course order, its claim, and its verdicts."""
    lines = ["| | experiment | claim | verdicts |", "| --- | --- | --- | --- |"]
    for i, (entry, module) in enumerate(found, 1):
        try:
            record = experiment_outputs(entry.name, outputs)[2] if module else None
        except ValueError:  # its page names the problem, and the build fails there
            record = "unreadable"
        if module is None:
            measured = "not yet available"
        elif record == "unreadable":
            measured = "its saved output is unreadable (the page says why)"
        elif record is None:
            measured = "not yet run"
        else:
            measured = "<br>".join(f"**{_cell(v['outcome'])}**: {_cell(v['claim'])}"
                                   for v in record.get("verdicts", []) if v["outcome"] != "note") or "no verdicts"
        lines.append(f"| {i} | [{_cell(entry.title)}]({entry.name}.md) | {_cell(entry.claim)} | {measured} |")
    return "\n".join(lines)


def _comparisons():
    """tools/run_comparisons.py, which knows the comparisons, runs them and checks their outputs:
    loaded from beside this file (MkDocs puts sys.path back after loading its hooks, so a plain
    import fails in a build), once, as the module run_comparisons."""
    import importlib.util
    import sys
    if "run_comparisons" not in sys.modules:
        spec = importlib.util.spec_from_file_location("run_comparisons", Path(__file__).with_name("run_comparisons.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules["run_comparisons"] = module
        spec.loader.exec_module(module)
    return sys.modules["run_comparisons"]


def comparison_block(name, outputs=None, prefix="comparisons/"):
    """The Markdown that stands for `<!-- comparison: NAME -->` on docs/comparisons.md: the table
    that `python tools/run_comparisons.py NAME` saved (its wall-clock column left out), its
    figures, and the command and commit that made them; and the problems that keep it from being
    current (missing, stale, a smoke run, a figure or the printed output missing). prefix is the
    outputs' folder as the page links it."""
    from models.experiments import provenance
    tool = _comparisons()
    outputs = Path(outputs or tool.OUT)
    remake = f"python tools/run_comparisons.py {name}"
    try:
        record = provenance.load(outputs / f"{name}.json", verdicts=False)
    except ValueError as e:  # a corrupt record: the build fails, naming the file
        record, problems = None, [str(e)]
    else:
        why = tool.stale(record, name)
        problems = [why] if why else []
    if record is None:
        return "\n".join(['!!! warning "Not yet generated"', "",
                          f"    Run `{remake}` to make this table."]) + "\n", problems
    columns, rows = record["columns"], record["rows"]
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_cell(str(v)) for v in row) + " |" for row in rows]
    lines.append("")
    for figure in record.get("figures", []):
        if not (outputs / figure).exists():
            problems.append(f"{figure} is missing")
    for figure, alt in tool.COMPARISONS[name].shown:
        if (outputs / figure).exists():
            alt = _text(alt).replace("[", r"\[").replace("]", r"\]")
            lines += [f"![{alt}]({prefix}{figure})", ""]
        elif figure not in record.get("figures", []):
            problems.append(f"{figure} is missing")
    if not (outputs / f"{name}.txt").exists():
        problems.append(f"{name}.txt is missing")
    timing = (" The wall-clock times it printed depend on the machine and are left out here; they are "
              f"in [everything the command printed]({prefix}{name}.txt).") if record.get("timing") else ""
    lines += [f"*Printed by `{record['command']}` at commit `{record.get('commit', '?')}` and read "
              f"from its saved output; `{remake}` makes it again, and the site's build refuses it "
              f"once the code it ran has changed.{timing}*", ""]
    return "\n".join(lines), problems


def comparisons_markdown(markdown, outputs=None, prefix="comparisons/"):
    """docs/comparisons.md with each `<!-- comparison: NAME -->` marker replaced by its
    comparison_block, and the problems as (name, sentence) pairs: each block's, an unknown NAME,
    and a comparison of tools/run_comparisons.py that the page has no marker for."""
    tool = _comparisons()
    problems, seen = [], set()

    def block(match):
        name = match.group(1)
        seen.add(name)
        if name not in tool.COMPARISONS:
            problems.append((name, f"unknown comparison; tools/run_comparisons.py knows "
                                   f"{', '.join(tool.COMPARISONS)}"))
            return match.group(0)
        text, found = comparison_block(name, outputs, prefix)
        problems.extend((name, p) for p in found)
        return text

    markdown = re.sub(r"<!-- comparison: ([\w.-]+) -->", block, markdown)
    problems += [(name, "the page has no marker for it") for name in tool.COMPARISONS if name not in seen]
    return markdown, problems
