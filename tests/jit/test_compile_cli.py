"""`minigrad train --compile`: the same run as without it, and checkpoints that either kind of
run resumes exactly (a compiled run's checkpoint resumed eagerly, and the reverse)."""
import numpy as np
import pytest

from models import checkpoint

from conftest import cli

CKPT = "checkpoint.safetensors"


def same(a, b):
    assert a["step"] == b["step"]
    for k in a["history"]:
        np.testing.assert_array_equal(a["history"][k], b["history"][k])
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k], b["model"][k])
    for i, s in a["optimizer"]["state"].items():
        for k, v in s.items():
            np.testing.assert_array_equal(v, b["optimizer"]["state"][i][k])


@pytest.mark.parametrize("task", ["digits", "names-gpt"])
@pytest.mark.parametrize("first,then", [([], ["--compile"]), (["--compile"], [])])
def test_a_checkpoint_resumes_across_compiled_and_eager_exactly(tmp_path, task, first, then):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    base = ["train", "--task", task, "--steps", "40", "--quiet", "--no-monitor"]
    cli(*base, "--out", str(whole))
    cli(*base, *first, "--out", str(parts), "--stop-after", "15")
    p = cli(*base, *then, "--out", str(parts), "--resume")
    assert ("(compiled)" in p.stdout) == bool(then) and "steps/s" in p.stdout
    same(checkpoint.load(str(whole / CKPT)), checkpoint.load(str(parts / CKPT)))
