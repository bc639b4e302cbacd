"""The command line as a hostile user meets it: empty and contradictory arguments, output
locations that cannot be written, two runs into one folder, a full disk, a checkpoint whose
strings hold control characters, signals at awkward moments, output that is not a terminal.
(Under mpirun: tests/distributed/test_distributed.py.)"""
import errno
import io
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT

CKPT = "checkpoint.safetensors"
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def cli(*args, cwd=ROOT, timeout=300):
    return subprocess.run([sys.executable, "-m", "models", *args], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=timeout, check=False)


def start(*args, cwd=ROOT):
    return subprocess.Popen([sys.executable, "-m", "models", *args], env=ENV, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_main(capsys, *args):
    """models.cli.main in this process: (exit status, stderr)."""
    from models.cli import main
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().err


def one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


UNWRITABLE = "/sys/kernel"  # exists, and not even root can create a file in it (sysfs)


# ============================================================================ arguments

@pytest.mark.parametrize("args, message", [
    (["compare", "--task", "rosenbrock", "--optimizers", ",,,"], "--optimizers ',,,' names no optimizer"),
    (["compare", "--task", "rosenbrock", "--optimizers", " , "], "names no optimizer"),
    (["compare", "--task", "rosenbrock", "--optimizers", "adam,sgd,adam"], "names adam twice"),
    (["compare", "--task", "rosenbrock", "--optimizers", "adam", "--lr", "sgd=0.1"],
     "--lr gives a rate for sgd, which the comparison does not run (adam)"),
    (["train", "--task", "rosenbrock", "--optimizer", ""], "unknown optimizer ''"),
    (["lr-find", "--task", "rosenbrock", "--optimizer", ""], "unknown optimizer ''"),
    (["train", "--task", "rosenbrock", "--out", ""], "--out is empty"),
    (["compare", "--task", "rosenbrock", "--out", ""], "--out is empty"),
    (["lr-find", "--task", "rosenbrock", "--out", ""], "--out is empty"),
    (["experiment", "bias-correction", "--out", ""], "--out is empty"),
    (["train", "--task", "digits", "--batch-size", "5000"],
     "batch size 5000 (--batch-size) is larger than the digits training set (1258 examples)"),
    (["compare", "--task", "digits", "--batch-size", "1259", "--optimizers", "sgd"],
     "batch size 1259 (--batch-size) is larger than the digits training set (1258 examples)"),
    (["lr-find", "--task", "sparse", "--batch-size", "3201"],
     "batch size 3201 (--batch-size) is larger than the sparse training set (3200 examples)"),
    (["train", "--task", "digits", "--out", "/sys/no\nsuch\x1b[2J"], r"/sys/no\nsuch\x1b[2J cannot be created"),
    (["train", "--task", "digits", "--seed", "-5"], "--seed must be >= 0, got -5"),
    (["train", "--task", "digits", "--resume", "--out", "not/there"],
     "no checkpoint at not/there/checkpoint.safetensors to resume from"),
    (["lr-find", "--task", "digits", "--seed", "-1"], "--seed must be >= 0, got -1"),
])
def test_bad_arguments_are_refused_with_one_line_and_nothing_written(tmp_path, args, message):
    p = cli(*args, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert message in one_line(p.stderr)
    assert os.listdir(tmp_path) == []  # nothing written into the current folder either


def test_batch_size_equal_to_the_data_set_is_accepted(capsys):
    from models.tasks import make_task
    task = make_task("digits")
    task.check_batch_size(len(task.train[0]))
    with pytest.raises(ValueError, match="1259 .* larger than the digits training set .1258 examples"):
        task.check_batch_size(1259)
    make_task("rosenbrock").check_batch_size(10 ** 6)  # a test function has no data set


def test_lr_find_runs_schedule_free(tmp_path, capsys):
    code, err = run_main(capsys, "lr-find", "--task", "digits", "--optimizer", "schedulefree",
                         "--steps", "30", "--out", str(tmp_path))
    assert code == 0, err
    assert (tmp_path / "lr_find.png").exists() or "pip install" in capsys.readouterr().out


def test_compare_lr_naming_an_optimizer_twice_is_refused(capsys):
    """--lr adam=1,adam=2 ran adam at 2, silently."""
    from models.cli import main
    with pytest.raises(SystemExit) as e:
        main(["compare", "--task", "quadratic", "--steps", "5", "--lr", "adam=1,adam=2", "--out", "unused"])
    assert e.value.code == 2
    assert "--lr gives adam twice" in capsys.readouterr().err


# ============================================================================ the output folder

@pytest.mark.parametrize("command, blocker", [
    (["train", "--task", "digits", "--steps", "100000", "--quiet", "--overwrite"], CKPT),
    (["train", "--task", "digits", "--steps", "100000", "--quiet"], "loss.png"),
    (["lr-find", "--task", "digits", "--steps", "100000"], "lr_find.png"),
    (["compare", "--task", "digits", "--steps", "100000", "--quiet", "--optimizers", "sgd"],
     "compare-digits.png"),
    (["compare", "--task", "rosenbrock", "--steps", "100000", "--quiet", "--optimizers", "sgd"],
     "rosenbrock-trajectories.png"),
    (["compare", "--task", "digits", "--steps", "100000", "--quiet", "--optimizers", "sgd", "--lr-sweep"],
     "lr-sweep-digits.png"),
])
def test_an_output_file_that_is_a_directory_is_refused_before_training(tmp_path, capsys, command, blocker):
    (tmp_path / blocker).mkdir()
    (tmp_path / blocker / "keep").write_text("mine")
    t0 = time.perf_counter()
    code, err = run_main(capsys, *command, "--out", str(tmp_path))
    assert code == 2 and f"{tmp_path / blocker} is a directory" in one_line(err)
    assert time.perf_counter() - t0 < 30  # 100,000 steps did not run first
    assert (tmp_path / blocker / "keep").read_text() == "mine"


@pytest.mark.skipif(not os.path.isdir(UNWRITABLE), reason=f"no {UNWRITABLE} here")
@pytest.mark.parametrize("command", [["train", "--task", "digits", "--quiet"], ["lr-find", "--task", "digits"],
                                     ["compare", "--task", "digits", "--quiet", "--optimizers", "sgd"]])
def test_a_read_only_out_is_refused_before_training(capsys, command):
    t0 = time.perf_counter()
    code, err = run_main(capsys, *command, "--steps", "100000", "--out", UNWRITABLE)
    assert code == 2 and f"--out {UNWRITABLE} is not writable" in one_line(err)
    assert time.perf_counter() - t0 < 30


def test_a_failed_save_names_the_file_and_keeps_the_previous_checkpoint(tmp_path, capsys, monkeypatch):
    code, err = run_main(capsys, "train", "--task", "digits", "--steps", "4", "--quiet", "--out", str(tmp_path))
    assert code == 0, err
    before = (tmp_path / CKPT).read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)
    code, err = run_main(capsys, "train", "--task", "digits", "--steps", "6", "--quiet", "--overwrite",
                         "--out", str(tmp_path))
    assert code == 2
    assert f"saving {tmp_path / CKPT} failed: No space left on device" in one_line(err)
    assert (tmp_path / CKPT).read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == [".minigrad.lock", CKPT, "loss.png"]  # no temporary file left


# ============================================================================ one run per folder

def wait_for_lock(out, proc, timeout=120):
    """The PID written in out's lock file, once proc has taken it."""
    lock, deadline = out / ".minigrad.lock", time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if lock.exists() and lock.read_text().split()[:1] == [str(proc.pid)]:
            return proc.pid
        time.sleep(0.05)
    raise AssertionError(f"{proc.pid} did not lock {out}: {proc.communicate()}")


def test_a_second_run_into_a_busy_folder_is_refused_at_once_naming_the_holder(tmp_path, capsys):
    first = start("train", "--task", "rosenbrock", "--steps", "10000000", "--quiet", "--out", str(tmp_path))
    try:
        pid = wait_for_lock(tmp_path, first)
        for command in (["train", "--task", "rosenbrock", "--steps", "5", "--quiet", "--resume"],
                        ["train", "--task", "rosenbrock", "--steps", "5", "--quiet", "--overwrite"],
                        ["lr-find", "--task", "rosenbrock", "--steps", "20"],
                        ["compare", "--task", "rosenbrock", "--steps", "5", "--quiet", "--optimizers", "sgd"],
                        ["experiment", "bias-correction", "--quick"]):
            code, err = run_main(capsys, *command, "--out", str(tmp_path))
            assert code == 2 and f"--out {tmp_path} is in use by another run (PID {pid}" in one_line(err)
        assert sorted(os.listdir(tmp_path)) == [".minigrad.lock"]  # the refused runs wrote nothing
    finally:
        first.kill()  # SIGKILL: no clean-up ran, the kernel released the lock
        first.wait()
    code, err = run_main(capsys, "train", "--task", "rosenbrock", "--steps", "5", "--quiet", "--out",
                         str(tmp_path))
    assert code == 0, err
    code, err = run_main(capsys, "train", "--task", "rosenbrock", "--steps", "5", "--quiet", "--out",
                         str(tmp_path), "--overwrite")  # the lock went with the run that ended
    assert code == 0, err


@pytest.mark.parametrize("make, message", [
    (lambda p: p.symlink_to(p.parent.parent / "victim"), "Too many levels of symbolic links"),
    (lambda p: p.mkdir(), "Is a directory"),
    (lambda p: os.mkfifo(p), "is not a regular file"),
])
def test_a_lock_file_that_is_not_a_file_is_refused_and_nothing_is_written_through_it(tmp_path, capsys,
                                                                                   make, message):
    (tmp_path / "victim").write_text("mine")
    (tmp_path / "run").mkdir()
    make(tmp_path / "run" / ".minigrad.lock")
    code, err = run_main(capsys, "train", "--task", "rosenbrock", "--steps", "5", "--quiet", "--out",
                         str(tmp_path / "run"))
    assert code == 2 and "lock file" in one_line(err) and message in err
    assert (tmp_path / "victim").read_text() == "mine"


def test_the_lock_nests_in_one_process_and_refuses_another(tmp_path):
    from models import checkpoint
    with checkpoint.lock_out(str(tmp_path)):
        with checkpoint.lock_out(str(tmp_path / ".")):  # the same folder, another spelling
            pass
        code = "import sys; from models import checkpoint\nwith checkpoint.lock_out(sys.argv[1]): pass"
        p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                           env=ENV, cwd=ROOT, timeout=120, check=False)
        assert p.returncode != 0 and f"PID {os.getpid()}" in p.stderr
    with checkpoint.lock_out(str(tmp_path)):  # released at the end of the block
        pass


# ============================================================================ what is printed

@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    from models.cli import main
    out = tmp_path_factory.mktemp("good")
    args = ["train", "--task", "digits", "--steps", "3", "--quiet"]
    assert main(args + ["--out", str(out)]) == 0
    return args, (out / CKPT).read_bytes()


@pytest.mark.parametrize("field, value, shown", [
    ("task", "digits\nstep 3 in 0.1s: test_acc 99.99%", r"--task 'digits\nstep 3 in 0.1s: test_acc 99.99%'"),
    ("task", "\x1b[2J\x1b[31mok", r"--task '\x1b[2J\x1b[31mok'"),
    ("data", "surnames\r", r"--data 'surnames\r'"),
    ("task", "beale", "--task beale,"),  # a plain name as it is
])
def test_strings_from_a_checkpoint_are_printed_escaped(tmp_path, capsys, good_checkpoint, field, value, shown):
    from minigrad import serialization
    from models import checkpoint
    args, data = good_checkpoint
    payload = serialization.from_bytes(data)
    payload.pop("format")
    payload[field] = value
    checkpoint.save(str(tmp_path / CKPT), payload)
    code, err = run_main(capsys, *args, "--out", str(tmp_path), "--resume")
    assert code == 2 and shown in one_line(err) and "\x1b" not in err and "\r" not in err


def test_no_progress_bar_unless_the_output_is_a_terminal(monkeypatch):
    pytest.importorskip("tqdm")
    from models.train import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    for out, err, bar in ((Terminal(), Terminal(), True), (io.StringIO(), Terminal(), False),
                          (Terminal(), io.StringIO(), False)):
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        p = Progress(100, 0, True, "x")
        for step in range(1, 101):
            p.update(step, 1.0, 0.1)
        p.close()
        assert (p.bar is not None) == bar
        if not bar:  # the plain lines, one a tenth of the run
            assert out.getvalue().count("\n") == 10 and err.getvalue() == ""


def test_train_into_a_pipe_writes_short_plain_lines(tmp_path):
    p = cli("train", "--task", "rosenbrock", "--steps", "3000", "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert "\r" not in p.stdout + p.stderr and "it/s" not in p.stderr
    assert p.stdout.count("step ") >= 10 and len(p.stdout) + len(p.stderr) < 2000


# ============================================================================ signals

def test_sigterm_then_sigint_is_reported_as_sigterm():
    from models.train import _StopAtStepBoundary
    with _StopAtStepBoundary() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # not a second Ctrl-C: the stop stays SIGTERM's
        time.sleep(0.01)
    assert stop.signum == signal.SIGTERM
    with pytest.raises(KeyboardInterrupt), _StopAtStepBoundary() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C interrupts at once
        time.sleep(0.01)


@pytest.mark.parametrize("delay", [0.15, 0.4, 0.8, 1.5])
def test_ctrl_c_during_start_up_is_one_line_not_a_traceback(tmp_path, delay):
    proc = start("train", "--task", "names", "--steps", "5", "--quiet", "--out", str(tmp_path))
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == -signal.SIGINT:
        return  # before Python set its handler: killed by the signal, silently, as any program
    assert "Traceback" not in err, err
    assert proc.returncode == 130 and err.strip().splitlines()[-1].startswith("minigrad: interrupted"), err


def test_a_ctrl_c_while_a_sigterm_unwinds_reports_the_sigterm(capsys):
    """A Ctrl-C landing after the loop stopped for SIGTERM raised a KeyboardInterrupt during
    the unwinding: the run reported "minigrad: interrupted" (130), not the SIGTERM and its
    saved checkpoint; and once reported, signals are ignored until the exit."""
    import models.cli as cli
    from models.train import Interrupted

    def run(args):
        try:
            raise Interrupted(signal.SIGTERM, 7, "out/checkpoint.safetensors")
        except Interrupted:
            raise KeyboardInterrupt  # noqa: B904 (the later Ctrl-C, with the first as context)

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    real_run = cli.run
    cli.run = run
    try:
        capsys.readouterr()
        code = cli.main(["train", "--task", "quadratic"])
        ignored = [signal.getsignal(s) for s in saved]
    finally:
        cli.run = real_run
        for s, h in saved.items():
            signal.signal(s, h)
    err = capsys.readouterr().err
    assert code == 143, err
    assert "interrupted by SIGTERM at step 7" in err and "out/checkpoint.safetensors" in err
    assert ignored == [signal.SIG_IGN, signal.SIG_IGN]


@pytest.mark.parametrize("gap", [0.02, 0.1, 0.3])
def test_sigterm_then_sigint_ends_as_sigterm(tmp_path, gap):
    """After SIGTERM, a Ctrl-C `gap` s later ended the process by SIGINT (status -2, a shell's
    130) after it had printed "interrupted by SIGTERM", or replaced that line by "interrupted"."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "models", "train", "--task", "rosenbrock", "--steps", "1000000",
         "--quiet", "--checkpoint-every", "500", "--out", str(out)], env=ENV, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a terminal
    deadline = time.time() + 120
    while not (out / "checkpoint.safetensors").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    time.sleep(gap)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM" in err and "continue with --resume" in err, err
