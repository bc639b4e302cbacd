"""noisy-gradients: do noisy gradients get relatively larger learning rates? Under Adam, smaller.

RMSProp and Adam divide each coordinate's step by the root of an average of its SQUARED
gradients, and a squared gradient counts noise as well as signal:

    g_{t,k} = μ_k + σ_k ξ_{t,k}            coordinate k's gradient: its mean μ_k and its noise
    E[g_k²] = μ_k² + σ_k²                  what v̂_k estimates
    η_k = α / (sqrt(v̂_k) + ε) ≈ α / sqrt(μ_k² + σ_k²)   the effective step size
    d_k = η_k μ_k ≈ α μ_k / sqrt(μ_k² + σ_k²)   the drift: the expected move per step
    η_k = α,  d_k = α μ_k                  SGD's: the same rate whatever the noise

Here ξ_{t,k} ~ N(0, 1) is fresh noise at each step t, σ_k the noise's size on coordinate k and α
the learning rate (`lr`). With the same mean gradient μ on every coordinate, a coordinate with
σ_k ≫ μ gets an effective step about α/σ_k: the noisier the gradient, the SMALLER the learning
rate, so the sentence read literally is backwards for Adam and RMSProp. The size of the update
shrinks much less than the rate: |m̂| grows with the noise too, so a noisy coordinate still moves
a good part of a clean one's distance per step, but most of that move is noise (its drift is
α μ/σ).

Two problems, each on D = 210 coordinates in 7 groups of 30, σ = 0.01, 0.03, ..., 10 (log-spaced),
all with μ = 1 at the start: (1) the slope f(θ) = Σ_k θ_k, whose mean gradient is exactly 1 on
every coordinate at every step, so only the noise differs; there the effective step and the
drift are measured, averaged over the run; (2) the quadratic f(θ) = ½ Σ_k (θ_k - 1)² from θ = 0,
where the mean gradient θ_k - 1 shrinks as a coordinate converges; there the progress: the steps
each group needs to halve its (group-mean) distance to the optimum, and its RMS distance at the
end. SGD, RMSProp and Adam all run at α = 0.01 (Adam's default scale: on the slope every method's
clean coordinates then drift 0.01 per step) as optim.functional on raw arrays; the effective step
is what each declaration's explain() makes of the state (v, or v with its bias correction).
(3) A real network: the names model (models/char_mlp.py) trained by Adam at lr 3e-3, with
Gaussian noise of 10 times the layer's gradient RMS added to the gradient of a random half of
the elements of its first Linear layer (the other half untouched; seed s picks the half, the
noise, the initialisation and the batches); there, the effective step of the noisy half
against the clean half at the end of training. Varied: σ per coordinate, the optimizer, the seed
(the noise). Held fixed: μ, α, the steps.

The margins: the sentence, read as "the noisiest coordinates get a larger effective step than
the cleanest", holds when their ratio is above 1. The opposite, Adam's noise-shrinks-the-step
mechanism, counts as shown when the noisiest group's effective step is under SHRINK = 0.2 of the
cleanest's: by the formula above the ratio is 1/sqrt(1 + 10²) ≈ 0.1 (the cleanest coordinate's
v̂ is its μ² = 1, the noisiest's about σ² = 100), and a threshold at half that factor leaves room
for what v̂'s own noise and the bias correction do to it. On the quadratic the noisiest group
must need at least SLOWER = 3 times the steps of the cleanest to halve its distance (SGD's
groups, at one rate, need the same number). On the names model the noisy half's effective step
(the median over its elements) must be under REAL_SHRINK = 0.5 of the clean half's: the noise is
10x the gradient, so the prediction is nearer 0.1, and half leaves room for the spread of the
clean elements' own scales.
"""
import numpy as np

import optim
from models import plots

from . import parallel, verdicts
from .common import explained, figure_path, table

USES = (optim.SGD, optim.RMSprop, optim.Adam)  # the optimizer classes it runs (their code hash counts)
QUOTE = ("In paraphrase: noisy gradients get relatively larger learning rates (a sentence of the "
         "article as issue 20 reports it; not checked against the page).")
SECTION = None  # the section it comes from is not known (only the issue reports the sentence)
LOOK_FOR = ("Left: the effective step size per coordinate against its gradient noise σ, on the "
            "slope whose mean gradient is 1 everywhere. SGD's (red) is flat at α; RMSProp's and "
            "Adam's fall like α/σ (dotted line) once σ exceeds the mean gradient: noise shrinks the "
            "rate. Middle: solid lines are the drift, the expected downhill move per step; dashed "
            "lines the RMS size of the update. Adam's update shrinks only a few times with the "
            "noise while its drift shrinks like 1/σ: on noisy coordinates most of the move is "
            "noise. SGD drifts α per step everywhere, with updates that grow with σ. Right: on "
            "the quadratic, each group's "
            "distance to the optimum; clean groups (solid) and the noisiest (dashed). Adam's "
            "noisy group converges slowly; SGD's keeps the same pace but cannot settle. Bands: "
            "range over seeds. Bottom right: a real network. Half of the names model's first "
            "layer gets noise ten times its gradient; Adam's effective steps for that half "
            "(purple) sit about a decade below the clean half's (green).")

SIGMAS = np.logspace(-2, 1, 7)  # the noise levels, one group of PER coordinates each
PER, MU, LR = 30, 1.0, 0.01
OPTIMIZERS = {"SGD": optim.SGD, "RMSProp": optim.RMSprop, "Adam": optim.Adam}
FUNCTIONAL = {"SGD": "sgd", "RMSProp": "rmsprop", "Adam": "adam"}
STEPS = {False: (1000, 3000), True: (300, 800)}  # (slope, quadratic)
SHRINK = 0.2  # Adam's noisiest/cleanest effective step below this: noise shrinks the rate
REAL_STEPS = {False: 600, True: 30}  # the names model with noise added to half of a layer
REAL_LR, REAL_NOISE = 3e-3, 10.0  # Adam's rate on the names task; noise sigma / the layer's gradient RMS
REAL_SHRINK = 0.5  # the noisy half's median effective step below this share of the clean half's
_TASK = {}
SLOWER = 3.0  # the noisiest group needs at least this many times the steps to halve its distance


def sigma():
    """σ_k per coordinate: each level of SIGMAS on PER coordinates."""
    return np.repeat(SIGMAS, PER)


def simulate(name, problem, steps, seed):
    """One run of optimizer `name` on 'slope' or 'quadratic'. Per coordinate: the mean effective
    step and the RMS update over the run (after its first tenth), its drift (total downhill move
    per step); per group and step, the group-mean distance to the optimum (quadratic)."""
    rng = np.random.default_rng(seed)
    s = sigma()
    cls = OPTIMIZERS[name]
    group = {**cls.defaults_of(), "lr": LR}  # what optim.functional makes of lr=LR
    theta, state = np.zeros(s.size), {}
    burn = steps // 10
    eff_sum, sq_sum = np.zeros(s.size), np.zeros(s.size)
    distance = np.empty((steps, SIGMAS.size))
    for t in range(steps):
        mean = np.full(s.size, MU) if problem == "slope" else theta - 1.0
        g = mean + s * rng.standard_normal(s.size)
        before = theta.copy()
        getattr(optim.functional, FUNCTIONAL[name])(theta, g, state, lr=LR)
        if t >= burn:
            if name == "SGD":
                eff_sum += LR
            else:  # the declaration's lr/(sqrt(v)+eps) or lr/(sqrt(v_hat)+eps)
                eff_sum += explained(cls, theta, state, group, g=g)["step_size"]
            sq_sum += (theta - before) ** 2
        distance[t] = np.abs(theta.reshape(SIGMAS.size, PER).mean(axis=1) - 1.0)
    n = steps - burn
    out = {"effective": eff_sum / n, "update_rms": np.sqrt(sq_sum / n)}
    if problem == "slope":
        out["drift"] = -theta / steps  # downhill is -θ: the mean move per step along -μ
    else:
        out["distance"] = distance
        out["final_rms"] = np.sqrt(((theta - 1.0) ** 2).reshape(SIGMAS.size, PER).mean(axis=1))
    return out


def by_group(x):
    """The mean of a per-coordinate array over each noise group."""
    return np.asarray(x).reshape(SIGMAS.size, PER).mean(axis=1)


def halving_steps(distance):
    """Per group, the first step (from 1) at which its group-mean distance (started at 1) is at
    most 1/2 and stays there for the next 20 steps; the run's length + 1 when never."""
    steps = distance.shape[0]
    out = []
    for k in range(distance.shape[1]):
        below = distance[:, k] <= 0.5
        ok = [t for t in np.flatnonzero(below) if below[t:t + 20].all()]
        out.append(int(ok[0]) + 1 if ok else steps + 1)
    return np.array(out)


def names_task():
    """The names task, loaded once (before the workers fork, so that they share it)."""
    if "names" not in _TASK:
        from models.tasks import NamesTask
        _TASK["names"] = NamesTask()
    return _TASK["names"]


def real_run(seed, steps):
    """The names model under Adam, with noise REAL_NOISE x the layer's gradient RMS added to the
    gradient of a random half of fc1.weight. At the end: the effective step lr/(sqrt(v_hat)+eps)
    of each element of fc1.weight and which were noisy; the training loss of the last tenth."""
    t = names_task()
    model = t.build(seed)
    w = model.fc1.weight
    rng = np.random.default_rng(seed + 1)  # the batches of seed s
    noise_rng = np.random.default_rng(1000 + seed)
    noisy = noise_rng.random(w.data.shape) < 0.5
    opt = optim.Adam(model.parameters(), lr=REAL_LR)
    losses = []
    for _ in range(steps):
        loss = t.loss(model, t.batch(rng, t.batch_size))
        opt.zero_grad()
        loss.backward()
        sigma_now = REAL_NOISE * float(np.sqrt(np.mean(np.square(w.grad[~noisy], dtype=np.float64))))
        w.grad += (noisy * sigma_now * noise_rng.standard_normal(w.data.shape)).astype(w.grad.dtype)
        opt.step()
        losses.append(loss.item())
    size = explained(optim.Adam, w.data, opt.state[w], opt.param_groups[0])["step_size"]
    return {"effective": np.asarray(size, dtype=np.float64), "noisy": noisy,
            "loss_end": float(np.mean(losses[-max(1, steps // 10):]))}


def run(quick=False, out="runs/experiments"):
    (slope_steps, quad_steps), seeds = STEPS[quick], verdicts.seeds(quick)
    jobs = [(name, problem, n, seed) for name in OPTIMIZERS
            for problem, n in (("slope", slope_steps), ("quadratic", quad_steps)) for seed in seeds]
    names_task()
    done = dict(zip(jobs, parallel.map(simulate, jobs)))
    real = parallel.map(real_run, [(seed, REAL_STEPS[quick]) for seed in seeds])
    slope = {name: [done[name, "slope", slope_steps, s] for s in seeds] for name in OPTIMIZERS}
    quad = {name: [done[name, "quadratic", quad_steps, s] for s in seeds] for name in OPTIMIZERS}
    result = {"seeds": seeds, "sigmas": SIGMAS.tolist()}
    rows = []
    for name in OPTIMIZERS:
        eff = np.array([by_group(r["effective"]) for r in slope[name]])
        drift = np.array([by_group(r["drift"]) for r in slope[name]])
        size = np.array([by_group(r["update_rms"]) for r in slope[name]])
        halve = np.array([halving_steps(r["distance"]) for r in quad[name]])
        final = np.array([r["final_rms"] for r in quad[name]])
        result[name] = {"effective": eff.mean(0).tolist(), "drift": drift.mean(0).tolist(),
                        "update_rms": size.mean(0).tolist(), "halving_steps": halve.mean(0).tolist(),
                        "final_rms": final.mean(0).tolist(),
                        "effective_ratio": (eff[:, -1] / eff[:, 0]).tolist(),  # noisiest / cleanest, per seed
                        "drift_ratio": (drift[:, -1] / drift[:, 0]).tolist(),
                        "update_ratio": (size[:, -1] / size[:, 0]).tolist(),
                        "halving_ratio": (halve[:, -1] / halve[:, 0]).tolist()}
        for k, sg in enumerate(SIGMAS):
            rows.append((name if k == 0 else "", f"{sg:.3g}", f"{eff.mean(0)[k]:.3g}",
                         f"{drift.mean(0)[k]:.3g}", f"{size.mean(0)[k]:.3g}",
                         f"{halve.mean(0)[k]:.0f}" + ("+" if halve.mean(0)[k] > quad_steps else ""),
                         f"{final.mean(0)[k]:.3g}"))
    print(f"{SIGMAS.size} groups of {PER} coordinates, gradient noise sigma from {SIGMAS[0]:g} to "
          f"{SIGMAS[-1]:g}, mean gradient {MU:g} at the start; lr {LR:g} for all; slope: {slope_steps} "
          f"steps, quadratic: {quad_steps} steps from distance 1; means over {len(seeds)} seeds")
    table(["optimizer", "sigma", "eff. step (slope)", "drift per step (slope)", "RMS update (slope)",
           "steps to halve (quadratic)", "RMS distance at end (quadratic)"], rows)
    adam, rms = result["Adam"], result["RMSProp"]
    verdicts.above("the sentence, read literally, for Adam: the noisiest coordinates (sigma 10) get "
                   "a larger effective step lr/(sqrt(v_hat)+eps) than the cleanest (sigma 0.01); "
                   "noisiest/cleanest above 1", adam["effective_ratio"], 1.0, unit="x")
    verdicts.above("the sentence, read literally, for RMSProp: noisiest/cleanest effective step "
                   "lr/(sqrt(v)+eps) above 1", rms["effective_ratio"], 1.0, unit="x")
    verdicts.below(f"the opposite, Adam's mechanism: noise shrinks the effective step; the noisiest "
                   f"group's is under {SHRINK:g} of the cleanest's", adam["effective_ratio"], SHRINK, unit="x")
    verdicts.above(f"the consequence on the quadratic: Adam's noisiest group needs over {SLOWER:g}x "
                   "the steps of its cleanest to halve its distance to the optimum",
                   adam["halving_ratio"], SLOWER, unit="x")
    sgd = result["SGD"]
    verdicts.exact("SGD's effective step is lr on every coordinate, whatever the noise (relative "
                   "to SGD, Adam gives noisy coordinates SMALLER rates)",
                   all(abs(x - 1.0) < 1e-12 for x in sgd["effective_ratio"]),
                   f"noisiest/cleanest {np.mean(sgd['effective_ratio']):.6g}")
    noise_share = [u / d for u, d in zip(adam["update_ratio"], adam["drift_ratio"])]
    verdicts.note(f"what grows with the noise under Adam is the share of the update that is noise, "
                  f"not the rate: from the cleanest to the noisiest group the drift (expected "
                  f"progress per step) falls {1 / np.mean(adam['drift_ratio']):.1f}x but the RMS "
                  f"update only {1 / np.mean(adam['update_ratio']):.1f}x, so relative to its "
                  f"signal a noisy coordinate's update is {np.mean(noise_share):.1f}x as large as a "
                  f"clean one's. SGD's update grows {np.mean(sgd['update_ratio']):.0f}x with the "
                  f"noise at the same drift.")
    real_ratio = [float(np.median(r["effective"][r["noisy"]]) / np.median(r["effective"][~r["noisy"]]))
                  for r in real]
    result["names"] = {"ratio": real_ratio, "loss_end": [r["loss_end"] for r in real],
                       "noisy_effective": float(np.mean([np.median(r["effective"][r["noisy"]]) for r in real])),
                       "clean_effective": float(np.mean([np.median(r["effective"][~r["noisy"]]) for r in real]))}
    print(f"\nthe names model, Adam lr {REAL_LR:g}, {REAL_STEPS[quick]} steps, noise {REAL_NOISE:g}x the "
          f"gradient RMS on a random half of fc1.weight: median effective step lr/(sqrt(v_hat)+eps) "
          f"{result['names']['noisy_effective']:.3g} on the noisy half, {result['names']['clean_effective']:.3g} "
          f"on the clean half; training loss at the end {np.mean(result['names']['loss_end']):.3f}")
    verdicts.below(f"on a real network (the names model) Adam gives the noisy half of a layer a "
                   f"smaller effective step: its median under {REAL_SHRINK:g} of the clean half's",
                   real_ratio, REAL_SHRINK, unit="x")
    result["png"] = _figure(slope, quad, real, quad_steps, figure_path(out, "noisy-gradients"))
    return result


COLORS = {"SGD": "tab:red", "RMSProp": "tab:orange", "Adam": "tab:blue"}


def _band(ax, x, ys, color, label, ls="-"):
    ys = np.asarray(ys)
    ax.fill_between(x, ys.min(0), ys.max(0), color=color, alpha=0.2, lw=0)
    ax.plot(x, ys.mean(0), ls, color=color, lw=1.8, marker="o" if ls == "-" else None, ms=4, label=label)


def _figure(slope, quad, real, quad_steps, path):
    made = plots.panels(2, 2, (14, 9))
    if made is None:
        return None
    plt, fig, axes = made
    for name, rs in slope.items():
        _band(axes[0], SIGMAS, [by_group(r["effective"]) for r in rs], COLORS[name], name)
        _band(axes[1], SIGMAS, [by_group(r["drift"]) for r in rs], COLORS[name], f"{name}: drift")
        _band(axes[1], SIGMAS, [by_group(r["update_rms"]) for r in rs], COLORS[name],
              f"{name}: RMS update", ls="--")
    axes[0].plot(SIGMAS, LR * MU / np.sqrt(MU ** 2 + SIGMAS ** 2), "k:", lw=1.2,
                 label="lr / sqrt(mu² + sigma²)")
    for ax in axes[:2]:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("gradient noise sigma of the coordinate (mean gradient 1; log)", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9, loc="lower left")
    axes[0].set_ylabel("effective step size (per unit gradient, log)", fontsize=10)
    axes[0].set_title("the slope: noise shrinks Adam's and RMSProp's rate", fontsize=11)
    axes[1].set_ylabel("parameter units per step (log)", fontsize=10)
    axes[1].set_title("the slope: drift (solid) and update size (dashed)", fontsize=11)
    ax = axes[2]
    t = np.arange(1, quad_steps + 1)
    for name in ("SGD", "Adam"):
        for k, ls in ((0, "-"), (SIGMAS.size - 1, "--")):
            ys = np.array([plots.smooth(r["distance"][:, k], 10) for r in quad[name]])
            ax.fill_between(t, ys.min(0), ys.max(0), color=COLORS[name], alpha=0.2, lw=0)
            ax.plot(t, ys.mean(0), ls, color=COLORS[name], lw=1.5,
                    label=f"{name}, sigma {SIGMAS[k]:g}")
    ax.axhline(0.5, color="k", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step", fontsize=10)
    ax.set_ylabel("|group-mean theta - optimum| (log)", fontsize=10)
    ax.set_title("the quadratic: cleanest vs noisiest group", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="lower left")
    ax = axes[3]
    every = np.concatenate([r["effective"].ravel() for r in real])
    bins = np.logspace(np.log10(every.min()) - 0.05, np.log10(every.max()) + 0.05, 60)
    for which, color, label in ((False, "tab:green", "clean half"), (True, "tab:purple", "noisy half")):
        vals = np.concatenate([r["effective"][r["noisy"] == which] for r in real])
        ax.hist(vals, bins=bins, color=color, alpha=0.6, label=f"{label}: median {np.median(vals):.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("Adam's effective step lr/(sqrt(v_hat)+eps) of an element of fc1.weight (log)", fontsize=10)
    ax.set_ylabel(f"elements (all {len(real)} seeds)", fontsize=10)
    ax.set_title(f"the names model: noise {REAL_NOISE:g}x the gradient on half of a layer", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    for ax in axes:
        ax.tick_params(labelsize=10)
    return path if plots.save_panels(plt, fig, path, "Noisy gradients get SMALLER effective "
                                     "learning rates under Adam and RMSProp: sqrt(v_hat) counts the "
                                     "noise") else None
