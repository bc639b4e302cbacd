"""adagrad-decay's smoke run: AdaGrad's step size never rises and its update stalls after the
drop; RMSProp's recovers in about the predicted number of steps."""
import numpy as np
import pytest

from models.experiments import adagrad_decay


def test_adagrad_step_only_falls_and_rmsprop_recovers(smoke):
    r = smoke("adagrad-decay")
    a, rms = r["AdaGrad"], r["RMSProp"]
    for run in a["per_seed"]:  # an identity: G only grows
        assert run["max_rise"] <= 0.0 and run["steps_rose"] == 0
        assert run["recovery_steps"] is None and run["step_at_end"] < 0.05 * run["step_before_drop"]
        assert run["effective_step_end"] <= run["effective_step_before_drop"] < run["effective_step_start"]
    for run in rms["per_seed"]:
        assert run["steps_rose"] > 0
        assert run["recovery_steps"] == pytest.approx(r["predicted_recovery_steps"], rel=0.2)
        assert run["step_at_end"] > 0.5 * run["step_before_drop"]
    assert rms["distance_at_end"] < 0.5 * a["distance_at_end"]
    assert len(a["per_seed"]) == len(r["seeds"]) == 2


def test_the_stream_is_the_same_for_both_optimizers_and_differs_by_seed():
    s0, s0_again, s1 = (adagrad_decay.stream(100, seed) for seed in (0, 0, 1))
    for x, y in zip(s0, s0_again):
        assert (x == y).all()
    assert not (s0[2] == s1[2]).all()
    scale, optimum, _ = s0
    assert scale[49] == 1.0 and scale[50] == 1 / adagrad_decay.DROP
    assert optimum[50] - optimum[49] == pytest.approx(np.full(adagrad_decay.D, adagrad_decay.SHIFT))
