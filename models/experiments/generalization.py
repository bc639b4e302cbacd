"""Do adaptive methods generalize worse than SGD? Wilson et al.'s construction, then two real tasks.

Wilson, Roelofs, Stern, Srebro & Recht (2017), "The Marginal Value of Adaptive Gradient Methods in
Machine Learning", section 3.3. An over-parameterized linear problem: more weights than examples,
so infinitely many w fit the training set exactly, and the optimizer decides which one is found.
n training examples (x_i, y_i), each label y_i = +1 with probability p > 1/2 and -1 otherwise
(a draw with no more positives than negatives is drawn again: the construction assumes a positive
majority), and d = 3 + 5n features:

    x_i1 = y_i                        the one informative feature: it is the label
    x_i2 = x_i3 = 1                   two features that are 1 for everyone
    x_ij = 1 for j in J_i             example i's own: |J_i| = 1 if y_i = +1, 5 if y_i = -1; no two share one
    x_ij = 0                          every other coordinate
    f(w) = (1 / 2n) ||X w - y||²      least squares, from w = 0; predict the sign of x·w

A test point (x, y) is drawn the same way, with its own features new: no training example has
them, so no method ever moves their weights from 0, and its score is x·w = y w_1 + w_2 + w_3.
It is classified right when y w_1 + w_2 + w_3 has the sign of y, that is when w_1 > |w_2 + w_3|.

GD (and SGD) from 0 stay in the span of the x_i, and so converge to the interpolating w of least
norm, w = Xᵀ(XXᵀ)⁻¹y; it puts most of its weight on the informative w_1 (here w_1 is about 0.93,
w_2 = w_3 about 0.03) and so classifies every test point right. AdaGrad, RMSProp and Adam from 0
(full batch, the setting of Wilson et al.'s Lemma 3.1) move every coordinate by about the same
amount, so they go to w ∝ sign(Xᵀy): here X sign(Xᵀy) = 4y, so w = sign(Xᵀy) / 4 fits the
training set exactly, with w_1 = w_2 = w_3 = 1/4: every test point scores y/4 + 1/2 > 0 and is
called +1. Their test error is the share of negatives, 1 - p. Here n = 60, p = 0.7, a fresh test
set of 1,000 points per draw; a seed is one draw of the training and test sets.

Then the same question where nothing is constructed: SGD with momentum 0.9 against Adam on the
digits MLP (1,500 steps, batch 64) and the surnames character MLP (2,000 steps, batch 96), each
optimizer at its best learning rate from a sweep of three to five, a factor of about 3 apart
(chosen by mean validation loss over the seeds; a note says when the best is at an end of the
sweep), measured by the error on a test set neither the training nor the choice of rate saw:
digits' 270 test images, and the next character of every position of the names' test split.
The margins, stated before the run: 0.1 on the construction (a third of the minority share
0.3); 1 percentage point on digits (about 3 of the 270 test images: a smaller gap is a couple of
images); 0.5 percentage point on names (about 350 of the 69,313 test characters: well above
the test set's sampling noise, and about the gap between neighbouring rates of the sweep).
"""
import numpy as np

import minigrad as mg
import optim
from minigrad import backend
from minigrad.nn import Parameter
from models import plots
from models.names import build_dataset, load_names, split
from models.tasks import make_task

from . import parallel, verdicts
from .common import figure_path, fit, table, val_loss

USES = (optim.SGD, optim.Adagrad, optim.RMSprop, optim.Adam)  # the classes it runs (code hash)
QUOTE = "In paraphrase: adaptive methods can generalize worse than SGD (Wilson et al. 2017)."
SECTION = "A comparison of the methods"
LOOK_FOR = ("Top row, the construction. Left: every method drives the training loss to zero, so "
            "training cannot tell them apart. Middle: which zero they found. GD and SGD put "
            "nearly all the weight on the informative feature w_1; the adaptive methods put "
            "the same 1/4 on w_1 and on the two always-on features, and a test point's score "
            "y w_1 + w_2 + w_3 is then positive whatever y is. Right: the test error that "
            "follows: 0 for GD and SGD, the share of negatives (dashed) for AdaGrad, RMSProp and "
            "Adam. Bottom row, real tasks: the validation loss of each rate of the sweep (the "
            "circled one is each optimizer's best), and at the best rates each seed's test "
            "error of Adam minus SGD with momentum, against the grey margin: above 0, Adam "
            "generalized worse.")

# ------------------------------------------------------------------ the construction (3.3)
N_TRAIN, P_POSITIVE, N_TEST = 60, 0.7, 1000
CONSTRUCTED = {  # method: (optimizer class, lr, steps, batch: None = full batch)
    "GD": (optim.SGD, 0.2, 3000, None),
    "SGD": (optim.SGD, 0.05, 20000, 1),
    "AdaGrad": (optim.Adagrad, 0.1, 3000, None),
    "RMSProp": (optim.RMSprop, 1e-3, 3000, None),
    "Adam": (optim.Adam, 1e-3, 3000, None),
}
ADAPTIVE = ("AdaGrad", "RMSProp", "Adam")
QUICK_STEPS = 300  # per method in a smoke run (SGD: ten times as many)
MARGIN_CONSTRUCTED = 0.1  # test error, a third of the minority share 1 - p = 0.3

# ------------------------------------------------------------------ the real tasks
REAL = {  # task: (batch, steps full, steps quick, {optimizer: rates}, margin in test error)
    "digits": (64, 1500, 60, {"SGD + momentum": (0.003, 0.01, 0.03, 0.1), "Adam": (1e-4, 3e-4, 1e-3, 3e-3)},
               0.01),
    "names": (96, 2000, 60, {"SGD + momentum": (0.003, 0.01, 0.03, 0.1, 0.3), "Adam": (3e-4, 1e-3, 3e-3)},
              0.005),
}
QUICK_RATES = {"SGD + momentum": 1, "Adam": 1}  # the index of the one rate a smoke run tries
_LOADED = {}


def draw(seed, n=N_TRAIN, p=P_POSITIVE, m=N_TEST):
    """The construction's training set (X, y) and the test labels (a test point's score needs
    only its label: its own features have weight 0)."""
    rng = np.random.default_rng(seed)
    while True:
        y = np.where(rng.random(n) < p, 1.0, -1.0)
        if y.sum() > 0:  # the construction's positive majority
            break
    X = np.zeros((n, 3 + 5 * n))
    X[:, 0], X[:, 1:3] = y, 1.0
    for i in range(n):
        X[i, 3 + 5 * i:3 + 5 * i + (1 if y[i] > 0 else 5)] = 1.0
    y_test = np.where(rng.random(m) < p, 1.0, -1.0)
    return X, y, y_test


def solve(method, seed, quick):
    """Train one method on draw `seed` from w = 0; the final w and the training loss along the way."""
    cls, lr, steps, batch = CONSTRUCTED[method]
    if quick:
        steps = QUICK_STEPS * (10 if batch else 1)
    X, y, _ = draw(seed)
    w = Parameter(np.zeros(X.shape[1]))
    opt = cls([w], lr=lr)
    rng = np.random.default_rng(seed + 1)
    losses = []
    for step in range(steps):
        ix = rng.integers(0, len(y), batch) if batch else slice(None)
        Xb, yb = X[ix], y[ix]
        w.grad = Xb.T @ (Xb @ w.data - yb) / len(yb)  # ∇ (1/2|B|) ||X_B w - y_B||²
        opt.step()
        if step % max(1, steps // 100) == 0 or step == steps - 1:
            losses.append((step + 1, 0.5 * float(np.mean((X @ w.data - y) ** 2))))
    return {"w": w.data.copy(), "losses": losses}


def constructed(quick):
    """Every method on every draw, and what each found: its test error, w_1, w_2 + w_3, its
    cosine with sign(Xᵀy), its distance from the least-norm solution."""
    seeds = verdicts.seeds(quick)
    jobs = [(m, s, quick) for m in CONSTRUCTED for s in seeds]
    found = dict(zip([j[:2] for j in jobs], parallel.map(solve, jobs)))
    out = {m: {k: [] for k in ("test_error", "train_loss", "w1", "w23", "cos_sign", "dist_min_norm",
                               "minority", "losses")} for m in CONSTRUCTED}
    for s in seeds:
        X, y, y_test = draw(s)
        sign = np.sign(X.T @ y)
        least = X.T @ np.linalg.solve(X @ X.T, y)
        for m in CONSTRUCTED:
            w, r = found[m, s]["w"], out[m]
            score = y_test * w[0] + w[1] + w[2]  # a test point's own features have weight 0
            r["test_error"].append(float(np.mean(np.sign(score) != y_test)))
            r["minority"].append(float(np.mean(y_test < 0)))
            r["train_loss"].append(found[m, s]["losses"][-1][1])
            r["w1"].append(float(w[0]))
            r["w23"].append(float(w[1] + w[2]))
            r["cos_sign"].append(float(w @ sign / (np.linalg.norm(w) * np.linalg.norm(sign))))
            r["dist_min_norm"].append(float(np.max(np.abs(w - least))))
            r["losses"].append(found[m, s]["losses"])
    return out


# ------------------------------------------------------------------ the real tasks
def task_of(name):
    """The task with, for names, a test split (the third part of the names task's split)."""
    if name not in _LOADED:
        task = make_task(name)
        if name == "names":
            _, _, test_words = split(load_names("surnames"), seed=42)
            task.test = build_dataset(test_words, task.block_size)
        _LOADED[name] = task
    return _LOADED[name]


@mg.no_grad()
def errors(task, model):
    """(validation loss, test error): the loss picks the rate, the error is the verdict's."""
    model.eval()
    if task.name == "digits":
        m = task.classification_metrics(model, (("val", task.val), ("test", task.test)))
        out = (m["val_loss"], 1 - m["test_acc"])
    else:
        X, y = task.test
        wrong = 0
        for i in range(0, len(X), 20_000):
            logits = backend.to_numpy(model(task.to_device(X[i:i + 20_000])).data)
            wrong += int(np.sum(logits.argmax(1) != y[i:i + 20_000]))
        out = (val_loss(task, model), wrong / len(X))
    model.train()
    return out


def train_real(name, method, lr, seed, quick):
    batch, steps_full, steps_quick, _, _ = REAL[name]
    task = task_of(name)
    model = task.build(seed)
    opt = (optim.Adam(model.parameters(), lr=lr) if method == "Adam"
           else optim.SGD(model.parameters(), lr=lr, momentum=0.9))
    fit(task, model, opt, steps_quick if quick else steps_full, batch, seed=seed)
    return errors(task, model)


def real(quick):
    seeds = verdicts.seeds(quick)
    for name in REAL:
        task_of(name)  # loaded before the workers fork
    jobs = []
    for name, (_, _, _, rates, _) in REAL.items():
        for method, lrs in rates.items():
            for lr in ([lrs[QUICK_RATES[method]]] if quick else lrs):
                jobs += [(name, method, lr, s, quick) for s in seeds]
    got = dict(zip([j[:4] for j in jobs], parallel.map(train_real, jobs)))
    out = {}
    for name, (_, _, _, rates, margin) in REAL.items():
        out[name] = {"margin": margin, "sweep": {}, "best": {}}
        for method, lrs in rates.items():
            tried = [lrs[QUICK_RATES[method]]] if quick else list(lrs)
            sweep = {lr: [got[name, method, lr, s] for s in seeds] for lr in tried}
            best = min(tried, key=lambda lr: np.mean([v for v, _ in sweep[lr]]))
            out[name]["sweep"][method] = {lr: {"val_loss": [v for v, _ in r], "test_error": [e for _, e in r]}
                                          for lr, r in sweep.items()}
            out[name]["best"][method] = best
    return out


def run(quick=False, out="runs/experiments"):
    con = constructed(quick)
    seeds = verdicts.seeds(quick)
    print(f"Wilson et al.'s construction: n = {N_TRAIN}, d = {3 + 5 * N_TRAIN}, p = {P_POSITIVE}, "
          f"{N_TEST} test points; {len(seeds)} draws")
    rows = [(m, f"{CONSTRUCTED[m][1]:g}", str(CONSTRUCTED[m][2] if not quick else
                                              QUICK_STEPS * (10 if CONSTRUCTED[m][3] else 1)),
             "full" if CONSTRUCTED[m][3] is None else str(CONSTRUCTED[m][3]),
             f"{max(r['train_loss']):.1e}", f"{np.mean(r['w1']):.3f}", f"{np.mean(r['w23']):.3f}",
             f"{min(r['cos_sign']):.6f}", f"{max(r['dist_min_norm']):.1e}",
             f"{np.mean(r['test_error']):.3f}", f"{np.mean(r['minority']):.3f}")
            for m, r in con.items()]
    table(["method", "lr", "steps", "batch", "train loss (worst draw)", "w_1", "w_2 + w_3",
           "cos(w, sign(X'y)) min", "max |w - w_least-norm|", "test error", "share of -1"], rows)
    gd = con["GD"]
    verdicts.exact("construction: GD and SGD classify every test point right, in every draw (the "
                   "least-norm solution weighs the informative feature most: w_1 > w_2 + w_3)",
                   all(e == 0 for m in ("GD", "SGD") for e in con[m]["test_error"]),
                   f"test errors GD {con['GD']['test_error']}, SGD {con['SGD']['test_error']}; "
                   f"w_1 {np.mean(gd['w1']):.3f} vs w_2 + w_3 {np.mean(gd['w23']):.3f}")
    if not quick:
        verdicts.exact("construction: GD converges to the least-norm interpolating solution "
                       "X'(XX')^-1 y (every weight within 1e-6)",
                       max(con["GD"]["dist_min_norm"]) < 1e-6,
                       f"largest |w - w_least-norm| over draws {max(con['GD']['dist_min_norm']):.1e}")
        verdicts.exact("construction: AdaGrad, RMSProp and Adam converge to w ∝ sign(X'y) (cosine "
                       "above 0.9999 in every draw) and call every test point +1, so their test "
                       "error is exactly the share of -1 labels in the test set",
                       all(min(con[m]["cos_sign"]) > 0.9999 and con[m]["test_error"] == con[m]["minority"]
                           for m in ADAPTIVE),
                       "; ".join(f"{m}: cosine >= {min(con[m]['cos_sign']):.6f}, test error "
                                 f"{np.mean(con[m]['test_error']):.3f}" for m in ADAPTIVE)
                       + f"; share of -1 {np.mean(gd['minority']):.3f}")
    for m in ADAPTIVE:
        verdicts.better(f"construction: GD's test error is lower than {m}'s by at least "
                        f"{MARGIN_CONSTRUCTED}", gd["test_error"], con[m]["test_error"],
                        MARGIN_CONSTRUCTED, names=("GD", m))

    rl = real(quick)
    rows = []
    for name, r in rl.items():
        for method, sweep in r["sweep"].items():
            for lr, v in sweep.items():
                rows.append((name, method, f"{lr:g}", "best" if lr == r["best"][method] else "",
                             f"{np.mean(v['val_loss']):.4f}", f"{np.mean(v['test_error']):.2%}",
                             f"{min(v['test_error']):.2%} - {max(v['test_error']):.2%}"))
    print()
    table(["task", "optimizer", "lr", "", "val loss (mean)", "test error (mean)", "test error range"], rows)
    for name, r in rl.items():
        for method, best in r["best"].items():
            tried = sorted(r["sweep"][method])
            if len(tried) > 1 and best in (tried[0], tried[-1]):
                verdicts.note(f"{name}: {method}'s best rate {best:g} is at the "
                              f"{'low' if best == tried[0] else 'high'} end of its sweep "
                              f"({', '.join(f'{lr:g}' for lr in tried)}): a rate beyond it might do better")
        sgd = r["sweep"]["SGD + momentum"][r["best"]["SGD + momentum"]]["test_error"]
        adam = r["sweep"]["Adam"][r["best"]["Adam"]]["test_error"]
        verdicts.better(f"{name}: at each one's best rate, SGD with momentum has a lower test error "
                        f"than Adam by at least {100 * r['margin']:g} percentage point (Wilson et al.'s gap)",
                        [100 * e for e in sgd], [100 * e for e in adam], 100 * r["margin"],
                        names=(f"SGD + momentum (lr {r['best']['SGD + momentum']:g})",
                               f"Adam (lr {r['best']['Adam']:g})"), unit=" points")
    result = {"constructed": con, "real": _plain(rl)}
    result["png"] = _figure(con, rl, quick, figure_path(out, "generalization"))
    return result


def _plain(rl):
    """The real tasks' results with string keys (the rates), for the result dict."""
    return {name: {"margin": r["margin"], "best": r["best"],
                   "sweep": {m: {f"{lr:g}": v for lr, v in s.items()} for m, s in r["sweep"].items()}}
            for name, r in rl.items()}


COLORS = {"GD": "tab:green", "SGD": "tab:olive", "AdaGrad": "tab:purple", "RMSProp": "tab:orange",
          "Adam": "tab:red", "SGD + momentum": "tab:green"}


def _figure(con, rl, quick, path):
    made = plots.panels(2, 3, (15, 9.5))
    if made is None:
        return None
    plt, fig, axes = made
    ax = axes[0]
    for m, r in con.items():
        for i, losses in enumerate(r["losses"]):
            steps, loss = zip(*losses)
            ax.plot(steps, np.maximum(loss, 1e-16), color=COLORS[m], lw=1.2, alpha=0.8,
                    label=m if i == 0 else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step (log)", fontsize=11)
    ax.set_ylabel("training loss (1/2n)||Xw - y||² (log, floor 1e-16)", fontsize=11)
    ax.set_title("construction: every method fits the training set", fontsize=11)
    ax.legend(fontsize=10)
    ax = axes[1]
    x = np.arange(len(con))
    w1 = [np.mean(r["w1"]) for r in con.values()]
    w23 = [np.mean(r["w23"]) for r in con.values()]
    ax.bar(x - 0.2, w1, 0.4, color="tab:blue", label="w_1 (the informative feature)")
    ax.bar(x + 0.2, w23, 0.4, color="tab:gray", label="w_2 + w_3 (always 1)")
    for xi, a, b in zip(x, w1, w23):
        ax.text(xi - 0.2, a + 0.01, f"{a:.2f}", ha="center", fontsize=9)
        ax.text(xi + 0.2, b + 0.01, f"{b:.2f}", ha="center", fontsize=9)
    ax.set_xticks(x, list(con))
    ax.set_ylabel("weight (mean over draws)", fontsize=11)
    ax.set_title("which solution: a test point scores y w_1 + (w_2 + w_3)", fontsize=11)
    ax.legend(fontsize=10, loc="upper right")
    ax = axes[2]
    for i, (m, r) in enumerate(con.items()):
        e = np.array(r["test_error"])
        ax.scatter(np.full(len(e), i) + np.linspace(-0.15, 0.15, len(e)), e, color=COLORS[m], zorder=3)
    ax.plot([-0.5, len(con) - 0.5], [np.mean(con["GD"]["minority"])] * 2, "k--", lw=1,
            label="share of -1 labels in the test set (mean)")
    ax.set_xticks(x, list(con))
    ax.set_ylim(-0.03, 0.5)
    ax.set_ylabel("test error (one dot per draw)", fontsize=11)
    ax.set_title("construction: test error", fontsize=11)
    ax.legend(fontsize=10, loc="upper left")
    for ax, (name, r) in zip(axes[3:5], rl.items()):
        for method, sweep in r["sweep"].items():
            lrs = sorted(sweep)
            v = np.array([sweep[lr]["val_loss"] for lr in lrs])
            ax.fill_between(lrs, v.min(1), v.max(1), color=COLORS[method], alpha=0.2)
            ax.plot(lrs, v.mean(1), "o-", color=COLORS[method], lw=1.6, label=method)
            best = r["best"][method]
            ax.plot([best], [np.mean(sweep[best]["val_loss"])], "o", ms=14, mfc="none",
                    mec=COLORS[method], mew=2)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log)", fontsize=11)
        ax.set_ylabel("validation loss (nats" + ("/char" if name == "names" else "") + ")", fontsize=11)
        ax.set_title(f"{name}: the rate sweep (band: min-max over seeds)", fontsize=11)
        ax.legend(fontsize=10)
    ax = axes[5]
    for i, r in enumerate(rl.values()):
        sgd = np.array(r["sweep"]["SGD + momentum"][r["best"]["SGD + momentum"]]["test_error"])
        adam = np.array(r["sweep"]["Adam"][r["best"]["Adam"]]["test_error"])
        d = 100 * (adam - sgd)
        ax.add_patch(plt.Rectangle((i - 0.3, -100 * r["margin"]), 0.6, 200 * r["margin"], color="0.85",
                                   label="margin (±)" if i == 0 else None))
        ax.scatter(np.full(len(d), i) + np.linspace(-0.1, 0.1, len(d)), d, color="k", zorder=3,
                   label="one seed" if i == 0 else None)
        ax.plot([i - 0.25, i + 0.25], [d.mean()] * 2, color="tab:purple", lw=2, label="mean" if i == 0 else None)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(rl)), list(rl))
    ax.set_xlim(-0.6, len(rl) - 0.4)
    ax.set_ylabel("test error: Adam - SGD+momentum (points)", fontsize=11)
    ax.set_title("at the best rates: above 0, Adam generalized worse", fontsize=11)
    ax.legend(fontsize=10, loc="upper right")
    for a in axes:
        a.grid(alpha=0.3, which="both")
        a.tick_params(labelsize=10)
    return path if plots.save_panels(plt, fig, path, "Adaptive methods and generalization: Wilson et "
                                     "al.'s construction (top), two real tasks (bottom)") else None
