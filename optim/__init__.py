"""Optimizers, learning-rate schedules and gradient clipping, PyTorch-exact where PyTorch has
the same thing.

The layout says what is algorithm and what is not:

    optim/<name>.py      one algorithm per file, declared once: sgd.py, adam.py, ... (the docstring
                         gives the equations; the class declares hyperparameters, state, scalars, rule)
    optim/optimizer.py   the one generic owner that runs every declaration (groups, steps, state_dict)
    optim/checks.py      the hyperparameter checks declarations are written with
    optim/common.py      the pieces several rules share (weight decay, bias corrections)
    optim/functional.py  every declaration on raw arrays
    optim/lr_scheduler.py the schedules (torch's names and semantics)
    optim/executor/      the machinery that runs a rule: tracing, NumPy chunks, Numba loops, CUDA
    optim/tools/         the tools around optimizers: explain, monitor, lr_find, clip, groups, ZeRO
"""
from . import functional, lr_scheduler
from .adabelief import AdaBelief
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adahessian import AdaHessian
from .adam import Adam, AMSGrad
from .adamax import Adamax
from .adamw import AdamW
from .asgd import ASGD
from .executor.listing import show
from .lamb import LAMB
from .lion import Lion
from .muon import Muon
from .nadam import NAdam
from .optimizer import Optimizer
from .prodigy import Prodigy
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .schedulefree import ScheduleFreeAdamW
from .sgd import SGD
from .sophia import Sophia
from .sophiag import SophiaG
from .sparse_adam import SparseAdam
from .tools.clip import clip_grad_norm_, clip_grad_value_, grad_norm
from .tools.explain import Explanation, explain, snapshot
from .tools.groups import param_groups
from .tools.lr_find import LRFinderResult, lr_find  # the function shadows its module's name, as in torch
from .tools.monitor import Finding, TrainingMonitor
from .tools.zero import ZeroRedundancyOptimizer
from .yogi import Yogi

__all__ = ["Optimizer", "SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "AMSGrad",
           "Adamax", "NAdam", "RAdam", "Rprop", "Adafactor", "AdaBelief", "Lion", "LAMB", "Yogi", "SparseAdam",
           "ASGD", "Muon", "ScheduleFreeAdamW", "Prodigy", "AdaHessian", "Sophia", "SophiaG",
           "ZeroRedundancyOptimizer",
           "functional", "lr_scheduler", "clip_grad_norm_", "clip_grad_value_", "grad_norm", "param_groups",
           "explain", "snapshot", "Explanation", "TrainingMonitor", "Finding", "lr_find",
           "LRFinderResult", "show"]
