"""The course (docs/course/): one path, in the article's order, that a student follows from the
first page to the last by next-links, each section linking its experiments, its optimizer's page
and its source."""
import re
from pathlib import Path

import conftest

DOCS = Path(conftest.ROOT, "docs")
COURSE = DOCS / "course"
# the experiments in the order the course teaches them (models/experiments lists them so too)
EXPERIMENTS = ["gradient-scales", "sparse-features", "adagrad-decay", "noisy-gradients",
               "bias-correction", "sign-descent", "adamw-vs-l2", "amsgrad", "amsgrad-in-practice",
               "warmup", "rosenbrock", "lr-sensitivity", "generalization", "curvature", "recipes",
               "hyperparameters", "debugging"]
NEXT = re.compile(r"\[Next: [^\]]*\]\(([a-z-]+\.md)\)")


def _nav_pages():
    """The course's pages in mkdocs.yml's nav, in order."""
    return re.findall(r"^\s+- [^:]+: course/([a-z-]+\.md)$", Path(conftest.ROOT, "mkdocs.yml")
                      .read_text(), flags=re.M)


def _path():
    """The pages met following next-links from course/index.md."""
    pages, page = [], "index.md"
    while page and page not in pages:
        pages.append(page)
        found = NEXT.findall((COURSE / page).read_text())
        assert len(found) <= 1, f"course/{page} has {len(found)} next-links"
        page = found[0] if found else None
    return pages


def test_next_links_lead_through_every_course_page_in_the_nav_order():
    nav = _nav_pages()
    assert nav and nav[0] == "index.md"
    assert sorted(nav) == sorted(p.name for p in COURSE.glob("*.md"))
    assert _path() == nav


def test_each_page_links_back_to_the_one_before():
    pages = _path()
    for before, page in zip(pages, pages[1:]):
        back = re.findall(r"\[← Previous: [^\]]*\]\(([a-z-]+\.md)\)", (COURSE / page).read_text())
        assert back == [before], f"course/{page} links back to {back}, not to {before}"


def test_the_course_links_each_experiment_in_the_order_it_teaches_them():
    linked = []
    for page in _path():
        for name in re.findall(r"\]\(\.\./experiments/([a-z0-9-]+)\.md\)", (COURSE / page).read_text()):
            if name != "index" and name not in linked:
                linked.append(name)
    assert linked == EXPERIMENTS


def test_each_method_page_links_its_optimizer_page_and_names_its_source():
    for page, module in [("adagrad.md", "adagrad"), ("rmsprop.md", "rmsprop"), ("adam.md", "adam"),
                         ("adamw.md", "adamw"), ("amsgrad-radam.md", "radam")]:
        text = (COURSE / page).read_text()
        assert f"(../optimizers/{module}.md)" in text, f"course/{page}: no link to its optimizer"
        assert f"`optim/{module}.py`" in text and ".rule`" in text, f"course/{page}: no source named"
        assert (Path(conftest.ROOT, "optim", f"{module}.py")).exists()


def test_the_symbol_table_maps_the_article_to_the_code():
    """The first page's table: the rows whose names differ between the article and the code."""
    table = (COURSE / "index.md").read_text()
    for row in [r"| $\alpha$ | the learning rate | **`lr`**", r"| $G_t$ |", "**`\"sum\"`**",
                r"| $\beta$ (RMSProp) | the decay of the average of $g^2$ | **`alpha`**",
                r"| $\beta_1, \beta_2$ |", "`betas=", r"| $\lambda$ | weight decay | `weight_decay`"]:
        assert row in table
