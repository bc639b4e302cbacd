"""Plots with matplotlib (the optional `plot` extra); every function returns False, after saying
how to get plots, when matplotlib is missing."""
import numpy as np

HINT = "plots need matplotlib: pip install 'minigrad[plot]'"


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        return None


def smooth(values, window):
    """Running mean over `window` steps (shorter at the start)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2 or window <= 1:
        return values
    window = min(window, len(values))
    kernel = np.ones(window) / window
    head = np.cumsum(values[:window - 1]) / np.arange(1, window)
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


def _figure(size):
    """(plt, fig, ax), or None after printing how to get plots."""
    plt = _pyplot()
    if plt is None:
        print(HINT)
        return None
    fig, ax = plt.subplots(figsize=size, dpi=110)
    return plt, fig, ax


def _save(plt, fig, ax, path, title, grid=True, legend_kw=None):
    ax.set_title(title)
    if grid:
        ax.grid(alpha=0.3)
    ax.legend(**(legend_kw or {}))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def loss_curves(curves, path, title, log_y=False):
    """curves: {label: per-step losses}. One PNG with every curve, smoothed."""
    made = _figure((8, 5))
    if made is None:
        return False
    plt, fig, ax = made
    for label, losses in curves.items():
        window = max(1, len(losses) // 100)
        ax.plot(np.arange(1, len(losses) + 1), smooth(losses, window), label=label, lw=1.4)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss" + (" (log scale)" if log_y else ""))
    if log_y:
        ax.set_yscale("log")
    return _save(plt, fig, ax, path, title)


def trajectories(fn, paths, path, title, bounds=((-2, 2), (-1, 3)), minimum=(1.0, 1.0)):
    """paths: {label: (steps, 2) points}, drawn over a log-spaced contour plot of fn(x, y)."""
    made = _figure((8, 6))
    if made is None:
        return False
    plt, fig, ax = made
    (x0, x1), (y0, y1) = bounds
    X, Y = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    Z = fn(X, Y)
    ax.contour(X, Y, Z, levels=np.logspace(-1, 3.5, 20), cmap="Greys", linewidths=0.6)
    for label, pts in paths.items():
        pts = np.asarray(pts)
        ax.plot(pts[:, 0], pts[:, 1], lw=1.4, label=label)
    ax.plot(*minimum, "k*", ms=12, label="minimum")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    return _save(plt, fig, ax, path, title, grid=False, legend_kw={"loc": "lower right", "fontsize": 8})


def lr_sweep(results, path, title):
    """results: {optimizer: [(lr, final loss), ...]}."""
    made = _figure((7, 5))
    if made is None:
        return False
    plt, fig, ax = made
    for name, points in results.items():
        lrs, losses = zip(*points)
        ax.plot(lrs, losses, "o-", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("final validation loss")
    return _save(plt, fig, ax, path, title)


def panels(nrows, ncols, size):
    """(plt, fig, axes as a flat list) for a figure of small multiples, or None after printing
    how to get plots."""
    plt = _pyplot()
    if plt is None:
        print(HINT)
        return None
    fig, axes = plt.subplots(nrows, ncols, figsize=size, dpi=100, squeeze=False)
    return plt, fig, list(axes.flat)


def save_panels(plt, fig, path, title):
    """Title the figure (the claim it shows), lay it out and write it; returns True."""
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.93 if fig.legends else 1))  # room for a figure legend
    fig.savefig(path)
    plt.close(fig)
    return True
