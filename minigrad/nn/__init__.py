"""Modules, layers and functional forms, with torch.nn's names."""
from . import functional, init
from .layers import (GELU, BatchNorm1d, Dropout, Embedding, Flatten, Linear, ReLU, Sequential,
                     Sigmoid, Tanh)
from .module import Module, Parameter

__all__ = ["Module", "Parameter", "Linear", "Embedding", "BatchNorm1d", "Dropout", "ReLU",
           "Tanh", "Sigmoid", "GELU", "Flatten", "Sequential", "functional", "init"]
