"""`minigrad train --compile`: the same run as without it, and checkpoints that either kind of
run resumes exactly (a compiled run's checkpoint resumed eagerly, and the reverse)."""
import pytest

from models import checkpoint

from conftest import assert_same_checkpoint, cli

CKPT = "checkpoint.safetensors"


@pytest.mark.parametrize("task", ["digits", "names-gpt"])
@pytest.mark.parametrize("first,then", [([], ["--compile"]), (["--compile"], [])])
def test_a_checkpoint_resumes_across_compiled_and_eager_exactly(tmp_path, task, first, then):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    base = ["train", "--task", task, "--steps", "40", "--quiet", "--no-monitor"]
    cli(*base, "--out", str(whole))
    cli(*base, *first, "--out", str(parts), "--stop-after", "15")
    p = cli(*base, *then, "--out", str(parts), "--resume")
    assert ("(compiled)" in p.stdout) == bool(then) and "steps/s" in p.stdout
    assert_same_checkpoint(checkpoint.load(str(whole / CKPT)), checkpoint.load(str(parts / CKPT)))
