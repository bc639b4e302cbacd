"""The BLAS thread policy (minigrad/threads.py): the decision, who wins, and that it really sets
the BLAS's limit (as threadpoolctl reports it) and puts it back. No timing here: see
bench/busy_machine.py."""
import sys
import time

import pytest

import minigrad as mg
from minigrad import threads

threadpoolctl = pytest.importorskip("threadpoolctl")


def blas_limits():
    """The limits threadpoolctl reports for the BLAS libraries the policy controls (NumPy's; a
    BLAS that another library loaded later, torch's, is that library's own business)."""
    mine = {lib.filepath for lib in threads._blas()}
    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info()
            if lib["user_api"] == "blas" and lib["filepath"] in mine]


@pytest.fixture
def policy(monkeypatch):
    """The policy on a pretend 2-core machine whose BLAS chose 2 threads; no user setting. The
    BLAS's limit and the policy's state are put back afterwards."""
    if not threads._blas():
        pytest.skip(f"no BLAS to control: {threads._state['why_not']}")
    saved_state, saved_limit = dict(threads._state), threads.get_num_threads()
    for var in threads.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(threads, "cores", lambda: 2)
    threads._state.update(fixed=None, default=2, left=None)
    threads._set(threads._blas(), 2)
    yield threads
    threads._set(threads._blas(), saved_limit)
    threads._state.clear()
    threads._state.update(saved_state)


@pytest.mark.parametrize("cores, busy, default, expected", [
    (2, 0.0, 2, 2),      # idle: the BLAS's own count, today's behaviour
    (2, 0.49, 2, 2),     # less than half a core busy: still both
    (2, 0.5, 2, 1),      # half a core or more: one thread
    (2, 1.0, 2, 1),      # a CPU hog beside us
    (2, 6.0, 2, 1),      # never fewer than one
    (8, 2.4, 8, 6),      # round(8 - 2.4)
    (8, 0.0, 4, 4),      # never more than the BLAS chose itself
    (1, 0.0, 1, 1),
    (2, -0.3, 2, 2),     # a negative reading (clock ticks) counts as idle
])
def test_choose_threads(cores, busy, default, expected):
    assert threads.choose_threads(cores, busy, default) == expected


def test_apply_sets_the_blas_limit_and_puts_it_back(policy):
    assert policy.apply(busy=1.0) == 1
    assert set(blas_limits()) == {1}
    assert mg.get_num_threads() == 1
    assert policy.apply(busy=0.0) == 2
    assert set(blas_limits()) == {2}


def test_environment_variable_wins(policy, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert policy.apply(busy=2.0) == 2
    assert set(blas_limits()) == {2}
    assert "OPENBLAS_NUM_THREADS=2" in policy.status()["decided_by"]


@pytest.mark.parametrize("var", ["OMP_NUM_THREADS", "MKL_NUM_THREADS"])
def test_other_environment_variables_win(policy, monkeypatch, var):
    monkeypatch.setenv(var, "2")
    policy.apply(busy=2.0)
    assert set(blas_limits()) == {2}


def test_set_num_threads_wins_until_none(policy):
    mg.set_num_threads(1)
    assert set(blas_limits()) == {1}
    assert policy.apply(busy=0.0) == 1  # an idle machine does not undo the user's choice
    assert set(blas_limits()) == {1}
    assert policy.status()["decided_by"] == "set_num_threads(1)"
    mg.set_num_threads(None)  # back to the policy, from the BLAS's own count
    assert set(blas_limits()) == {2}
    assert policy.apply(busy=1.0) == 1
    assert policy.status()["decided_by"] == "the policy"


def test_a_threadpoolctl_limit_wins(policy):
    policy.apply(busy=0.0)
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        policy.apply(busy=0.0)  # the policy would choose 2; the user's limit holds
        assert set(blas_limits()) == {1}
    assert set(blas_limits()) == {2}  # threadpoolctl put back the policy's limit
    assert policy.apply(busy=1.0) == 1  # and the policy decides again


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "2"])
def test_set_num_threads_refuses_nonsense(n):
    with pytest.raises(ValueError, match="set_num_threads"):
        mg.set_num_threads(n)


def test_refresh_looks_at_most_every_refresh_s(policy, monkeypatch):
    looks = []
    monkeypatch.setattr(policy, "apply", lambda busy: looks.append(busy))
    monkeypatch.setattr(policy._LoadMeter, "runnable_others", lambda self: 0.0)
    policy._state.update(next=0.0, meter=None)
    policy.refresh()
    policy.refresh()  # too soon: a clock read, nothing more
    assert looks == [0.0]


def test_load_meter_reads_a_number():
    meter = threads._LoadMeter()
    if meter.last is None:
        pytest.skip("no /proc/stat here")
    assert meter.others_busy() is None  # too soon to tell
    time.sleep(threads.REFRESH_S / 2 + 0.05)
    busy = meter.others_busy()
    assert busy is not None and 0.0 <= busy <= len(meter.cpus) + 0.5


def test_without_threadpoolctl_the_policy_does_nothing(monkeypatch):
    saved = dict(threads._state)
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    threads._state.update(blas=None, why_not=None, next=0.0)
    try:
        threads.refresh()
        assert "threadpoolctl" in threads.status()["decided_by"]
        assert threads.get_num_threads() == threads.cores()
        with pytest.raises(RuntimeError, match="threadpoolctl"):
            mg.set_num_threads(1)
    finally:
        threads._state.clear()
        threads._state.update(saved)
