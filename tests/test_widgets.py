"""The precomputed sliders of minigen.widgets: one frame per combination, in the right order,
inside valid, self-contained HTML (no script element, no widget manager)."""
import base64
import io
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from PIL import Image

from minigen import widgets


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.stack = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in ("img", "input"):  # void elements
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def _parse(text):
    parser = _Collect()
    parser.feed(text)
    parser.close()
    assert parser.stack == [], f"unclosed elements: {parser.stack}"
    return parser.tags


def _render(a, b):
    # frame (a, b): a 4 x 4 image whose pixel (0, 0) encodes a and pixel (0, 1) encodes b
    img = torch.zeros(4, 4)
    img[0, 0], img[0, 1] = a / 10, b / 10
    return img


def test_one_frame_per_combination_in_product_order():
    s = widgets.slider(_render, {"a": [1, 2, 3], "b": [4, 5]})
    assert len(s.frames) == 6 and s.shape == [3, 2]
    for k, (a, b) in enumerate([(1, 4), (1, 5), (2, 4), (2, 5), (3, 4), (3, 5)]):
        pixels = np.asarray(Image.open(io.BytesIO(s.frames[k])))
        assert pixels.shape == (4, 4)
        assert (pixels[0, 0], pixels[0, 1]) == (round(a * 25.5), round(b * 25.5))
        assert s.index([[1, 2, 3].index(a), [4, 5].index(b)]) == k


def test_html_is_valid_and_self_contained():
    s = widgets.slider(_render, {"a": [1, 2, 3], "b": [4, 5]}, start={"a": 2, "b": 5},
                       alt="test frames")
    text = s._repr_html_()
    tags = _parse(text)
    assert tags[0][0] == "div" and tags[0][1]["class"] == "minigen-slider"
    assert tags[0][1]["data-shape"] == "3,2"
    inputs = [a for t, a in tags if t == "input"]
    assert [i["type"] for i in inputs] == ["range", "range"]
    assert [(i["min"], i["max"], i["value"]) for i in inputs] == [("0", "2", "1"), ("0", "1", "1")]
    assert all("minigen-slider-frame" in i["oninput"] for i in inputs)
    frames = [a for t, a in tags if t == "img"]
    assert [f["data-index"] for f in frames] == [str(k) for k in range(6)]
    shown = [f for f in frames if "display:block" in f["style"]]
    assert len(shown) == 1 and shown[0]["data-index"] == "3"  # (a=2, b=5) is frame 1 * 2 + 1
    assert shown[0]["alt"] == "test frames (a = 2, b = 5)"
    assert "width:16px" in shown[0]["style"]  # 4 x 4 pixels shown 4 times larger
    for f in frames:
        assert f["src"].startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(f["src"].split(",", 1)[1]))).verify()
    assert "<script" not in text and "require" not in text.lower()


def test_float_labels_and_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def render(t):
        fig, ax = plt.subplots(figsize=(1, 1))
        ax.set_title(f"{t}")
        return fig

    before = len(plt.get_fignums())
    s = widgets.slider(render, {"t": np.linspace(0, 1, 3)})
    assert s.labels == [["+0.0", "+0.5", "+1.0"]] and len(s.frames) == 3
    assert len(plt.get_fignums()) == before  # every figure closed
    assert s.start == [1]
    # a start value equal up to rounding (linspace's "0.0" may be 1e-8) is found
    t = widgets.slider(lambda v: torch.zeros(2, 2), {"v": torch.linspace(-2.4, 2.4, 7).tolist()},
                       start={"v": 0.0})
    assert t.start == [3]


def test_mistakes_are_reported():
    with pytest.raises(ValueError, match="at least one value"):
        widgets.slider(_render, {"a": [], "b": [1]})
    with pytest.raises(ValueError, match="not among the values"):
        widgets.slider(_render, {"a": [1, 2], "b": [1]}, start={"a": 7})
    with pytest.raises(ValueError, match="do not exist"):
        widgets.slider(_render, {"a": [1, 2], "b": [1]}, start={"c": 1})
    with pytest.raises(ValueError, match="expected"):
        widgets.png_bytes(np.zeros(3))
