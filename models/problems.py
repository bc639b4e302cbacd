"""Test functions for optimizer studies, written with the engine so gradients come from autograd."""
import numpy as np

import minigrad as mg
import minigrad.nn as nn
import minigrad.nn.functional as F


def rosenbrock(p):
    """(1 - x)² + 100 (y - x²)²: a curved valley, minimum 0 at (1, 1)."""
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def beale(p):
    """(1.5 - x + xy)² + (2.25 - x + xy²)² + (2.625 - x + xy³)²: minimum 0 at (3, 0.5)."""
    x, y = p[0], p[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2 + (2.625 - x + x * y ** 3) ** 2


QUADRATIC_SCALES = np.logspace(0, 3, 10)  # curvatures from 1 to 1000: condition number 1000


def quadratic(p):
    """½ Σ a_i x_i² with a_i from 1 to 1000: badly conditioned, minimum 0 at 0."""
    a = mg.tensor(QUADRATIC_SCALES.astype(p.dtype), device=p.device)
    return 0.5 * (a * p * p).sum()


class Point(nn.Module):
    """A point in parameter space: the 'model' of a test function."""

    def __init__(self, start, dtype=np.float64):
        self.xy = nn.Parameter(np.array(start, dtype=dtype))


def make_sparse_logistic(seed=0, n=4000, d=500):
    """Binary classification from sparse binary features whose frequencies fall off as a power
    law: a few features appear in most examples, most appear in under 1% of them. The true
    weights are as large on rare features as on common ones, so an optimizer that gives rare
    features bigger steps (AdaGrad) learns them faster."""
    rng = np.random.default_rng(seed)
    freq = 0.5 * (np.arange(1, d + 1) ** -0.9)                # feature k appears with this probability
    X = (rng.random((n, d)) < freq).astype(np.float32)
    w = rng.standard_normal(d).astype(np.float32) * 2.0
    logits = X @ w - np.median(X @ w)
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.float32)
    return X, y


class LogisticRegression(nn.Module):
    """One linear unit: the logit of a binary class."""

    def __init__(self, d, dtype=None):
        self.linear = nn.Linear(d, 1, dtype=dtype)

    def forward(self, x):
        return self.linear(x).reshape(-1)


def logistic_loss(model, X, y):
    """Mean binary cross entropy of the model on (X, y)."""
    return F.binary_cross_entropy_with_logits(model(X), y)


def make_bag_of_words(seed=0, n=20000, vocab=200_000, length=20):
    """Documents of `length` tokens from a Zipf-like vocabulary of `vocab` words (a few words in
    most documents, most words almost never), labelled by the sign of a hidden score per word:
    the large-vocabulary case where a batch touches a tiny fraction of the embedding table."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1) ** 1.05
    tokens = rng.choice(vocab, size=(n, length), p=p / p.sum())
    score = rng.standard_normal(vocab)
    doc = score[tokens].mean(axis=1)
    y = (doc + 0.1 * rng.standard_normal(n) > np.median(doc)).astype(np.int64)
    return tokens.astype(np.int64), y


class EmbeddingBag(nn.Module):
    """Mean of a document's word embeddings, then a linear classifier."""

    def __init__(self, vocab, dim, classes, sparse, dtype=None):
        self.emb = nn.Embedding(vocab, dim, sparse=sparse, dtype=dtype)
        self.out = nn.Linear(dim, classes, dtype=dtype)

    def forward(self, tokens):
        return self.out(self.emb(tokens).mean(axis=1))
