"""hyperparameters' smoke run: the table's neighbourhood swept, the best setting and the best inside
the table found; where a setting lies relative to the table, checked exactly."""
import math

import numpy as np

from models.experiments import hyperparameters as hp
from models.experiments import lr_sensitivity, verdicts


def test_the_best_and_the_best_inside_the_table(smoke):
    r = smoke("hyperparameters")
    assert set(r["tasks"]) == {"digits", "names"}
    for res in r["tasks"].values():
        assert set(res) == set(hp.SWEEP)
        for o, x in res.items():
            mean = np.array(x["mean"])
            assert mean.shape == (len(hp.SWEEP[o][1]), hp.QUICK_LRS)  # weight decays x 4 rates
            b, i = x["best"], x["best_inside"]
            assert b["loss"] == mean.min() and b["loss"] <= i["loss"]
            assert hp.inside(o, 4 * math.log10(i["lr"]), i["wd"])
            assert len(b["per_seed"]) == len(i["per_seed"]) == 2
            assert b["inside"] == hp.inside(o, round(4 * math.log10(b["lr"])), b["wd"])


def test_inside_and_how_far_outside():
    assert hp.inside("SGD+momentum", -8, 1e-4) and hp.inside("SGD+momentum", -4, 1e-4)
    assert not hp.inside("SGD+momentum", -2, 1e-4) and not hp.inside("SGD+momentum", -6, 0.0)
    assert hp.inside("AdamW", -14, 0.1) and not hp.inside("AdamW", -14, 0.0)
    assert math.isclose(hp.decades_outside("SGD+momentum", 10 ** -0.5), 0.5)
    assert math.isclose(hp.decades_outside("Adam", 1e-5), -1.0)
    assert hp.decades_outside("Adam", 3e-4) == 0.0


def test_the_sweep_reaches_past_the_table_on_both_sides():
    for qs, _, (lo, hi), _ in hp.SWEEP.values():
        lrs = [10 ** (q / 4) for q in qs]
        assert min(lrs) < lo and max(lrs) > 3 * hi


def test_adamw_without_decay_is_adam_and_is_that_run():
    from models.experiments import sweeps
    key = ("digits", "AdamW", -10, 0.0, 1, True)
    assert sweeps.canonical(key) == ("digits", "Adam", -10, 0.0, 1, True)
    assert sweeps.one(*key) == sweeps.one(*sweeps.canonical(key))
    assert sweeps.canonical(("digits", "AdamW", -10, 0.01, 1, True))[1] == "AdamW"


def test_it_shares_runs_with_lr_sensitivity():
    shared = set(hp.keys(False)) & set(lr_sensitivity.keys(False))
    # SGD+momentum and Adam without decay, AdamW at 0.01: every even grid point both sweep
    per_seed_and_task = {(k[1], k[2], k[3]) for k in shared}
    assert {o for o, _, _ in per_seed_and_task} == {"SGD+momentum", "Adam", "AdamW"}
    assert len(shared) == len(per_seed_and_task) * 2 * verdicts.SEEDS
    assert len(per_seed_and_task) == 7 + 6 + 6
