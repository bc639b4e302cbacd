"""Optimizers, learning-rate schedules and gradient clipping, PyTorch-exact where PyTorch has
the same thing. One algorithm per file; each docstring gives the equations."""
from . import functional, lr_scheduler
from .adabelief import AdaBelief
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import AMSGrad, Adam
from .adamax import Adamax
from .adamw import AdamW
from .asgd import ASGD
from .clip import clip_grad_norm_, clip_grad_value_, grad_norm
from .executor.listing import show as show  # what each form of a rule runs (re-exported)
from .explain import Explanation, explain, snapshot
from .groups import param_groups
from .lamb import LAMB
from .lion import Lion
from .lr_find import LRFinderResult, lr_find  # the function shadows its module's name, as in torch
from .monitor import Finding, TrainingMonitor
from .muon import Muon
from .nadam import NAdam
from .optimizer import Optimizer
from .prodigy import Prodigy
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .schedulefree import ScheduleFreeAdamW
from .sgd import SGD
from .sparse_adam import SparseAdam
from .yogi import Yogi
from .zero import ZeroRedundancyOptimizer

__all__ = ["Optimizer", "SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "AMSGrad",
           "Adamax", "NAdam", "RAdam", "Rprop", "Adafactor", "AdaBelief", "Lion", "LAMB", "Yogi", "SparseAdam",
           "ASGD", "Muon", "ScheduleFreeAdamW", "Prodigy", "ZeroRedundancyOptimizer",
           "functional", "lr_scheduler", "clip_grad_norm_", "clip_grad_value_", "grad_norm", "param_groups",
           "explain", "snapshot", "Explanation", "TrainingMonitor", "Finding", "lr_find",
           "LRFinderResult"]
