"""rosenbrock: the textbook loops, optim.functional and the classes give the same numbers, and
the example's sentences at its own start."""
import numpy as np

from models.experiments import rosenbrock as rb


def test_gradient_is_the_derivative():
    theta = np.array([-0.7, 1.3])
    h = 1e-6
    numeric = [(rb.f(*(theta + h * e)) - rb.f(*(theta - h * e))) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(rb.grad(theta), numeric, rtol=1e-6)


def test_three_ways_agree(smoke):
    r = smoke("rosenbrock")
    assert set(r["textbook_gap"]) == {"SGD", "momentum", "AdaGrad", "RMSProp", "Adam", "AdamW"}
    assert max(r["textbook_gap"].values()) < 1e-12
    assert all(r["class_bitwise"].values())


def test_the_example_at_its_start(smoke):
    r = smoke("rosenbrock")
    assert r["starts"][0] == [-1.0, 1.0] and len(r["starts"]) == 2
    d, hit = r["distance"], r["steps_to_target"]
    assert d["SGD"][0] > 0.1 and d["Adam"][0] < 0.01
    assert hit["momentum"][0] == 367 and hit["Adam"][0] == 438  # deterministic: f <= 0.01 first
    assert hit["SGD"][0] is None  # not within the smoke run's 1000 steps
