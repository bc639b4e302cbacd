"""The machinery under every experiment's verdict: the 95% interval, the three outcomes against a
stated margin, the smoke run's refusal to decide, the code hash that makes saved outputs stale,
and the seeds run in several processes giving the same numbers as in one."""
import math
import sys
import types

import numpy as np
import pytest

from models.experiments import parallel, provenance, verdicts


@pytest.fixture(autouse=True)
def full_run():
    verdicts.start(quick=False)
    yield
    verdicts.start(quick=False)


def test_interval_is_the_t_interval():
    mean, lo, hi = verdicts.interval([1, 2, 3, 4, 5])
    half = 2.776 * math.sqrt(2.5) / math.sqrt(5)  # t_{0.975,4} s / sqrt(n)
    assert mean == 3 and lo == pytest.approx(3 - half) and hi == pytest.approx(3 + half)
    assert verdicts.t975(1) == 12.706 and verdicts.t975(30) == 2.042
    assert abs(verdicts.t975(1000) - 1.962) < 0.003
    assert verdicts.interval([1.0, math.nan, 2.0])[1:] == (-math.inf, math.inf)
    with pytest.raises(ValueError, match="at least 2 values"):
        verdicts.interval([1.0])


# (winner, loser, margin, lower_is_better, outcome)
BETTER = [
    ([1.0, 1.1, 0.9, 1.0, 1.0], [2.0, 2.1, 1.9, 2.0, 2.0], 0.5, True, "held"),
    ([2.0, 2.1, 1.9, 2.0, 2.0], [1.0, 1.1, 0.9, 1.0, 1.0], 0.5, True, "did not hold"),  # it loses
    ([1.0, 1.1, 0.9, 1.0, 1.0], [1.1, 1.2, 1.0, 1.1, 1.1], 0.5, True, "did not hold"),  # wins by < margin
    ([1.0, 2.0, 0.5, 1.5, 1.0], [1.5, 1.0, 1.5, 1.0, 1.6], 0.1, True, "within noise"),
    ([0.9, 0.95, 0.92, 0.9, 0.91], [0.8, 0.85, 0.81, 0.8, 0.8], 0.05, False, "held"),  # accuracy
    # better on average by more than the margin, but the interval reaches below it: not yet held
    ([0.4, 0.6, 0.3, 0.7, 0.5], [1.0, 1.0, 1.0, 1.0, 1.0], 0.4, True, "within noise"),
]


@pytest.mark.parametrize("winner,loser,margin,lower,outcome", BETTER)
def test_better_decides_by_the_interval_and_the_margin(winner, loser, margin, lower, outcome, capsys):
    assert verdicts.better("A beats B", winner, loser, margin, lower_is_better=lower) == outcome
    line = capsys.readouterr().out
    assert line.startswith(f"{outcome}: A beats B (") and "95% interval" in line and "5 seeds" in line
    (v,) = verdicts.recorded()
    assert v["outcome"] == outcome and v["margin"] == margin and len(v["per_seed"]) == 5


@pytest.mark.parametrize("a,b,margin,outcome", [
    ([1.0, 1.01, 0.99, 1.0, 1.0], [1.0, 1.0, 1.0, 1.01, 0.99], 0.1, "held"),
    ([2.0, 2.01, 1.99, 2.0, 2.0], [1.0, 1.0, 1.0, 1.01, 0.99], 0.1, "did not hold"),
    ([1.0, 1.3, 0.8, 1.2, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0], 0.1, "within noise"),
])
def test_same_is_an_equivalence_within_the_margin(a, b, margin, outcome):
    assert verdicts.same("A is B", a, b, margin) == outcome


@pytest.mark.parametrize("fn,values,threshold,outcome", [
    (verdicts.above, [11, 12, 13, 12, 12], 10, "held"),
    (verdicts.above, [5, 6, 7, 6, 6], 10, "did not hold"),
    (verdicts.above, [5, 16, 7, 16, 6], 10, "within noise"),
    (verdicts.below, [5, 6, 7, 6, 6], 10, "held"),
    (verdicts.below, [11, 12, 13, 12, 12], 10, "did not hold"),
])
def test_one_number_against_a_threshold(fn, values, threshold, outcome):
    assert fn("x vs threshold", values, threshold) == outcome


def test_a_smoke_run_gives_no_statistical_verdict_but_keeps_exact_checks(capsys):
    verdicts.start(quick=True)
    assert verdicts.better("A beats B", [1.0, 1.0], [2.0, 2.0], 0.1) == verdicts.SMOKE
    assert verdicts.same("A is B", [1.0, 1.0], [1.0, 1.0], 0.1) == verdicts.SMOKE
    assert verdicts.above("x", [5.0, 5.0], 1.0) == verdicts.SMOKE
    assert verdicts.exact("1 - beta^t", True, "exact") == "held (exact)"
    assert verdicts.exact("1 - beta^t", False, "off by 1e-3") == "did not hold"
    out = capsys.readouterr().out
    assert out.count("smoke run: no verdict") == 3 and "held (exact): 1 - beta^t (exact)" in out
    assert [v["outcome"] for v in verdicts.recorded()] == [verdicts.SMOKE] * 3 + ["held (exact)", "did not hold"]


def test_paired_values_must_match():
    with pytest.raises(ValueError, match="paired per-seed values"):
        verdicts.better("A beats B", [1.0, 2.0], [1.0, 2.0, 3.0], 0.1)


def _module(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    return module


def test_code_hash_follows_the_code_not_its_docstrings_or_comments(tmp_path):
    before = provenance.code_hash(_module(tmp_path, "e", '"""Doc."""\ndef run():\n    return 1  # one\n'))
    reworded = provenance.code_hash(_module(tmp_path, "e", '"""Other doc."""\ndef run():\n    """Hi."""\n'
                                                          '    return 1  # uno\n'))
    changed = provenance.code_hash(_module(tmp_path, "e", '"""Doc."""\ndef run():\n    return 2\n'))
    assert before == reworded != changed


def test_the_hash_covers_the_optimizers_the_experiment_uses(tmp_path):
    import optim
    module = _module(tmp_path, "e", "x = 1\n")
    alone = provenance.code_hash(module)
    module.USES = (optim.Adam,)
    assert "optim/adam.py" in provenance.code_files(module)
    assert "models/experiments/verdicts.py" in provenance.code_files(module)
    assert provenance.code_hash(module) != alone


def test_stale_says_why(tmp_path):
    module = _module(tmp_path, "e", "x = 1\n")
    record = {"code_hash": provenance.code_hash(module), "commit": "abc", "quick": False}
    assert provenance.stale(record, module) is None
    assert "no saved output" in provenance.stale(None, module)
    assert "smoke run" in provenance.stale(dict(record, quick=True), module)
    (tmp_path / "e.py").write_text("x = 2\n")
    assert "code changed" in provenance.stale(record, module) and "abc" in provenance.stale(record, module)


def test_save_is_all_or_nothing(tmp_path):
    path = tmp_path / "r.json"
    record = {"verdicts": [], "seconds": 1.0, "code_hash": "x"}
    provenance.save(path, record)
    with pytest.raises(TypeError):
        provenance.save(path, dict(record, a=object()))
    assert provenance.load(path) == record and not (tmp_path / "r.json.tmp").exists()


def _seeded(seed, scale):
    return float(np.random.default_rng(seed).normal() * scale), sys.modules[__name__].__name__


@pytest.mark.parametrize("processes", ["1", "2"])
def test_parallel_map_is_the_serial_map_in_order(processes, monkeypatch):
    monkeypatch.setenv("MINIGRAD_EXPERIMENT_PROCESSES", processes)
    jobs = [(s, 2.0) for s in range(5)]
    assert parallel.map(_seeded, jobs) == [_seeded(*j) for j in jobs]


@pytest.mark.parametrize("value,message", [("two", "whole number"), ("0", "at least 1")])
def test_bad_process_counts_are_refused(value, message, monkeypatch):
    monkeypatch.setenv("MINIGRAD_EXPERIMENT_PROCESSES", value)
    with pytest.raises(ValueError, match=message):
        parallel.processes()


def test_the_hash_covers_what_the_experiment_imports_from_the_package_but_not_the_machinery(tmp_path):
    module = _module(tmp_path, "e", "from .sweeps import grid\nfrom . import parallel, verdicts\n")
    files = provenance.code_files(module)
    assert "models/experiments/sweeps.py" in files
    assert not any(f.endswith(("parallel.py", "provenance.py", "__init__.py")) for f in files)


def test_commit_is_head_and_dirty_only_for_the_files_given(tmp_path):
    import subprocess
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=provenance.ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    assert provenance.commit() == head  # no files: whatever else changed does not count
    assert provenance.commit([str(tmp_path / "outside.py")]) in (head, "unknown")


def test_a_record_without_verdicts_loads_when_asked_and_a_corrupt_one_names_its_file(tmp_path):
    path = tmp_path / "names.json"
    path.write_text('{"rows": [], "code_hash": "x"}')
    assert provenance.load(path, verdicts=False) == {"rows": [], "code_hash": "x"}
    with pytest.raises(ValueError, match=r"names\.json: its 'verdicts' is not a list"):
        provenance.load(path)
    path.write_text('{"rows": [')
    with pytest.raises(ValueError, match=r"names\.json is not valid JSON"):
        provenance.load(path, verdicts=False)
