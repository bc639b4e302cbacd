"""The documentation site: the pages generated from the source, and the built site in a browser.

The browser tests need the `docs` extra (MkDocs, Material, mkdocstrings, websocket-client) and
Chromium; without them they skip, saying what is missing, except under CI (.ci/run installs them
and sets MINIGRAD_REQUIRE_DOCS=1, so that a missing tool fails instead of hiding the check).
"""
import html
import importlib
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import conftest

ROOT = Path(conftest.ROOT)
sys.path.insert(0, str(ROOT / "tools"))

import check_site  # noqa: E402
import docgen  # noqa: E402
import mkdocs_hooks  # noqa: E402
from mathtex import is_equation, to_latex  # noqa: E402

# ================================================================================ plain text -> LaTeX

@pytest.mark.parametrize("text, latex", [
    ("m ← β1 m + (1 - β1) g", r"m \leftarrow \beta_{1} m + (1 - \beta_{1}) g"),
    ("θ ← θ - lr m̂ / (sqrt(v̂) + ε)", r"\theta \leftarrow \theta - \mathrm{lr}\, \hat{m} / (\sqrt{\hat{v}} + \epsilon)"),
    ("v ← β2 v + (1 - β2) g²", r"v \leftarrow \beta_{2} v + (1 - \beta_{2}) g^{2}"),
    ("m̂ = m / (1 - β1^t)", r"\hat{m} = m / (1 - \beta_{1}^{t})"),
    ("ŝ = s / (1-β2^t)", r"\hat{s} = s / (1-\beta_{2}^{t})"),  # precomposed ŝ
    ("ḡ ← α ḡ + (1-α) g", r"\bar{g} \leftarrow \alpha \bar{g} + (1-\alpha) g"),
    ("v_max ← max(v_max, v)", r"v_{\max} \leftarrow \max(v_{\max}, v)"),
    ("β̂2_t = 1 - t^c", r"\hat{\beta}_{2,t} = 1 - t^{c}"),
    ("μ_t = β1 (1 - 0.5 · 0.96^(t ψ))", r"\mu_{t} = \beta_{1} (1 - 0.5 \cdot 0.96^{t \psi})"),
    ("Π_t = Π_{t-1} μ_t", r"\Pi_{t} = \Pi_{t-1} \mu_{t}"),
    ("ρ_∞ = 2 / (1 - β2) - 1", r"\rho_{\infty} = 2 / (1 - \beta_{2}) - 1"),
    ("E[Δθ²] ← ρ E[Δθ²] + (1 - ρ) Δθ²",
     r"E[\Delta\theta^{2}] \leftarrow \rho E[\Delta\theta^{2}] + (1 - \rho) \Delta\theta^{2}"),
    ("U = g / sqrt(max(V̂, ε1²))", r"U = g / \sqrt{\max(\hat{V}, \epsilon_{1}^{2})}"),
    ("θ ← θ - lr ||θ|| / ||u|| · u", r"\theta \leftarrow \theta - \mathrm{lr}\, \|\theta\| / \|u\| \cdot u"),
    ("η_t = lr / (1 + (t - 1) lr_decay)", r"\eta_{t} = \mathrm{lr}\, / (1 + (t - 1) \mathrm{lr\_decay}\,)"),
    ("s = sign(g · g_prev)", r"s = \operatorname{sign}(g \cdot g_{\text{prev}})"),
    ("d = sqrt(v) + ε  if centered, else  d = 0", r"d = \sqrt{v} + \epsilon\ \text{if centered, else  }d = 0"),
    ("g ← 0 where s < 0", r"g \leftarrow 0\ \text{where }s < 0"),
    ("100% of {x}", r"100\%\ \text{of }\{x\}"),
])
def test_to_latex(text, latex):
    assert to_latex(text) == latex


@pytest.mark.parametrize("text, expected", [
    ("m ← β1 m + (1-β1) g", True),
    ("m̂", True),
    ("ρ_t", True),
    ("1 - β̂2_t = t^c", True),
    ("maximize; decoupled or L2 decay", False),
    ("ε before the correction", False),
    ("skip after a sign change", False),
])
def test_is_equation(text, expected):
    assert is_equation(text) is expected


# ================================================================================ optimizer pages

MODULES = docgen.optimizer_modules()


# the packages whose public names the API pages must show; a module among those names (minigrad.nn)
# is shown by a block for it or for a module inside it
API_PACKAGES = ["minigrad", "minigrad.nn", "minigrad.nn.functional", "minigrad.nn.init",
                "minigrad.backend", "minigrad.threads", "optim", "optim.functional",
                "optim.lr_scheduler"]


def _api_blocks():
    """{identifier: members listed under it, or None for all} of every `::: identifier` block
    of docs/api/*.md."""
    blocks = {}
    for page in sorted(Path(conftest.ROOT, "docs", "api").glob("*.md")):
        lines = page.read_text().splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("::: "):
                continue
            members = None
            for option in lines[i + 1:]:
                if option and not option.startswith(" "):
                    break
                if option.strip() == "members:":
                    members = []
                elif members is not None and option.strip().startswith("- "):
                    members.append(option.strip()[2:])
            blocks[line[4:].strip()] = members
    return blocks


def _public_names(module):
    """Its __all__, or the classes and functions it defines whose names do not start with _."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [n for n, obj in vars(module).items() if not n.startswith("_")
            and (inspect.isclass(obj) or inspect.isfunction(obj))
            and obj.__module__ == module.__name__]


def _shown(package, name, obj, blocks):
    """Whether a block of the API pages shows package.name: the name itself; the module that
    defines it, all of it or with the name among its members; or the package, all of it (its
    __all__, which Griffe follows to names defined elsewhere) or with the name among its
    members. A module: a block for it or for a module inside it."""
    if inspect.ismodule(obj):
        return any(b == obj.__name__ or b.startswith(obj.__name__ + ".") for b in blocks)
    where = getattr(obj, "__module__", None)
    if f"{package}.{name}" in blocks or f"{where}.{obj.__qualname__}" in blocks:
        return True
    return any(b in blocks and (blocks[b] is None or name in blocks[b]) for b in (package, where))


@pytest.mark.parametrize("package", API_PACKAGES)
def test_the_api_reference_shows_every_public_name_with_its_docstring(package):
    """docs/api/*.md name what mkdocstrings renders, by hand: each public name of each package
    is shown there, and has a docstring to show (mkdocstrings leaves out what has none)."""
    module = importlib.import_module(package)
    blocks = _api_blocks()
    names = _public_names(module)
    assert names
    missing = [n for n in names if not _shown(package, n, getattr(module, n), blocks)]
    assert not missing, f"docs/api/*.md show no block for {package}'s {missing}"
    bare = [n for n in names if not inspect.ismodule(getattr(module, n))
            and not (getattr(module, n).__doc__ or "").strip()]
    assert not bare, f"{package}'s {bare} have no docstring for the API reference to show"


def test_the_api_reference_reads_each_optimizer_class_docstring():
    """An optimizer class takes its module's docstring with `__doc__ = __doc__`; mkdocstrings
    reads the source without running it (Griffe), which needs tools/griffe_class_docstrings.py
    (mkdocs.yml) to see it: without it the page shows the class as a bare signature."""
    griffe = pytest.importorskip("griffe")
    import griffe_class_docstrings

    import optim
    config = (ROOT / "mkdocs.yml").read_text()
    assert "extensions: [tools/griffe_class_docstrings.py]" in config
    package = griffe.load("optim", search_paths=[str(ROOT)], resolve_aliases=True,
                          extensions=griffe.load_extensions(
                              griffe_class_docstrings.ModuleDocstringForClasses))
    classes = [n for n in optim.__all__ if inspect.isclass(getattr(optim, n))]
    bare = [n for n in classes if package[n].docstring is None]
    assert not bare, f"the API reference would show {bare} without a docstring"
    assert package["Adam"].docstring.value == inspect.getdoc(optim.Adam)


def test_every_optimizer_class_has_a_page():
    import optim
    on_pages = {c for _, classes in MODULES for c in classes}
    exported = {getattr(optim, n) for n in optim.__all__}
    optimizers = {c for c in exported if inspect.isclass(c) and issubclass(c, optim.Optimizer)
                  and c is not optim.Optimizer}
    wrappers = {optim.ZeroRedundancyOptimizer}  # it runs another optimizer: no equations of its own
    assert optimizers and optimizers - wrappers <= on_pages and not wrappers & on_pages


def _assert_code_beside_equations(page, fn):
    """Every line of fn whose comment is an equation is on the page with its number and the
    equation rendered; returns how many there were."""
    lines, start = inspect.getsourcelines(fn)
    equations = 0
    for number, line in enumerate(lines, start):
        _, _, comment = line.partition("  # ")
        if comment.strip() and is_equation(comment.strip()):
            equations += 1
            assert f'<td class="ln">{number}</td>' in page
            assert html.escape(to_latex(comment.strip()), quote=False) in page
    return equations


@pytest.mark.parametrize("module, classes", MODULES, ids=[docgen.page_name(m) for m, _ in MODULES])
def test_optimizer_page_shows_the_declaration_beside_the_equations(module, classes):
    page = docgen.optimizer_page(module, classes)
    parts = docgen.declaration_parts(module, classes)
    code = [value for _, kind, value in parts if kind == "code"]
    cls = classes[0]
    # the rule (or, not elementwise, the update; for Prodigy, which keeps its own step(),
    # its _update), its lines beside their equations
    first = next(f for f in (cls.rule, getattr(cls, "update", None), getattr(cls, "_update", None))
                 if f is not None)
    first = getattr(first, "__func__", first)
    assert first in code
    # the hyperparameters, each with its default (for every class of the page); the state
    kinds = [kind for _, kind, _ in parts]
    assert kinds.count("hyperparameters") == 1 and kinds.count("state") == (1 if cls.symbols else 0)
    for name in cls.hyperparameters:
        assert f"| <code>{docgen._cell(name)}</code> |" in page
        for c in classes:
            assert f"<code>{docgen._cell(repr(c.defaults_of()[name]))}</code>" in page
    for symbol, key in cls.symbols.items():
        assert html.escape(to_latex(symbol), quote=False) in page
        assert f"<code>{docgen._cell(key)}</code>" in page
    # the parts as the page shows them, each under its heading, in the order of the file
    positions = [page.index(f"### {title}\n") for title, _, _ in parts]
    assert positions == sorted(positions)
    declared = [value for _, kind, value in parts if kind == "code" and value.__name__ in
                docgen.CODE_PARTS and inspect.getsourcefile(value) == inspect.getsourcefile(first)]
    lines = [inspect.getsourcelines(fn)[1] for fn in declared]
    assert lines == sorted(lines)
    assert _assert_code_beside_equations(page, first) >= 1, "a rule whose comments give no equation"
    # and the docstring's equation block, every row
    _, rows, _ = docgen.split_docstring(module.__doc__)
    assert rows
    for _, eq, _ in rows:
        assert html.escape(to_latex(eq), quote=False) in page or html.escape(eq) in page


def test_the_declaration_comes_in_the_order_of_its_file():
    """Adam's page: its parts as optim/adam.py declares them, then the shared pieces its scalars
    and rule call; AdamW's page shows the same parts, from optim/adam.py, with its defaults."""
    import optim
    (adam, adam_classes), = [(m, c) for m, c in MODULES if m.__name__ == "optim.adam"]
    titles = [title for title, _, _ in docgen.declaration_parts(adam, adam_classes)]
    assert titles[:7] == ["Hyperparameters", "State", "init: the state a parameter starts with",
                          "add_state: arrays a group's flags switch on",
                          "scalars: the numbers of step t", "The update rule",
                          "explain: what optim.explain shows"]
    assert "weight_decay, from optim/common.py" in titles
    page = docgen.optimizer_page(adam, adam_classes)
    assert "| hyperparameter | default (Adam) | default (AMSGrad) | check | accepts |" in page
    assert "<code>True</code> (fixed)" in page  # AMSGrad's amsgrad
    (adamw, adamw_classes), = [(m, c) for m, c in MODULES if m.__name__ == "optim.adamw"]
    parts = docgen.declaration_parts(adamw, adamw_classes)
    assert [t for t, _, _ in parts][:2] == ["Hyperparameters, from optim/adam.py", "State, from optim/adam.py"]
    assert any(value is optim.Adam.rule for _, _, value in parts)
    page = docgen.optimizer_page(adamw, adamw_classes)
    assert "| <code>weight&#95;decay</code> | <code>0.01</code> |" in page


def test_page_follows_the_source(tmp_path, monkeypatch):
    """The page is made from the file as it is now: change a line, and the page changes."""
    monkeypatch.setattr(docgen, "ROOT", tmp_path)
    src = tmp_path / "fakeopt.py"

    def page():
        src.write_text(textwrap.dedent(f'''\
            """FakeOpt: a rule for this test.

            Its equations:

                m ← β1 m + (1 - β1) g
                θ ← θ - lr m           {note}
            """
            from optim.checks import non_negative
            from optim.optimizer import Optimizer
            from optim.scalars import Scalars


            class FakeOpt(Optimizer):
                def __init__(self, params, lr=1e-3, beta1=0.9):
                    super().__init__(params, dict(lr=lr, beta1=beta1))

                hyperparameters = {{"lr": non_negative, "beta1": non_negative}}
                symbols = {{"m": "exp_avg"}}

                @staticmethod
                def scalars(t, group, state):
                    return Scalars(lr=group["lr"], beta1=group["beta1"])

                @staticmethod
                def rule(theta, g, m, h):
                    """One step."""
                    m = h.beta1 * m + (1 - h.beta1) * g     # m ← β1 m + (1-β1) g
                    theta = theta - h.lr * m{extra}        # θ ← θ - lr m
                    return dict(theta=theta, m=m)
            '''))
        spec = importlib.util.spec_from_file_location("fakeopt", src)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, "fakeopt", module)  # inspect finds a class's file there
        spec.loader.exec_module(module)
        return docgen.optimizer_page(module, [module.FakeOpt])

    note, extra = "the step", ""
    before = page()
    note, extra = "the step, twice", " * 2"
    after = page()
    two = '<span class="mi">2</span>'  # the literal 2, as the highlighter marks it up
    assert "the step" in before and "the step, twice" not in before and two not in before
    assert "the step, twice" in after and two in after
    assert r"\theta \leftarrow \theta - \mathrm{lr}\, m" in after
    assert "| <code>beta1</code> | <code>0.9</code> | <code>non&#95;negative</code> |" in after
    assert "<code>exp&#95;avg</code>" in after


# ================================================================================ experiment pages

def test_nav_sections_get_one_entry_per_generated_page():
    nav = [{"Start here": "index.md"}, {"Optimizers": "optimizers/index.md"},
           {"More": [{"Experiments": "experiments/index.md"}]}]
    mkdocs_hooks._expand(nav, "optimizers/index.md", [{"SGD": "optimizers/sgd.md"}])
    mkdocs_hooks._expand(nav, "experiments/index.md", [{"decay": "experiments/decay.md"}])
    assert nav == [{"Start here": "index.md"},
                   {"Optimizers": ["optimizers/index.md", {"SGD": "optimizers/sgd.md"}]},
                   {"More": [{"Experiments": ["experiments/index.md", {"decay": "experiments/decay.md"}]}]}]


# ================================================================================ in a browser

def _tools_or_skip():
    missing = [m for m in ("mkdocs", "material", "mkdocstrings_handlers.python", "websocket")
               if importlib.util.find_spec(m.split(".")[0]) is None]
    chromium = check_site.find_chromium()
    if chromium is None:
        missing.append("chromium")
    if missing:
        reason = (f"the docs toolchain is missing: {', '.join(missing)} "
                  "(pip install -e '.[docs]'; apt-get install chromium)")
        if os.environ.get("MINIGRAD_REQUIRE_DOCS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return chromium


def test_site_builds_strictly_and_every_page_passes_in_chromium(tmp_path):
    chromium = _tools_or_skip()
    site = tmp_path / "site"
    # not -q: with it, MkDocs does not count warnings, and --strict lets them through
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
                           cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout}\n{build.stderr}"
    pages, problems = check_site.check_files(site)
    names = {p.relative_to(site).as_posix() for p in pages}
    assert {"index.html", "experiments/index.html", "optimizers/adam.html", "optimizers/sgd.html",
            "api/optim.html", "benchmarks.html"} <= names
    assert problems == []
    assert check_site.check_in_browser(site, pages, chromium) == []


BAD_PAGES = {
    "console.html": ("<script>console.error('boom')</script>", "console.error: boom"),
    "throws.html": ("<script>undefinedFunction()</script>", "uncaught exception"),
    "image.html": ('<img src="missing.png">', "image did not load"),
    "math.html": ('<span class="arithmatex">\\(x^2\\)</span>', "math left unrendered"),
}


def test_browser_check_catches_each_kind_of_broken_page(tmp_path):
    """The check fails where it should: a console error, an exception, a missing image, math
    that no script rendered, and (from the files alone) a broken link and an outside script."""
    chromium = _tools_or_skip()
    for name, (body, _) in BAD_PAGES.items():
        (tmp_path / name).write_text(f"<!doctype html><html><body>{body}</body></html>")
    (tmp_path / "index.html").write_text(
        '<!doctype html><html><body><a href="nowhere.html">x</a><a href="console.html#nope">y</a>'
        '<script src="https://example.org/x.js"></script></body></html>')
    _, problems = check_site.check_files(tmp_path)
    assert any("nowhere.html" in p and "broken" in p for p in problems)
    assert any("console.html#nope" in p and "names no element" in p for p in problems)
    assert any("loads from outside the site" in p for p in problems)
    found = check_site.check_in_browser(tmp_path, [tmp_path / n for n in BAD_PAGES], chromium, timeout=1)
    for name, (_, expected) in BAD_PAGES.items():
        assert any(p.startswith(name) and expected in p for p in found), (name, found)
