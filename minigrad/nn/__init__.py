"""Modules, layers and functional forms, with torch.nn's names."""
from . import functional, init
from .attention import CausalSelfAttention
from .layers import (
    GELU,
    BatchNorm1d,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    Linear,
    ModuleList,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from .module import Module, Parameter

__all__ = ["Module", "Parameter", "Linear", "Embedding", "BatchNorm1d", "LayerNorm", "Dropout",
           "ReLU", "Tanh", "Sigmoid", "GELU", "Flatten", "Sequential", "ModuleList",
           "CausalSelfAttention", "functional", "init"]
