"""The learning-rate and weight-decay sweeps that lr-sensitivity and hyperparameters share.

Both experiments train the same two small models with the same four optimizers on the same
seeds, and read one number from each run: the final validation loss. A run is decided by its
key (task, optimizer, learning rate, weight decay, seed, quick), so a run made for one experiment
is the same run the other would make: `final_losses` keeps every result it computed in this
process and computes only the missing ones (`minigrad experiment --all` runs both in one process,
so the second reuses the first's runs; run alone, each makes its own, with the same numbers).

Learning rates sit on a grid of quarter-decades: q stands for lr = 10^(q/4), so 0.01 is q = -8
and 1e-3 is q = -12; an integer key keeps the two experiments' rates bit-identical.

The tasks, small enough for hundreds of runs on two cores:

    digits   MLP 64-32-10 (ReLU, no normalisation) on the 8x8 digits: 1,258 training images,
             batches of 32, 500 steps (about 13 passes); validation: all 269 images
    names    character MLP (5 previous characters, embeddings of 8, 64 hidden units with batch
             norm, tanh) on the surnames: batches of 64, 1,000 steps (64,000 of 556,575
             examples: short of convergence); validation: a fixed 5,000 of its 69,534
             characters
"""
import math

import numpy as np

import minigrad as mg
import optim
from models.char_mlp import CharMLP
from models.mlp import MLP
from models.tasks import DigitsTask, NamesTask

from . import parallel
from .common import fit, val_loss

OPTIMIZERS = ("SGD", "SGD+momentum", "Adam", "AdamW")
USES = (optim.SGD, optim.Adam, optim.AdamW)  # the classes OPTIMIZERS construct
TASKS = ("digits", "names")
# task: (steps, batch size, validation examples, classes) in a full run; a quick run trains QUICK_STEPS
SETUP = {"digits": (500, 32, 269, 10), "names": (1000, 64, 5000, 27)}
QUICK_STEPS, QUICK_VAL = 30, 1000

_data = {}
_done = {}  # key -> final validation loss, for every run made in this process


def task(name):
    """The task's data (loaded once per process; forked workers share it)."""
    if name not in _data:
        _data[name] = DigitsTask() if name == "digits" else NamesTask()
    return _data[name]


def chance(name):
    """The validation loss of a uniform prediction, ln K (nats): where an untrained model starts."""
    return math.log(SETUP[name][3])


def build(name, seed):
    mg.manual_seed(seed)
    if name == "digits":
        return MLP([64, 32, 10], activation="relu")
    return CharMLP(block_size=NamesTask.block_size, n_embd=8, n_hidden=64)


def make(opt, params, lr, wd):
    """One of OPTIMIZERS; wd is L2 for SGD and Adam (added to the gradient), decoupled for AdamW."""
    if opt == "SGD":
        return optim.SGD(params, lr=lr, weight_decay=wd)
    if opt == "SGD+momentum":
        return optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
    if opt == "Adam":
        return optim.Adam(params, lr=lr, weight_decay=wd)
    if opt == "AdamW":
        return optim.AdamW(params, lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer {opt!r}; choose from {', '.join(OPTIMIZERS)}")


def lr_of(q):
    """The learning rate of grid point q: 10^(q/4)."""
    return 10.0 ** (q / 4)


def steps_of(name, quick):
    return QUICK_STEPS if quick else SETUP[name][0]


def one(name, opt, q, wd, seed, quick):
    """Train one run; its final validation loss (inf when it diverged). Seed s: the same
    initialisation and the same batches for every optimizer and rate."""
    _, batch, n_val, _ = SETUP[name]
    t = task(name)
    model = build(name, seed)
    with np.errstate(all="ignore"):  # a diverging rate is a result here, not a warning
        fit(t, model, make(opt, model.parameters(), lr_of(q), wd), steps_of(name, quick), batch, seed=seed)
        loss = val_loss(t, model, QUICK_VAL if quick else n_val)
    return loss if math.isfinite(loss) else math.inf


def canonical(key):
    """The key of the run that key stands for: AdamW without decay is Adam, step for step (the
    decoupled decay θ(1 - lr·0) changes nothing; a test checks the two runs are equal)."""
    name, opt, q, wd, seed, quick = key
    return (name, "Adam", q, wd, seed, quick) if opt == "AdamW" and wd == 0 else key


def final_losses(keys):
    """{key: final validation loss} for keys (task, opt, q, wd, seed, quick), computing (in
    parallel) only those not made before in this process."""
    keys = list(dict.fromkeys(keys))
    missing = list(dict.fromkeys(canonical(k) for k in keys if canonical(k) not in _done))
    for name in {k[0] for k in missing}:
        task(name)  # load before forking, so the workers share it
    for k, loss in zip(missing, parallel.map(one, missing)):
        _done[k] = loss
    return {k: _done[canonical(k)] for k in keys}


def good_range(losses, qs, tolerance):
    """The learning rates whose losses are within tolerance of the best: (i_low, i_high, width),
    the grid indices of the contiguous run of such points around the best, and its width in
    decades, (q_high - q_low)/4 + 1/4 (each grid point stands for a quarter of a decade, so one
    good point alone is 0.25 decades wide)."""
    losses = np.asarray(losses, dtype=np.float64)
    best = int(np.argmin(losses))
    limit = losses[best] + tolerance
    lo = hi = best
    while lo > 0 and losses[lo - 1] <= limit:
        lo -= 1
    while hi < len(losses) - 1 and losses[hi + 1] <= limit:
        hi += 1
    return lo, hi, (qs[hi] - qs[lo]) / 4 + 0.25
