"""bias-correction: the ablation is Adam's own rule, the moments are (1 - β^t) too small, and
without the correction the first updates are too large."""
import numpy as np
import pytest

import minigrad as mg
import optim
from models.experiments.bias_correction import AdamFromRule, rho


def test_the_ablation_is_optim_adam_when_it_corrects():
    """With the corrections on it is optim.Adam bit for bit; off, the first update is
    (1 - beta1) / sqrt(1 - beta2) times larger."""
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(5)]
    start = rng.standard_normal((3, 4)).astype(np.float32)
    ps = {k: mg.nn.Parameter(start.copy()) for k in ("ours", "optim", "off")}
    opts = {"ours": AdamFromRule([ps["ours"]], 1e-2), "optim": optim.Adam([ps["optim"]], lr=1e-2),
            "off": AdamFromRule([ps["off"]], 1e-2, correct=False)}
    for i, g in enumerate(grads):
        for k, opt in opts.items():
            ps[k].grad = g.copy()
            opt.step()
        if i == 0:
            ratio = np.abs(ps["off"].data - start) / np.abs(ps["ours"].data - start)
            np.testing.assert_allclose(ratio, 0.1 / np.sqrt(0.001), rtol=1e-4)
    np.testing.assert_array_equal(ps["ours"].data, ps["optim"].data)
    np.testing.assert_array_equal(opts["ours"].v[0], opts["optim"].state[ps["optim"]]["exp_avg_sq"])


def test_rho_peaks_at_step_12():
    t = np.arange(1, 2000)
    assert rho(1) == pytest.approx(0.1 / np.sqrt(0.001))
    assert t[np.argmax(rho(t))] == 12 and rho(t).max() == pytest.approx(6.6, abs=0.1)


def test_moments_and_first_steps(smoke):
    r = smoke("bias-correction")
    const, noisy = r["moments"]["constant"], r["moments"]["noisy"]
    assert const["m"][0] == pytest.approx(0.1) and const["v"][0] == pytest.approx(0.001)
    assert const["m_hat"] == pytest.approx([1.0] * 50) and const["v_hat"] == pytest.approx([1.0] * 50)
    assert noisy["m"][-1] == pytest.approx(1 - 0.9 ** 50, abs=0.03)
    assert noisy["m_hat"][-1] == pytest.approx(1.0, abs=0.03)
    assert len(r["first_step_ratio"]) == 2  # two seeds in a smoke run
    for ratio in r["first_step_ratio"]:
        assert ratio == pytest.approx(0.1 / 0.001 ** 0.5, rel=0.01)
    assert min(r["size_ratio"]) > 2  # several times too large, early on
    for s in range(2):  # one initialisation and one batch per seed: the first loss is shared
        assert r["loss"]["corrected"][s][0] == r["loss"]["uncorrected"][s][0]
    assert np.mean(r["early_loss"]["uncorrected"]) > np.mean(r["early_loss"]["corrected"])
