"""MLP: Linear layers with an activation, optional BatchNorm1d and Dropout between them."""
import minigrad.nn as nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


class MLP(nn.Module):
    """MLP([64, 128, 10]): Linear(64, 128) -> [BatchNorm1d] -> act -> [Dropout] -> Linear(128, 10)."""

    def __init__(self, sizes, activation="relu", batchnorm=False, dropout=0.0, dtype=None):
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output size, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = i == len(sizes) - 2
            layers.append(nn.Linear(a, b, bias=last or not batchnorm, dtype=dtype))
            if not last:
                if batchnorm:
                    layers.append(nn.BatchNorm1d(b, dtype=dtype))
                layers.append(ACTIVATIONS[activation]())
                if dropout:
                    layers.append(nn.Dropout(dropout))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
