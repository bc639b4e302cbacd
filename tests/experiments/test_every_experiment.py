"""What every experiment owes its reader, checked on its smoke run: the run says it is a smoke run
and gives no verdict it cannot back, it draws its figure, saves its record, and its USES names
every optimizer class it made (so that its code hash covers the optimizers it ran)."""
import json
import os

import pytest

from models import experiments
from models.experiments import verdicts

RUNNABLE = [e.name for e in experiments.runnable()]
BACKED_IN_A_SMOKE_RUN = {verdicts.SMOKE, "held (exact)", verdicts.NOT_HELD, "note"}


@pytest.mark.parametrize("name", RUNNABLE)
def test_smoke_run(name, smoke):
    result = smoke(name)
    module = experiments.module_of(experiments.BY_NAME[name])
    with open(result["txt"], encoding="utf-8") as f:
        first = f.readline()
    assert first.startswith(f"== {name}: SMOKE RUN") and "no verdicts" in first
    assert os.path.getsize(result["png"]) > 10_000
    with open(result["json"], encoding="utf-8") as f:
        record = json.load(f)
    assert record["quick"] is True and record["code_hash"] == experiments.provenance.code_hash(module)
    statistical = [v for v in record["verdicts"] if v["outcome"] not in BACKED_IN_A_SMOKE_RUN]
    assert statistical == []
    # an exact check that failed is a failure of the code, not a finding of a smoke run
    assert [v for v in record["verdicts"] if v["outcome"] == verdicts.NOT_HELD and "per_seed" not in v] == []
    assert result["made"] <= set(module.USES), f"{name} made {result['made']} but declares {module.USES}"
