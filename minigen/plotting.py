"""Figures the chapters share: image grids, training curves, 2-D samples with density contours.

Every function returns a matplotlib ``Figure`` (and draws into ``ax`` when one is given), so a
notebook can show it and a script can save it. :func:`save_image_grid` writes a PNG with Pillow,
without matplotlib, for the command line.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from minigen.utils import check_images

__all__ = ["grid_array", "image_grid", "save_image_grid", "plot_history", "scatter_2d"]


def _figure_and_axes(ax, figsize):
    """``(figure, axes)``: a new figure of ``figsize`` inches, or the one ``ax`` belongs to."""
    import matplotlib.pyplot as plt

    if ax is None:
        return plt.subplots(figsize=figsize)
    return ax.figure, ax


def grid_array(images, nrow: int | None = None, pad: int = 2, pad_value: float = 0.5) -> np.ndarray:
    """Tile a batch ``(B, C, H, W)`` in [0, 1] into one ``(rows*H', cols*W')`` (or RGB) array."""
    images = check_images(images, "images", channels=None, size=None).detach().float().cpu()
    b, c, h, w = images.shape
    if b == 0:
        raise ValueError("images is empty: nothing to draw.")
    if c not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {c}.")
    ncol = nrow or math.ceil(math.sqrt(b))
    nrows = math.ceil(b / ncol)
    canvas = np.full((c, nrows * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, np.float32)
    for i, img in enumerate(images.numpy()):
        r, q = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        canvas[:, y:y + h, x:x + w] = img
    return canvas[0] if c == 1 else canvas.transpose(1, 2, 0)


def image_grid(images, nrow: int | None = None, *, title: str | None = None, ax=None,
               size: float = 0.45):
    """Show a batch of images as a grid; returns the matplotlib ``Figure``.

    ``nrow`` is the number of images per row (default: a square grid); ``size`` is the width in
    inches of one image when a new figure is made.
    """
    import matplotlib.pyplot as plt

    canvas = grid_array(images, nrow)
    if ax is None:
        per = canvas.shape[1] / (28 + 2)
        fig, ax = plt.subplots(figsize=(max(2.0, per * size), max(2.0, per * size * canvas.shape[0] / canvas.shape[1])))
    else:
        fig = ax.figure
    ax.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def save_image_grid(images, path, nrow: int | None = None, scale: int = 2) -> Path:
    """Write a grid of images in [0, 1] to a PNG file with Pillow; returns the path."""
    from PIL import Image

    canvas = grid_array(images, nrow)
    pixels = np.clip(np.rint(canvas * 255), 0, 255).astype(np.uint8)
    img = Image.fromarray(pixels)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def plot_history(history: dict, keys=None, *, ax=None, smooth: int = 1, title: str | None = None):
    """Plot training curves from a history ``{name: [numbers]}``; returns the ``Figure``.

    ``keys`` picks the curves (default: all but ``"step"`` and ``"time"``); the x axis is
    ``history["step"]`` when present. ``smooth`` > 1 applies a running mean of that width.
    """
    if not isinstance(history, dict) or not history:
        raise ValueError("history must be a non-empty dict of lists, as returned by a training loop.")
    keys = list(keys) if keys is not None else [k for k in history if k not in ("step", "time")]
    missing = [k for k in keys if k not in history]
    if missing:
        raise KeyError(f"history has no {missing}; it has {sorted(history)}.")
    fig, ax = _figure_and_axes(ax, (6, 3.5))
    for k in keys:
        y = np.asarray(history[k], dtype=float)
        x = np.asarray(history.get("step", range(len(y))), dtype=float)[: len(y)]
        if smooth > 1 and len(y) >= smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
            x = x[smooth - 1:]
        ax.plot(x, y, label=k)
    ax.set_xlabel("step" if "step" in history else "record")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def scatter_2d(samples, *, mixture=None, ax=None, title: str | None = None,
               lim: float | None = None, color: str = "tab:orange"):
    """Scatter 2-D samples ``(n, 2)``, over the contours of a known density when given.

    ``mixture`` is a :class:`minigen.data.GaussianMixture2D` (or anything with ``log_prob``).
    """
    pts = torch.as_tensor(samples).detach().float().cpu()
    if pts.dim() != 2 or pts.shape[1] != 2:
        raise ValueError(f"samples must have shape (n, 2), got {tuple(pts.shape)}.")
    fig, ax = _figure_and_axes(ax, (4, 4))
    if lim is None:
        ref = mixture.means.abs().max().item() + 1.0 if mixture is not None else pts.abs().max().item()
        lim = max(1.0, float(ref) * 1.1)
    if mixture is not None:
        # Contours of log p at the 1, 2 and 3 standard-deviation circles of each component: a
        # Gaussian's log density drops by k^2/2 at k standard deviations from its mean.
        g = torch.linspace(-lim, lim, 400, dtype=torch.float64)
        gx, gy = torch.meshgrid(g, g, indexing="xy")
        logp = mixture.log_prob(torch.stack([gx.flatten(), gy.flatten()], 1)).reshape(400, 400)
        top = logp.max().item()
        levels = [top - 4.5, top - 2.0, top - 0.5]
        ax.contour(gx.numpy(), gy.numpy(), logp.numpy(), levels=levels, cmap="Blues",
                   linewidths=0.8, zorder=3)
    ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.5, color=color)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return fig
