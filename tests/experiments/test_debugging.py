"""debugging's smoke run: each rule's symptom provoked and its remedy applied, and what the monitor
said of each run."""
import numpy as np

from models.experiments import debugging


def test_each_remedy_lowers_the_validation_loss_and_the_monitor_names_the_symptom(smoke):
    r = smoke("debugging")
    assert list(r["rules"]) == [1, 2, 3, 4, 5]
    for k, res in r["rules"].items():
        arms = list(res["arms"].values())
        assert len(arms) == len(debugging.RULES[k][4])
        if k != 4:  # rule 4 has no fault to fix
            for remedied in arms[1:3 if k != 5 else 2]:
                assert np.mean(remedied["final"]) < np.mean(arms[0]["final"])
    # deterministic in 150 steps: the monitor names these symptoms on both seeds' provoked runs
    for k in (1, 2, 3, 5):
        assert all(r["rules"][k]["arms"][debugging.RULES[k][4][0][0]]["named"]), k
    # rule 5: lowering the rate ends near the healthy level, clipping alone does not
    five = r["rules"][5]["arms"]
    assert np.mean(five["lr 10x lower: 0.3"]["final"]) < np.mean(five["clip norm 1"]["final"])


def test_named_reads_the_symptom_and_the_direction_of_the_cause():
    too_high = {"findings": [{"symptom": "no progress", "cause": "the learning rate is too high (the loss rose)",
                              "severity": "warning"}]}
    too_low = {"findings": [{"symptom": "no progress", "cause": "the learning rate is too low, or ...",
                             "severity": "warning"}]}
    assert debugging.named(1, too_high) and not debugging.named(1, too_low)
    assert debugging.named(2, too_low) and not debugging.named(2, too_high)
    assert not debugging.named(3, too_high)
    assert debugging.faults(too_high) and not debugging.faults({"findings": [
        {"symptom": "plateau then drop", "cause": "", "severity": "expected"}]})
