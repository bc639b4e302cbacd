"""`minigrad experiment`: the list in course order, refusals, and what a run saves (the printed
output, the figure, and the record with its verdicts, commit and code hash)."""
import json
import os
import sys
import types

import pytest

from models import cli, experiments


def test_list_names_every_entry_in_course_order_and_how_it_runs(capsys):
    assert cli.main(["experiment", "--list"]) == 0
    out = capsys.readouterr().out
    at = [out.index(f" {e.name} ") for e in experiments.EXPERIMENTS]
    assert at == sorted(at)
    for e in experiments.EXPERIMENTS:
        assert experiments.status(e) in out
    assert "minigrad experiment amsgrad" in out


@pytest.fixture
def stand_in(monkeypatch, tmp_path):
    """A registry of one stand-in experiment (a real module file, recording how it was called)
    and one pending entry, so the command's wiring is tested without the experiments' minutes."""
    source = tmp_path / "stand_in.py"
    source.write_text("USES = ()\n")
    calls = []

    def run(quick, out):
        from models.experiments import verdicts
        calls.append((quick, out))
        path = os.path.join(out, "stand-in.png")
        open(path, "wb").close()
        verdicts.better("A beats B", [1.0, 1.1, 0.9, 1.0, 1.0], [2.0, 2.2, 1.9, 2.1, 2.0], 0.5)
        return {"png": path}

    module = types.ModuleType("models.experiments.stand_in")
    module.__file__, module.run, module.USES = str(source), run, ()
    monkeypatch.setitem(sys.modules, "models.experiments.stand_in", module)
    entries = [experiments.Entry("stand-in", "Stand-in", "a claim", module="stand_in"),
               experiments.Entry("later", "Later", "another claim", pending="waits for something")]
    monkeypatch.setattr(experiments, "EXPERIMENTS", entries)
    monkeypatch.setattr(experiments, "BY_NAME", {e.name: e for e in entries})
    return calls


@pytest.mark.parametrize("argv,message", [
    (["experiment"], "give one of"),
    (["experiment", "stand-in", "--all"], "give one of"),
    (["experiment", "nope"], "unknown experiment 'nope'"),
    (["experiment", "later"], "not yet available: waits for something"),
])
def test_bad_or_unavailable_names_exit_2_saying_why(argv, message, stand_in, capsys, tmp_path):
    assert cli.main(argv + ["--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # refused before anything was written


@pytest.mark.parametrize("argv,quick", [(["stand-in"], False), (["stand-in", "--quick"], True),
                                        (["--all", "--quick"], True)])
def test_the_command_runs_experiments_into_out(argv, quick, stand_in, capsys, tmp_path):
    out = tmp_path / "figs"
    assert cli.main(["experiment", *argv, "--out", str(out)]) == 0
    assert stand_in == [(quick, str(out))] and (out / "stand-in.png").exists()
    text = capsys.readouterr().out
    first = text.splitlines()[0]
    assert ("SMOKE RUN" in first and "no verdicts" in first) == quick
    assert f"figure: {out / 'stand-in.png'}" in text
    assert (out / "stand-in.txt").read_text() == text.split("\n\n")[0] + "\n"
    assert ("later: not yet available: waits for something" in text) == ("--all" in argv)
    record = json.loads((out / "stand-in.json").read_text())
    assert record["quick"] == quick and record["name"] == "stand-in" and record["figure"] == "stand-in.png"
    assert record["code_hash"] == experiments.provenance.code_hash(sys.modules["models.experiments.stand_in"])
    assert record["commit"] and record["seconds"] >= 0
    (v,) = record["verdicts"]
    assert v["claim"] == "A beats B"
    assert v["outcome"] == ("smoke run: no verdict" if quick else "held")


def test_a_bad_process_count_is_refused_before_anything_runs(stand_in, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MINIGRAD_EXPERIMENT_PROCESSES", "abc")
    assert cli.main(["experiment", "stand-in", "--out", str(tmp_path / "x")]) == 2
    assert "MINIGRAD_EXPERIMENT_PROCESSES must be a whole number, got 'abc'" in capsys.readouterr().err
    assert stand_in == [] and not (tmp_path / "x").exists()
