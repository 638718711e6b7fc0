"""Bad input to minigen.plotting: images, grid settings, output paths, histories, 2-D samples.
Every case asserts the message."""
import os

import numpy as np
import pytest
import torch

from minigen import plotting as P
from minigen.checks import InputError, InputTypeError, PathError
from minigen.data import ring8

X = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))

ENTRIES = {
    "grid_array": lambda b, tmp: P.grid_array(b),
    "image_grid": lambda b, tmp: P.image_grid(b),
    "save_image_grid": lambda b, tmp: P.save_image_grid(b, tmp / "g.png"),
}
BAD = {
    "0..255": (X * 255, InputError, r"^images must have values in \[0, 1\].*divide them by 255"),
    "-1..1": (X * 2 - 1, InputError, r"\(x \+ 1\) / 2"),
    "NaN": (X.clone().fill_(float("nan")), InputError, r"NaN in the data"),
    "empty": (X[:0], InputError, r"^images is empty"),
    "uint8": ((X * 255).to(torch.uint8), InputTypeError, r"x\.float\(\) / 255"),
    "3-D": (X[:, 0], InputError, r"unsqueeze\(1\)"),
    "2 channels": (X.expand(4, 2, 28, 28), InputError, r"1 or 3 channels, got 2"),
    "list": (X.tolist(), InputTypeError, r"torch\.Tensor or a NumPy array"),
}


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("entry", ENTRIES)
def test_images(entry, bad, tmp_path):
    images, error, match = BAD[bad]
    with pytest.raises(error, match=match):
        ENTRIES[entry](images, tmp_path)
    assert not (tmp_path / "g.png").exists()


def test_numpy_float64_draws_the_same_grid():
    np.testing.assert_array_equal(P.grid_array(X.double().numpy()), P.grid_array(X))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"nrow": 0}, InputError, r"nrow must be a whole number >= 1, got 0"),
    ({"nrow": -2}, InputError, r"nrow must be a whole number >= 1"),
    ({"nrow": 2.0}, InputTypeError, r"Pass nrow=2"),
    ({"pad": -1}, InputError, r"pad must be a whole number >= 0"),
    ({"pad_value": 2.0}, InputError, r"pad_value must be a finite number >= 0 and <= 1"),
    ({"pad_value": float("nan")}, InputError, r"pad_value must be a finite number"),
])
def test_grid_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        P.grid_array(X, **kwargs)


def test_figure_size():
    with pytest.raises(InputError, match=r"size must be a finite number > 0"):
        P.image_grid(X, size=0)


@pytest.mark.parametrize("name, error, match", [
    ("grid.txt", InputError, r"path must end in an image extension such as \.png, got '.*grid\.txt'"),
    ("grid", InputError, r"image extension such as \.png"),
    (".", PathError, r"is a folder: pass the path of a file"),
])
def test_output_paths(name, error, match, tmp_path):
    with pytest.raises(error, match=match):
        P.save_image_grid(X, tmp_path / name)


@pytest.mark.parametrize("bad, error, match", [(None, InputTypeError, r"path must be a path \(str or pathlib\.Path\)"),
                                               ("", InputError, r"empty string"), (3, InputTypeError, r"got int")])
def test_path_types(bad, error, match):
    with pytest.raises(error, match=match):
        P.save_image_grid(X, bad)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_an_unwritable_folder_names_the_path(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PathError, match=r"could not write .*ro/g\.png.*folder you can write to"):
            P.save_image_grid(X, folder / "g.png")
    finally:
        folder.chmod(0o700)


def test_a_parent_that_is_a_file_names_the_path(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(PathError, match=r"could not write .*f/g\.png") as err:
        P.save_image_grid(X, tmp_path / "f" / "g.png")
    assert isinstance(err.value, OSError)


def test_scale():
    for bad, match in ((0, r"scale must be a whole number >= 1, got 0"), (1.5, r"scale must be a whole number")):
        with pytest.raises((InputError, InputTypeError), match=match):
            P.save_image_grid(X, "never-written.png", scale=bad)
    assert not os.path.exists("never-written.png")


@pytest.mark.parametrize("history, kwargs, error, match", [
    ({}, {}, InputError, r"history must be a non-empty dict"),
    ([1, 2], {}, InputError, r"history must be a non-empty dict"),
    ({"step": [1, 2]}, {}, InputError, r"history has no curve to plot"),
    ({"step": [1, 2], "loss": ["a", "b"]}, {}, InputError, r"history\['loss'\] must be a list of numbers"),
    ({"step": [1, 2], "loss": [1.0]}, {}, InputError, r"history\['loss'\] has 1 values but history\['step'\] has 2"),
    ({"step": [1, 2], "loss": [1.0, 2.0]}, {"smooth": 0}, InputError, r"smooth must be a whole number >= 1"),
    ({"step": [1, 2], "loss": [1.0, 2.0]}, {"keys": ["acc"]}, KeyError, r"history has no \['acc'\]"),
])
def test_plot_history(history, kwargs, error, match):
    with pytest.raises(error, match=match):
        P.plot_history(history, **kwargs)


def test_plot_history_takes_one_key_as_a_string():
    fig = P.plot_history({"step": [1, 2], "loss": [1.0, 2.0], "acc": [0.0, 1.0]}, keys="loss")
    assert [line.get_label() for line in fig.axes[0].lines] == ["loss"]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"samples": torch.zeros(0, 2)}, InputError, r"samples is empty"),
    ({"samples": torch.full((3, 2), float("nan"))}, InputError, r"samples contains NaN"),
    ({"samples": torch.zeros(3, 3)}, InputError, r"samples must have shape \(n, 2\), got \(3, 3\)"),
    ({"samples": torch.zeros(3, 2), "lim": -1}, InputError, r"lim must be a finite number > 0"),
    ({"samples": torch.zeros(3, 2), "mixture": 3}, InputTypeError, r"mixture must be a GaussianMixture2D"),
])
def test_scatter_2d(kwargs, error, match):
    with pytest.raises(error, match=match):
        P.scatter_2d(**kwargs)


def test_scatter_2d_takes_numpy_points():
    pts = ring8().sample(20, torch.Generator().manual_seed(0))
    assert P.scatter_2d(pts.double().numpy()).axes


# --------------------------------------------------------------------------------------------
# Issue 13, probe findings: grid size caps (a hang, a 109 TiB allocation), axes, colours, NaN
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{"nrow": 10**6}, {"nrow": 10**12}, {"pad": 10**6}],
                         ids=["nrow 1e6", "nrow 1e12", "pad 1e6"])
def test_grid_array_refuses_a_huge_grid_at_once(kwargs):
    with pytest.raises(InputError, match=r"the grid would be [\d,]+ x [\d,]+ pixels .*more than "
                                         r"MAX_GRID_PIXELS = 64,000,000\. Pass a smaller nrow"):
        P.grid_array(X, **kwargs)


def test_grid_array_just_under_the_cap_works():
    assert P.grid_array(X, nrow=4, pad=2).shape == (32, 122)  # nrow = the number of images


def test_save_image_grid_scale_cap(tmp_path):
    with pytest.raises(InputError, match=r"the grid would be [\d,]+ x [\d,]+ pixels \(a 32 x 32 grid "
                                         r"with scale=10000\)"):
        P.save_image_grid(X[:1], tmp_path / "g.png", scale=10000)
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("call", [
    lambda: P.image_grid(X, ax="x"),
    lambda: P.plot_history({"loss": [1.0, 2.0]}, ax=3),
    lambda: P.scatter_2d(torch.zeros(3, 2), ax="x"),
], ids=["image_grid", "plot_history", "scatter_2d"])
def test_ax_must_be_axes(call):
    with pytest.raises(InputTypeError, match=r"ax must be a matplotlib Axes \(e\.g\. `fig, ax = "
                                             r"plt\.subplots\(\)`\) or None, got"):
        call()


def test_scatter_2d_unknown_colour():
    with pytest.raises(InputError, match=r"color must be a matplotlib colour such as 'tab:orange'.*"
                                         r"got 'notacolor'"):
        P.scatter_2d(torch.zeros(3, 2), color="notacolor")


def test_plot_history_curve_without_a_finite_value():
    with pytest.raises(InputError, match=r"history\['a'\] holds no finite value \(all 5 are NaN or "
                                         r"infinite\): there is no curve to draw"):
        P.plot_history({"a": [float("nan")] * 5})
    fig = P.plot_history({"a": [float("nan"), 1.0]})  # one finite value: drawn
    assert len(fig.axes[0].lines) == 1


def test_plot_history_missing_key_is_minigens_error_and_still_a_key_error():
    with pytest.raises(InputError, match=r"^history has no \['zz'\]; it has \['loss', 'step'\]\. Pass keys") as info:
        P.plot_history({"step": [1, 2], "loss": [1.0, 2.0]}, keys=["zz"])
    assert isinstance(info.value, KeyError)
