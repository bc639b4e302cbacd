"""The experiments of `minigrad experiment`: each quick run asserts the direction of its claim
(the numbers it prints), writes its figure, and the command lists the whole subject."""
import os

import pytest

from models import experiments


def quick(name, tmp_path):
    result = experiments.run(name, quick=True, out=str(tmp_path))
    assert result["png"] == os.path.join(str(tmp_path), f"{name}.png")
    assert os.path.getsize(result["png"]) > 10_000
    with open(result["txt"]) as f:  # what it printed, for the docs
        assert f.read().startswith(f"== {name}: SMOKE RUN")
    return result


# ======================================================================== the claims

def test_amsgrad_converges_where_adam_goes_to_the_worst_point(tmp_path):
    r = quick("amsgrad", tmp_path)["settings"]
    theorem, synthetic = r["theorem (C = 3)"], r["synthetic (1010 / -10, period 101)"]
    assert theorem["Adam"]["final_x"] > 0.95 and theorem["AMSGrad"]["final_x"] < -0.95
    assert synthetic["Adam"]["final_x"] > 0.9 and synthetic["AMSGrad"]["final_x"] < -0.9
    for s in (theorem, synthetic):  # Adam's average regret does not go to 0
        assert s["AMSGrad"]["average_regret"] < 0.6 * s["Adam"]["average_regret"]




def test_recipes_table_has_every_guideline_and_the_transformer_row_waits(tmp_path, capsys):
    from models import tasks
    if "names-gpt" in tasks.TASKS:
        pytest.skip("names-gpt exists: the row runs (test_the_transformer_row_runs_when_the_task_exists)")
    r = quick("recipes", tmp_path)
    rows = {g["task"]: g for g in r["guidelines"]}
    assert list(rows) == ["names", "digits", "names-gpt", "sparse-vocab"]
    assert rows["names-gpt"]["held"] is None and "not available" in rows["names-gpt"]["result"]
    assert rows["sparse-vocab"]["held"] is True  # AdaGrad and Adam beat SGD within 150 steps
    out = capsys.readouterr().out
    assert "held here?" in out and "not available: models/tasks.py has no names-gpt task yet" in out


def test_the_transformer_row_runs_when_the_task_exists(monkeypatch):
    """When another change adds names-gpt to TASKS, the recipe runs it: here a stand-in task of
    that name (the names MLP) shows the row is wired to the task registry, not hard-coded."""
    from models import tasks
    from models.experiments import recipes

    class StandIn(recipes.QuickNames):
        name, steps = "names-gpt", 3

    monkeypatch.setitem(tasks.TASKS, "names-gpt", StandIn)
    runs, _, summary, _ = recipes.transformer_warmup(quick=True)
    assert set(runs) == {f"AdamW lr 0.003, {s}" for s in ("warmup-cosine", "cosine", "none")}
    assert all(len(r["history"]["loss"]) == 3 for r in runs.values())
    assert summary[1] == "names-gpt" and isinstance(summary[3], bool) and "val loss" in summary[2]


@pytest.mark.parametrize("method,cls", [("Adam", "Adam"), ("RAdam", "RAdam")])
def test_warmup_effective_step_is_what_the_optimizer_multiplies_m_hat_by(method, cls):
    # |update| = effective step * |m_hat|, element by element, through and after RAdam's rectification
    import numpy as np

    import optim
    from minigrad.nn import Parameter
    from models.experiments.warmup import effective_steps
    p = Parameter(np.random.default_rng(0).standard_normal(50))
    opt = getattr(optim, cls)([p], lr=0.01)
    for t in range(1, 9):
        p.grad = np.random.default_rng(t).standard_normal(50)
        before = p.data.copy()
        opt.step()
        m_hat = opt.state[p]["exp_avg"] / (1 - 0.9 ** t)
        np.testing.assert_allclose(np.abs(p.data - before), effective_steps(opt) * np.abs(m_hat),
                                   rtol=1e-6)


def test_radam_rectifies_after_rho_5_and_adam_early_steps_spread_widest(tmp_path):
    import numpy as np

    from models.experiments import warmup
    r = quick("warmup", tmp_path)
    steps = len(r["r"])
    assert r["rectified"] == [warmup.rho(t) > 5 for t in range(1, steps + 1)]
    assert r["rectified"][:5] == [False] * 5 and all(r["rectified"][5:])  # beta2 = 0.999
    assert r["r"][:5] == [0.0] * 5 and 0 < r["r"][5] < r["r"][-1] < 1
    for label, by in r["settings"].items():
        adam, warm, radam = (np.array(by[m]["effective_step_percentiles"]) for m in warmup.METHODS)
        assert adam[0, 2] / adam[0, 0] > adam[-1, 2] / adam[-1, 0], label  # p99/p1: widest at step 1
        # one initialisation, one batch: at step 1 warmup only scales the rate down
        assert warm[0] == pytest.approx(adam[0] / warmup.WARMUP[True], rel=1e-5)  # float32
        assert (radam[:5] == warmup.LR).all()  # momentum steps of lr * m_hat, no spread
    assert r["png"] and os.path.exists(r["png"])
