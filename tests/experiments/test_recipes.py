"""recipes' smoke run: every guideline run over the seeds with validation curves."""
import numpy as np

from models.experiments import recipes


def test_every_guideline_has_validation_curves_per_seed(smoke):
    r = smoke("recipes")
    assert list(r["guides"]) == ["adamw", "images", "transformer", "sparse"]
    for g, res in r["guides"].items():
        assert res["task"] == recipes.GUIDES[g][0] and len(res["runs"]) == 3
        for run in res["runs"].values():
            assert run["step"][-1] == res["steps"]
            assert np.array(run["loss"]).shape == (2, len(run["step"]))  # 2 seeds
            assert all(np.isfinite(run["final_loss"]))
            if g in ("images", "sparse"):
                assert all(0 <= a <= 100 for a in run["final_acc"])
            else:
                assert run["final_acc"] is None
    # the directions a few steps already show: AdaGrad learns the sparse task faster than SGD
    sparse = r["guides"]["sparse"]["runs"]
    assert np.mean(sparse["AdaGrad lr 0.3"]["final_acc"]) > np.mean(sparse["SGD lr 1"]["final_acc"])
    assert "transformer" in r["guides"] and recipes.SmallGPT.n_layer == 2


def test_contestants_of_a_seed_share_the_start():
    # seed s: the same initialisation for every contestant (the curves' first points differ only
    # by the first steps' updates); a contestant's run is a function of its arguments
    a = recipes.one("sparse", 2, 0, True)
    assert a == recipes.one("sparse", 2, 0, True)
