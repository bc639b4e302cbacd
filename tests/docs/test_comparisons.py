"""docs/comparisons.md's tables, made from the saved outputs of tools/run_comparisons.py: the
markers become the saved tables, a missing, stale or smoke-run output is a build warning, and the
tool refuses a comparison it does not know."""
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from models.experiments import provenance

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import docgen  # noqa: E402 (found through the sys.path entry above)
import mkdocs_hooks  # noqa: E402
import run_comparisons  # noqa: E402

PRINTED = """
optimizer        lr train_loss  steps to 0.01  time s
-----------------------------------------------------
sgd           0.001     0.0036           3909     1.2
momentum      0.001  1.337e-19            393     1.3
adam           0.01  7.777e-09            464     1.4
loss curves: <saved>
trajectories: <saved>
"""


def _outputs(out, **changes):
    """A saved output of the rosenbrock comparison, current unless changes say otherwise."""
    columns, rows, timing = run_comparisons.parse_compare(PRINTED)
    (out / "rosenbrock.txt").write_text(PRINTED)
    for figure in ("rosenbrock.png", "rosenbrock-trajectories.png"):
        (out / figure).write_bytes(b"\x89PNG")
    record = {"name": "rosenbrock", "command": "minigrad " + " ".join(run_comparisons.command("rosenbrock")),
              "smoke": False, "columns": columns, "rows": rows, "timing": timing,
              "figures": ["rosenbrock.png", "rosenbrock-trajectories.png"],
              "commit": "abc1234", "code_hash": run_comparisons.code_hash("rosenbrock")}
    record.update(changes)
    provenance.save(out / "rosenbrock.json", record)


def _mine(problems, name="rosenbrock"):
    return [p for n, p in problems if n == name]


def test_the_printed_table_is_read_without_its_time_column():
    columns, rows, timing = run_comparisons.parse_compare(PRINTED)
    assert columns == ["optimizer", "lr", "train loss", "steps to 0.01"]
    assert rows[1] == ["momentum", "0.001", "1.337e-19", "393"]
    assert timing == {"sgd": 1.2, "momentum": 1.3, "adam": 1.4}


def test_a_marker_becomes_the_saved_table(tmp_path):
    _outputs(tmp_path)
    page, problems = docgen.comparisons_markdown("Before.\n\n<!-- comparison: rosenbrock -->\n\nAfter.\n",
                                                 tmp_path)
    assert _mine(problems) == []
    assert "<!-- comparison" not in page and page.startswith("Before.") and page.endswith("After.\n")
    assert "| optimizer | lr | train loss | steps to 0.01 |" in page
    assert "| momentum | 0.001 | 1.337e-19 | 393 |" in page
    assert "1.3 |" not in page  # the wall-clock column is not shown
    assert "](comparisons/rosenbrock.png)" in page and "](comparisons/rosenbrock-trajectories.png)" in page
    assert "](comparisons/rosenbrock.txt)" in page
    assert "`minigrad compare --task rosenbrock`" in page and "abc1234" in page
    # the other comparisons have no marker on this page: each is a problem
    assert set(n for n, _ in problems) == set(run_comparisons.COMPARISONS) - {"rosenbrock"}


@pytest.mark.parametrize("changes, why", [
    ({"code_hash": "0" * 16}, "its code changed since the output was saved"),
    ({"smoke": True}, "smoke run"),
    ({"command": "minigrad compare --task rosenbrock --steps 10"}, "not the page's"),
])
def test_a_stale_output_is_a_problem(tmp_path, changes, why):
    _outputs(tmp_path, **changes)
    _, problems = docgen.comparisons_markdown("<!-- comparison: rosenbrock -->", tmp_path)
    assert any(why in p for p in _mine(problems))


def test_missing_outputs_and_unknown_markers_are_problems(tmp_path):
    page, problems = docgen.comparisons_markdown("<!-- comparison: rosenbrock -->\n<!-- comparison: nope -->",
                                                 tmp_path)
    assert "Not yet generated" in page and "python tools/run_comparisons.py rosenbrock" in page
    assert _mine(problems) == ["no saved output"]
    assert "unknown comparison" in _mine(problems, "nope")[0]
    _outputs(tmp_path)
    (tmp_path / "rosenbrock.png").unlink()
    assert _mine(docgen.comparisons_markdown("<!-- comparison: rosenbrock -->", tmp_path)[1]) == \
        ["rosenbrock.png is missing"]


def test_the_build_warns_on_a_stale_output(tmp_path, monkeypatch, caplog):
    _outputs(tmp_path, code_hash="0" * 16)
    monkeypatch.setattr(run_comparisons, "OUT", tmp_path)
    page = SimpleNamespace(file=SimpleNamespace(src_uri="comparisons.md"))
    with caplog.at_level(logging.WARNING, logger="mkdocs.plugins.minigrad"):
        markdown = mkdocs_hooks.on_page_markdown("<!-- comparison: rosenbrock -->", page, {}, None)
    assert "| optimizer | lr |" in markdown
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("comparison rosenbrock: its code changed") and
               "python tools/run_comparisons.py rosenbrock" in m for m in warned)


def test_the_page_marks_every_comparison_and_no_other():
    text = (ROOT / "docs" / "comparisons.md").read_text(encoding="utf-8")
    _, problems = docgen.comparisons_markdown(text, ROOT / "nowhere")
    assert [(n, p) for n, p in problems if p != "no saved output"] == []


def test_the_tool_refuses_an_unknown_comparison(tmp_path, capsys):
    assert run_comparisons.main(["rosenbrock", "bogus", "--out", str(tmp_path / "out")]) == 2
    assert "unknown comparison 'bogus'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_a_smoke_run_saves_outputs_the_build_refuses(tmp_path):
    assert run_comparisons.main(["rosenbrock", "--steps", "3", "--out", str(tmp_path)]) == 0
    record = provenance.load(tmp_path / "rosenbrock.json", verdicts=False)
    assert record["smoke"] and record["command"] == "minigrad compare --task rosenbrock --steps 3"
    assert record["columns"][:3] == ["optimizer", "lr", "train loss"] and len(record["rows"]) == 8
    assert record["figures"] == ["rosenbrock.png", "rosenbrock-trajectories.png"]
    assert (tmp_path / "rosenbrock.txt").read_text().count("<saved>") == 2
    assert "smoke run" in run_comparisons.stale(record, "rosenbrock")
    assert "models/compare.py" in record["files"] and "optim/adam.py" in record["files"]
