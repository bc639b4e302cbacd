"""sparse-features' smoke run: AdaGrad's and Adam's steps are larger for rare features, SGD's is
its rate for all; each optimizer's rate is the best of its sweep on the selection half."""
import numpy as np

from models.experiments import sparse_features


def test_rare_features_get_larger_adaptive_steps_and_rates_are_chosen_on_validation(smoke):
    r = smoke("sparse-features")
    assert r["rare_frequency"] < 0.05 * r["common_frequency"]
    a, s, m = r["AdaGrad"], r["SGD"], r["Adam"]
    assert s["effective_rare"] == s["effective_common"] == s["lr"]
    assert a["effective_rare"] > 3 * a["effective_common"]
    assert m["effective_rare"] > m["effective_common"]
    assert a["moved_rare"] > s["moved_rare"]
    sweep = sparse_features.SWEEP[True]
    for name in ("SGD", "AdaGrad", "Adam"):
        assert r[name]["lr"] == r["best_lr"][name] in sweep[name]
        assert len(r[name]["per_seed"]["held_loss"]) == len(r["seeds"]) == 2
        assert all(np.isfinite(r[name]["per_seed"]["held_loss"]))


def test_the_validation_halves_split_the_validation_set():
    select, held = sparse_features.halves()
    X, _ = sparse_features.task().val
    assert len(select[0]) + len(held[0]) == len(X)
    assert (np.concatenate([select[0], held[0]]) == X).all()
