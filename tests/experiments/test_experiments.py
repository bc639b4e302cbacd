"""The experiments of `minigrad experiment`: each quick run asserts the direction of its claim
(the numbers it prints), writes its figure, and the command lists the whole subject."""
import os

import pytest

from models import experiments


def quick(name, tmp_path):
    result = experiments.run(name, quick=True, out=str(tmp_path))
    assert result["png"] == os.path.join(str(tmp_path), f"{name}.png")
    assert os.path.getsize(result["png"]) > 10_000
    with open(result["txt"]) as f:  # what it printed, for the docs
        assert f.read().startswith(f"== {name}: SMOKE RUN")
    return result


# ======================================================================== the claims

def test_amsgrad_converges_where_adam_goes_to_the_worst_point(tmp_path):
    r = quick("amsgrad", tmp_path)["settings"]
    theorem, synthetic = r["theorem (C = 3)"], r["synthetic (1010 / -10, period 101)"]
    assert theorem["Adam"]["final_x"] > 0.95 and theorem["AMSGrad"]["final_x"] < -0.95
    assert synthetic["Adam"]["final_x"] > 0.9 and synthetic["AMSGrad"]["final_x"] < -0.9
    for s in (theorem, synthetic):  # Adam's average regret does not go to 0
        assert s["AMSGrad"]["average_regret"] < 0.6 * s["Adam"]["average_regret"]




@pytest.mark.parametrize("method,cls", [("Adam", "Adam"), ("RAdam", "RAdam")])
def test_warmup_effective_step_is_what_the_optimizer_multiplies_m_hat_by(method, cls):
    # |update| = effective step * |m_hat|, element by element, through and after RAdam's rectification
    import numpy as np

    import optim
    from minigrad.nn import Parameter
    from models.experiments.warmup import effective_steps
    p = Parameter(np.random.default_rng(0).standard_normal(50))
    opt = getattr(optim, cls)([p], lr=0.01)
    for t in range(1, 9):
        p.grad = np.random.default_rng(t).standard_normal(50)
        before = p.data.copy()
        opt.step()
        m_hat = opt.state[p]["exp_avg"] / (1 - 0.9 ** t)
        np.testing.assert_allclose(np.abs(p.data - before), effective_steps(opt) * np.abs(m_hat),
                                   rtol=1e-6)


def test_radam_rectifies_after_rho_5_and_adam_early_steps_spread_widest(tmp_path):
    import numpy as np

    from models.experiments import warmup
    r = quick("warmup", tmp_path)
    steps = len(r["r"])
    assert r["rectified"] == [warmup.rho(t) > 5 for t in range(1, steps + 1)]
    assert r["rectified"][:5] == [False] * 5 and all(r["rectified"][5:])  # beta2 = 0.999
    assert r["r"][:5] == [0.0] * 5 and 0 < r["r"][5] < r["r"][-1] < 1
    for label, by in r["settings"].items():
        adam, warm, radam = (np.array(by[m]["effective_step_percentiles"]) for m in warmup.METHODS)
        assert adam[0, 2] / adam[0, 0] > adam[-1, 2] / adam[-1, 0], label  # p99/p1: widest at step 1
        # one initialisation, one batch: at step 1 warmup only scales the rate down
        assert warm[0] == pytest.approx(adam[0] / warmup.WARMUP[True], rel=1e-5)  # float32
        assert (radam[:5] == warmup.LR).all()  # momentum steps of lr * m_hat, no spread
    assert r["png"] and os.path.exists(r["png"])
