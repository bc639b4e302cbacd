"""curvature's smoke run and its exact parts: the Rosenbrock Hessian, Newton's few steps, the
Hutchinson and per-example machinery against what they estimate, and the correlations."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from models.experiments import curvature as cv


def test_smoke_run_measures_what_it_says(smoke):
    r = smoke("curvature")
    assert r["hessian_at"] == [[802.0, 400.0], [400.0, 200.0]]
    rb = r["rosenbrock"]
    # Newton (exact Hessian) reaches f <= 1e-2 within a handful of steps from every start point
    assert max(rb["newton"]["steps"]) <= 10
    assert min(rb["adam"]["steps"]) > 3 * max(rb["newton"]["steps"])
    assert max(rb["newton"]["distance"]) < 1e-3
    # as Adam converges its sqrt(v_hat_x) shrinks against H_xx, which stays
    assert len(rb["along"]) == 2 and min(a["fall"] for a in rb["along"]) > 0.3
    assert rb["settle_lr"] in cv.ADAM_LRS
    names = r["names"]
    assert names["size"] == 45675 and len(r["seeds"]) == 2
    sp = names["spearman"]
    ef, hx = np.array(sp["sqrt(v_hat) ~ sqrt(EF) (same sample)"]), np.array(sp["sqrt(v_hat) ~ |H_kk| exact"])
    assert ef.shape == (2, len(cv.CHECKS[True]))
    assert ef.mean() > hx.mean()
    assert np.array(sp["sqrt(v_hat) ~ sqrt(EF)"]).min() > 0.5
    for values in sp.values():
        assert np.all(np.abs(values) <= 1.0)


def test_rosenbrock_hessian_and_gradient_closed_forms():
    assert cv.hessian_at((-1.0, 1.0)) == pytest.approx(np.array([[802.0, 400.0], [400.0, 200.0]]), abs=1e-9)
    assert cv.hessian_at((1.0, 1.0)) == pytest.approx(np.array([[802.0, -400.0], [-400.0, 200.0]]), abs=1e-9)
    rng = np.random.default_rng(0)
    for p in rng.uniform(-2, 2, (5, 2)):
        xy = mg.tensor(p, requires_grad=True)
        g = mg.grad(cv.rosenbrock(xy[0], xy[1]), xy)[0]
        assert cv.rb_grad(p) == pytest.approx(np.asarray(g.data), rel=1e-12, abs=1e-12)
        assert cv.rb_hessian_diag(p) == pytest.approx(np.diag(cv.hessian_at(p)), rel=1e-12)


def test_newton_from_the_classic_start():
    pts = cv.newton(cv.CLASSIC)
    assert cv.steps_to(pts) == 5  # deterministic: pure Newton from (-1.2, 1)
    assert np.linalg.norm(pts[-1] - 1.0) < 1e-6
    assert cv.start_point(0) == cv.CLASSIC and cv.start_point(1) != cv.CLASSIC


def test_exact_diagonal_and_hutchinson_on_a_quadratic():
    # L = 1/2 θᵀAθ: H = A. The exact entries are A's diagonal; z ⊙ Az averages to it
    a = np.array([[3.0, 1.0, 0.5], [1.0, 2.0, -1.0], [0.5, -1.0, 4.0]])
    theta = mg.tensor(np.array([0.3, -0.2, 0.1]), requires_grad=True)
    loss = 0.5 * (theta * (mg.tensor(a) @ theta)).sum()
    h, exact = cv.hessian_diagonals(loss, [theta], 4000, np.random.default_rng(0), np.arange(3))
    assert exact == pytest.approx(np.diag(a), abs=1e-12)
    assert h.mean(0) == pytest.approx(np.diag(a), abs=0.1)
    off = h - np.diag(a)  # each sample's error is made of the off-diagonal entries only
    assert np.abs(off).max() <= np.abs(a - np.diag(np.diag(a))).sum(1).max() + 1e-12


def test_per_example_squares_are_the_mean_of_squared_example_gradients():
    rng = np.random.default_rng(0)
    w = mg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    x, y = rng.standard_normal((5, 4)), np.array([0, 2, 1, 1, 0])
    losses = F.cross_entropy(mg.tensor(x) @ w, y, reduction="none")
    got = cv.per_example_squares(losses, [w])[0]
    want = np.zeros((4, 3))
    for i in range(5):
        wi = mg.tensor(w.data.copy(), requires_grad=True)
        li = F.cross_entropy(mg.tensor(x[i:i + 1]) @ wi, y[i:i + 1])
        li.backward()
        want += wi.grad ** 2 / 5
    assert got == pytest.approx(want, rel=1e-10)


def test_correlations():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert cv.spearman(a, a ** 3) == pytest.approx(1.0)
    assert cv.spearman(a, -a) == pytest.approx(-1.0)
    assert cv.log_pearson(a, 5 * a ** 2) == pytest.approx(1.0)  # a power law is a line in logs
    assert cv.spearman(np.sqrt(a), a) == cv.spearman(a, a)  # a square root changes no rank
