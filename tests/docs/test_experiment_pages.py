"""The experiment pages, made at build time from each module and its saved outputs: the claim
quoted, the setup, the figure (click to enlarge), what to look for, each verdict as a callout with
its numbers, the command, the code it exercises, and a build that refuses stale outputs."""
import sys
from pathlib import Path

import pytest

from models import experiments
from models.experiments import provenance

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import docgen  # noqa: E402 (found through the sys.path entry above)
import mkdocs_hooks  # noqa: E402

ENTRY = experiments.BY_NAME["amsgrad"]
VERDICTS = [
    {"claim": "Adam ends at the worst point", "outcome": "held", "numbers": "x 1.0 vs 0.0"},
    {"claim": "AMSGrad beats Adam by 0.1", "outcome": "within noise", "numbers": "mean 0.05"},
    {"claim": "bias correction is 1 - beta^t", "outcome": "held (exact)", "numbers": "exact"},
    {"claim": "a caveat", "outcome": "note", "numbers": ""},
]


def _outputs(tmp_path, module, **changes):
    (tmp_path / "amsgrad.png").write_bytes(b"\x89PNG")
    (tmp_path / "amsgrad.txt").write_text("== amsgrad: the claim\n| a | b |\nheld: ...\n")
    record = {"name": "amsgrad", "quick": False, "seconds": 61.0, "commit": "abc1234",
              "code_hash": provenance.code_hash(module), "verdicts": VERDICTS, "figure": "amsgrad.png"}
    record.update(changes)
    provenance.save(tmp_path / "amsgrad.json", record)


@pytest.fixture
def module(monkeypatch):
    module = experiments.module_of(ENTRY)
    monkeypatch.setattr(module, "QUOTE", "AMSGrad keeps the maximum of v.", raising=False)
    monkeypatch.setattr(module, "SECTION", "AMSGrad", raising=False)
    monkeypatch.setattr(module, "LOOK_FOR", "the red curve ends at +1.", raising=False)
    return module


def test_a_current_page_has_every_part(tmp_path, module):
    _outputs(tmp_path, module)
    page, problems = docgen.experiment_page(ENTRY, module, tmp_path)
    assert problems == []
    assert f"# {ENTRY.title}" in page
    assert '!!! quote "The claim, from AMSGrad"' in page and "AMSGrad keeps the maximum of v." in page
    assert "## The setup" in page
    assert "[![" in page and "](amsgrad.png){ .experiment-figure }](amsgrad.png" in page  # click to enlarge
    assert '!!! tip "What to look for"' in page and "the red curve ends at +1." in page
    for kind, title in [("success", "Held"), ("warning", "Within noise"), ("success", "Held (exact)"),
                        ("note", "Note")]:
        assert f'!!! {kind} "{title}"' in page
    assert "**AMSGrad beats Adam by 0.1**  \n    mean 0.05" in page
    assert "minigrad experiment amsgrad" in page and "61 s" in page and "abc1234" in page
    assert "(../optimizers/adam.md): `optim/adam.py`, lines" in page and "Adam.rule" in page
    assert "Everything the command printed" in page and "| a | b |" in page


@pytest.mark.parametrize("changes,problem", [
    ({"code_hash": "0" * 16}, "code changed"),
    ({"quick": True}, "smoke run"),
])
def test_a_stale_or_smoke_output_is_a_problem(changes, problem, tmp_path, module):
    _outputs(tmp_path, module, **changes)
    problems = docgen.experiment_page(ENTRY, module, tmp_path)[1]
    assert len(problems) == 1 and problem in problems[0]


def test_missing_outputs_and_page_parts_are_problems(tmp_path, module, monkeypatch):
    monkeypatch.delattr(module, "LOOK_FOR")
    _outputs(tmp_path, module)
    (tmp_path / "amsgrad.txt").unlink()
    problems = docgen.experiment_page(ENTRY, module, tmp_path)[1]
    assert any("LOOK_FOR" in p for p in problems) and any("amsgrad.txt" in p for p in problems)
    (tmp_path / "amsgrad.json").unlink()
    (tmp_path / "amsgrad.png").unlink()
    page, problems = docgen.experiment_page(ENTRY, module, tmp_path)
    assert any("no saved output" in p for p in problems) and any("amsgrad.png" in p for p in problems)
    assert "Not yet run." in page


def test_a_pending_entry_gets_a_page_saying_so_and_no_problem():
    entry = experiments.Entry("later", "Later", "a claim", pending="waits for the transformer")
    page, problems = docgen.experiment_page(entry, None)
    assert problems == [] and "Not yet available" in page and "waits for the transformer" in page


def test_the_index_shows_each_claim_with_its_verdicts(tmp_path, module):
    _outputs(tmp_path, module)
    pending = experiments.Entry("later", "Later", "a claim", pending="waits")
    table = docgen.experiments_table([(ENTRY, module), (pending, None)], tmp_path)
    assert f"| 1 | [{ENTRY.title}](amsgrad.md) |" in table
    assert "**held**: Adam ends at the worst point" in table and "**within noise**" in table
    assert "a caveat" not in table  # notes are on the page, not in the index
    assert "| 2 | [Later](later.md) | a claim | not yet available |" in table


def test_the_build_warns_naming_a_stale_experiment(tmp_path, module, monkeypatch, caplog):
    _outputs(tmp_path, module, code_hash="0" * 16)
    monkeypatch.setattr(docgen, "EXPERIMENT_OUTPUTS", tmp_path)
    monkeypatch.setattr(docgen, "experiments", lambda: [(ENTRY, module)])
    config = {"nav": [{"Experiments": "experiments/index.md"}]}
    with caplog.at_level("WARNING", logger="mkdocs.plugins.minigrad"):
        mkdocs_hooks.on_config(config)
    assert config["nav"] == [{"Experiments": ["experiments/index.md", {ENTRY.title: "experiments/amsgrad.md"}]}]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "experiment amsgrad" in warning and "code changed" in warning
    assert "run_experiments.py amsgrad" in warning


@pytest.mark.parametrize("content,problem", [
    ("{\"name\": \"amsgrad\", ", "not valid JSON"),
    ("[1, 2]", "holds a list"),
    ('{"verdicts": "held", "seconds": 1, "code_hash": "x"}', "'verdicts' is not a list"),
    ('{"verdicts": [], "code_hash": "x"}', "lacks 'seconds'"),
    ('{"verdicts": [{"claim": "c", "outcome": "totally held"}], "seconds": 1, "code_hash": "x"}', "verdict 0"),
])
def test_a_corrupt_record_is_a_problem_naming_the_file_not_a_crash(content, problem, tmp_path, module):
    _outputs(tmp_path, module)
    (tmp_path / "amsgrad.json").write_text(content)
    page, problems = docgen.experiment_page(ENTRY, module, tmp_path)
    assert len(problems) == 1 and problem in problems[0] and "amsgrad.json" in problems[0]
    assert "Not yet run." in page and "](amsgrad.png)" in page
    table = docgen.experiments_table([(ENTRY, module)], tmp_path)
    assert "unreadable" in table
