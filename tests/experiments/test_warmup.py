"""warmup: RAdam's rectification schedule (exact), the Adam-at-lr·r_t control, and the runs."""
import numpy as np
import pytest

import optim
from models.experiments import warmup


def test_rectification_schedule_is_radam_s(smoke):
    r = smoke("warmup")
    steps = len(r["r"])
    assert r["rectified"] == [warmup.rho(t) > 5 for t in range(1, steps + 1)]
    assert r["rectified"][:5] == [False] * 5 and all(r["rectified"][5:])  # beta2 = 0.99
    assert r["r"][:5] == [0.0] * 5 and 0 < r["r"][5] < r["r"][-1] < 1


def test_adam_at_lr_r_t_is_radam_after_step_5_up_to_eps():
    # the control: from step 6, Adam at lr·r_t takes RAdam's step (they differ in where eps sits)
    from minigrad.nn import Parameter
    rng = np.random.default_rng(0)
    a, b = Parameter(rng.standard_normal(20)), None
    b = Parameter(a.data.copy())
    adam = optim.Adam([a], lr=0.01, betas=warmup.BETAS, eps=0.0)
    radam = optim.RAdam([b], lr=0.01, betas=warmup.BETAS, eps=0.0)
    sched = optim.lr_scheduler.LambdaLR(adam, lambda e: warmup.r_of(e + 1))
    for t in range(1, 30):
        g = np.random.default_rng(t).standard_normal(20)
        before_a, before_b = a.data.copy(), b.data.copy()
        a.grad, b.grad = g, g.copy()
        adam.step()
        radam.step()
        sched.step()
        if t <= 5:
            assert (a.data == before_a).all() and not (b.data == before_b).all()
        else:
            np.testing.assert_allclose(a.data - before_a, b.data - before_b, rtol=1e-9, atol=0)
        b.data[:] = a.data  # compare step by step from the same point


def test_warmup_multiplier_is_linear_lr():
    from minigrad.nn import Parameter
    p = Parameter(np.zeros(3))
    opt = optim.Adam([p], lr=1.0)
    w = warmup.LONG_WARMUP[False]
    sched = optim.lr_scheduler.LinearLR(opt, start_factor=1 / w, total_iters=w)
    for t in range(1, w + 10):
        assert opt.param_groups[0]["lr"] == pytest.approx(warmup.multiplier("Adam + 2/(1-β2) warmup", t, False))
        sched.step()


def test_every_method_and_seed_ran(smoke):
    r = smoke("warmup")["settings"]
    assert set(r) == {label for label, _, _ in warmup.SETTINGS}
    for by in r.values():
        assert set(by) == set(warmup.METHODS)
        for res in by.values():
            assert len(res["val_loss"]) == 2 and all(np.isfinite(res["val_loss"]))
