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

def test_adagrad_step_only_falls_and_rmsprop_recovers(tmp_path):
    r = quick("adagrad-decay", tmp_path)
    a, rms = r["AdaGrad"], r["RMSProp"]
    assert a["recovery_steps"] is None and a["step_at_end"] < 0.05 * a["step_before_drop"]
    assert a["effective_step_end"] <= a["effective_step_before_drop"] < a["effective_step_start"]
    assert rms["recovery_steps"] is not None and rms["step_at_end"] > 0.5 * rms["step_before_drop"]
    assert rms["recovery_steps"] == pytest.approx(r["predicted_recovery_steps"], rel=0.2)
    assert rms["distance_at_end"] < 0.5 * a["distance_at_end"]


def test_the_bias_correction_ablation_is_optim_adam_when_it_corrects():
    """The ablation is Adam's own rule: with the corrections on, it is optim.Adam bit for bit;
    off, the first update is (1 - beta1) / sqrt(1 - beta2) times larger."""
    import numpy as np

    import minigrad as mg
    import optim
    from models.experiments.bias_correction import AdamFromRule
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(5)]
    start = rng.standard_normal((3, 4)).astype(np.float32)
    ps = {k: mg.nn.Parameter(start.copy()) for k in ("ours", "optim", "off")}
    opts = {"ours": AdamFromRule([ps["ours"]], 1e-2), "optim": optim.Adam([ps["optim"]], lr=1e-2),
            "off": AdamFromRule([ps["off"]], 1e-2, correct=False)}
    for i, g in enumerate(grads):
        for k, opt in opts.items():
            ps[k].grad = g.copy()
            opt.step()
        if i == 0:
            ratio = np.abs(ps["off"].data - start) / np.abs(ps["ours"].data - start)
            np.testing.assert_allclose(ratio, 0.1 / np.sqrt(0.001), rtol=1e-4)
    np.testing.assert_array_equal(ps["ours"].data, ps["optim"].data)
    np.testing.assert_array_equal(opts["ours"].v[0], opts["optim"].state[ps["optim"]]["exp_avg_sq"])


def test_bias_correction_moments_and_first_step(tmp_path):
    r = quick("bias-correction", tmp_path)
    const, noisy = r["moments"]["constant"], r["moments"]["noisy"]
    assert const["m"][0] == pytest.approx(0.1) and const["v"][0] == pytest.approx(0.001)
    assert const["m_hat"] == pytest.approx([1.0] * 50) and const["v_hat"] == pytest.approx([1.0] * 50)
    assert noisy["m"][-1] == pytest.approx(1 - 0.9 ** 50, abs=0.03)
    assert noisy["m_hat"][-1] == pytest.approx(1.0, abs=0.03)
    assert r["first_step_ratio"] == pytest.approx(0.1 / 0.001 ** 0.5, rel=0.02)
    loss = r["loss"]
    assert loss["corrected"][0] == loss["uncorrected"][0]  # one initialisation, one batch
    assert sum(loss["uncorrected"]) > sum(loss["corrected"])  # too-large steps cost early loss


def test_adagrad_keeps_large_steps_for_rare_features(tmp_path):
    r = quick("sparse-features", tmp_path)
    a, s = r["AdaGrad"], r["SGD"]
    assert r["rare_frequency"] < 0.05 * r["common_frequency"]
    assert a["effective_rare"] > 3 * a["effective_common"]
    assert s["effective_rare"] == s["effective_common"] == s["lr"]
    assert a["moved_rare"] > 2 * s["moved_rare"]
    assert a["steps_to_target"] is not None and a["val_loss"] < s["val_loss"]


def test_adam_update_is_about_lr_whatever_the_scale(tmp_path):
    r = quick("sign-descent", tmp_path)
    first, last = r["names"][1], r["names"][30]
    assert first["within_2x"] > 0.95 and first["update_decades"] < 0.1 < 1 < first["grad_decades"]
    assert last["p99"] < 2.0  # bounded by about lr, whatever |g|
    assert r["adam_max_distance"] < 1e-3
    sgd = {k: v["SGD"] for k, v in r["rosenbrock"].items()}
    assert sgd[3]["diverged"] and not sgd[0]["diverged"]
    assert sgd[-3]["final_loss"] > 0.99 * 4.0 > sgd[0]["final_loss"]  # from f(-1, 1) = 4 it stalls


def test_l2_decay_varies_per_weight_and_adamw_does_not(tmp_path):
    r = quick("adamw-vs-l2", tmp_path)
    p = r["decay_percentiles"]
    assert p[90] > 10 * p[10] and r["decay_spread"] > 10
    assert r["adamw_decay"] == pytest.approx(1e-3 * 1e-2)
    assert r["sweep"]["Adam + L2 1"]["val_acc"] < r["sweep"]["AdamW 1"]["val_acc"]  # the same λ differs
    assert set(r["best"]) == {"Adam + L2", "AdamW"}


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
