"""noisy-gradients' smoke run: with the same mean gradient, noise shrinks Adam's and RMSProp's
effective step (about lr/sqrt(mu² + sigma²)) and slows the noisy coordinates; SGD's is lr."""
import numpy as np
import pytest

from models.experiments import noisy_gradients as ng


def test_noise_shrinks_the_adaptive_step_and_not_sgds(smoke):
    r = smoke("noisy-gradients")
    for name in ("Adam", "RMSProp"):
        eff = np.array(r[name]["effective"])
        assert (np.diff(eff) <= 1e-12).all()  # never larger for a noisier group
        assert max(r[name]["effective_ratio"]) < 0.2
        assert min(r[name]["halving_ratio"]) > 3
    # Adam's effective step follows lr / sqrt(mu² + sigma²) on the slope
    predicted = ng.LR * ng.MU / np.sqrt(ng.MU ** 2 + ng.SIGMAS ** 2)
    assert np.array(r["Adam"]["effective"]) == pytest.approx(predicted, rel=0.25)
    sgd = r["SGD"]
    assert sgd["effective"] == pytest.approx([ng.LR] * ng.SIGMAS.size, rel=1e-12)
    assert max(sgd["halving_ratio"]) < 1.5  # one rate: every group converges at the same pace
    assert np.array(sgd["update_ratio"]).min() > 5  # SGD's update grows with the noise
    assert len(r["seeds"]) == 2
    # the names model: the noisy half of fc1.weight gets the smaller effective step
    assert max(r["names"]["ratio"]) < 0.5
    assert r["names"]["noisy_effective"] < r["names"]["clean_effective"]


def test_the_noise_groups():
    s = ng.sigma()
    assert s.size == ng.SIGMAS.size * ng.PER
    assert ng.by_group(s) == pytest.approx(ng.SIGMAS)
    distance = np.ones((50, 2))
    distance[10:, 0] = 0.4
    assert list(ng.halving_steps(distance)) == [11, 51]
