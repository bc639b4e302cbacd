"""Run the registered experiments and keep what they print and draw, for the documentation site.

    python tools/run_experiments.py [NAME ...] [--out docs/experiments]

Each experiment of the registry (models/experiments) runs as its command does,
`minigrad experiment NAME --out docs/experiments`, in a process of its own: its figure lands
there as NAME.png, what it printed as NAME.txt, and its record (verdicts, seconds, commit, code
hash) as NAME.json. The site's experiment pages show all three (tools/docgen.py), so every number
on them is the command's own output, and the site's build refuses an output whose code has changed
since. A failed experiment makes the exit status 1; the others still run. At the end it prints each
experiment's time and the total.
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import experiments  # noqa: E402 (this checkout's, through the entry above)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="experiments to run (default: every one that runs here)")
    ap.add_argument("--out", default="docs/experiments", help="where figures and outputs go")
    args = ap.parse_args(argv)
    try:
        entries = [experiments.runnable_entry(n) for n in args.names] or experiments.runnable()
    except ValueError as e:
        print(f"run_experiments: {e}", file=sys.stderr)
        return 2
    failed, times = [], []
    for entry in entries:
        argv_ = [sys.executable, "-m", "models", "experiment", entry.name, "--out", args.out]
        print(f"$ minigrad experiment {entry.name} --out {args.out}", flush=True)
        started = time.perf_counter()
        status = subprocess.run(argv_, cwd=ROOT).returncode
        times.append((entry.name, time.perf_counter() - started))
        if status != 0:
            failed.append(entry.name)
            print(f"run_experiments: {entry.name} exited with status {status}", file=sys.stderr)
    for name, seconds in times:
        print(f"{name:24s} {seconds:7.0f} s")
    print(f"{'total':24s} {sum(s for _, s in times):7.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
