"""Primitive ops, one class each. See minigrad.function for the forward/backward protocol."""
from .arith import Add, Div, MatMul, Mul, Neg, Pow, PowScalar, RPowScalar, Sub
from .attention import ScaledDotProductAttention
from .layer_norm import LayerNorm
from .nn import BatchNorm, BinaryCrossEntropyWithLogits, CrossEntropy, Dropout, Embedding, Linear
from .primitives import BroadcastTo, Erf, IndexAdd, Where
from .reduce import Max, Mean, Min, Sum, Var
from .shape import Concatenate, GetItem, Reshape, Stack, ToDevice, Transpose
from .unary import GELU, Abs, Clip, Exp, Log, LogSoftmax, ReLU, Sigmoid, Softmax, Sqrt, Tanh

__all__ = [
    "Add", "Div", "MatMul", "Mul", "Neg", "Pow", "PowScalar", "RPowScalar", "Sub",
    "ScaledDotProductAttention", "LayerNorm",
    "BatchNorm", "BinaryCrossEntropyWithLogits", "CrossEntropy", "Dropout", "Embedding", "Linear",
    "Max", "Mean", "Min", "Sum", "Var",
    "Concatenate", "GetItem", "Reshape", "Stack", "ToDevice", "Transpose", "Where",
    "BroadcastTo", "Erf", "IndexAdd",
    "GELU", "Abs", "Clip", "Exp", "Log", "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Sqrt", "Tanh",
]
