"""adamw-vs-l2: the grid, the best λ's slope, and L2's per-weight decay."""
import numpy as np
import pytest

from models.experiments.adamw_vs_l2 import best_log_lambda, slope, weight_decay_argument


def test_the_paper_lambda_is_torch_lambda_times_lr():
    assert weight_decay_argument("AdamW, paper's λ", 1e-2, 1e-3) == 0.1
    assert weight_decay_argument("AdamW, paper's λ", 1e-3, 1e-5) == 0.01
    assert weight_decay_argument("AdamW, torch's λ", 1e-3, 0.5) == 0.5


def test_best_lambda_and_slope():
    lams = (1e-4, 1e-3, 1e-2, 1e-1)
    assert best_log_lambda([3, 2, 1, 2], lams) == pytest.approx(-2.0)  # symmetric: the grid point
    assert best_log_lambda([1, 2, 3, 4], lams) == -4.0                  # an edge stays the edge
    assert -2.5 <= best_log_lambda([3, 1.5, 1, 3], lams) < -2.0         # pulled towards the lower side
    assert slope([1e-3, 1e-2, 1e-1], [-5.0, -4.0, -3.0]) == pytest.approx(1.0)


def test_grid_and_decay_spread(smoke):
    r = smoke("adamw-vs-l2")
    assert min(r["decay_spread"]) > 10  # L2's pull differs per weight; AdamW's is one number
    assert set(r["best"]) == {"none", "Adam + L2", "AdamW, torch's λ", "AdamW, paper's λ"}
    assert set(r["slopes"]) == {"Adam + L2", "AdamW, torch's λ", "AdamW, paper's λ"}
    for m, v in r["val_loss"].items():
        assert len(v) == 2 and all(np.isfinite(v)), m
    # a heavy decay (torch's λ 1 at lr 3e-3) hurts more than a light one
    assert np.mean(r["val_loss"]["AdamW, torch's λ lr 0.003 λ 1"]) > \
        np.mean(r["val_loss"]["AdamW, torch's λ lr 0.003 λ 0.01"])
