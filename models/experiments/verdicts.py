"""Verdicts that a second seed cannot flip: a claim, a margin stated before the run, an interval.

A claim that one thing beats another is measured over seeds (SEEDS: 5 in a full run), paired: seed
s gives both contestants the same initialisation and the same batches, so the difference per seed
removes most of what the seed changes. Over the n differences d_1..d_n (each signed so that
positive favours the claim) the mean d̄ and its 95% interval

    d̄ ± t_{0.975, n-1} · s / sqrt(n)        (s: the differences' sample standard deviation)

decide, against the margin δ the experiment states before it runs (the smallest difference that
would matter on that task):

    held          the interval lies above δ     the claim wins by at least the margin
    did not hold  the interval lies below δ     it loses, or wins by less than the margin
    within noise  the interval contains δ       the seeds cannot tell which

An "about the same" claim (A within δ of B) holds when the whole interval lies inside (-δ, δ),
does not hold when it lies outside, and is within noise when it straddles ±δ. A claim about one
measured number (a ratio above a threshold) uses the interval of that number the same way.
Identities (bias correction's 1 - β^t, a step's exact size) are not statistics: `exact` checks
them and says "held (exact)".

A `--quick` run is a smoke run: it uses one or two seeds and too few steps to back a verdict, so
every statistical verdict prints its numbers and "smoke run: no verdict"; exact checks still run.

Every verdict is printed as one line and kept (`recorded()`), so that the saved output and the
documentation page show the same verdicts with the same numbers.
"""
import math

import numpy as np

SEEDS = 5          # seeds per contestant in a full run
QUICK_SEEDS = 2    # in a smoke run

HELD, NOT_HELD, NOISE, SMOKE = "held", "did not hold", "within noise", "smoke run: no verdict"

# t_{0.975, df}: the two-sided 95% quantile of Student's t (df 1-30 exact to 3 places, then a few)
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
         2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
         2.052, 2.048, 2.045, 2.042]

_record = {"quick": False, "verdicts": []}


def seeds(quick):
    """The seeds of a run: range(SEEDS), or range(QUICK_SEEDS) in a smoke run."""
    return list(range(QUICK_SEEDS if quick else SEEDS))


def start(quick):
    """Begin a run's record (models.experiments.run calls this): verdicts are kept from here."""
    _record.update(quick=bool(quick), verdicts=[])


def recorded():
    """The verdicts printed since start(), as dicts: claim, outcome, numbers, and for statistical
    ones the margin, mean, interval and per-seed values."""
    return list(_record["verdicts"])


def t975(df):
    """Student's t two-sided 95% quantile for df degrees of freedom."""
    if df < 1:
        raise ValueError(f"an interval needs at least 2 values (df >= 1), got df {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    return 1.960 + 2.4 / df  # within 0.002 of the quantile for df > 30


def interval(values):
    """(mean, low, high): the mean of values and its 95% t interval."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        raise ValueError(f"an interval needs at least 2 values, got {x.size}")
    if not np.all(np.isfinite(x)):
        return float(np.mean(x)), -math.inf, math.inf  # a diverged seed: nothing can be concluded
    half = t975(x.size - 1) * float(np.std(x, ddof=1)) / math.sqrt(x.size)
    mean = float(np.mean(x))
    return mean, mean - half, mean + half


def _fmt(x):
    return f"{x:.4g}" if math.isfinite(x) else str(x)


def _emit(claim, outcome, numbers, **stats):
    line = f"{outcome}: {claim} ({numbers})" if numbers else f"{outcome}: {claim}"
    print(line)
    _record["verdicts"].append({"claim": claim, "outcome": outcome, "numbers": numbers, **stats})
    return outcome


def _stats_text(mean, lo, hi, n, unit):
    return f"mean {_fmt(mean)}{unit}, 95% interval [{_fmt(lo)}, {_fmt(hi)}]{unit} over {n} seeds"


def better(claim, winner, loser, margin, *, lower_is_better=True, names=("A", "B"), unit=""):
    """Claim: `winner` beats `loser` by at least `margin`, per seed (paired lists). Lower is
    better by default (losses); lower_is_better=False for accuracies. Returns the outcome."""
    a, b = np.asarray(winner, dtype=np.float64), np.asarray(loser, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired per-seed values needed, got shapes {a.shape} and {b.shape}")
    d = (b - a) if lower_is_better else (a - b)
    each = f"{names[0]} {_fmt(float(np.mean(a)))} vs {names[1]} {_fmt(float(np.mean(b)))}"
    if _record["quick"] or d.size < 2:
        return _emit(claim, SMOKE, f"{each}; {d.size} seed(s)", margin=margin, per_seed=d.tolist())
    mean, lo, hi = interval(d)
    if lo > margin:
        outcome = HELD
    elif hi < margin:
        outcome = NOT_HELD
    else:
        outcome = NOISE
    numbers = (f"{each}; advantage {_stats_text(mean, lo, hi, d.size, unit)}; margin {_fmt(margin)}{unit}")
    return _emit(claim, outcome, numbers, margin=margin, mean=mean, low=lo, high=hi,
                 per_seed=d.tolist())


def same(claim, a, b, margin, *, names=("A", "B"), unit=""):
    """Claim: a and b (paired per seed) are within `margin` of each other."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired per-seed values needed, got shapes {a.shape} and {b.shape}")
    d = a - b
    each = f"{names[0]} {_fmt(float(np.mean(a)))} vs {names[1]} {_fmt(float(np.mean(b)))}"
    if _record["quick"] or d.size < 2:
        return _emit(claim, SMOKE, f"{each}; {d.size} seed(s)", margin=margin, per_seed=d.tolist())
    mean, lo, hi = interval(d)
    if -margin < lo and hi < margin:
        outcome = HELD
    elif lo >= margin or hi <= -margin:
        outcome = NOT_HELD
    else:
        outcome = NOISE
    numbers = f"{each}; difference {_stats_text(mean, lo, hi, d.size, unit)}; margin ±{_fmt(margin)}{unit}"
    return _emit(claim, outcome, numbers, margin=margin, mean=mean, low=lo, high=hi,
                 per_seed=d.tolist())


def above(claim, values, threshold, *, unit=""):
    """Claim: the measured number (one per seed) is above threshold."""
    x = np.asarray(values, dtype=np.float64)
    if _record["quick"] or x.size < 2:
        return _emit(claim, SMOKE, f"{_fmt(float(np.mean(x)))}{unit}; {x.size} seed(s)",
                     margin=threshold, per_seed=x.tolist())
    mean, lo, hi = interval(x)
    outcome = HELD if lo > threshold else NOT_HELD if hi < threshold else NOISE
    numbers = f"{_stats_text(mean, lo, hi, x.size, unit)}; threshold {_fmt(threshold)}{unit}"
    return _emit(claim, outcome, numbers, margin=threshold, mean=mean, low=lo, high=hi,
                 per_seed=x.tolist())


def below(claim, values, threshold, *, unit=""):
    """Claim: the measured number (one per seed) is below threshold."""
    x = np.asarray(values, dtype=np.float64)
    if _record["quick"] or x.size < 2:
        return _emit(claim, SMOKE, f"{_fmt(float(np.mean(x)))}{unit}; {x.size} seed(s)",
                     margin=threshold, per_seed=x.tolist())
    mean, lo, hi = interval(x)
    outcome = HELD if hi < threshold else NOT_HELD if lo > threshold else NOISE
    numbers = f"{_stats_text(mean, lo, hi, x.size, unit)}; threshold {_fmt(threshold)}{unit}"
    return _emit(claim, outcome, numbers, margin=threshold, mean=mean, low=lo, high=hi,
                 per_seed=x.tolist())


def exact(claim, ok, numbers):
    """An identity or a deterministic fact: 'held (exact)' or 'did not hold', in every run."""
    return _emit(claim, "held (exact)" if ok else NOT_HELD, numbers)


def note(text):
    """A finding that is not a verdict (a caveat, what a number means): printed and kept."""
    return _emit(text, "note", "")
