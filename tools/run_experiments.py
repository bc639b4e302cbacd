"""Run the registered experiments and keep what they print and draw, for the documentation site.

    python tools/run_experiments.py [NAME ...] [--out docs/experiments]

Each experiment of the registry (models/experiments) runs as its command does, with
`--out docs/experiments` so that its figure lands there as NAME.png; what it prints is saved as
NAME.txt, first line the command. The site's experiment pages show both (tools/docgen.py), so
every number on them is the command's own output. A failed command leaves the old NAME.txt alone
and makes the exit status 1.
"""
import argparse
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import docgen  # noqa: E402 (found through the sys.path entries above)


def command_line(exp, out):
    """The experiment's command, as argv (minigrad -> python -m models), and as shown."""
    shown = exp["command"]
    if shown == f"minigrad experiment {exp['name']}":
        shown += f" --out {out}"
    argv = shlex.split(shown)
    if argv[0] == "minigrad":
        argv = [sys.executable, "-m", "models"] + argv[1:]
    return argv, shown


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="experiments to run (default: all)")
    ap.add_argument("--out", default="docs/experiments", help="where figures and outputs go")
    args = ap.parse_args(argv)
    exps = docgen.experiments()
    if not exps:
        print("run_experiments: no experiment registry (models/experiments)", file=sys.stderr)
        return 2
    known = {e["name"]: e for e in exps}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        print(f"run_experiments: unknown experiment(s) {', '.join(unknown)}; "
              f"known: {', '.join(known)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    for exp in [known[n] for n in args.names] if args.names else exps:
        argv_, shown = command_line(exp, args.out)
        print(f"$ {shown}", flush=True)
        run = subprocess.run(argv_, cwd=docgen.ROOT, stdout=subprocess.PIPE, text=True)
        sys.stdout.write(run.stdout)
        if run.returncode != 0:
            failed.append(exp["name"])
            print(f"run_experiments: {exp['name']} exited with status {run.returncode}", file=sys.stderr)
            continue
        (out / f"{exp['name']}.txt").write_text(f"$ {shown}\n{run.stdout}", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
