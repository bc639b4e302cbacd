"""CharMLP: a character-level language model in the style of Bengio et al. (2003).

Embedding of the last `block_size` characters -> Linear -> BatchNorm1d -> tanh -> Linear to
logits over the alphabet, trained with cross entropy.
"""
import numpy as np

import minigrad as mg
import minigrad.nn as nn
from minigrad import backend

from .names import ALPHABET


class CharMLP(nn.Module):
    """Embedding of block_size characters -> Linear -> BatchNorm1d -> tanh -> Linear to 27 logits."""

    def __init__(self, vocab_size=27, block_size=3, n_embd=10, n_hidden=200, dtype=None):
        self.block_size = block_size
        self.emb = nn.Embedding(vocab_size, n_embd, dtype=dtype)
        self.fc1 = nn.Linear(block_size * n_embd, n_hidden, dtype=dtype)
        self.bn = nn.BatchNorm1d(n_hidden, dtype=dtype)
        self.fc2 = nn.Linear(n_hidden, vocab_size, dtype=dtype)
        with mg.no_grad():  # a less confident start: smaller output logits (makemore part 3)
            self.fc2.weight.data *= 0.1
            self.fc2.bias.data *= 0.0

    def forward(self, idx):
        h = self.emb(idx).reshape(len(idx), -1)
        return self.fc2(self.bn(self.fc1(h)).tanh())

    @mg.no_grad()
    def sample(self, n, seed=0, max_len=30):
        """n names drawn character by character from the model (in eval mode)."""
        was_training = self.training
        self.eval()
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(n):
            context, chars = [0] * self.block_size, []
            for _ in range(max_len):
                idx = backend.to_device(np.array([context]), self.emb.weight.device)
                probs = self(idx).softmax(axis=-1).numpy()[0].astype(np.float64)
                ix = int(rng.choice(len(probs), p=probs / probs.sum()))
                if ix == 0:
                    break
                chars.append(ALPHABET[ix])
                context = context[1:] + [ix]
            out.append("".join(chars))
        self.train(was_training)
        return out
