"""curvature: what Adam's denominator sqrt(v_hat) approximates: the Hessian's diagonal, the Fisher's, or neither.

Adam divides each coordinate's step by sqrt(v̂), the root of an average of its squared minibatch
gradients. It is often read as a diagonal curvature estimate, as if Adam were a cheap Newton
method. Three diagonals a preconditioner could stand for, per parameter k, at the point θ:

    v̂_k = (1-β₂) Σ_s β₂^(t-s) g_{s,k}² / (1-β₂^t)      Adam's second moment after t steps
    H_kk = ∂²L/∂θ_k²                                    the Hessian's diagonal (L: the loss)
    D̂_kk = mean over z of z_k (Hz)_k,  z Rademacher (±1)   Hutchinson's estimate of H_kk
    EF_kk = (1/N) Σ_n (∂ℓ_n/∂θ_k)²                      the empirical Fisher's diagonal
    F_kk = (1/N) Σ_n (∂ℓ(x_n, ŷ_n)/∂θ_k)²,  ŷ_n ~ p_θ(·|x_n)   the (true) Fisher's, Monte Carlo

Here g_{s,k} is coordinate k of the minibatch gradient at step s, β₂ = 0.999, L the mean loss
over N examples, ℓ_n the loss of example n with its data label, and ŷ_n a label sampled from
the model's own prediction. The empirical Fisher uses the data's labels, the Fisher the
model's: they agree only where the model fits the data's distribution. For a softmax cross
entropy the Fisher is the Gauss-Newton part of the Hessian, so it carries curvature; Kunstner,
Balles & Hennig (2019, "Limitations of the empirical Fisher approximation") argue that the
empirical Fisher, unlike the Fisher, does not in general, and that the conditions under which
it approaches the Fisher and the Hessian (a well-specified model near its optimum, with much
data) are unlikely to be met in practice. v̂ is built like an empirical Fisher (squared
gradients, though of minibatches, and averaged along the path), so the expectation is that
sqrt(v̂) follows sqrt(EF), and follows |H| only as far as EF does. The comparison is by
correlation across parameters: Spearman's rank correlation, and Pearson's correlation of the
logs (a preconditioner acts through ratios, so a log scale). Both are unchanged by a square
root: sqrt(v̂) against sqrt(EF) is v̂ against EF.

Two problems. (1) Rosenbrock, f(x, y) = (1-x)² + 100(y-x²)², minimum f = 0 at (1, 1): its exact
Hessian (minigrad.autograd.functional.hessian, checked at (-1, 1) against [[802, 400], [400,
200]]) drives pure Newton steps, θ ← θ - H⁻¹∇f, the reference that uses the true curvature.
Adam and SGD run beside it (optim.functional on raw arrays, 10,000 steps), each at the rate of
a small grid that needs the fewest steps, from 5 start points ((-1.2, 1), then 4 drawn uniformly
in [-2, 2] x [-1, 3]; the start point is the seed). Measured: the steps to f ≤ 1e-2 for good
(from that step to the end of the budget: at a large constant rate Adam passes below and
bounces back), the first step below, the distance to (1, 1) at the end, and along the path of
the Adam run that ends nearest (1, 1),
sqrt(v̂_x) against H_xx. A deterministic function has one "example", so there EF = g² and
sqrt(EF) = |g|, which vanishes at the minimum where H does not. (2) The names model
(models/char_mlp.py, 45,675 parameters) trained by Adam at lr 3e-3, batch 96, 3,000 steps; at 4
checkpoints, on a fixed batch of 192 training examples, sqrt(v̂) is compared with sqrt(EF),
sqrt(F) (one sampled label per example), |D̂| (32 Rademacher vectors) and the exact |H_kk| of
192 parameters drawn at random (one product H e_k each). Every product Hz comes from
loss.backward(create_graph=True), then minigrad.autograd.grad(p.grad_graph, params,
grad_outputs=z). The per-example gradients are those of each example's term of the batch loss
(the BatchNorm statistics are the batch's, so their mean is the batch gradient exactly).
Parameters where a diagonal is 0 (embedding rows no example uses) are left out. Varied: the seed
(initialisation, batches, measurement batch), the checkpoint. Held fixed: the model, Adam's
hyperparameters, the measurement batch within a seed.

The margins. On the names model, sqrt(v̂)'s Spearman correlation with sqrt(EF) must beat its
correlation with |H_kk| by MARGIN_RHO = 0.1 (averaged over the checkpoints, per seed): a tenth
of a correlation's range is the smallest gap that would change which diagonal one calls Adam's
curvature. On Rosenbrock, Newton must need NEWTON_FACTOR = 10 times fewer steps than Adam to
reach f ≤ 1e-2 for good (compared on log10 of the steps): an order of magnitude is what using the true
curvature is supposed to buy, less could be a detail of tuning. And as Adam converges,
sqrt(v̂_x)/|H_xx| must fall by FALL = 1 decade from step 10 to the end: H_xx varies by a few
times along the valley, so a tenfold fall cannot be the curvature's doing.
"""
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
import optim
import optim.functional as OF
from minigrad.autograd import functional as AF
from models import plots

from . import parallel, verdicts
from .common import figure_path, table

USES = (optim.Adam, optim.SGD)  # the optimizer classes it runs (their code hash counts)
QUOTE = ("In paraphrase: what does Adam's sqrt(v_hat) approximate: the Hessian's diagonal, the "
         "Fisher's, or neither? (issue 22's question about the curvature view of adaptive "
         "methods; the article has no sentence on it)")
SECTION = "Beyond Adam: curvature"
LOOK_FOR = ("Top left: from the classic start (-1.2, 1), Newton's method (exact Hessian) reaches "
            "the minimum in a handful of steps (its first step leaves the frame), while Adam and "
            "SGD crawl along the curved valley. Top middle: the loss against the step (log "
            "scales) from all five start points. Top right: along the path of the Adam run that "
            "settles, its sqrt(v_hat) for x (solid) follows the size of the gradients it has seen "
            "(dotted) with the lag of beta2's average, and keeps falling as Adam converges, while "
            "the Hessian's diagonal (dashed) returns to about 800 at the minimum: Adam's "
            "denominator measures gradients, not curvature. Bottom left: on the names model at "
            "the last checkpoint, parameters drawn at random (all seeds), sqrt(v_hat) across "
            "against the root of the empirical Fisher (blue) and the exact |Hessian diagonal| "
            "(orange), each divided by its median: the blue cloud hugs the diagonal, the orange "
            "one is wider. Bottom middle and right: the correlations over training (mean over "
            "seeds, band: range). The dashed grey line is Hutchinson's estimate against the exact "
            "diagonal: with 32 vectors it is too noisy per parameter to stand for the Hessian, "
            "which is why the exact entries decide.")

# --- Rosenbrock ---------------------------------------------------------------------------
TARGET = 1e-2                      # the loss to reach
RB_STEPS = {False: 10000, True: 600}
ADAM_LRS = (0.01, 0.03, 0.1, 0.3, 1.0)  # the grids; each method runs at its best (fewest mean steps)
SGD_LRS = (3e-4, 1e-3, 2e-3)
NEWTON_STEPS = 50
NEWTON_FACTOR = 10.0               # Newton needs at least this many times fewer steps than Adam
CLASSIC = (-1.2, 1.0)
EARLY = 10                         # the step at which sqrt(v_hat)/|H_xx| is first read
FALL = 1.0                         # decades that sqrt(v_hat_x)/|H_xx| must fall by (a factor 10)
H_AT = ((-1.0, 1.0), np.array([[802.0, 400.0], [400.0, 200.0]]))  # the closed form at (-1, 1)

# --- the names model ----------------------------------------------------------------------
LR, BATCH = 3e-3, 96
CHECKS = {False: (10, 100, 1000, 3000), True: (5, 15)}  # Adam steps at which it is measured
MEASURE = {False: 192, True: 32}   # examples in the fixed measurement batch
HUTCH = {False: 32, True: 4}       # Rademacher vectors per Hutchinson estimate
EXACT = {False: 192, True: 16}     # parameters (drawn at random) whose H_kk is computed exactly
MARGIN_RHO = 0.1                   # rank correlation with sqrt(EF) above that with |H| by this
SCATTER = 3000                     # parameters drawn for the scatter panel
PAIRS = (("v", "ef"), ("v", "f"), ("v", "h"), ("ef", "f"), ("f", "h"), ("ha", "hb"))
PAIR_NAMES = {("v", "ef"): "sqrt(v_hat) ~ sqrt(EF)", ("v", "f"): "sqrt(v_hat) ~ sqrt(F)",
              ("v", "h"): "sqrt(v_hat) ~ |H diag|", ("ef", "f"): "EF ~ F",
              ("f", "h"): "F ~ |H diag|", ("ha", "hb"): "|H diag|: half ~ half",
              ("v", "hx"): "sqrt(v_hat) ~ |H_kk| exact", ("ef", "hx"): "sqrt(EF) ~ |H_kk| exact",
              ("f", "hx"): "sqrt(F) ~ |H_kk| exact", ("h", "hx"): "Hutchinson ~ |H_kk| exact"}
PAIR_NAMES[("v", "efs")] = "sqrt(v_hat) ~ sqrt(EF) (same sample)"
WITHIN = (("v", "ef"), ("v", "f"), ("ef", "f"))  # also inside one tensor, free of layer scales
EXACT_PAIRS = (("v", "efs"), ("v", "hx"), ("ef", "hx"), ("f", "hx"), ("h", "hx"))
_TASK = {}


def rosenbrock(x, y):
    """f(x, y) on numbers, arrays or Tensors."""
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def rb_grad(p):
    """∇f in closed form (checked against minigrad's gradient by the tests)."""
    x, y = p
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def rb_hessian_diag(p):
    """(H_xx, H_yy) in closed form: 2 - 400 y + 1200 x², 200."""
    x, y = p
    return np.array([2 - 400 * y + 1200 * x * x, 200.0])


def hessian_at(p):
    """The exact Hessian of f at p, by minigrad.autograd.functional.hessian (float64)."""
    xy = mg.tensor(np.asarray(p, dtype=np.float64))
    return np.asarray(AF.hessian(lambda t: rosenbrock(t[0], t[1]), xy).data, dtype=np.float64)


def start_point(seed):
    """Seed 0: the classic (-1.2, 1); others uniform in [-2, 2] x [-1, 3]."""
    if seed == 0:
        return CLASSIC
    return tuple(float(v) for v in np.random.default_rng(seed).uniform([-2, -1], [2, 3]))


def newton(p0, steps=NEWTON_STEPS):
    """Pure Newton steps with the exact Hessian and gradient from minigrad: the points."""
    pts = [np.array(p0, dtype=np.float64)]
    for _ in range(steps):
        p = pts[-1]
        if rosenbrock(*p) <= 1e-20:  # converged to float precision
            break
        xy = mg.tensor(p, requires_grad=True)
        g = mg.grad(rosenbrock(xy[0], xy[1]), xy)[0]
        pts.append(p - np.linalg.solve(hessian_at(p), np.asarray(g.data, dtype=np.float64)))
    return np.array(pts)


def first_order(name, lr, p0, steps):
    """Adam or SGD on f as optim.functional on raw arrays: the points, and for Adam sqrt(v_hat)
    after each step."""
    theta, state = np.array(p0, dtype=np.float64), {}
    pts, root_v = [theta.copy()], []
    for _ in range(steps):
        getattr(OF, name)(theta, rb_grad(theta), state, lr=lr)
        if not np.all(np.isfinite(theta)) or np.abs(theta).max() > 1e6:
            break
        pts.append(theta.copy())
        if name == "adam":
            root_v.append(np.sqrt(state["exp_avg_sq"] / (1 - 0.999 ** len(pts[1:]))))
    return np.array(pts), np.array(root_v)


def steps_to(pts, target=TARGET, stay=True):
    """The step from which f ≤ target holds to the end of the run (stay), or the first step at
    which f ≤ target (not stay); inf when never (or diverged, or above target at the end)."""
    f = rosenbrock(pts[:, 0], pts[:, 1])
    if not stay:
        hit = np.flatnonzero(f <= target)
        return float(hit[0]) if hit.size else np.inf
    above = np.flatnonzero(f > target)
    if above.size == 0:
        return 0.0
    return float(above[-1] + 1) if above[-1] + 1 < f.size else np.inf


def rb_job(name, lr, seed, steps):
    """One run from seed's start point: steps to the target, final distance to (1, 1), and (for
    Adam) the path with its sqrt(v_hat)."""
    if name == "newton":
        pts, root_v = newton(start_point(seed)), np.empty((0, 2))
    else:
        pts, root_v = first_order(name, lr, start_point(seed), steps)
    return {"steps": steps_to(pts), "first": steps_to(pts, stay=False),
            "distance": float(np.linalg.norm(pts[-1] - 1.0)),
            "loss": rosenbrock(pts[:, 0], pts[:, 1]), "pts": pts, "root_v": root_v}


# --- the names model ----------------------------------------------------------------------
def names_task():
    """The names task, loaded once (before the workers fork, so that they share it)."""
    if "names" not in _TASK:
        from models.tasks import NamesTask
        _TASK["names"] = NamesTask()
    return _TASK["names"]


def flat(arrays):
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


def per_example_squares(losses, params):
    """Σ_n (∂ℓ_n/∂θ)² / N over the entries of a per-example loss vector (its graph kept)."""
    n = losses.shape[0]
    total = [np.zeros(p.data.shape) for p in params]
    for i in range(n):
        e = np.zeros(n, dtype=losses.data.dtype)
        e[i] = 1.0
        for s, g in zip(total, mg.grad(losses, params, grad_outputs=mg.tensor(e), retain_graph=True,
                                       allow_unused=True)):
            if g is not None:
                s += np.asarray(g.data, dtype=np.float64) ** 2
    return [s / n for s in total]


def hessian_diagonals(loss, params, samples, rng, exact):
    """Hutchinson's samples z ⊙ (H z), Rademacher z, an array (samples, P), and the exact H_kk
    at the flat indices `exact` (one product H e_k each), from loss.backward(create_graph=True)
    then minigrad.autograd.grad(p.grad_graph, params, grad_outputs=...)."""
    for p in params:
        p.grad = p.grad_graph = None
    loss.backward(create_graph=True)
    graphs = [p.grad_graph for p in params]
    out = []
    for _ in range(samples):
        z = [rng.choice(np.array([-1.0, 1.0]), size=p.data.shape).astype(p.data.dtype) for p in params]
        hz = mg.grad(graphs, params, grad_outputs=[mg.tensor(v) for v in z], retain_graph=True)
        out.append(flat([v * np.asarray(h.data) for v, h in zip(z, hz)]))
    starts = np.cumsum([0] + [p.data.size for p in params])
    diag = []
    for k in exact:
        i = int(np.searchsorted(starts, k, side="right") - 1)
        e = [np.zeros(p.data.shape, dtype=p.data.dtype) for p in params]
        e[i].flat[k - starts[i]] = 1.0
        hz = mg.grad(graphs, params, grad_outputs=[mg.tensor(v) for v in e], retain_graph=True)
        diag.append(float(np.asarray(hz[i].data).flat[k - starts[i]]))
    for p in params:
        p.grad = p.grad_graph = None
    return np.array(out), np.array(diag)


def diagonals(task, model, opt, batch, samples, exact, seed, step):
    """At the model's current point: sqrt(v_hat), sqrt(EF), sqrt(F), Hutchinson's |H diag| (and
    its two halves), each flattened over all parameters; "hx": the exact |H_kk| at the flat
    indices `exact`."""
    params = model.parameters()
    beta2 = opt.param_groups[0]["betas"][1]
    v = flat([opt.state[p]["exp_avg_sq"] / (1 - beta2 ** step) for p in params])
    rng = np.random.default_rng([seed, step])
    logits = model(batch[0])
    probs = np.asarray(logits.softmax(axis=-1).data, dtype=np.float64)
    sampled = np.array([rng.choice(probs.shape[1], p=row / row.sum()) for row in probs])
    ef = flat(per_example_squares(F.cross_entropy(logits, batch[1], reduction="none"), params))
    fisher = flat(per_example_squares(F.cross_entropy(logits, mg.tensor(sampled), reduction="none"),
                                      params))
    h, hx = hessian_diagonals(F.cross_entropy(model(batch[0]), batch[1]), params, samples, rng, exact)
    half = max(1, samples // 2)
    return {"v": np.sqrt(v), "ef": np.sqrt(ef), "f": np.sqrt(fisher), "h": np.abs(h.mean(0)),
            "ha": np.abs(h[:half].mean(0)), "hb": np.abs(h[half:].mean(0) if samples > 1 else h[0]),
            "hx": np.abs(hx)}


def ranks(x):
    r = np.empty(x.size)
    r[np.argsort(x, kind="stable")] = np.arange(x.size)
    return r


def spearman(a, b):
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def log_pearson(a, b):
    return float(np.corrcoef(np.log(a), np.log(b))[0, 1])


def correlations(d, exact):
    """{pair: (Spearman, Pearson of logs)} over the parameters where every diagonal is > 0: the
    pairs of PAIRS over all of them, those of EXACT_PAIRS over the sample `exact`."""
    keep = np.all([d[k] > 0 for k in ("v", "ef", "f", "h", "ha", "hb")], axis=0)
    out = {p: (spearman(d[p[0]][keep], d[p[1]][keep]), log_pearson(d[p[0]][keep], d[p[1]][keep]))
           for p in PAIRS}
    sub = {k: d[k][exact] for k in ("v", "ef", "f", "h")}
    sub["hx"], sub["efs"] = d["hx"], sub["ef"]
    ok = np.all([sub[k] > 0 for k in ("v", "ef", "f", "h", "hx")], axis=0)
    out.update({p: (spearman(sub[p[0]][ok], sub[p[1]][ok]), log_pearson(sub[p[0]][ok], sub[p[1]][ok]))
                for p in EXACT_PAIRS})
    return out, int(keep.sum())


def names_job(seed, checks, measure, samples, n_exact):
    """Adam on the names model; at each checkpoint the correlations of the diagonals. The last
    checkpoint's diagonals are kept for a sample of parameters (the scatter panel)."""
    task = names_task()
    model = task.build(seed)
    opt = optim.Adam(model.parameters(), lr=LR)
    rng = np.random.default_rng(seed + 1)  # the batches of seed s
    batch = task.batch(np.random.default_rng(1000 + seed), measure)
    sizes = [p.data.size for p in model.parameters()]
    size, largest = sum(sizes), int(np.argmax(sizes))
    inside = slice(sum(sizes[:largest]), sum(sizes[:largest + 1]))  # the largest tensor (fc1.weight)
    exact = np.sort(np.random.default_rng(2000 + seed).choice(size, n_exact, replace=False))
    out = {"corr": [], "kept": [], "loss": [], "within": []}
    step = 0
    for check in checks:
        while step < check:
            loss = task.loss(model, task.batch(rng, BATCH))
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        out["loss"].append(loss.item())
        d = diagonals(task, model, opt, batch, samples, exact, seed, step)
        c, kept = correlations(d, exact)
        out["corr"].append(c)
        out["within"].append({p: spearman(d[p[0]][inside], d[p[1]][inside]) for p in WITHIN})
        out["kept"].append(kept)
    pick = np.random.default_rng(seed).choice(d["v"].size, SCATTER, replace=False)
    out["scatter"] = {k: d[k][pick] for k in ("v", "ef", "h")}
    out["exact"] = {"v": d["v"][exact], "ef": d["ef"][exact], "hx": d["hx"]}
    out["size"] = int(d["v"].size)
    return out


def run(quick=False, out="runs/experiments"):
    seeds, steps, checks = verdicts.seeds(quick), RB_STEPS[quick], CHECKS[quick]
    result = {"seeds": seeds}

    # the exact Hessian, checked against its closed form
    at, closed = H_AT
    h = hessian_at(at)
    verdicts.exact("minigrad.autograd.functional.hessian of Rosenbrock at (-1, 1) is its closed "
                   "form [[802, 400], [400, 200]]", np.allclose(h, closed, rtol=0, atol=1e-9),
                   f"got {h.tolist()}")
    result["hessian_at"] = h.tolist()

    # Rosenbrock: Newton, Adam and SGD over the grid, from each start point
    jobs = [("newton", 1.0, s, steps) for s in seeds]
    jobs += [("adam", lr, s, steps) for lr in ADAM_LRS for s in seeds]
    jobs += [("sgd", lr, s, steps) for lr in SGD_LRS for s in seeds]
    names_task()
    done = dict(zip(jobs, parallel.map(rb_job, jobs)))
    names_runs = parallel.map(names_job, [(s, checks, MEASURE[quick], HUTCH[quick], EXACT[quick]) for s in seeds])

    def mean_log_steps(name, lr):  # the grid's score: the mean of log10(steps), a miss at the budget
        return float(np.mean([np.log10(min(done[name, lr, s, steps]["steps"], steps) + 1) for s in seeds]))

    best = {"newton": 1.0, "adam": min(ADAM_LRS, key=lambda lr: mean_log_steps("adam", lr)),
            "sgd": min(SGD_LRS, key=lambda lr: mean_log_steps("sgd", lr))}
    rb = {name: [done[name, lr, s, steps] for s in seeds] for name, lr in best.items()}
    rows = []

    def counts(rs, key):
        return " ".join(f"{r[key]:.0f}" if np.isfinite(r[key]) else "never" for r in rs)

    for name, lrs in (("newton", (1.0,)), ("adam", ADAM_LRS), ("sgd", SGD_LRS)):
        for lr in lrs:
            rs = [done[name, lr, s, steps] for s in seeds]
            rows.append((name + (" (best)" if lr == best[name] and name != "newton" else ""),
                         "exact H" if name == "newton" else f"{lr:g}", counts(rs, "steps"),
                         counts(rs, "first"), f"{np.mean([r['distance'] for r in rs]):.3g}"))
    print(f"Rosenbrock from {len(seeds)} start points (seed 0: {CLASSIC}); budget {steps} steps "
          f"(Newton {NEWTON_STEPS}); steps to f <= {TARGET:g} for good (it stays below to the end) "
          "and the first step below; the best rate: fewest steps for good")
    table(["method", "lr", "steps to target for good, per start point", "first step below",
           "mean distance to (1,1) at end"], rows)
    result["rosenbrock"] = {name: {"lr": best[name], "steps": [r["steps"] for r in rs],
                                   "distance": [r["distance"] for r in rs]} for name, rs in rb.items()}

    def log_steps(name):  # a miss counts as the budget (in Newton's favour only if Adam misses)
        return [float(np.log10(min(r["steps"], steps) + 1)) for r in rb[name]]

    verdicts.better(f"Newton's method (exact Hessian) reaches f <= {TARGET:g} for good on Rosenbrock in at "
                    f"least {NEWTON_FACTOR:g}x fewer steps than Adam at its best lr "
                    f"({best['adam']:g}); compared as log10(steps + 1)", log_steps("newton"),
                    log_steps("adam"), np.log10(NEWTON_FACTOR), names=("Newton", "Adam"), unit=" decades")
    verdicts.better(f"Newton's method reaches f <= {TARGET:g} in at least {NEWTON_FACTOR:g}x fewer "
                    f"steps than SGD at its best lr ({best['sgd']:g})", log_steps("newton"),
                    log_steps("sgd"), np.log10(NEWTON_FACTOR), names=("Newton", "SGD"), unit=" decades")

    first = min(ADAM_LRS, key=lambda lr: np.mean([np.log10(min(done["adam", lr, s, steps]["first"], steps) + 1)
                                                   for s in seeds]))
    passes = [done["adam", first, s, steps]["first"] for s in seeds]
    verdicts.note(f"counted at the first step below f = {TARGET:g} instead, Adam's best rate is "
                  f"{first:g}, which first passes below in a median {np.median(passes):.0f} steps "
                  f"(mean distance to (1, 1) at the end of its runs "
                  f"{np.mean([done['adam', first, s, steps]['distance'] for s in seeds]):.2g}); "
                  f"Newton's median is {np.median([r['steps'] for r in rb['newton']]):.0f}")

    # along the path of the Adam run that settles: sqrt(v_hat) against the Hessian's diagonal
    settle = min(ADAM_LRS, key=lambda lr: np.mean([done["adam", lr, s, steps]["distance"] for s in seeds]))
    along = []
    for s in seeds:
        r = done["adam", settle, s, steps]
        pts, rv = r["pts"][1:], r["root_v"]
        hd = np.abs(np.array([rb_hessian_diag(p) for p in (pts[EARLY - 1], pts[-1])]))
        ratio = rv[[EARLY - 1, -1], 0] / hd[:, 0]  # sqrt(v_hat_x) / |H_xx|, early and at the end
        along.append({"early": float(ratio[0]), "end": float(ratio[1]),
                      "fall": float(np.log10(ratio[0] / ratio[1])), "h_end": float(hd[1, 0]),
                      "v_end": float(rv[-1, 0])})
    result["rosenbrock"]["settle_lr"] = settle
    result["rosenbrock"]["along"] = along
    print(f"along Adam's path at lr {settle:g} (the grid's rate that ends nearest (1, 1)), "
          f"sqrt(v_hat_x)/|H_xx| at step {EARLY} and at the end, per start point: "
          + ", ".join(f"{a['early']:.3g} -> {a['end']:.2g}" for a in along)
          + f"; at the end |H_xx| {np.mean([a['h_end'] for a in along]):.0f}, sqrt(v_hat_x) "
          f"{np.mean([a['v_end'] for a in along]):.2g} (means)")
    verdicts.above(f"sqrt(v_hat) is no curvature estimate on Rosenbrock: as Adam (lr {settle:g}) "
                   f"converges its sqrt(v_hat_x) shrinks with the gradients while H_xx does not "
                   f"(about 802 at the minimum); sqrt(v_hat_x)/|H_xx| falls by over "
                   f"{FALL:g} decade from step {EARLY} to the end (log10 of the fall)",
                   [a["fall"] for a in along], FALL, unit=" decades")

    # the names model
    n_checks = len(checks)
    every = PAIRS + EXACT_PAIRS
    corr = {p: np.array([[r["corr"][i][p] for i in range(n_checks)] for r in names_runs]) for p in every}
    # corr[p]: (seeds, checks, 2) - Spearman, Pearson of logs
    result["names"] = {"checks": list(checks), "size": names_runs[0]["size"],
                       "kept": [r["kept"] for r in names_runs],
                       "loss": [r["loss"] for r in names_runs],
                       "spearman": {PAIR_NAMES[p]: corr[p][:, :, 0].tolist() for p in every},
                       "log_pearson": {PAIR_NAMES[p]: corr[p][:, :, 1].tolist() for p in every}}
    print(f"\nthe names model ({names_runs[0]['size']} parameters), Adam lr {LR:g}, batch {BATCH}; at "
          f"each checkpoint on a fixed batch of {MEASURE[quick]} examples; mean over {len(seeds)} "
          "seeds, Spearman / Pearson of logs across parameters")
    for pairs, what in ((PAIRS, f"all parameters with every diagonal > 0 "
                         f"({int(np.mean([r['kept'][-1] for r in names_runs]))} on average); |H diag|: "
                         f"Hutchinson, {HUTCH[quick]} Rademacher vectors"),
                        (EXACT_PAIRS, f"{EXACT[quick]} parameters drawn at random, their H_kk exact")):
        print(what)
        rows = []
        for i, c in enumerate(checks):
            rows.append((str(c), f"{np.mean([r['loss'][i] for r in names_runs]):.3f}",
                         *(f"{corr[p][:, i, 0].mean():.2f} / {corr[p][:, i, 1].mean():.2f}" for p in pairs)))
        table(["step", "train loss", *(PAIR_NAMES[p] for p in pairs)], rows)
    rho_ef = corr["v", "efs"][:, :, 0].mean(1)
    rho_h = corr["v", "hx"][:, :, 0].mean(1)
    verdicts.better("on the names model, sqrt(v_hat) correlates with sqrt(diag(empirical Fisher)) "
                    "more than with |diag(H)| (Spearman across the parameters whose H_kk is "
                    "computed exactly, mean over the checkpoints)", rho_ef, rho_h, MARGIN_RHO,
                    lower_is_better=False, names=("with sqrt(EF)", "with |H_kk|"))
    verdicts.better("the same with Hutchinson's |diag(H)| over all parameters (as AdaHessian "
                    "estimates it)", corr["v", "ef"][:, :, 0].mean(1), corr["v", "h"][:, :, 0].mean(1),
                    MARGIN_RHO, lower_is_better=False, names=("with sqrt(EF)", "with Hutchinson"))
    verdicts.better("on the names model, sqrt(v_hat) correlates with the empirical Fisher's "
                    "diagonal more than with the true Fisher's (Spearman, all parameters, mean "
                    "over checkpoints)", corr["v", "ef"][:, :, 0].mean(1),
                    corr["v", "f"][:, :, 0].mean(1), MARGIN_RHO, lower_is_better=False,
                    names=("with sqrt(EF)", "with sqrt(F)"))
    verdicts.better("the empirical Fisher's diagonal agrees with the true Fisher's better at the "
                    "last checkpoint than at the first (Kunstner et al.: they part away from a "
                    "fitted model; Spearman)", corr["ef", "f"][:, -1, 0], corr["ef", "f"][:, 0, 0],
                    MARGIN_RHO, lower_is_better=False, names=("last", "first"))
    verdicts.note(f"the Hutchinson estimate's own noise: two halves of its {HUTCH[quick]} samples "
                  f"correlate at Spearman {corr['ha', 'hb'][:, :, 0].mean():.2f}, and the whole "
                  f"estimate with the exact H_kk at {corr['h', 'hx'][:, :, 0].mean():.2f} (means over "
                  f"seeds and checkpoints): per parameter it is noisy, which is why the verdict "
                  f"above uses exact diagonal entries. The Fisher's diagonal (one sampled label "
                  f"per example) correlates with the exact |H_kk| at "
                  f"{corr['f', 'hx'][:, :, 0].mean():.2f}, the empirical Fisher's at "
                  f"{corr['ef', 'hx'][:, :, 0].mean():.2f}")
    within = {p: np.array([[w[p] for w in r["within"]] for r in names_runs]) for p in WITHIN}
    result["names"]["within_fc1_weight"] = {PAIR_NAMES[p]: within[p].tolist() for p in WITHIN}
    verdicts.note("pooled over all parameters, a correlation also counts the differences of scale "
                  "between layers; inside one tensor (fc1.weight, Spearman, mean over seeds, per "
                  "checkpoint) only the parameters' own differences count: "
                  + "; ".join(f"{PAIR_NAMES[p]} " + " ".join(f"{x:.2f}" for x in within[p].mean(0))
                              for p in WITHIN))
    result["png"] = _figure(rb, best, (settle, done["adam", settle, seeds[0], steps]), names_runs, corr,
                            checks, figure_path(out, "curvature"))
    return result


COLORS = {"newton": "tab:green", "adam": "tab:blue", "sgd": "tab:red"}
LABEL = {"newton": "Newton (exact H)", "adam": "Adam", "sgd": "SGD"}
PAIR_COLORS = {("v", "ef"): "tab:blue", ("v", "f"): "tab:purple", ("v", "hx"): "tab:orange",
               ("v", "h"): "tab:red", ("ef", "f"): "tab:cyan", ("h", "hx"): "tab:gray"}
SHOWN = tuple(PAIR_COLORS)  # the correlations drawn over training


def _figure(rb, best, settled, names_runs, corr, checks, path):
    made = plots.panels(2, 3, (15, 9))
    if made is None:
        return None
    plt, fig, axes = made
    ax = axes[0]
    X, Y = np.meshgrid(np.linspace(-2, 2, 300), np.linspace(-1, 3, 300))
    ax.contour(X, Y, rosenbrock(X, Y), levels=np.logspace(-1, 3.5, 16), cmap="Greys", linewidths=0.6)
    for name, rs in rb.items():
        pts = rs[0]["pts"]
        lr = "" if name == "newton" else f", lr {best[name]:g}"
        ax.plot(pts[:, 0], pts[:, 1], "-o" if name == "newton" else "-", color=COLORS[name],
                lw=1.4, ms=4, label=f"{LABEL[name]}{lr}")
    ax.plot(1, 1, "k*", ms=12, label="minimum (1, 1)")
    ax.set_xlim(-2, 2)
    ax.set_ylim(-1, 3)
    ax.set_xlabel("x", fontsize=10)
    ax.set_ylabel("y", fontsize=10)
    ax.set_title(f"Rosenbrock from {CLASSIC}: the paths", fontsize=11)
    ax.legend(fontsize=9, loc="lower right")
    ax = axes[1]
    for name, rs in rb.items():
        for i, r in enumerate(rs):
            t = np.arange(1, len(r["loss"]) + 1)
            ax.plot(t, np.maximum(r["loss"], 1e-12), color=COLORS[name], lw=1.8 if i == 0 else 0.8,
                    alpha=1.0 if i == 0 else 0.5, label=LABEL[name] if i == 0 else None)
    ax.axhline(TARGET, color="k", ls=":", lw=1, label=f"f = {TARGET:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-8, 1e4)
    ax.set_xlabel("step + 1 (log)", fontsize=10)
    ax.set_ylabel("f(x, y) (log)", fontsize=10)
    ax.set_title("Rosenbrock: loss from 5 start points (bold: the classic)", fontsize=11)
    ax.legend(fontsize=9, loc="lower left")
    ax = axes[2]
    settle, r = settled
    pts, rv = r["pts"][1:], r["root_v"]
    g = np.abs(np.array([rb_grad(p) for p in pts]))
    hd = np.abs(np.array([rb_hessian_diag(p) for p in pts]))
    t = np.arange(1, len(pts) + 1)
    ax.plot(t, rv[:, 0], color="tab:blue", lw=1.8, label="sqrt(v_hat_x), Adam's denominator")
    ax.plot(t, plots.smooth(g[:, 0], 20), ":", color="tab:blue", lw=1.4, label="|g_x| (smoothed)")
    ax.plot(t, hd[:, 0], "--", color="tab:orange", lw=1.8, label="|H_xx|, the Hessian's diagonal")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 1e4)
    ax.set_xlabel("Adam step (log)", fontsize=10)
    ax.set_ylabel("per-coordinate scale (log; |g_x| dips below)", fontsize=10)
    ax.set_title(f"along Adam's path (lr {settle:g}, classic start)", fontsize=11)
    ax.legend(fontsize=9, loc="lower left")
    ax = axes[3]
    v, y_ef, y_h = [], [], []
    for r in names_runs:
        e = r["exact"]
        keep = (e["v"] > 0) & (e["ef"] > 0) & (e["hx"] > 0)
        v.append(e["v"][keep] / np.median(e["v"][keep]))
        y_ef.append(e["ef"][keep] / np.median(e["ef"][keep]))
        y_h.append(e["hx"][keep] / np.median(e["hx"][keep]))
    v = np.concatenate(v)
    for y, color, label in ((np.concatenate(y_h), "tab:orange", "|H_kk| (exact)"),
                            (np.concatenate(y_ef), "tab:blue", "sqrt(EF_kk)")):
        ax.scatter(v, y, s=7, alpha=0.5, color=color, lw=0, label=f"{label}: Spearman {spearman(v, y):.2f}")
    outside = int(np.sum((v < 1e-2) | (v > 1e2)))
    ax.plot([1e-2, 1e2], [1e-2, 1e2], "k:", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(1e-2, 1e2)
    ax.set_ylim(1e-3, 1e3)
    ax.set_xlabel(f"sqrt(v_hat_k) / its median (log; {outside} points outside the frame)", fontsize=10)
    ax.set_ylabel("diagonal entry / its median (log)", fontsize=10)
    ax.set_title(f"names model, step {checks[-1]}: {v.size} sampled parameters, all seeds",
                 fontsize=11)
    ax.legend(fontsize=9, loc="upper left", markerscale=3)
    for ax, j, what in ((axes[4], 0, "Spearman rank correlation"), (axes[5], 1, "Pearson correlation of logs")):
        for p in SHOWN:
            ys = corr[p][:, :, j]
            ax.fill_between(checks, ys.min(0), ys.max(0), color=PAIR_COLORS[p], alpha=0.2, lw=0)
            ax.plot(checks, ys.mean(0), "--o" if p in (("ha", "hb"), ("h", "hx")) else "-o",
                    color=PAIR_COLORS[p], lw=1.6, ms=4, label=PAIR_NAMES[p])
        ax.set_xscale("log")
        ax.set_ylim(-0.2, 1.0)
        ax.set_xlabel("Adam step on the names model (log)", fontsize=10)
        ax.set_ylabel(f"{what} across parameters", fontsize=10)
        ax.set_title(f"names model: {what} over training", fontsize=11)
        ax.grid(alpha=0.3)
    axes[4].legend(fontsize=9, loc="lower right")
    for ax in axes:
        ax.tick_params(labelsize=10)
    return path if plots.save_panels(plt, fig, path, "What Adam's sqrt(v_hat) approximates: the "
                                     "(empirical) Fisher's diagonal more than the Hessian's") else None
