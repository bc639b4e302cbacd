"""Every ```python block in README.md and the docs runs as pasted.

Each block runs alone, in a fresh namespace, with a temporary folder as the working directory
(files it writes land there). A failure names the file and the line of the block, and the
traceback's lines are the Markdown file's. A block that needs PyTorch, a GPU or MPI skips,
saying so, where that is missing. The pages tools/mkdocs_hooks.py makes at build time (one per
optimizer and per experiment) are not files in docs/, so they are not read here; their code is
the library's own source.
"""
import importlib.util
import re
import textwrap
import traceback
from pathlib import Path

import pytest

import conftest
from minigrad import backend

ROOT = Path(conftest.ROOT)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(\s*)```python\s*$")

# Blocks that may not run as pasted: (page, the block's first line) -> what it lacks. They run
# as expected failures; an XPASS means the entry can go. None today: keep it that way.
FRAGMENTS = {}


def blocks(page):
    """(line of the block's first code line, its code) for each ```python block of a page."""
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if not FENCE.match(lines[i]):
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise ValueError(f"{page.relative_to(ROOT)}:{i + 1}: a ```python block never closes")
        yield i + 2, textwrap.dedent("\n".join(lines[i + 1:end]))
        i = end + 1


def _missing(code):
    """Why this block cannot run here (it needs torch, a GPU or MPI, and that is missing), or None."""
    if re.search(r"^\s*(import|from) (torch|safetensors\.torch)\b", code, re.M) \
            and importlib.util.find_spec("torch") is None:
        return "the block uses PyTorch, which is not installed"
    if re.search(r"""["']cuda|^\s*(import|from) cupy""", code, re.M) \
            and backend.gpu_unavailable_reason() is not None:
        return f"the block uses a GPU: {backend.gpu_unavailable_reason()}"
    if "minigrad.distributed" in code and importlib.util.find_spec("mpi4py") is None:
        return "the block uses MPI: mpi4py is not installed (pip install -e '.[mpi]')"
    return None


def _cases():
    cases = []
    for page in PAGES:
        name = page.relative_to(ROOT).as_posix()
        for line, code in blocks(page):
            first = code.strip().splitlines()[0] if code.strip() else ""
            why = FRAGMENTS.get((name, first))
            marks = [pytest.mark.xfail(reason=f"a fragment: {why}", strict=False)] if why else []
            cases.append(pytest.param(name, line, code, id=f"{name}:{line}", marks=marks))
    return cases


CASES = _cases()


def test_the_pages_have_blocks_to_run():
    pages = {case.values[0] for case in CASES}
    assert {"README.md", "docs/index.md", "docs/saving.md"} <= pages, pages
    assert sum(case.values[0] == "README.md" for case in CASES) >= 4


def test_every_fragment_listed_is_still_a_block():
    found = {(case.values[0], case.values[2].strip().splitlines()[0]) for case in CASES}
    assert set(FRAGMENTS) <= found, set(FRAGMENTS) - found


@pytest.mark.parametrize("page, line, code", CASES)
def test_the_block_runs_as_pasted(page, line, code, tmp_path, monkeypatch):
    why = _missing(code)
    if why:
        pytest.skip(why)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    compiled = compile("\n" * (line - 1) + code, page, "exec")  # tracebacks give the page's lines
    failure = None
    try:
        exec(compiled, {"__name__": "__main__"})
    except Exception as e:  # noqa: BLE001 -- any error of the block is the failure to report
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__.tb_next))
        failure = (f"{page}:{line}: the ```python block starting here fails as pasted: "
                   f"{type(e).__name__}: {e}\n{tb}")
    if failure:
        pytest.fail(failure, pytrace=False)
