"""Figures the chapters share: image grids, training curves, 2-D samples with density contours.

Every function returns a matplotlib ``Figure`` (and draws into ``ax`` when one is given), so a
notebook can show it and a script can save it. :func:`save_image_grid` writes a PNG with Pillow,
without matplotlib, for the command line. Images are checked as everywhere in minigen
(:func:`minigen.checks.check_images`: at least one image, finite, in [0, 1]; a NumPy array is
converted), here with any number of pixels and 1 or 3 channels.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from minigen.checks import (
    InputError,
    InputTypeError,
    PathError,
    check_count,
    check_images,
    check_path,
    check_points,
    check_real,
)

__all__ = ["grid_array", "image_grid", "save_image_grid", "plot_history", "scatter_2d",
           "MAX_GRID_PIXELS"]

# The largest grid (height x width, in pixels, after ``scale``) that grid_array and
# save_image_grid make: 64 million pixels (256 MB as float32, 768 MB in RGB). A 100 x 100 grid of
# 28-pixel digits is 9 million; a larger request is a mistaken ``nrow``, ``pad`` or ``scale``,
# refused before any memory is taken.
MAX_GRID_PIXELS = 64_000_000


def _figure_and_axes(ax, figsize):
    """``(figure, axes)``: a new figure of ``figsize`` inches, or the one ``ax`` belongs to."""
    import matplotlib.pyplot as plt

    _check_axes(ax)
    if ax is None:
        return plt.subplots(figsize=figsize)
    return ax.figure, ax


def grid_array(images, nrow: int | None = None, pad: int = 2, pad_value: float = 0.5) -> np.ndarray:
    """Tile a batch ``(B, C, H, W)`` in [0, 1] into one ``(rows*H', cols*W')`` (or RGB) array.

    ``nrow`` (images per row) >= 1 or ``None`` (a square grid), ``pad`` >= 0 pixels of
    ``pad_value`` in [0, 1] between the images.
    """
    images = check_images(images, "images", channels=None, size=None).detach().float().cpu()
    b, c, h, w = images.shape
    if c not in (1, 3):
        raise InputError(f"images must have 1 or 3 channels, got {c}.")
    nrow = check_count(nrow, "nrow") if nrow is not None else None
    pad = check_count(pad, "pad", minimum=0)
    pad_value = check_real(pad_value, "pad_value", minimum=0, maximum=1)
    ncol = nrow or math.ceil(math.sqrt(b))
    nrows = math.ceil(b / ncol)
    _check_grid_size(nrows * (h + pad) + pad, ncol * (w + pad) + pad,
                     f"{b} images of {h}x{w} with nrow={ncol} and pad={pad}")
    canvas = np.full((c, nrows * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, np.float32)
    for i, img in enumerate(images.numpy()):
        r, q = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        canvas[:, y:y + h, x:x + w] = img
    return canvas[0] if c == 1 else canvas.transpose(1, 2, 0)


class MissingCurveError(InputError, KeyError):
    """A curve asked of :func:`plot_history` that the history does not hold: minigen's
    :class:`~minigen.checks.InputError`, and a ``KeyError`` as before."""

    __str__ = BaseException.__str__  # the message as written, not quoted as KeyError does


def _check_grid_size(height: int, width: int, what: str) -> None:
    """Refuse a grid of more than :data:`MAX_GRID_PIXELS` pixels before it is allocated."""
    if height * width > MAX_GRID_PIXELS:
        raise InputError(f"the grid would be {height:,} x {width:,} pixels ({what}), more than "
                         f"MAX_GRID_PIXELS = {MAX_GRID_PIXELS:,}. Pass a smaller nrow (at most the "
                         "number of images), pad or scale, or fewer images.")


def _check_axes(ax) -> None:
    """``None`` or a matplotlib ``Axes`` (e.g. from ``plt.subplots()``)."""
    from matplotlib.axes import Axes

    if ax is not None and not isinstance(ax, Axes):
        raise InputTypeError(f"ax must be a matplotlib Axes (e.g. `fig, ax = plt.subplots()`) or "
                             f"None, got {type(ax).__name__}.")


def image_grid(images, nrow: int | None = None, *, title: str | None = None, ax=None,
               size: float = 0.45):
    """Show a batch of images as a grid; returns the matplotlib ``Figure``.

    ``nrow`` is the number of images per row (default: a square grid); ``size`` is the width in
    inches of one image when a new figure is made (> 0).
    """
    import matplotlib.pyplot as plt

    size = check_real(size, "size", above=0)
    _check_axes(ax)
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
    """Write a grid of images in [0, 1] to a PNG file with Pillow; returns the path.

    ``path`` must end in an image extension Pillow knows (``.png``; ``.jpg`` ... also work);
    missing parent folders are made. ``scale`` >= 1 enlarges each pixel. A path that cannot be
    written raises :class:`minigen.checks.PathError` naming it.
    """
    from PIL import Image

    path, scale = check_path(path), check_count(scale, "scale")
    if path.is_dir():
        raise PathError(f"{path} is a folder: pass the path of a file, e.g. {path / 'grid.png'}.")
    if path.suffix.lower() not in Image.registered_extensions():
        Image.init()  # loads every plugin, then knows every extension
    if path.suffix.lower() not in Image.registered_extensions():
        raise InputError(f"path must end in an image extension such as .png, got {str(path)!r}.")
    canvas = grid_array(images, nrow)
    _check_grid_size(canvas.shape[0] * scale, canvas.shape[1] * scale,
                     f"a {canvas.shape[0]:,} x {canvas.shape[1]:,} grid with scale={scale}")
    pixels = np.clip(np.rint(canvas * 255), 0, 255).astype(np.uint8)
    img = Image.fromarray(pixels)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path)
    except OSError as exc:
        raise PathError(f"could not write {path}: {exc.strerror or exc}. Choose a path in a "
                        "folder you can write to.") from None
    return path


def plot_history(history: dict, keys=None, *, ax=None, smooth: int = 1, title: str | None = None):
    """Plot training curves from a history ``{name: [numbers]}``; returns the ``Figure``.

    ``keys`` picks the curves (default: all but ``"step"`` and ``"time"``); the x axis is
    ``history["step"]`` when present. ``smooth`` > 1 applies a running mean of that width.
    Every curve must hold numbers, as many as ``history["step"]``.
    """
    if not isinstance(history, dict) or not history:
        raise InputError("history must be a non-empty dict of lists, as returned by a training loop.")
    keys = [keys] if isinstance(keys, str) else list(keys) if keys is not None \
        else [k for k in history if k not in ("step", "time")]
    missing = [k for k in keys if k not in history]
    if missing:
        raise MissingCurveError(f"history has no {missing}; it has {sorted(history)}. Pass keys "
                                "from those, or keys=None for every curve.")
    if not keys:
        raise InputError(f"history has no curve to plot: it has only {sorted(history)}.")
    smooth = check_count(smooth, "smooth")
    curves = {}
    for k in ["step", *keys] if "step" in history else keys:
        try:
            curves[k] = np.asarray(history[k], dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise InputError(f"history[{k!r}] must be a list of numbers.") from None
    for k in keys:
        if "step" in curves and len(curves[k]) != len(curves["step"]):
            raise InputError(f"history[{k!r}] has {len(curves[k])} values but history['step'] has "
                             f"{len(curves['step'])}: pass a history as a training loop returns it.")
    for k in keys:
        if len(curves[k]) and not np.isfinite(curves[k]).any():
            raise InputError(f"history[{k!r}] holds no finite value (all {len(curves[k])} are NaN "
                             "or infinite): there is no curve to draw. Check the run that made it "
                             "(did it diverge?), or leave this key out with keys=[...].")
    fig, ax = _figure_and_axes(ax, (6, 3.5))
    for k in keys:
        y = curves[k]
        x = curves.get("step", np.arange(len(y), dtype=float))
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

    ``mixture`` is a :class:`minigen.data.GaussianMixture2D` (or anything with ``means``,
    ``std`` and ``log_prob``). ``samples``: at least one finite point (a NumPy array is
    converted); ``lim`` > 0 or ``None`` (from the data).
    """
    pts = check_points(samples, "samples").detach().float().cpu()
    if mixture is not None and not (hasattr(mixture, "log_prob") and hasattr(mixture, "means")):
        raise InputTypeError(f"mixture must be a GaussianMixture2D such as minigen.data.ring8(), "
                             f"got {type(mixture).__name__}.")
    if lim is not None:
        lim = check_real(lim, "lim", above=0)
    from matplotlib.colors import is_color_like

    if not is_color_like(color):
        raise InputError(f"color must be a matplotlib colour such as 'tab:orange', 'red' or "
                         f"'#1f77b4', got {color!r}.")
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
    ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.5, color=color, zorder=4)  # above the contours
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return fig
