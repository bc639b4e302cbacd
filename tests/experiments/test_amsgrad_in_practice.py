"""amsgrad-in-practice: Adam and AMSGrad on the digits and names MLPs, paired by seed."""
import numpy as np

from models.experiments import amsgrad_in_practice as exp
from models.experiments import verdicts


def test_paired_runs_on_both_tasks(smoke):
    r = smoke("amsgrad-in-practice")["tasks"]
    assert set(r) == {"digits", "names"}
    for name, t in r.items():
        n = verdicts.QUICK_SEEDS
        assert len(t["adam_val"]) == len(t["amsgrad_val"]) == n
        assert all(np.isfinite(t["adam_val"])) and all(np.isfinite(t["amsgrad_val"]))
        for m in ("Adam", "AMSGrad"):
            curves = np.array(t["curves"][m])
            assert curves.shape == (n, exp.CHECKPOINTS[True] + 1)
            assert (curves[:, -1] < curves[:, 0]).all(), (name, m)  # training lowered the loss
        assert all(0 <= s <= 1 for s in t["vmax_share"]) and all(q >= 1 for q in t["step_ratio"])


def test_the_two_start_from_the_same_network():
    # seed s is the same initialisation for both: their validation loss before a step is equal
    task = exp.task_of("digits")
    assert exp.validation(task, task.build(3)) == exp.validation(task, task.build(3))
