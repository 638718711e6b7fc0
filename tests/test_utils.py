import random

import numpy as np
import pytest
import torch

from minigen.utils import check_images, get_device, seed_everything


def test_get_device_default_is_available():
    d = get_device()
    expected = "cuda" if torch.cuda.is_available() else d.type
    assert d.type == expected
    assert torch.zeros(1, device=d).device.type == d.type


def test_get_device_cpu_explicit():
    assert get_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the error when CUDA is missing")
def test_get_device_missing_cuda_says_what_to_do():
    with pytest.raises(RuntimeError, match="Change runtime type"):
        get_device("cuda")


def test_get_device_unknown():
    with pytest.raises(ValueError, match="Unknown device"):
        get_device("tpu-ish")


def test_seed_everything_repeats_all_generators():
    g1 = seed_everything(123)
    a = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g1).item())
    g2 = seed_everything(123)
    b = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g2).item())
    assert a == b
    seed_everything(124)
    assert random.random() != a[0]


@pytest.mark.parametrize("bad", [1.5, -1, 2**32, True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises((TypeError, ValueError)):
        seed_everything(bad)


def test_check_images_accepts_good_batch():
    x = torch.rand(3, 1, 28, 28)
    assert check_images(x) is x


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.zeros(3, 28, 28), "unsqueeze"),
        (torch.zeros(3, 3, 28, 28), "1 channel"),
        (torch.zeros(3, 1, 32, 32), "28x28"),
        (torch.zeros(3, 1, 28, 28, dtype=torch.uint8), "255"),
        (torch.full((3, 1, 28, 28), -1.0), r"\(x \+ 1\) / 2"),
        (torch.full((3, 1, 28, 28), float("nan")), "NaN"),
        ([1, 2, 3], "torch.Tensor"),
    ],
)
def test_check_images_explains_errors(x, match):
    with pytest.raises((TypeError, ValueError), match=match):
        check_images(x)
