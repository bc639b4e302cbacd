"""debugging: the five debugging rules, each symptom provoked on a real task and its remedy applied.

A debugging rule reads a training curve and names a cause and a fix. Each rule here is tested the
way a practitioner would meet it: a run set up to show the symptom (the provoked run), the same
run with the rule's remedy (the remedied run), from the same initialisation and batches (seed s),
5 seeds each; and optim.TrainingMonitor (optim/tools/monitor.py) fed every step's loss, gradient
norm and learning rate, to see whether it names the symptom from the losses alone.

    1. loss not decreasing: lr too high        provoked: digits, Adam at lr 0.3;
                                               remedy: lr 10x lower, 0.03
    2. loss decreasing slowly: lr too low      provoked: names, Adam at lr 1e-4;
                                               remedy: lr 10x higher, 1e-3
    3. loss oscillating: raise the batch       provoked: digits, SGD momentum 0.9 at lr 0.1, batches
                                               of 4; remedy: batches of 64
    4. plateau then sudden drop: step decay    provoked: names, SGD momentum 0.9 at lr 0.1, x0.1 at 1/2
                                               and 3/4 of the run; normal, so no remedy: beside a constant rate
    5. NaN: gradient explosion: clip           provoked: names, SGD momentum 0.9 at lr 3; remedies:
                                               clip the gradient norm at 1, or lr 10x lower

The tasks are those of lr-sensitivity (models/experiments/sweeps.py): the digits MLP 64-32-10 (500
steps of 32 images, unless the rule changes the batch) and the names character MLP (1,000 steps of
64). What is measured: the validation loss L_val every twentieth of the run, and at the end. A
remedy fixes its symptom when, per seed s, d_s = L_val,s(provoked) - L_val,s(remedied) is at least
δ (over the 5 seeds: the mean d at least δ and its 95% interval above 0), with δ = 0.05 nats on
digits and 0.03 nats per character on names (as in hyperparameters: a few times the spread across
seeds, and a few percent of what training learns). Rule 4 has no fault to fix; its claim is that
the drop is the schedule's doing: the validation loss falls by at least δ more in the 100 steps
after the first milestone than the constant-rate run's does over the same steps. Rule 5's
provoked loss ends far above chance (ln K, a uniform guess), so a remedy that only lowers it is
not yet a fix: each remedy there must also bring the validation loss below ln K. Whether the
monitor named the symptom is a fact of each run (the finding's name, and for rules 1 and 2 the
direction of its cause), counted over the seeds: it holds when every provoked run shows it.

Rule 5's NaN could not be provoked on these models: their cross entropy is computed stably and
the names model's batch norm bounds its activations, so a far too high rate makes the loss
explode to hundreds, not to NaN. The rule is tested on that explosion, the symptom the NaN ends.
"""
import math

import numpy as np

import optim
from models import plots
from models.train import make_schedule

from . import parallel, sweeps, verdicts
from .common import figure_path, table, val_loss

QUOTE = ("In paraphrase: loss not decreasing, the learning rate is likely too high; loss "
         "decreasing very slowly, too low; loss oscillating, reduce the learning rate or raise "
         "the batch size; a plateau then a sudden drop is normal under step decay; NaN is a "
         "gradient explosion, so clip the gradients (the article's debugging table, as "
         "docs/debugging.md gives it).")
SECTION = "Debugging"
LOOK_FOR = (
    "Each panel is one rule: the provoked run in red, the remedy in blue (and, for rule 5, the "
    "second remedy in green), validation loss against the step, mean over 5 seeds with a band "
    "from the lowest to the highest seed. Read each panel as a practitioner would read a "
    "dashboard: the red curve is the symptom (flat near chance, creeping down, noisy and high, "
    "dropping at the milestones, or exploding), the blue one what the remedy made of it. Under "
    "each title is what the TrainingMonitor said of the provoked runs. In rule 5, compare the "
    "two remedies: clipping alone bounds each step, but at a rate ten times too high that is "
    "not enough.")
USES = sweeps.USES  # the optimizer classes it runs (its code hash covers them)

MARGIN = {"digits": 0.05, "names": 0.03}  # nats: a few seeds' spread, a few % of ln K - L* (hyperparameters)
DROP_WINDOW = 100  # steps after the first milestone over which rule 4's drop is measured
POINTS = 20        # validation measurements per run
QUICK_STEPS = 150  # a smoke run: just past the monitor's warm-up window of 100 steps

# rule: (title, task, symptom the monitor should name, the cause's words it should use,
#        [(label, optimizer, lr, batch, schedule, clip)]: the provoked run first)
RULES = {
    1: ("loss not decreasing: lr too high", "digits", ("no progress", "divergence"), "too high",
        [("Adam lr 0.3", "Adam", 0.3, 32, "none", None), ("lr 10x lower: 0.03", "Adam", 0.03, 32, "none", None)]),
    2: ("loss decreasing slowly: lr too low", "names", ("no progress", "slow progress"), "too low",
        [("Adam lr 1e-4", "Adam", 1e-4, 64, "none", None), ("lr 10x higher: 1e-3", "Adam", 1e-3, 64, "none", None)]),
    3: ("loss oscillating: raise the batch", "digits", ("oscillation",), None,
        [("batch 4", "SGD+momentum", 0.1, 4, "none", None), ("batch 64", "SGD+momentum", 0.1, 64, "none", None)]),
    4: ("plateau then drop: step decay", "names", ("plateau then drop",), None,
        [("step decay", "SGD+momentum", 0.1, 64, "step", None),
         ("constant lr", "SGD+momentum", 0.1, 64, "none", None)]),
    5: ("loss explodes: clip, or lower the lr", "names", ("divergence", "exploding gradient", "non-finite loss"), None,
        [("SGD momentum lr 3", "SGD+momentum", 3.0, 64, "none", None),
         ("clip norm 1", "SGD+momentum", 3.0, 64, "none", 1.0),
         ("lr 10x lower: 0.3", "SGD+momentum", 0.3, 64, "none", None)]),
}


def steps_of(name, quick):
    return QUICK_STEPS if quick else sweeps.SETUP[name][0]


def one(rule, k, seed, quick):
    """Run arm k of a rule on one seed: its validation curve and what the monitor found."""
    _, name, _, _, arms = RULES[rule]
    _, opt_name, lr, batch, schedule, clip = arms[k]
    steps = steps_of(name, quick)
    t = sweeps.task(name)
    model = sweeps.build(name, seed)
    opt = sweeps.make(opt_name, model.parameters(), lr, 0.0)
    sched = make_schedule(schedule, opt, steps)
    monitor = optim.TrainingMonitor(opt, steps=steps, lr=lr, batch_size=batch)
    n_val = sweeps.QUICK_VAL if quick else sweeps.SETUP[name][2]
    rng = np.random.default_rng(seed + 1)  # the batches of seed s, as common.fit draws them
    every = max(1, steps // POINTS)
    curve = {"step": [], "val": []}
    params = model.parameters()
    with np.errstate(all="ignore"):
        for step in range(1, steps + 1):
            loss = t.loss(model, t.batch(rng, batch))
            opt.zero_grad()
            loss.backward()
            norm = optim.clip_grad_norm_(params, clip) if clip else optim.grad_norm(params)
            monitor.update(loss.item(), grad_norm=norm, lr=opt.param_groups[0]["lr"])
            if not math.isfinite(loss.item()):
                break
            opt.step()
            if sched is not None:
                sched.step()
            if step % every == 0 or step == steps:
                curve["step"].append(step)
                curve["val"].append(val_loss(t, model, n_val))
        final = val_loss(t, model, n_val)
    monitor.check_metrics({"val_loss": final})
    final = final if math.isfinite(final) else math.inf
    return {**curve, "final": final, "health": monitor.health(),
            "findings": [{"symptom": f.symptom, "step": f.step, "severity": f.severity, "cause": f.cause,
                          "remedy": f.remedy} for f in monitor.findings]}


def named(rule, run):
    """Whether the monitor named the rule's symptom in this run (and, for rules 1 and 2, blamed
    the learning rate in the rule's direction)."""
    _, _, symptoms, cause, _ = RULES[rule]
    return any(f["symptom"] in symptoms and (cause is None or cause in f["cause"]) for f in run["findings"])


def faults(run):
    return [f for f in run["findings"] if f["severity"] != "expected"]


def run(quick=False, out="runs/experiments"):
    seeds = verdicts.seeds(quick)
    for _, name, *_ in RULES.values():
        sweeps.task(name)  # loaded before the workers fork
    jobs = [(r, k, s, bool(quick)) for r, spec in RULES.items() for k in range(len(spec[4])) for s in seeds]
    got = dict(zip(jobs, parallel.map(one, jobs)))
    result = {"rules": {}}
    rows = []
    for r, (title, name, _, _, arms) in RULES.items():
        res = result["rules"][r] = {"title": title, "task": name, "steps": steps_of(name, quick), "arms": {}}
        for k, arm in enumerate(arms):
            runs = [got[r, k, s, bool(quick)] for s in seeds]
            res["arms"][arm[0]] = {"runs": runs, "final": [x["final"] for x in runs],
                                   "named": [named(r, x) for x in runs]}
            found = sorted({f["symptom"] for x in runs for f in x["findings"]})
            rows.append((f"{r}. {name}", arm[0] + (" (provoked)" if k == 0 else ""),
                         f"{np.mean([x['final'] for x in runs]):.4g}",
                         f"{sum(named(r, x) for x in runs)}/{len(runs)}" if k == 0 else "-",
                         f"{sum(not faults(x) for x in runs)}/{len(runs)}", ", ".join(found) or "none"))
    print(f"final validation loss (nats), mean over {len(seeds)} seeds, and what the TrainingMonitor said")
    table(["rule, task", "run", "val loss", "named", "healthy", "the monitor's findings (any seed)"], rows)
    print()
    for r, res in result["rules"].items():
        arms = list(res["arms"].values())
        labels = list(res["arms"])
        provoked, name = arms[0], res["task"]
        example = next((f for x in provoked["runs"] for f in x["findings"]
                        if f["symptom"] in RULES[r][2]), None)
        if example:
            print(f"rule {r}, the monitor on the provoked run: {example['symptom']} at step {example['step']}; "
                  f"likely cause: {example['cause']}; try: {example['remedy']}")
        if r == 4:
            drops = {}
            for label, arm in res["arms"].items():
                steps = arm["runs"][0]["step"]
                m = res["steps"] // 2
                i0, i1 = _index(steps, m), _index(steps, m + DROP_WINDOW)
                drops[label] = [x["val"][i0] - x["val"][i1] for x in arm["runs"]]
            res["drop"] = drops
            verdicts.better(f"rule 4 ({name}): the drop after the first milestone is the schedule's: the "
                            f"validation loss falls at least {MARGIN[name]:g} nats more in the {DROP_WINDOW} "
                            "steps after it than the constant rate's", drops["step decay"], drops["constant lr"],
                            MARGIN[name], lower_is_better=False, names=("step decay", "constant"), unit=" nats")
            step_end, constant_end = np.mean(arms[0]["final"]), np.mean(arms[1]["final"])
            verdicts.note(f"rule 4 ({name}): at the end, step decay {step_end:.4f} vs constant {constant_end:.4f} "
                          f"nats (mean over seeds): the drop is the schedule lowering the noise floor, and here "
                          f"step decay ends {'lower' if step_end < constant_end else 'no lower'}")
        else:
            for label, arm in list(res["arms"].items())[1:]:
                verdicts.better(f"rule {r} ({name}): the remedy, {label}, fixes '{RULES[r][0]}' "
                                f"(validation loss lower by at least {MARGIN[name]:g} nats)", arm["final"],
                                provoked["final"], MARGIN[name], names=(label, labels[0]), unit=" nats")
                if r == 5:  # lower than an explosion is not yet learning: below a uniform guess
                    verdicts.below(f"rule 5 ({name}): with the remedy, {label}, the model learns: its validation "
                                   f"loss ends below chance, ln K = {sweeps.chance(name):.3f}", arm["final"],
                                   sweeps.chance(name), unit=" nats")
        n_named = sum(provoked["named"])
        healthy = [sum(not faults(x) for x in arm["runs"]) for arm in arms[1:]]
        claim = (f"rule {r}: the TrainingMonitor named the symptom ({' or '.join(RULES[r][2])}"
                 + (f", cause '{RULES[r][3]}'" if RULES[r][3] else "") + ") in every provoked run")
        numbers = (f"{n_named}/{len(seeds)} provoked runs; the remedied runs healthy (no fault) in "
                   + ", ".join(f"{h}/{len(seeds)} ({lab})" for h, lab in zip(healthy, labels[1:])))
        if r == 4:
            numbers += "; 'plateau then drop' is an expected finding, not a fault"
        if quick:  # 150 steps: the monitor's checks after its warm-up window barely get to run
            verdicts.note(f"{claim}: {numbers}")
        else:
            verdicts.exact(claim, n_named == len(seeds), numbers)
    result["png"] = _figure(result, figure_path(out, "debugging"))
    return result


def _index(steps, step):
    return int(np.argmin(np.abs(np.asarray(steps) - step)))


def _figure(result, path):
    made = plots.panels(2, 3, (17, 9.5))
    if made is None:
        return None
    plt, fig, axes = made
    colors = ["tab:red", "tab:blue", "tab:green"]
    for ax, (r, res) in zip(axes, result["rules"].items()):
        name = res["task"]
        top = 0.0
        for c, (label, arm) in zip(colors, res["arms"].items()):
            steps = arm["runs"][0]["step"]
            Y = np.array([x["val"] for x in arm["runs"]], dtype=np.float64)
            ax.plot(steps, Y.mean(axis=0), lw=1.8, color=c, label=f"{label}: {np.mean(arm['final']):.3g}")
            ax.fill_between(steps, Y.min(axis=0), Y.max(axis=0), color=c, alpha=0.2)
            top = max(top, float(np.nanmax(Y)))
        if r != 4:  # rule 4's drop is small beside the distance to chance: zoom on it
            ax.axhline(sweeps.chance(name), color="k", ls=":", lw=1)
        if top > 3 * sweeps.chance(name):
            ax.set_yscale("log")
        if r == 4:
            m = res["steps"] // 2
            for x in (m, 3 * res["steps"] // 4):
                ax.axvline(x, color="gray", ls="--", lw=1)
        ax.set_xlabel("step", fontsize=11)
        ax.set_ylabel("validation loss (nats" + (", log)" if top > 3 * sweeps.chance(name) else ")"), fontsize=11)
        provoked = next(iter(res["arms"].values()))
        said = sorted({f["symptom"] for x in provoked["runs"] for f in x["findings"]})
        ax.set_title(f"rule {r}: {res['title']} ({name})\nmonitor on the provoked runs: "
                     f"{', '.join(said) or 'nothing'}", fontsize=10.5)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9, loc="best", title="final validation loss", title_fontsize=9)
    ax = axes[5]
    ax.set_axis_off()
    lines = ["Dotted line: chance, ln K (a uniform guess);", "not drawn in rule 4, zoomed on its drop.",
             "Dashed lines (rule 4): the milestones,",
             "where step decay divides the lr by 10.", "", "Counts over the seeds:"]
    for r, res in result["rules"].items():
        arms = list(res["arms"].values())
        n = len(arms[0]["named"])
        lines.append(f"rule {r}: symptom named in {sum(arms[0]['named'])}/{n} provoked runs")
    ax.text(0.02, 0.95, "\n".join(lines), va="top", ha="left", fontsize=11, transform=ax.transAxes)
    return path if plots.save_panels(plt, fig, path, "The debugging rules: each symptom provoked (red) and "
                                     "its remedy applied, validation loss, mean and range over seeds") else None
