import numpy as np
import pytest
import torch
from PIL import Image

from minigen import data, plotting


def test_grid_array_places_images():
    x = torch.zeros(5, 1, 28, 28)
    x[3] = 1.0
    canvas = plotting.grid_array(x, nrow=3, pad=2)
    assert canvas.shape == (2 * 30 + 2, 3 * 30 + 2)
    # image 3 is row 1, column 0
    assert canvas[32:60, 2:30].min() == 1.0
    assert canvas[2:30, 2:30].max() == 0.0


def test_save_image_grid_writes_png(tmp_path):
    path = plotting.save_image_grid(torch.rand(8, 1, 28, 28), tmp_path / "g.png", nrow=4, scale=1)
    img = Image.open(path)
    assert img.size == (4 * 30 + 2, 2 * 30 + 2)


def test_figures_build():
    fig = plotting.image_grid(torch.rand(4, 1, 28, 28), title="t")
    assert fig.axes[0].get_title() == "t"
    fig = plotting.plot_history({"step": [0, 1, 2], "loss": [3.0, 2.0, 1.0]})
    line = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), [3.0, 2.0, 1.0])
    ring = data.ring8()
    fig = plotting.scatter_2d(ring.sample(100), mixture=ring)
    assert len(fig.axes[0].collections) >= 2


def test_plot_errors():
    with pytest.raises(KeyError, match="has no"):
        plotting.plot_history({"loss": [1.0]}, keys=["acc"])
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        plotting.scatter_2d(torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plotting.image_grid(torch.full((2, 1, 28, 28), 3.0))
