"""Tasks: a model, its data, its loss and its metrics, behind one interface the training loop
and the comparison use.

    task.build(seed) -> Module            task.batch(rng) -> a batch on task.device
    task.loss(model, batch) -> Tensor     task.evaluate(model) -> {metric: value}
"""
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
import optim
from minigrad import backend, tracer

from . import problems
from .char_mlp import CharMLP
from .digits import load_digits
from .gpt import GPT
from .mlp import MLP
from .names import STOI, build_dataset, load_names, split


class Task:
    """Base class: defaults for the command line, and the interface in the module docstring."""

    name = ""
    kind = "nn"          # "nn": data in batches; "function": a test function of a point
    steps = 1000
    batch_size = 32
    optimizer = "adamw"
    schedule = "warmup-cosine"
    target_loss = None   # for "steps to reach" in comparisons
    lr_overrides = {}    # recommended learning rates that differ from optimizers.OPTIMIZERS'
    variants = ()        # optimizer-name suffixes this task understands ("adam+dense")
    default_optimizers = None  # for compare, when --optimizers is not given

    def __init__(self, device="cpu", seed=0):
        self.device, self.seed = device, seed

    def lr_for(self, opt_name):
        from .optimizers import OPTIMIZERS
        base = opt_name.partition("+")[0]
        return self.lr_overrides.get(opt_name, self.lr_overrides.get(base, OPTIMIZERS[base][1]))

    def check_batch_size(self, batch_size):
        """ValueError unless batch_size is at most the training set's size (a larger batch
        would draw some examples twice in every step, silently). A test function has no data."""
        if self.kind != "nn":
            return
        n = len(self.train[0])
        if batch_size > n:
            raise ValueError(f"batch size {batch_size} (--batch-size) is larger than the {self.name} "
                             f"training set ({n} examples): choose at most {n}")

    def to_device(self, a):
        return backend.to_device(a, self.device)

    def batch(self, rng, batch_size):
        X, y = self.train
        ix = rng.integers(0, len(X), batch_size)
        return self.to_device(X[ix]), self.to_device(y[ix])

    def loss(self, model, batch):
        """Cross entropy of the model's logits on (inputs, class indices)."""
        return F.cross_entropy(model(batch[0]), batch[1])

    def classification_metrics(self, model, parts):
        """{part_loss, part_acc} for each (name, (X, y)) in parts, under no_grad."""
        out = {}
        with mg.no_grad():
            for part, (X, y) in parts:
                logits = model(self.to_device(X))
                out[f"{part}_loss"] = F.cross_entropy(logits, self.to_device(y)).item()
                out[f"{part}_acc"] = float((backend.to_numpy(logits.data).argmax(1) == y).mean())
        return out

    def optimizer_params(self, model):
        """What the optimizer is given: all parameters, in one group (a task may split them)."""
        return model.parameters()

    def report(self, model):
        return []


class DigitsTask(Task):
    """The 8x8 digits with an MLP (BatchNorm, dropout); accuracy on a fixed test split."""

    name, steps, batch_size, target_loss = "digits", 3000, 64, 0.1
    lr_overrides = {"sgd": 0.1, "momentum": 0.03, "adagrad": 0.03}

    def __init__(self, device="cpu", seed=0):
        super().__init__(device, seed)
        self.train, self.val, self.test = load_digits(seed=0)  # the split is fixed

    def build(self, seed, variant=""):
        mg.manual_seed(seed)
        return MLP([64, 256, 256, 10], activation="relu", batchnorm=True, dropout=0.1).to(self.device)

    def evaluate(self, model):
        model.eval()
        out = self.classification_metrics(
            model, (("train", self.train), ("val", self.val), ("test", self.test)))
        model.train()
        return out


class NamesTask(Task):
    """The character MLP on the bundled surnames (or first names); validation loss per character."""

    name, steps, batch_size, target_loss = "names", 30000, 96, 2.4
    lr_overrides = {"adamw": 3e-3, "adam": 3e-3}
    block_size, n_embd, n_hidden = 5, 24, 300

    def __init__(self, device="cpu", seed=0, data="surnames"):
        super().__init__(device, seed)
        self.data = data
        train_w, val_w, _ = split(load_names(data), seed=42)
        self.train = build_dataset(train_w, self.block_size)
        self.val = build_dataset(val_w, self.block_size)

    def build(self, seed, variant=""):
        mg.manual_seed(seed)
        return CharMLP(block_size=self.block_size, n_embd=self.n_embd, n_hidden=self.n_hidden).to(self.device)

    @mg.no_grad()
    def evaluate(self, model):
        model.eval()
        out = {}
        rng = np.random.default_rng(0)
        for part, (X, y) in (("train", self.train), ("val", self.val)):
            ix = rng.choice(len(X), min(len(X), 100_000), replace=False)  # a fixed subsample
            out[f"{part}_loss"] = F.cross_entropy(model(self.to_device(X[ix])), self.to_device(y[ix])).item()
        model.train()
        return out

    def report(self, model):
        return ["samples: " + ", ".join(model.sample(10, seed=self.seed))]


class NamesGPTTask(Task):
    """A small GPT on the bundled surnames, with the transformer recipe: AdamW (weight decay on
    the matrices only, through optim.param_groups), linear warmup then cosine decay.

    Same split and the same targets as the names task (every character of each name and the
    closing '.'), so the two validation losses per character compare directly; the GPT sees the
    whole name so far (up to block_size characters) where the CharMLP sees the last five.
    """

    name, steps, batch_size, target_loss = "names-gpt", 3000, 64, 2.4
    lr_overrides = {"adamw": 3e-3, "adam": 3e-3, "radam": 3e-3}
    block_size, n_layer, n_head, n_embd, weight_decay = 16, 3, 4, 64, 0.1

    def __init__(self, device="cpu", seed=0, data="surnames"):
        super().__init__(device, seed)
        self.data = data
        train_w, val_w, _ = split(load_names(data), seed=42)  # the names task's split
        self.train = self.encode(train_w, self.block_size)
        self.val = self.encode(val_w, self.block_size)

    @staticmethod
    def encode(words, block_size):
        """X (n, block_size): '.' then the name; Y: the name then '.', padded with -100 (the
        cross entropy's ignore_index); lengths (n,): the targets in each row."""
        X = np.zeros((len(words), block_size), np.int64)
        Y = np.full((len(words), block_size), -100, np.int64)
        lengths = np.zeros(len(words), np.int64)
        for i, w in enumerate(words):
            if len(w) + 1 > block_size:
                raise ValueError(f"the name {w!r} has {len(w)} characters; block_size {block_size} "
                                 f"holds at most {block_size - 1}")
            ix = [STOI[c] for c in w]
            X[i, 1:len(ix) + 1] = ix
            Y[i, :len(ix) + 1] = ix + [0]
            lengths[i] = len(ix) + 1
        return X, Y, lengths

    def build(self, seed, variant=""):
        mg.manual_seed(seed)
        return GPT(block_size=self.block_size, n_layer=self.n_layer, n_head=self.n_head,
                   n_embd=self.n_embd).to(self.device)

    def optimizer_params(self, model):
        """Decay the weight matrices and embeddings (as nanoGPT); not biases or LayerNorm weights."""
        return optim.param_groups(model, self.weight_decay)

    def batch(self, rng, batch_size):
        X, Y, lengths = self.train
        ix = rng.integers(0, len(X), batch_size)
        T = int(lengths[ix].max())  # no position past the longest name in the batch
        return self.to_device(X[ix, :T]), self.to_device(Y[ix, :T])

    def loss(self, model, batch):
        """Mean cross entropy per character (the padding is ignored)."""
        logits = model(batch[0])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[1].reshape(-1))

    @mg.no_grad()
    def evaluate(self, model, chunk=512):
        """Loss per character over every validation name, and over a fixed 4,000 training names."""
        model.eval()
        out = {}
        sub = np.random.default_rng(0).choice(len(self.train[0]), 4_000, replace=False)
        for part, (X, Y, lengths) in (("train", tuple(a[sub] for a in self.train)),
                                      ("val", self.val)):
            T = int(lengths.max())
            total = 0.0
            for i in range(0, len(X), chunk):
                logits = model(self.to_device(X[i:i + chunk, :T]))
                y = self.to_device(Y[i:i + chunk, :T])
                total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                         reduction="sum").item()
            out[f"{part}_loss"] = total / int(lengths.sum())
        model.train()
        return out

    def report(self, model):
        return ["samples: " + ", ".join(model.sample(10, seed=self.seed))]


class FunctionTask(Task):
    """Minimise a test function from a fixed start; the 'batch' is unused."""
    kind, batch_size, schedule = "function", 1, "none"
    trace = None  # a list to record the point at every step in, when set
    lr_overrides = {"sgd": 1e-3, "momentum": 1e-3, "nesterov": 1e-3, "adagrad": 0.1, "rmsprop": 1e-3,
                    "adam": 1e-2, "adamw": 1e-2, "amsgrad": 1e-2, "adamax": 1e-2, "nadam": 1e-2,
                    "radam": 1e-2, "adabelief": 1e-2, "lion": 1e-3, "lamb": 1e-2, "yogi": 1e-2,
                    "adafactor": 1e-2, "adadelta": 1.0}

    def build(self, seed, variant=""):
        mg.manual_seed(seed)  # the point is fixed; a randomized optimizer (Sophia's probes) is not
        return problems.Point(self.start).to(self.device)

    def batch(self, rng, batch_size):
        return None

    def loss(self, model, batch):
        if self.trace is not None:
            _record_point(self.trace, model.xy)
        return self.fn(model.xy)

    @mg.no_grad()
    def evaluate(self, model):
        return {"train_loss": self.fn(model.xy).item(), "point": backend.to_numpy(model.xy.data).tolist()}


@tracer.replayed  # outside the graph: a compiled step (mg.compile) records the point again
def _record_point(trace, xy):
    trace.append(backend.to_numpy(xy.data).copy())


class RosenbrockTask(FunctionTask):
    """Rosenbrock from (-1, 1), the seed example."""

    name, steps, optimizer, target_loss, start = "rosenbrock", 5000, "adam", 1e-2, (-1.0, 1.0)
    fn = staticmethod(problems.rosenbrock)


class BealeTask(FunctionTask):
    """Beale's function from (1, 1.5)."""

    name, steps, optimizer, target_loss, start = "beale", 3000, "adam", 1e-3, (1.0, 1.5)
    fn = staticmethod(problems.beale)


class QuadraticTask(FunctionTask):
    """A quadratic with curvatures from 1 to 1000, from all ones."""

    name, steps, optimizer, target_loss = "quadratic", 2000, "adam", 1e-3
    start = tuple(np.ones(len(problems.QUADRATIC_SCALES)))
    fn = staticmethod(problems.quadratic)
    lr_overrides = {**FunctionTask.lr_overrides, "sgd": 1.5e-3, "momentum": 1e-4, "nesterov": 1e-4}


class SparseTask(Task):
    """Logistic regression on power-law sparse features (see problems.make_sparse_logistic)."""
    name, steps, batch_size, optimizer, schedule, target_loss = "sparse", 2000, 64, "adagrad", "none", 0.45
    lr_overrides = {"sgd": 0.5, "momentum": 0.05, "adagrad": 0.1, "rmsprop": 3e-3, "adam": 3e-3,
                    "adamw": 3e-3, "radam": 3e-3, "nadam": 3e-3}

    def __init__(self, device="cpu", seed=0):
        super().__init__(device, seed)
        X, y = problems.make_sparse_logistic(seed=0)
        n = int(0.8 * len(X))
        self.train, self.val = (X[:n], y[:n]), (X[n:], y[n:])

    def build(self, seed, variant=""):
        mg.manual_seed(seed)
        return problems.LogisticRegression(self.train[0].shape[1]).to(self.device)

    def loss(self, model, batch):
        return problems.logistic_loss(model, *batch)

    @mg.no_grad()
    def evaluate(self, model):
        out = {}
        for part, (X, y) in (("train", self.train), ("val", self.val)):
            z = model(self.to_device(X))
            out[f"{part}_loss"] = problems.logistic_loss(model, self.to_device(X), self.to_device(y)).item()
            out[f"{part}_acc"] = float(((backend.to_numpy(z.data) > 0) == (y > 0.5)).mean())
        return out


class SparseVocabTask(SparseTask):
    """The large-vocabulary variant of the sparse task: a bag-of-words classifier over 200K words
    whose embedding gets row-sparse gradients, so each step touches only the batch's words.
    Optimizer names take '+dense' for the same model with dense gradients: compare
    adagrad,adagrad+dense,adam,adam+dense to see loss and time side by side."""
    name, steps, batch_size, optimizer, schedule, target_loss = "sparse-vocab", 1500, 128, "adagrad", "none", 0.6
    variants = ("dense",)
    default_optimizers = ["adagrad", "adagrad+dense", "adam", "adam+dense"]
    lr_overrides = {"adagrad": 0.3, "adam": 1e-2, "adamw": 1e-2, "sgd": 1.0, "rmsprop": 1e-2}

    def __init__(self, device="cpu", seed=0):
        Task.__init__(self, device, seed)
        X, y = problems.make_bag_of_words(seed=0)
        n = int(0.8 * len(X))
        self.train, self.val = (X[:n], y[:n]), (X[n:], y[n:])

    def build(self, seed, variant=""):
        mg.manual_seed(seed)
        return problems.EmbeddingBag(200_000, 16, 2, sparse=variant != "dense").to(self.device)

    def loss(self, model, batch):
        return Task.loss(self, model, batch)  # cross entropy, not SparseTask's logistic loss

    def evaluate(self, model):
        return self.classification_metrics(model, (("train", self.train), ("val", self.val)))


TASKS = {t.name: t for t in (NamesTask, NamesGPTTask, DigitsTask, RosenbrockTask, BealeTask, QuadraticTask,
                             SparseTask, SparseVocabTask)}


def make_task(name, device="cpu", seed=0, **kw):
    """The task called `name`, with its data loaded."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    return TASKS[name](device=device, seed=seed, **kw)
