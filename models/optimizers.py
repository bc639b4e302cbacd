"""The optimizers the command line knows, by name, with a recommended learning rate each."""
import optim

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
}
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
