"""generalization: Wilson et al.'s construction is exact; the real tasks are measured."""
import numpy as np

from models.experiments import generalization as exp


def test_the_construction_is_wilson_et_al_s():
    X, y, _ = exp.draw(0)
    n = exp.N_TRAIN
    assert X.shape == (n, 3 + 5 * n) and y.sum() > 0
    assert (X[:, 0] == y).all() and (X[:, 1:3] == 1).all()
    own = X[:, 3:]
    assert (own.sum(1) == np.where(y > 0, 1, 5)).all() and (own.sum(0) <= 1).all()  # nobody shares
    assert (X @ np.sign(X.T @ y) == 4 * y).all()  # X sign(X'y) = c y with c = 4: Lemma 3.1's condition


def test_gd_generalizes_and_the_adaptive_methods_predict_the_majority(smoke):
    con = smoke("generalization")["constructed"]
    for m in ("GD", "SGD"):
        assert con[m]["test_error"] == [0.0] * len(con[m]["test_error"])
        assert min(con[m]["w1"]) > max(con[m]["w23"])
    for m in exp.ADAPTIVE:
        assert min(con[m]["cos_sign"]) > 0.9999
        assert con[m]["test_error"] == con[m]["minority"]  # every test point called +1
        assert 0.2 < np.mean(con[m]["test_error"]) < 0.4   # about 1 - p = 0.3
    assert max(con["GD"]["dist_min_norm"]) < 1e-6  # GD found the least-norm interpolant


def test_real_tasks_pick_a_best_rate_from_the_sweep(smoke):
    real = smoke("generalization")["real"]
    for r in real.values():
        for m, sweep in r["sweep"].items():
            assert f"{r['best'][m]:g}" in sweep
            for v in sweep.values():
                assert all(0 <= e < 1 for e in v["test_error"]) and all(np.isfinite(v["val_loss"]))
