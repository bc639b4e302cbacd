"""Optimizers on test functions, with gradients from the engine: the seed's Rosenbrock numbers,
and every optimizer making progress on Rosenbrock and on a badly conditioned quadratic."""
import numpy as np
import pytest

import minigrad as mg
import optim


def rosenbrock(p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def minimize(opt_cls, f, start, steps, **kw):
    p = mg.nn.Parameter(np.array(start, dtype=np.float64))
    opt = opt_cls([p], **kw)
    for _ in range(steps):
        opt.zero_grad()
        f(p).backward()
        opt.step()
    return p.data, float(f(p).data)


@pytest.mark.parametrize("opt_cls,expected", [(optim.Adam, (0.98504, 0.97023)), (optim.SGD, (0.93983, 0.88302))])
def test_seed_rosenbrock_numbers(opt_cls, expected):
    xy, _ = minimize(opt_cls, rosenbrock, (-1.0, 1.0), 5000, lr=1e-3)
    np.testing.assert_allclose(xy, expected, atol=5e-6)


# a learning rate that suits each optimizer on these problems (sign-based methods need small ones)
LRS = {"SGD": 1e-3, "Adagrad": 0.1, "Adadelta": 1.0, "RMSprop": 1e-3, "Adam": 1e-2, "AdamW": 1e-2,
       "AMSGrad": 1e-2, "Adamax": 1e-2, "NAdam": 1e-2, "RAdam": 1e-2, "Rprop": 1e-3, "Adafactor": 1e-2,
       "AdaBelief": 1e-2, "Lion": 1e-3, "LAMB": 1e-2, "Yogi": 1e-2}

A = np.diag([1.0, 100.0])  # condition number 100


def quadratic(p):
    return 0.5 * (p * (mg.tensor(A) @ p)).sum()


@pytest.mark.parametrize("name", sorted(LRS))
@pytest.mark.parametrize("problem,f,start", [("rosenbrock", rosenbrock, (-1.0, 1.0)),
                                             ("quadratic", quadratic, (1.0, 1.0))])
def test_every_optimizer_decreases_the_objective(name, problem, f, start):
    f0 = float(f(mg.tensor(np.array(start))).data)
    kw = {"lr": LRS[name]}
    if name in ("AdamW",):
        kw["weight_decay"] = 0.0
    _, f1 = minimize(getattr(optim, name), f, start, 2000, **kw)
    assert f1 < 0.5 * f0, f"{name} on {problem}: {f0:.4g} -> {f1:.4g}"
