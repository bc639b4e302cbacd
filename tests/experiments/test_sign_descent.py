"""sign-descent: Adam's step is about lr whatever the gradient's scale; signSGD is Lion with
betas (0, 0)."""
import numpy as np
import pytest

import minigrad as mg
import optim


def test_signsgd_is_lion_with_zero_betas():
    """Lion with betas (0, 0) and no decay moves every weight by exactly lr against sign(g)."""
    rng = np.random.default_rng(0)
    start = rng.standard_normal(7)
    p = mg.nn.Parameter(start.copy())
    opt = optim.Lion([p], lr=0.01, betas=(0.0, 0.0))
    theta = start.copy()
    for _ in range(4):
        g = rng.standard_normal(7)
        p.grad = g.copy()
        opt.step()
        theta = theta - 0.01 * np.sign(g)
        np.testing.assert_array_equal(p.data, theta)


def test_update_size_does_not_follow_the_gradient_scale(smoke):
    r = smoke("sign-descent")
    assert min(r["first_within_2x"]) > 0.95  # step 1: every weight moves by about lr
    med = r["update_sizes"]
    for c in ("0.001", "1000"):
        np.testing.assert_allclose(med[c]["median_over_steps"], med["1"]["median_over_steps"], rtol=0.05)
    assert max(r["last_median"]) < 1.0  # later, below lr: the sign flips from batch to batch
    assert r["adam_max_distance"] < 1e-3
    sgd = {k: v["SGD"] for k, v in r["rosenbrock"].items()}
    assert sgd[3]["diverged"] and not sgd[0]["diverged"]
    assert sgd[-3]["final_loss"] > 0.99 * 4.0 > sgd[0]["final_loss"]  # from f(-1, 1) = 4 it stalls


def test_every_method_ran_on_every_seed(smoke):
    r = smoke("sign-descent")
    assert set(r["best_lr"]) == {"Adam", "signSGD", "Signum", "Lion"}
    for values in r["best_val"].values():
        assert len(values) == 2 and all(np.isfinite(values))
        assert max(values) < np.log(27) + 0.1  # better than, or near, a uniform guess
    assert np.mean(r["best_val"]["Adam"]) == pytest.approx(np.mean(r["best_val"]["Adam"]))
