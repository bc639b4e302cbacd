"""amsgrad: Reddi et al.'s online problem, deterministic, so its smoke run is checked exactly."""
import numpy as np
import pytest

import optim
from models.experiments import amsgrad

THEOREM, SYNTHETIC = amsgrad.SETTINGS


def test_adam_goes_to_the_worst_point_and_every_amsgrad_to_the_best(smoke):
    r = smoke("amsgrad")["settings"]
    for name in (THEOREM, SYNTHETIC):
        adam = r[name]["Adam"]
        assert adam["min_x_last_10pct"] > 0.9
        for method in amsgrad.METHODS[1:]:
            assert r[name][method]["max_x_last_10pct"] < -0.8, (name, method)
            assert r[name][method]["average_regret"] < 0.6 * adam["average_regret"], (name, method)
    # stuck at +1, Adam pays (C - 2c)(1 - (-1)) = 2 per period of 3 in the theorem's problem
    assert r[THEOREM]["Adam"]["average_regret"] == pytest.approx(2 / 3, abs=0.02)


def test_torch_amsgrad_v_hat_can_fall_and_the_max_of_v_hat_cannot(smoke):
    r = smoke("amsgrad")["settings"][SYNTHETIC]
    assert r[amsgrad.METHODS[1]]["vhat_falls"] > 0
    assert r[amsgrad.METHODS[2]]["vhat_falls"] == 0 and r[amsgrad.METHODS[3]]["vhat_falls"] == 0


def test_torch_variant_is_optim_amsgrad_on_a_tensor():
    # the experiment's torch AMSGrad (Adam.rule with amsgrad) is what optim.AMSGrad does to a weight
    from minigrad.nn import Parameter
    large, small, period, beta1, beta2, alpha = amsgrad.SETTINGS[SYNTHETIC]
    xs, _, _ = amsgrad.run_online(amsgrad.METHODS[1], large, small, period, beta1, beta2, alpha, 300)
    p = Parameter(np.zeros(1))
    opt = optim.AMSGrad([p], lr=alpha, betas=(beta1, beta2))
    for t in range(1, 301):
        opt.param_groups[0]["lr"] = alpha / np.sqrt(t)
        p.grad = np.array([amsgrad.gradient(t, large, small, period)])
        opt.step()
        p.data[:] = np.clip(p.data, -1, 1)
        assert p.data[0] == pytest.approx(xs[t - 1], abs=1e-12)


def test_the_three_amsgrads_agree_when_bias_correction_does_not_matter():
    # beta1 = 0 and beta2 = 0.1: 1 - beta2^t is 1 within 1e-6 from t = 6, so the three versions
    # take the same steps once the maximum is set (the theorem's problem)
    curves = [amsgrad.run_online(m, *amsgrad.SETTINGS[THEOREM], 3000)[0] for m in amsgrad.METHODS[1:]]
    assert np.max(np.abs(curves[0][-100:] - curves[1][-100:])) < 1e-3
    assert np.max(np.abs(curves[0][-100:] - curves[2][-100:])) < 1e-3
