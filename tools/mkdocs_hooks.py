"""MkDocs hooks (mkdocs.yml `hooks:`): add the pages that tools/docgen.py makes from the source.

- on_config: the nav entries `optimizers/index.md` and `experiments/index.md` become sections
  with one page per optimizer module and per registered experiment, in their order.
- on_files: those pages, generated in memory (nothing is written into docs/).
- on_page_markdown: the index pages' `<!-- optimizers-table -->` and `<!-- experiments-table -->`
  markers become their tables, and comparisons.md's `<!-- comparison: NAME -->` markers the
  tables that `python tools/run_comparisons.py` saved under docs/comparisons/ (a missing, stale
  or smoke-run output is a warning there too).
An experiment whose output or figure is missing from docs/experiments/, or whose saved output is
stale (its code changed since: models/experiments/provenance.py) or a --quick smoke run, is a
warning, so `mkdocs build --strict` fails, names the experiment and the command that remakes it.
"""
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # MkDocs puts sys.path back after loading this file
import docgen  # noqa: E402 (found through the sys.path entry above)

log = logging.getLogger("mkdocs.plugins.minigrad")
_pages = {}  # src_uri -> Markdown, for this build
_found = {"modules": [], "experiments": []}


def _expand(nav, section_index, entries):
    """Replace the nav item whose page is `section_index` by a section: the index, then entries."""
    for i, item in enumerate(nav):
        if isinstance(item, dict):
            (title, value), = item.items()
            if value == section_index:
                nav[i] = {title: [section_index] + entries}
            elif isinstance(value, list):
                _expand(value, section_index, entries)


def on_config(config):
    # the pages describe this checkout's optim and models, not an installed copy
    if str(docgen.ROOT) not in sys.path:
        sys.path.insert(0, str(docgen.ROOT))
    _pages.clear()
    modules = docgen.optimizer_modules()
    for module, classes in modules:
        _pages[f"optimizers/{docgen.page_name(module)}.md"] = docgen.optimizer_page(module, classes)
    exps = docgen.experiments()
    for entry, module in exps:
        markdown, problems = docgen.experiment_page(entry, module)
        _pages[f"experiments/{entry.name}.md"] = markdown
        for problem in problems:  # a missing page part is fixed in the module, an output by running it
            fix = (f"add it to models/experiments/{entry.module}.py" if problem.startswith("its module")
                   else f"run `python tools/run_experiments.py {entry.name}`")
            log.warning("experiment %s: %s; %s", entry.name, problem, fix)
    if config["nav"]:
        _expand(config["nav"], "optimizers/index.md",
                [{docgen.optimizer_title(c): f"optimizers/{docgen.page_name(m)}.md"} for m, c in modules])
        _expand(config["nav"], "experiments/index.md",
                [{e.title: f"experiments/{e.name}.md"} for e, _ in exps])
    _found.update(modules=modules, experiments=exps)
    return config


def on_files(files, config):
    from mkdocs.structure.files import File
    for src_uri, markdown in _pages.items():
        files.append(File.generated(config, src_uri, content=markdown))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri == "optimizers/index.md":
        markdown = markdown.replace("<!-- optimizers-table -->",
                                    docgen.optimizers_table(_found["modules"]))
    if page.file.src_uri == "experiments/index.md":
        markdown = markdown.replace("<!-- experiments-table -->",
                                    docgen.experiments_table(_found["experiments"]))
    if page.file.src_uri == "comparisons.md":
        # each `<!-- comparison: NAME -->` becomes the table tools/run_comparisons.py saved in
        # docs/comparisons/; one missing, stale or a smoke run is a warning, so --strict fails
        markdown, problems = docgen.comparisons_markdown(markdown)
        for name, problem in problems:
            log.warning("comparison %s: %s; run `python tools/run_comparisons.py %s`", name, problem, name)
    return markdown
