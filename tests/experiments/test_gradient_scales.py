"""gradient-scales' smoke run: gradient RMS differs across tensors and with depth; Adam's step
per unit lr has a far smaller spread than SGD's (which is the gradient's); BatchNorm cancels the
bias before it."""
import numpy as np

from models.experiments import gradient_scales as gs


def test_scales_differ_and_adam_evens_the_steps(smoke):
    r = smoke("gradient-scales")
    for m in gs.MODELS:
        res = r[m]
        assert len(res["grad_spread"]) == len(r["seeds"]) == 2
        assert min(res["grad_spread"]) > 5 and min(res["depth_ratio"]) > 2
        assert min(res["evens"]) > 3
        # SGD's step per unit lr is its gradient, exactly
        assert np.allclose(res["sgd_step_rms"], res["grad_rms"], rtol=1e-12)
        assert max(res["adam_step_rms"]) < 2  # m_hat/(sqrt(v_hat)+eps) has no units
        for rows in res["rows"].values():
            assert 0 < min(rows["hit_rate"]) <= max(rows["hit_rate"]) <= 1
    assert r["names"]["left_out"] == ["fc1.bias"]  # BatchNorm removes the bias's gradient
    assert r["names-gpt"]["left_out"] == []


def test_the_spread_leaves_out_a_zero_gradient():
    run = {"grad": np.array([[1.0, 10.0, 1e-12]] * 4), "step": np.array([[1.0, 2.0, 1.0]] * 4),
           "at": np.arange(1, 5)}
    s = gs.summarize(run, 4)
    assert list(s["alive"]) == [True, True, False]
    assert s["grad_spread"] == 10.0 and s["step_spread"] == 2.0
