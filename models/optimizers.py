"""The optimizers the command line knows, by name, with a recommended learning rate each."""
import optim
from minigrad.function import enable_grad

# name: (constructor, recommended lr for neural networks, what it is)
OPTIMIZERS = {
    "sgd": (lambda ps, lr: optim.SGD(ps, lr=lr), 0.1, "SGD"),
    "momentum": (lambda ps, lr: optim.SGD(ps, lr=lr, momentum=0.9), 0.03, "SGD, momentum 0.9"),
    "nesterov": (lambda ps, lr: optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True), 0.03, "SGD, Nesterov 0.9"),
    "adagrad": (lambda ps, lr: optim.Adagrad(ps, lr=lr), 0.03, "Adagrad"),
    "adadelta": (lambda ps, lr: optim.Adadelta(ps, lr=lr), 1.0, "Adadelta"),
    "rmsprop": (lambda ps, lr: optim.RMSprop(ps, lr=lr), 1e-3, "RMSprop"),
    "adam": (lambda ps, lr: optim.Adam(ps, lr=lr), 1e-3, "Adam"),
    "adamw": (lambda ps, lr: optim.AdamW(ps, lr=lr, weight_decay=1e-2), 1e-3, "AdamW, decay 1e-2"),
    "amsgrad": (lambda ps, lr: optim.AMSGrad(ps, lr=lr), 1e-3, "AMSGrad"),
    "adamax": (lambda ps, lr: optim.Adamax(ps, lr=lr), 2e-3, "Adamax"),
    "nadam": (lambda ps, lr: optim.NAdam(ps, lr=lr), 2e-3, "NAdam"),
    "radam": (lambda ps, lr: optim.RAdam(ps, lr=lr), 1e-3, "RAdam"),
    "adafactor": (lambda ps, lr: optim.Adafactor(ps, lr=lr), 1e-2, "Adafactor"),
    "adabelief": (lambda ps, lr: optim.AdaBelief(ps, lr=lr), 1e-3, "AdaBelief"),
    "lion": (lambda ps, lr: optim.Lion(ps, lr=lr), 3e-4, "Lion"),
    "lamb": (lambda ps, lr: optim.LAMB(ps, lr=lr), 1e-2, "LAMB"),
    "yogi": (lambda ps, lr: optim.Yogi(ps, lr=lr), 1e-2, "Yogi"),
    "asgd": (lambda ps, lr: optim.ASGD(ps, lr=lr), 0.1, "ASGD (evaluated at θ, not at its average)"),
    "muon": (lambda ps, lr: muon_with_adamw(ps, lr), 1e-3,
             "Muon (match_rms_adamw) for 2-D weights, AdamW for the rest, one lr, decay 1e-2"),
    "schedulefree": (lambda ps, lr: optim.ScheduleFreeAdamW(ps, lr=lr), 3e-3,
                     "schedule-free AdamW, no schedule"),
    "prodigy": (lambda ps, lr: optim.Prodigy(ps, lr=lr), 1.0, "Prodigy (Adam, lr found), no schedule"),
    "adahessian": (lambda ps, lr: optim.AdaHessian(ps, lr=lr), 0.1,
                   "AdaHessian (Hutchinson's Hessian diagonal every step)"),
    "sophia": (lambda ps, lr: optim.Sophia(ps, lr=lr, p=1.0), 3e-3,
               "Sophia (Hutchinson's Hessian diagonal every 10 steps), clip p = 1"),
}
# optimizers that set their own step size: trained without the --schedule (it would fight theirs)
OWN_SCHEDULE = {"schedulefree", "prodigy"}
# optimizers that estimate the Hessian from the gradient's graph: the training loop calls
# loss.backward(create_graph=True) for them, which records the backward pass (and then they
# differentiate it once more, a Hessian-vector product: docs/comparisons.md measures the cost)
SECOND_ORDER = {"adahessian", "sophia"}
DEFAULT_COMPARE = ["sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw", "radam", "nadam"]


def check_names(names, variants=()):
    """Optimizer names, each optionally with a '+variant' suffix that the task understands."""
    for n in names:
        base, plus, variant = n.partition("+")
        if base not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {n!r}; choose from {', '.join(OPTIMIZERS)}")
        if plus and variant not in variants:
            raise ValueError(f"unknown optimizer variant {n!r}" + (
                f"; this task knows +{', +'.join(variants)}" if variants else "; this task has none"))
    return names


def make_optimizer(name, params, lr):
    """The optimizer called `name` ('adam', 'momentum', ...; a '+variant' suffix is ignored)."""
    base = name.partition("+")[0]
    check_names([base])
    return OPTIMIZERS[base][0](params, lr)


def needs_graph(name):
    """Whether the optimizer called `name` reads the gradient's graph (SECOND_ORDER)."""
    return name.partition("+")[0] in SECOND_ORDER


def schedule_for(name, schedule):
    """The schedule an optimizer runs with: 'none' for those in OWN_SCHEDULE, else `schedule`."""
    return "none" if name.partition("+")[0] in OWN_SCHEDULE else schedule


def muon_with_adamw(params, lr, weight_decay=1e-2):
    """torch's recommended practice as one optimizer: Muon for the 2-D parameters (weight
    matrices, embedding tables included), AdamW for the rest (biases, norms). Muon's
    adjust_lr_fn="match_rms_adamw" scales its update to AdamW's RMS, so one lr serves both."""
    params = [p for item in params for p in (item["params"] if isinstance(item, dict) else [item])]
    matrices = [p for p in params if p.ndim == 2]
    others = [p for p in params if p.ndim != 2]
    parts = []
    if matrices:
        parts.append(optim.Muon(matrices, lr=lr, weight_decay=weight_decay,
                                adjust_lr_fn="match_rms_adamw"))
    if others:
        parts.append(optim.AdamW(others, lr=lr, weight_decay=weight_decay))
    return Combined(parts)


class Combined(optim.Optimizer):
    """Several optimizers that step, zero, save and load as one: param_groups are theirs, in
    order (the same dicts: a schedule that sets group["lr"] reaches every part), and the
    state_dict numbers the parameters of all parts in that order, in torch's layout."""

    def __init__(self, parts):
        if not parts:
            raise ValueError("Combined needs at least one optimizer")
        self.parts, self.defaults = list(parts), {}

    @property
    def param_groups(self):
        return [g for part in self.parts for g in part.param_groups]

    @property
    def state(self):
        return {p: s for part in self.parts for p, s in part.state.items()}

    def zero_grad(self, set_to_none=True):
        for part in self.parts:
            part.zero_grad(set_to_none)

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for part in self.parts:
            part.step()
        return loss

    def state_dict(self):
        out, offset = {"state": {}, "param_groups": []}, 0
        for part in self.parts:
            sd = part.state_dict()
            out["state"].update({i + offset: s for i, s in sd["state"].items()})
            for g in sd["param_groups"]:
                out["param_groups"].append({**g, "params": [i + offset for i in g["params"]]})
            offset += sum(len(g["params"]) for g in part.param_groups)
        return out

    def load_state_dict(self, state_dict):
        """Split a state dict (from state_dict()) between the parts; its layout is checked as
        an optimizer checks it, and a part that refuses its share puts every part back as it
        was (the old objects, not a reload of them, which a part could refuse)."""
        groups = list(optim.Optimizer._saved_groups(self, state_dict))
        state = state_dict["state"]
        shares, start, first = [], 0, 0  # each part's groups name its own indices, as state_dict()
        for part in self.parts:
            mine = groups[first:first + len(part.param_groups)]
            n = sum(len(g["params"]) for g in part.param_groups)
            outside = [i for g in mine for i in g["params"] if not start <= i < start + n]
            if outside:
                raise ValueError(f"loaded param groups {first}..{first + len(mine) - 1} name "
                                 f"parameter indices {sorted(outside)}, expected {start}..{start + n - 1}")
            shares.append((part, mine, start, n))
            first, start = first + len(mine), start + n
        before = [(part.state, list(part.param_groups)) for part in self.parts]
        try:
            for part, mine, offset, n in shares:
                part.load_state_dict({
                    "state": {i - offset: s for i, s in state.items() if offset <= i < offset + n},
                    "param_groups": [{**g, "params": [i - offset for i in g["params"]]} for g in mine]})
        except Exception:
            for part, (old_state, old_groups) in zip(self.parts, before):  # a failed load changes nothing
                part.state = old_state
                part.param_groups[:] = old_groups
            raise
