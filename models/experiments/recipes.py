"""recipes: the subject's practical guidelines, each run as it says and measured.

1. AdamW at lr 1e-3 with the default betas is the first thing to try: on the names task, beside
   AdamW at 3e-4 and 3e-3 (held when 1e-3 is within 2% of the best validation loss).
2. SGD with momentum 0.9 at lr 0.1, with cosine or step decay, for image models: on the digits
   MLP, against AdamW at 1e-3 (held when the better SGD schedule's test accuracy is at least
   AdamW's).
3. AdamW with warmup and cosine decay for transformers: on the names-gpt task when models/tasks.py
   has it, against the same AdamW without warmup and with a constant rate (held when warmup +
   cosine has the lowest validation loss); otherwise the row says it is not available.
4. AdaGrad or Adam for sparse embeddings: on the sparse-vocab task (an embedding of 200K words
   with row-sparse gradients), against SGD (held when either beats SGD's validation accuracy;
   the validation losses are printed beside it).

Every run is `minigrad train`'s loop (models.train.train) with the optimizers and schedules of
the command line, from one seed.
"""
import numpy as np

import optim
from models import plots, tasks
from models.train import train

from .common import figure_path, table, val_loss, verdict

USES = (optim.Adagrad, optim.Adam, optim.AdamW, optim.SGD)  # the optimizer classes it runs (its code hash covers them)
GPT = "names-gpt"
STEPS = {  # guideline: (full, quick) steps
    "adamw": (1500, 12), "sgd-images": (1500, 25), "transformer": (2000, 8), "sparse": (1500, 150)}


def _train(task, optimizer, lr, schedule, steps):
    config = dict(optimizer=optimizer, lr=lr, schedule=schedule, clip=None, steps=steps,
                  batch_size=task.batch_size, seed=0)
    return train(task, config, progress=False, stop_on_nonfinite=False)


class QuickNames(tasks.NamesTask):
    """The names task with the validation loss on 2,000 examples: --quick's budget."""

    def evaluate(self, model):
        return {"val_loss": val_loss(self, model, 2000)}


def adamw_first_choice(quick):
    task = QuickNames() if quick else tasks.make_task("names")
    steps = STEPS["adamw"][quick]
    runs = {f"AdamW lr {lr:g}": _train(task, "adamw", lr, task.schedule, steps) for lr in (3e-4, 1e-3, 3e-3)}
    loss = {k: r["metrics"]["val_loss"] for k, r in runs.items()}
    best = min(loss, key=loss.get)
    held = loss["AdamW lr 0.001"] <= 1.02 * loss[best]
    summary = ("AdamW, lr 1e-3, default betas, first choice", "names",
               f"val loss {loss['AdamW lr 0.001']:.4f}; best {best}: {loss[best]:.4f}", held)
    return runs, "val_loss", summary, f"names ({task.schedule}, {steps} steps)"


def sgd_for_images(quick):
    task = tasks.make_task("digits")
    steps = STEPS["sgd-images"][quick]
    runs = {"SGD momentum 0.9 lr 0.1, cosine": _train(task, "momentum", 0.1, "cosine", steps),
            "SGD momentum 0.9 lr 0.1, step": _train(task, "momentum", 0.1, "step", steps),
            "AdamW lr 1e-3, cosine": _train(task, "adamw", 1e-3, "cosine", steps)}
    acc = {k: r["metrics"]["test_acc"] for k, r in runs.items()}
    sgd = max(acc["SGD momentum 0.9 lr 0.1, cosine"], acc["SGD momentum 0.9 lr 0.1, step"])
    summary = ("SGD momentum 0.9, lr 0.1, cosine or step decay, for images", "digits",
               f"test acc SGD {100 * sgd:.2f}% vs AdamW {100 * acc['AdamW lr 1e-3, cosine']:.2f}%",
               sgd >= acc["AdamW lr 1e-3, cosine"])
    return runs, "test_acc", summary, f"digits ({steps} steps)"


def transformer_warmup(quick):
    """AdamW with warmup + cosine on names-gpt, or None when that task does not exist yet."""
    if GPT not in tasks.TASKS:
        return None
    task = tasks.make_task(GPT)
    steps = min(task.steps, STEPS["transformer"][quick])
    lr = task.lr_for("adamw")
    runs = {f"AdamW lr {lr:g}, {s}": _train(task, "adamw", lr, s, steps)
            for s in ("warmup-cosine", "cosine", "none")}
    loss = {k: r["metrics"]["val_loss"] for k, r in runs.items()}
    ours = loss[f"AdamW lr {lr:g}, warmup-cosine"]
    summary = ("AdamW with warmup and cosine decay for transformers", GPT,
               f"val loss {ours:.4f}; cosine without warmup {loss[f'AdamW lr {lr:g}, cosine']:.4f}, "
               f"constant {loss[f'AdamW lr {lr:g}, none']:.4f}", ours <= min(loss.values()))
    return runs, "val_loss", summary, f"{GPT} ({steps} steps)"


def sparse_embeddings(quick):
    task = tasks.make_task("sparse-vocab")
    steps = STEPS["sparse"][quick]
    runs = {f"{name} lr {task.lr_for(name):g}": _train(task, name, task.lr_for(name), task.schedule, steps)
            for name in ("adagrad", "adam", "sgd")}
    acc = {k.split()[0]: r["metrics"]["val_acc"] for k, r in runs.items()}
    loss = {k.split()[0]: r["metrics"]["val_loss"] for k, r in runs.items()}
    # judged by accuracy, the task's end metric; the loss is printed beside it, as the two can
    # disagree (a confident model that overfits rare words has a worse loss at better accuracy)
    summary = ("AdaGrad or Adam for sparse embeddings", "sparse-vocab",
               f"val acc AdaGrad {100 * acc['adagrad']:.2f}%, Adam {100 * acc['adam']:.2f}%, SGD "
               f"{100 * acc['sgd']:.2f}% (val loss {loss['adagrad']:.3f}, {loss['adam']:.3f}, "
               f"{loss['sgd']:.3f})", max(acc["adagrad"], acc["adam"]) > acc["sgd"])
    return runs, "val_acc", summary, f"sparse-vocab ({steps} steps)"


def run(quick=False, out="runs/experiments"):
    guidelines = [adamw_first_choice, sgd_for_images, transformer_warmup, sparse_embeddings]
    summaries, panels, rows = [], [], []
    for guideline in guidelines:
        got = guideline(quick)
        if got is None:
            summaries.append(("AdamW with warmup and cosine decay for transformers", GPT,
                              f"not available: models/tasks.py has no {GPT} task yet", None))
            panels.append((f"{GPT}: not available yet", None, None))
            continue
        runs, metric, summary, where = got
        summaries.append(summary)
        panels.append((where, runs, metric))
        for name, r in runs.items():
            m = r["metrics"]
            rows.append((where.split()[0], name, f"{m.get('val_loss', float('nan')):.4f}",
                         f"{100 * m['test_acc']:.2f}%" if "test_acc" in m else "-",
                         f"{100 * m['val_acc']:.2f}%" if "val_acc" in m else "-", f"{r['seconds']:.1f}"))
    table(["task", "run", "val loss", "test acc", "val acc", "time s"], rows)
    print()
    table(["guideline", "task", "result", "held here?"],
          [(g, t, res, "n/a" if held is None else ("yes" if held else "NO")) for g, t, res, held in summaries])
    for g, t, res, held in summaries:
        if held is not None:
            verdict(held, f"{g} ({t})", res)
    result = {"guidelines": [dict(zip(("guideline", "task", "result", "held"), s)) for s in summaries]}
    result["png"] = _figure(panels, figure_path(out, "recipes"))
    return result


def _figure(panels, path):
    made = plots.panels(2, 2, (12, 8.5))
    if made is None:
        return None
    plt, fig, axes = made
    for ax, (where, runs, metric) in zip(axes, panels):
        ax.set_title(where, fontsize=10)
        if runs is None:
            ax.text(0.5, 0.5, "not available: the transformer task\n"
                    f"{GPT} is not in models/tasks.py yet", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
            continue
        lows, highs = [], []
        for name, r in runs.items():
            losses = plots.smooth(r["history"]["loss"], max(1, len(r["history"]["loss"]) // 50))
            lows.append(losses.min())
            highs.append(losses.max())
            ax.plot(np.arange(1, len(losses) + 1), losses,
                    lw=1.3, label=f"{name}: {metric.replace('_', ' ')} " + (
                        f"{100 * r['metrics'][metric]:.1f}%" if metric.endswith("acc") else
                        f"{r['metrics'][metric]:.3f}"))
        log = min(lows) > 0 and max(highs) / min(lows) > 3  # log only where losses span a wide range
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("training loss (nats, mean of 2% of the run" + (", log)" if log else ")"))
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="upper right", fontsize=7)
    return path if plots.save_panels(plt, fig, path, "The practical recipes, each run as it says "
                                     "(legend: the final metric of each run)") else None
