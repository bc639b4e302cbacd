"""lr-sensitivity's smoke run: each optimizer swept over three decades, its good range measured per
seed; and the pieces that decide the numbers (the width, the shared runs) checked exactly."""
import math

import numpy as np

from models.experiments import lr_sensitivity, sweeps


def test_each_optimizer_swept_over_three_decades_with_a_width_per_seed(smoke):
    r = smoke("lr-sensitivity")
    assert set(r["tasks"]) == {"digits", "names"}
    for res in r["tasks"].values():
        assert set(res["optimizers"]) == set(sweeps.OPTIMIZERS)
        for opt in res["optimizers"].values():
            lrs = opt["lrs"]
            assert len(lrs) == 13 and math.isclose(lrs[-1] / lrs[0], 1000.0)
            assert np.array(opt["losses"]).shape == (2, 13)  # 2 seeds x 13 rates
            # widths are whole quarter-decades, from one point (0.25) to the whole grid (3.25)
            assert all(0.25 <= w <= 3.25 and (4 * w) == round(4 * w) for w in opt["widths"])
            assert opt["best_loss"] < res["chance"]  # even 30 steps learn something at the best rate
    # Adam's best rate is far below SGD's: the grids are placed around each optimizer's own scale
    digits = r["tasks"]["digits"]["optimizers"]
    assert digits["Adam"]["best_lr"] < digits["SGD"]["best_lr"] / 3


def test_the_good_range_is_the_contiguous_run_around_the_best():
    losses = [3.0, 2.0, 1.0, 1.05, 2.0, 1.02]  # 1.02 is within tolerance but not contiguous
    assert sweeps.good_range(losses, [0, 1, 2, 3, 4, 5], 0.1) == (2, 3, 0.5)
    assert sweeps.good_range([1.0, 5.0], [4, 5], 0.1) == (0, 0, 0.25)
    assert sweeps.good_range([1.0, math.inf, 1.0], [0, 1, 2], 0.1)[2] == 0.25  # a diverged rate breaks it


def test_runs_are_made_once_and_shared(monkeypatch):
    calls = []
    real = sweeps.parallel.map
    monkeypatch.setattr(sweeps.parallel, "map", lambda fn, jobs: calls.append(len(jobs)) or real(fn, jobs))
    key = ("digits", "Adam", -10, 0.0, 0, True)
    first = sweeps.final_losses([key])
    again = sweeps.final_losses([key, key])
    assert first == again and calls[-1] == 0  # the second call made no run
    assert sweeps.one(*key) == first[key]  # a run is a function of its key


def test_lr_grid_is_exact_quarter_decades():
    assert sweeps.lr_of(-8) == 0.01 and sweeps.lr_of(-12) == 0.001
    assert lr_sensitivity.grid("SGD")[0] == -8 and len(lr_sensitivity.grid("Adam")) == 13
