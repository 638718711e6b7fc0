"""Sliders that work without a kernel: every frame drawn in advance, shown as plain HTML.

:func:`slider` calls ``render`` once for every combination of the slider values and stores the
images as PNGs inside one small HTML snippet: an ``<input type="range">`` per slider, one
``<img>`` per frame, and a few lines of inline JavaScript (an ``oninput`` handler, no
``<script>`` element, no RequireJS, no widget manager) that shows the frame the sliders point
at. The same output works in Jupyter, in Colab and in the book's static HTML page.

The snippet's structure, for tests and style sheets::

    div.minigen-slider[data-shape="n1,n2,..."]
      label.minigen-slider-control            one per slider, in the order given
        span.minigen-slider-name              the slider's name
        input.minigen-slider-input[type=range, min=0, max=n-1, data-labels=JSON list]
        output.minigen-slider-value           the current value, as text
      img.minigen-slider-frame[data-index=k]  one per frame; all but the current one hidden

Frame ``k`` belongs to the slider positions ``(i1, i2, ...)`` with ``k = ((i1 * n2) + i2) ...``
(the last slider varies fastest), as :func:`itertools.product` orders them.
"""
from __future__ import annotations

import base64
import html
import io
import itertools
import json
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from minigen.plotting import grid_array

__all__ = ["FrameSlider", "slider", "png_bytes"]

# the handler every input runs: compute the frame index from all inputs, show that frame
_ONINPUT = (
    "var r=this.closest('.minigen-slider'),k=0;"
    "r.querySelectorAll('.minigen-slider-input').forEach(function(e){"
    "k=k*(+e.max+1)+(+e.value);"
    "e.parentNode.querySelector('.minigen-slider-value').textContent="
    "JSON.parse(e.dataset.labels)[+e.value];});"
    "r.querySelectorAll('.minigen-slider-frame').forEach(function(m){"
    "m.style.display=(+m.dataset.index===k)?'block':'none';});"
)


def png_bytes(image, scale: int = 1) -> bytes:
    """PNG of ``image``: a matplotlib ``Figure``, or values in [0, 1] shaped ``(H, W)``,
    ``(C, H, W)`` or a batch ``(B, C, H, W)`` (tiled with :func:`minigen.plotting.grid_array`).
    Arrays are enlarged ``scale`` times with nearest-neighbour pixels."""
    buffer = io.BytesIO()
    if hasattr(image, "savefig"):  # a matplotlib figure: save it and close it
        import matplotlib.pyplot as plt

        image.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        plt.close(image)
        return buffer.getvalue()
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().float().numpy()
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 4:
        array = grid_array(torch.from_numpy(array), nrow=len(array))
    elif array.ndim == 3:
        array = array[0] if array.shape[0] == 1 else np.moveaxis(array, 0, -1)
    if array.ndim not in (2, 3):
        raise ValueError(f"cannot make an image of an array shaped {array.shape}; expected "
                         "(H, W), (C, H, W) or (B, C, H, W)")
    pixels = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
    picture = Image.fromarray(pixels)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    picture.save(buffer, format="png")
    return buffer.getvalue()


class FrameSlider:
    """Precomputed frames and the sliders that choose among them; shows itself as HTML."""

    def __init__(self, names: Sequence[str], labels: Sequence[Sequence[str]],
                 frames: Sequence[bytes], start: Sequence[int], alt: str,
                 width: int | None = None):
        shape = [len(values) for values in labels]
        if len(frames) != int(np.prod(shape)):
            raise ValueError(f"{len(frames)} frames for sliders of sizes {shape}: expected "
                             f"{int(np.prod(shape))}, one per combination")
        self.names, self.labels, self.frames = list(names), [list(v) for v in labels], list(frames)
        self.shape, self.start, self.alt = shape, list(start), alt
        self.width = width  # the frames' width on the page in CSS pixels (None: as drawn)

    def index(self, positions: Sequence[int]) -> int:
        """The frame shown when the sliders stand at ``positions`` (last slider fastest)."""
        return int(np.ravel_multi_index(tuple(positions), self.shape))

    def to_html(self) -> str:
        current = self.index(self.start)
        parts = [f'<div class="minigen-slider" data-shape="{",".join(map(str, self.shape))}">']
        for name, labels, position in zip(self.names, self.labels, self.start):
            parts.append(
                '<label class="minigen-slider-control" style="display:block;margin:2px 0">'
                f'<span class="minigen-slider-name" style="display:inline-block;min-width:5em">'
                f'{html.escape(name)}</span> '
                f'<input class="minigen-slider-input" type="range" min="0" max="{len(labels) - 1}" '
                f'step="1" value="{position}" data-labels="{html.escape(json.dumps(labels))}" '
                f'aria-label="{html.escape(name)}" oninput="{html.escape(_ONINPUT)}"> '
                f'<output class="minigen-slider-value">{html.escape(labels[position])}</output>'
                "</label>")
        for k, frame in enumerate(self.frames):
            values = ", ".join(f"{n} = {lab[i]}" for n, lab, i in
                               zip(self.names, self.labels, np.unravel_index(k, self.shape)))
            display = "block" if k == current else "none"
            size = f"width:{self.width}px;" if self.width else ""
            data = base64.b64encode(frame).decode("ascii")
            parts.append(
                f'<img class="minigen-slider-frame" data-index="{k}" '
                f'alt="{html.escape(f"{self.alt} ({values})")}" '
                f'style="display:{display};{size}image-rendering:pixelated;max-width:100%" '
                f'src="data:image/png;base64,{data}">')
        parts.append("</div>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        sizes = " x ".join(f"{n} ({s})" for n, s in zip(self.names, self.shape))
        return f"<FrameSlider: {len(self.frames)} frames, sliders {sizes}>"


def slider(render: Callable[..., object], values: Mapping[str, Sequence], *,
           start: Mapping[str, object] | None = None, fmt: str = "{:+.1f}",
           alt: str = "frame", zoom: float = 4.0) -> FrameSlider:
    """Draw ``render(**point)`` for every combination of ``values`` and return the slider.

    ``values`` maps each keyword of ``render`` to the values its slider offers, e.g.
    ``{"z1": [-2, -1, 0, 1, 2], "z2": [-2, -1, 0, 1, 2]}`` (25 frames). ``render`` returns an
    image (see :func:`png_bytes`). ``start`` gives the values shown first (default: the middle
    of each list); ``fmt`` formats numbers (strings and integers are shown as they are);
    ``alt`` says what the frames show, for readers who cannot see them. Image arrays are
    stored at their own size and shown ``zoom`` times larger, with sharp pixels; figures are
    shown as drawn.
    """
    names = list(values)
    if not names or any(len(values[n]) == 0 for n in names):
        raise ValueError("every slider needs at least one value")
    start = dict(start or {})
    unknown = set(start) - set(names)
    if unknown:
        raise ValueError(f"start names sliders that do not exist: {sorted(unknown)}")

    def label(v):
        if isinstance(v, (str, int, np.integer)) and not isinstance(v, bool):
            return str(v)
        return fmt.format(float(v))

    labels = [[label(v) for v in values[n]] for n in names]
    positions = []
    for n in names:
        options = list(values[n])
        if n in start:
            if isinstance(start[n], str):
                matches = [i for i, v in enumerate(options) if v == start[n]]
            else:  # the nearest value, up to rounding (linspace rarely gives an exact 0.0)
                gaps = [abs(float(v) - float(start[n])) for v in options]
                tol = 1e-6 * max(1.0, *(abs(float(v)) for v in options))
                matches = [min(range(len(gaps)), key=gaps.__getitem__)] if min(gaps) <= tol else []
            if not matches:
                raise ValueError(f"start value {start[n]!r} is not among the values of {n!r}")
            positions.append(matches[0])
        else:
            positions.append(len(options) // 2)
    frames, width = [], None
    for point in itertools.product(*(values[n] for n in names)):
        image = render(**dict(zip(names, point)))
        frames.append(png_bytes(image))
        if width is None and not hasattr(image, "savefig"):
            width = round(Image.open(io.BytesIO(frames[-1])).width * zoom)
    return FrameSlider(names, labels, frames, positions, alt, width)
