"""Toy models, bundled data, training loops and the command line."""
