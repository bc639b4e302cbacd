"""recipes: the practical guidelines, each run as it says and judged on validation over 5 seeds.

A recipe is advice of the form "for this kind of model, start with this optimizer and these
settings". Each is run here on a task of its kind, beside the alternative it is preferred to,
from the same initialisation and the same batches for every contestant of a seed (seed s), over
5 seeds, and judged on held-out data, never on the training loss (on the sparse task the two
disagree). The curves are the validation loss (or accuracy) measured every twentieth of the run.

1. AdamW at lr 1e-3 with the default betas is the first thing to try. Names task (character MLP,
   warmup + cosine), AdamW at 3e-4, 1e-3 and 3e-3. Claim: lr 1e-3 is within δ = 0.03 nats per
   character of the better of the other two, per seed (a gap under a few times the seeds' spread
   is not worth a second run).

2. SGD with momentum 0.9 at lr 0.1, with cosine or step decay, for image models. Digits MLP
   (BatchNorm, dropout), beside AdamW at 1e-3 with cosine decay. Claim: the SGD schedule with the
   better mean beats AdamW in validation accuracy by at least 1.5 points. The validation set has
   269 images: one image is 0.37 points, and the binomial standard error of an accuracy near 98%
   on 269 images is sqrt(0.98 · 0.02 / 269) ≈ 0.85 points, so 1.5 points (4 images), under two
   standard errors, is the least that is not a coin toss.

3. AdamW with warmup and cosine decay for transformers. Names-GPT (a small GPT, 2 layers of width
   32), AdamW at lr 3e-3 with linear warmup (5% of the steps) then cosine, against cosine without
   warmup and a constant rate. Claim: warmup + cosine beats each by at least δ = 0.02 nats.

4. AdaGrad or Adam for sparse embeddings. The sparse-vocab task (an embedding of 200,000 words
   with row-sparse gradients), at each optimizer's rate from models/tasks.py. Claim: the better of
   AdaGrad and Adam (by mean) beats SGD in validation accuracy by at least 1.5 points (4,000
   validation examples: a standard error of about 0.7 points near 75%, and 1.5 points is 60
   examples); its validation loss is judged beside it (δ = 0.02 nats).

For a run of T steps the curves are

    L_val(t)   cross entropy on the validation set after t steps, t = T/20, 2T/20, ..., T
    acc(t)     the fraction of validation examples classified correctly (digits, sparse-vocab)

and a verdict compares the values at t = T, seed by seed (verdicts.py).
"""
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
import optim
from models import plots, tasks
from models.optimizers import make_optimizer
from models.train import make_schedule

from . import parallel, verdicts
from .common import figure_path, fit, table

QUOTE = ("In paraphrase: start with AdamW at lr 1e-3 and the default betas; for image models, SGD "
         "with momentum 0.9 at lr 0.1 with cosine or step decay; for transformers, AdamW with "
         "warmup and cosine decay; for sparse embeddings, AdaGrad or Adam (the article's practical "
         "guidelines, as this course encodes them).")
SECTION = "Practical recipes"
LOOK_FOR = (
    "Each panel is one guideline on its task: the validation curve of each contestant, the mean "
    "over 5 seeds with a band from the lowest to the highest seed. The verdict is read at the "
    "right edge. Where two bands overlap at the end, the seeds cannot separate the contestants, "
    "and a one-seed table that ranked them would be ranking noise. On digits and sparse-vocab "
    "the panels show accuracy, the metric the verdict uses: note how few images the gaps are "
    "(one digit image is 0.37 points). On names-gpt watch the first steps: warmup is slower at "
    "the start by design, and what matters is whether it ends lower.")
USES = (optim.Adagrad, optim.Adam, optim.AdamW, optim.SGD)  # the optimizer classes it runs (its code hash covers them)

NAMES_MARGIN = 0.03   # nats/character: a few times the seeds' spread on names; not worth a rerun below it
GPT_MARGIN = 0.02     # nats/character: the same standard for the transformer, whose seeds vary less
ACC_MARGIN = 1.5      # accuracy points: about two binomial standard errors on each validation set
SPARSE_LOSS_MARGIN = 0.02  # nats: the loss judged beside the accuracy on sparse-vocab
POINTS = 20           # validation measurements per run

# guideline: (task, steps (full, quick), [(label, optimizer name, lr, schedule)])
GUIDES = {
    "adamw": ("names", (600, 20), [("AdamW lr 3e-4", "adamw", 3e-4, "warmup-cosine"),
                                   ("AdamW lr 1e-3", "adamw", 1e-3, "warmup-cosine"),
                                   ("AdamW lr 3e-3", "adamw", 3e-3, "warmup-cosine")]),
    "images": ("digits", (400, 20), [("SGD momentum 0.9 lr 0.1, cosine", "momentum", 0.1, "cosine"),
                                     ("SGD momentum 0.9 lr 0.1, step", "momentum", 0.1, "step"),
                                     ("AdamW lr 1e-3, cosine", "adamw", 1e-3, "cosine")]),
    "transformer": ("names-gpt", (300, 10), [("AdamW, warmup + cosine", "adamw", 3e-3, "warmup-cosine"),
                                             ("AdamW, cosine, no warmup", "adamw", 3e-3, "cosine"),
                                             ("AdamW, constant", "adamw", 3e-3, "none")]),
    "sparse": ("sparse-vocab", (500, 20), [("AdaGrad lr 0.3", "adagrad", 0.3, "none"),
                                           ("Adam lr 0.01", "adam", 1e-2, "none"),
                                           ("SGD lr 1", "sgd", 1.0, "none")]),
}
VAL_SUBSET = {"names": 5000, "names-gpt": 1000}  # validation examples (names) measured in a curve


class SmallGPT(tasks.NamesGPTTask):
    """names-gpt with a smaller transformer (2 layers, width 32, 4 heads) and batches of 32: the
    same data and loss, affordable for 15 runs on two cores."""
    n_layer, n_embd, n_head, batch_size = 2, 32, 4, 32


_tasks = {}


def task(name):
    if name not in _tasks:
        _tasks[name] = SmallGPT() if name == "names-gpt" else tasks.make_task(name)
    return _tasks[name]


@mg.no_grad()
def measure(t, model):
    """(validation loss, validation accuracy or None) of the model, in eval mode."""
    model.eval()
    try:
        if t.name == "names-gpt":
            X, Y, lengths = (a[:VAL_SUBSET["names-gpt"]] for a in t.val)
            T = int(lengths.max())
            logits = model(t.to_device(X[:, :T]))
            total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.to_device(Y[:, :T]).reshape(-1),
                                    reduction="sum").item()
            return total / int(lengths.sum()), None
        X, y = t.val
        n = VAL_SUBSET.get(t.name, len(X))
        X, y = X[:n], y[:n]
        logits = model(t.to_device(X))
        loss = F.cross_entropy(logits, t.to_device(y)).item()
        acc = float((logits.numpy().argmax(1) == y).mean()) if t.name != "names" else None
        return loss, acc
    finally:
        model.train()


def one(guide, k, seed, quick):
    """One contestant of a guideline on one seed: its validation curve."""
    name, steps, runs = GUIDES[guide]
    steps = steps[quick]
    _, opt_name, lr, schedule = runs[k]
    t = task(name)
    model = t.build(seed, "")
    opt = make_optimizer(opt_name, t.optimizer_params(model), lr)
    sched = make_schedule(schedule, opt, steps)
    every = max(1, steps // POINTS)
    curve = {"step": [], "loss": [], "acc": []}

    def on_step(step):
        if step % every == 0 or step == steps:
            loss, acc = measure(t, model)
            curve["step"].append(step)
            curve["loss"].append(loss)
            curve["acc"].append(acc)

    with np.errstate(all="ignore"):
        fit(t, model, opt, steps, t.batch_size, seed=seed, sched=sched, on_step=on_step)
    return curve


def run(quick=False, out="runs/experiments"):
    seeds = verdicts.seeds(quick)
    for name, _, _ in GUIDES.values():
        task(name)  # loaded before the workers fork
    jobs = [(g, k, s, bool(quick)) for g, (_, _, runs) in GUIDES.items() for k in range(len(runs)) for s in seeds]
    got = dict(zip(jobs, parallel.map(one, jobs)))
    result = {"guides": {}}
    rows = []
    for g, (name, steps, runs) in GUIDES.items():
        res = result["guides"][g] = {"task": name, "steps": steps[quick], "runs": {}}
        for k, (label, *_rest) in enumerate(runs):
            curves = [got[g, k, s, bool(quick)] for s in seeds]
            final_loss = [c["loss"][-1] for c in curves]
            final_acc = [100 * c["acc"][-1] for c in curves] if curves[0]["acc"][-1] is not None else None
            res["runs"][label] = {"step": curves[0]["step"], "loss": [c["loss"] for c in curves],
                                  "acc": [[100 * a for a in c["acc"]] for c in curves] if final_acc else None,
                                  "final_loss": final_loss, "final_acc": final_acc}
            rows.append((name, label, f"{np.mean(final_loss):.4f} ± {np.std(final_loss):.4f}",
                         f"{np.mean(final_acc):.2f}% ± {np.std(final_acc):.2f}" if final_acc else "-"))
    print(f"final validation metrics, mean ± standard deviation over {len(seeds)} seeds")
    table(["task", "run", "val loss (nats)", "val accuracy"], rows)
    print()
    G = result["guides"]
    r = G["adamw"]["runs"]
    other = min(("AdamW lr 3e-4", "AdamW lr 3e-3"), key=lambda k: np.mean(r[k]["final_loss"]))
    verdicts.below(f"names: AdamW at lr 1e-3 is within {NAMES_MARGIN:g} nats of the better other rate "
                   f"({other.split()[-1]}) in validation loss (the number: lr 1e-3's loss minus that rate's, "
                   "per seed)", np.subtract(r["AdamW lr 1e-3"]["final_loss"], r[other]["final_loss"]),
                   NAMES_MARGIN, unit=" nats")
    r = G["images"]["runs"]
    sgd = max(("SGD momentum 0.9 lr 0.1, cosine", "SGD momentum 0.9 lr 0.1, step"),
              key=lambda k: np.mean(r[k]["final_acc"]))
    verdicts.better(f"digits: SGD with momentum 0.9 at lr 0.1 ({sgd.split(', ')[-1]} decay) beats AdamW at "
                    f"1e-3 in validation accuracy by at least {ACC_MARGIN:g} points",
                    r[sgd]["final_acc"], r["AdamW lr 1e-3, cosine"]["final_acc"], ACC_MARGIN,
                    lower_is_better=False, names=("SGD", "AdamW"), unit=" points")
    r = G["transformer"]["runs"]
    for other in ("AdamW, cosine, no warmup", "AdamW, constant"):
        verdicts.better(f"names-gpt: AdamW with warmup + cosine beats {other.split(', ', 1)[1]} in validation "
                        f"loss by at least {GPT_MARGIN:g} nats", r["AdamW, warmup + cosine"]["final_loss"],
                        r[other]["final_loss"], GPT_MARGIN, names=("warmup + cosine", other.split(", ", 1)[1]),
                        unit=" nats")
    r = G["sparse"]["runs"]
    adaptive = max(("AdaGrad lr 0.3", "Adam lr 0.01"), key=lambda k: np.mean(r[k]["final_acc"]))
    verdicts.better(f"sparse-vocab: {adaptive.split()[0]} (the better of AdaGrad and Adam) beats SGD in "
                    f"validation accuracy by at least {ACC_MARGIN:g} points", r[adaptive]["final_acc"],
                    r["SGD lr 1"]["final_acc"], ACC_MARGIN, lower_is_better=False,
                    names=(adaptive.split()[0], "SGD"), unit=" points")
    verdicts.better(f"sparse-vocab: {adaptive.split()[0]} beats SGD in validation loss by at least "
                    f"{SPARSE_LOSS_MARGIN:g} nats", r[adaptive]["final_loss"], r["SGD lr 1"]["final_loss"],
                    SPARSE_LOSS_MARGIN, names=(adaptive.split()[0], "SGD"), unit=" nats")
    result["png"] = _figure(result, figure_path(out, "recipes"))
    return result


TITLES = {"adamw": "AdamW at lr 1e-3 first", "images": "SGD + momentum for images",
          "transformer": "warmup + cosine for transformers", "sparse": "AdaGrad or Adam for sparse embeddings"}


def _figure(result, path):
    made = plots.panels(2, 2, (14, 9))
    if made is None:
        return None
    plt, fig, axes = made
    colors = ["tab:blue", "tab:orange", "tab:green"]
    for ax, (g, res) in zip(axes, result["guides"].items()):
        use_acc = g in ("images", "sparse")
        ends = []
        for c, (label, r) in zip(colors, res["runs"].items()):
            Y = np.array(r["acc"] if use_acc else r["loss"], dtype=np.float64)
            mean = Y.mean(axis=0)
            end = r["final_acc"] if use_acc else r["final_loss"]
            ax.plot(r["step"], mean, lw=1.8, color=c,
                    label=f"{label}: {np.mean(end):.2f}%" if use_acc else f"{label}: {np.mean(end):.4f}")
            ax.fill_between(r["step"], Y.min(axis=0), Y.max(axis=0), color=c, alpha=0.2)
            ends.append(Y[:, -1])
        # zoom on the end of the run, where the verdict is read
        ends = np.concatenate(ends)
        lo, hi = float(np.min(ends)), float(np.max(ends))
        pad = max(hi - lo, 0.02 * abs(hi) + 1e-3)
        if use_acc:
            ax.set_ylim(lo - 4 * pad, min(100.5, hi + 1.5 * pad))
        else:
            ax.set_ylim(lo - 1.5 * pad, hi + 4 * pad)
        ax.set_xlabel("step", fontsize=11)
        ax.set_ylabel("validation accuracy (%)" if use_acc else "validation loss (nats per example)"
                      if res["task"] != "names" and res["task"] != "names-gpt" else
                      "validation loss (nats per character)", fontsize=11)
        ax.set_title(f"{TITLES[g]}: {res['task']}, {res['steps']} steps", fontsize=11)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9, loc="lower right" if use_acc else "upper right",
                  title="mean over seeds at the end", title_fontsize=9)
    return path if plots.save_panels(plt, fig, path, "The practical recipes on validation data: mean over "
                                     "seeds, band from the lowest to the highest seed") else None
