"""The optimizers torch.optim lacks, each against a literal NumPy transcription of its paper's
algorithm, written here line by line from the paper (not from our code)."""
import numpy as np
import pytest

import minigrad as mg
import optim

STEPS = 60


def adabelief_paper(theta, grads, lr, beta1, beta2, eps, wd):
    """Zhuang et al. 2020, Algorithm 2 (AdaBelief), with decoupled weight decay."""
    m = np.zeros_like(theta)
    s = np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        theta = theta * (1 - lr * wd)
        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * (g - m) ** 2 + eps
        m_hat = m / (1 - beta1 ** t)
        s_hat = s / (1 - beta2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(s_hat) + eps)
    return theta


def lion_paper(theta, grads, lr, beta1, beta2, wd):
    """Chen et al. 2023, Algorithm 2 (Lion)."""
    m = np.zeros_like(theta)
    for g in grads:
        c = beta1 * m + (1 - beta1) * g
        theta = theta - lr * (np.sign(c) + wd * theta)
        m = beta2 * m + (1 - beta2) * g
    return theta


def lamb_paper(theta, grads, lr, beta1, beta2, eps, wd):
    """You et al. 2020, Algorithm 2 (LAMB), one layer, φ = identity."""
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        r = (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
        x_norm, u_norm = np.linalg.norm(theta), np.linalg.norm(r + wd * theta)
        ratio = x_norm / u_norm if x_norm > 0 and u_norm > 0 else 1.0
        theta = theta - lr * ratio * (r + wd * theta)
    return theta


def yogi_paper(theta, grads, lr, beta1, beta2, eps, v0):
    """Zaheer et al. 2018, Algorithm 2 (Yogi)."""
    m = np.zeros_like(theta)
    v = np.full_like(theta, v0)
    for g in grads:
        m = beta1 * m + (1 - beta1) * g
        v = v - (1 - beta2) * np.sign(v - g ** 2) * g ** 2
        theta = theta - lr * m / (np.sqrt(v) + eps)
    return theta


CASES = [
    ("AdaBelief", dict(lr=1e-2), lambda th, gs: adabelief_paper(th, gs, 1e-2, 0.9, 0.999, 1e-16, 0.0)),
    ("AdaBelief", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.1),
     lambda th, gs: adabelief_paper(th, gs, 1e-2, 0.8, 0.99, 1e-8, 0.1)),
    ("Lion", dict(lr=1e-3), lambda th, gs: lion_paper(th, gs, 1e-3, 0.9, 0.99, 0.0)),
    ("Lion", dict(lr=3e-3, betas=(0.95, 0.98), weight_decay=0.5),
     lambda th, gs: lion_paper(th, gs, 3e-3, 0.95, 0.98, 0.5)),
    ("LAMB", dict(lr=1e-2), lambda th, gs: lamb_paper(th, gs, 1e-2, 0.9, 0.999, 1e-6, 0.0)),
    ("LAMB", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-4, weight_decay=0.01),
     lambda th, gs: lamb_paper(th, gs, 1e-2, 0.8, 0.99, 1e-4, 0.01)),
    ("Yogi", dict(), lambda th, gs: yogi_paper(th, gs, 1e-2, 0.9, 0.999, 1e-3, 0.0)),
    ("Yogi", dict(lr=0.05, betas=(0.5, 0.9), eps=1e-4, initial_accumulator_value=1e-6),
     lambda th, gs: yogi_paper(th, gs, 0.05, 0.5, 0.9, 1e-4, 1e-6)),
]


@pytest.mark.parametrize("name,kw,paper", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("shape", [(7,), (4, 5)])
def test_matches_paper_transcription(name, kw, paper, shape):
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) * 10.0 ** rng.uniform(-2, 2) for _ in range(STEPS)]
    p = mg.nn.Parameter(theta0.copy())
    opt = getattr(optim, name)([p], **kw)
    for g in grads:
        p.grad = g.copy()
        opt.step()
    np.testing.assert_allclose(p.data, paper(theta0.copy(), grads), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["AdaBelief", "Lion", "LAMB", "Yogi"])
def test_maximize_equals_minimizing_the_negation(name):
    rng = np.random.default_rng(1)
    theta0 = rng.standard_normal(6)
    grads = [rng.standard_normal(6) for _ in range(20)]
    a, b = mg.nn.Parameter(theta0.copy()), mg.nn.Parameter(theta0.copy())
    oa = getattr(optim, name)([a], lr=1e-2, maximize=True)
    ob = getattr(optim, name)([b], lr=1e-2)
    for g in grads:
        a.grad, b.grad = g.copy(), -g
        oa.step()
        ob.step()
    np.testing.assert_array_equal(a.data, b.data)


def test_amsgrad_is_adam_with_amsgrad():
    rng = np.random.default_rng(2)
    theta0 = rng.standard_normal(5)
    a, b = mg.nn.Parameter(theta0.copy()), mg.nn.Parameter(theta0.copy())
    oa, ob = optim.AMSGrad([a], lr=0.1), optim.Adam([b], lr=0.1, amsgrad=True)
    for _ in range(30):
        g = rng.standard_normal(5)
        a.grad, b.grad = g.copy(), g.copy()
        oa.step()
        ob.step()
    np.testing.assert_array_equal(a.data, b.data)
    assert oa.param_groups[0]["amsgrad"]
