"""Bad input to minigen.utils and minigen.checks: every case asserts the message (what was
wrong, what was expected, what to do), and the error class (minigen's own, a ValueError)."""
import numpy as np
import pytest
import torch

from minigen import checks, utils
from minigen.checks import DeviceError, InputError, InputTypeError

X = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))

# (bad images, error class, the words of the message that say what was wrong and what to do)
BAD_IMAGES = {
    "list": ([[0.5]], InputTypeError, r"torch\.Tensor or a NumPy array.*torch\.tensor"),
    "string array": (np.array([["a"]]), InputTypeError, r"must hold numbers"),
    "None": (None, InputTypeError, r"must be a torch\.Tensor or a NumPy array, got NoneType"),
    "no channel axis": (X[:, 0], InputError, r"shape \(B, C, H, W\).*unsqueeze\(1\)"),
    "flat rows": (X.flatten(1), InputError, r"x\.view\(-1, 1, 28, 28\)"),
    "5-D": (X[None], InputError, r"must have shape \(B, C, H, W\), got \(1, 3, 1, 28, 28\)"),
    "RGB": (X.expand(3, 3, 28, 28), InputError, r"1 channel\(s\).*x\.mean\(1, keepdim=True\)"),
    "32x32": (torch.rand(2, 1, 32, 32), InputError, r"28x28 images.*interpolate\(x, size=28\)"),
    "uint8": ((X * 255).to(torch.uint8), InputTypeError, r"floating point.*torch\.uint8.*x\.float\(\) / 255"),
    "int64": (X.long(), InputTypeError, r"floating point.*torch\.int64.*x\.float\(\)"),
    "bool": (X > 0.5, InputTypeError, r"torch\.bool.*x\.float\(\)"),
    "complex": (X.to(torch.complex64), InputTypeError, r"complex64.*real part"),
    "0..255": (X * 255, InputError, r"values in \[0, 1\], got \[.*divide them by 255"),
    "-1..1": (X * 2 - 1, InputError, r"values in \[0, 1\].*\(x \+ 1\) / 2"),
    "slightly above 1": (X * 1.2, InputError, r"values in \[0, 1\].*clamp\(0, 1\)"),
    "NaN": (X.clone().index_fill_(0, torch.tensor([1]), float("nan")), InputError,
            r"NaN or infinite values \(in 1 of 3 images\): NaN in the data.*isfinite"),
    "inf": (X.clone().fill_(float("inf")), InputError, r"NaN or infinite values \(in 3 of 3 images\)"),
    "empty": (torch.zeros(0, 1, 28, 28), InputError, r"is empty \(shape \(0, 1, 28, 28\)\): pass at least one image"),
}


@pytest.mark.parametrize("name", BAD_IMAGES)
def test_check_images_says_what_was_wrong_and_what_to_do(name):
    bad, error, match = BAD_IMAGES[name]
    with pytest.raises(error, match=match):
        checks.check_images(bad, "x")
    with pytest.raises(ValueError):  # minigen's errors stay ValueErrors for existing callers
        checks.check_images(bad, "x")


def test_utils_check_images_is_the_one_check():
    assert utils.check_images is checks.check_images
    with pytest.raises(InputError, match=r"^my images must have values"):
        utils.check_images(X * 255, "my images")


@pytest.mark.parametrize("array", [X.numpy(), X.double().numpy(), X.numpy()[::-1],
                                   np.broadcast_to(X.numpy()[:1], (3, 1, 28, 28))],
                         ids=["float32", "float64", "negative strides", "read-only"])
def test_numpy_images_are_converted_without_warnings(array, recwarn):
    out = checks.check_images(array, "x", dtype=torch.float32)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    torch.testing.assert_close(out, torch.from_numpy(np.array(array, dtype=np.float32)))
    assert not recwarn.list  # no "non-writable array" warning from torch


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_float_images_convert_only_when_asked(dtype):
    x = X.to(dtype)
    assert checks.check_images(x) is x
    assert checks.check_images(x, dtype=torch.float32).dtype == torch.float32


def test_the_range_is_checked_before_the_conversion():
    with pytest.raises(InputError, match="values in"):
        checks.check_images((X * 255).double(), dtype=torch.float32)


# --------------------------------------------------------------------------------------------
# Labels, counts, numbers, generators, paths
# --------------------------------------------------------------------------------------------
LABELS = torch.tensor([0, 3, 9])
BAD_LABELS = {
    "list": ([0, 1], InputTypeError, r"torch\.Tensor of int64 classes, got list.*torch\.tensor"),
    "float": (LABELS.float(), InputTypeError, r"integer classes \(int64\), got dtype torch\.float32.*\.long\(\)"),
    "bool": (LABELS > 2, InputTypeError, r"integer classes \(int64\), got dtype torch\.bool"),
    "column": (LABELS[:, None], InputError, r"must be 1-D.*\(3, 1\).*flatten\(\)"),
    "too many": (torch.tensor([0, 1, 2, 3]), InputError, r"4 labels for 3 images"),
    "10": (torch.tensor([0, 1, 10]), InputError, r"classes in 0\.\.9, got values from 0 to 10"),
    "-1": (torch.tensor([-1, 1, 2]), InputError, r"classes in 0\.\.9, got values from -1 to 2"),
}


@pytest.mark.parametrize("name", BAD_LABELS)
def test_check_labels_messages(name):
    bad, error, match = BAD_LABELS[name]
    with pytest.raises(error, match=match):
        checks.check_labels(bad, 3)


@pytest.mark.parametrize("labels", [LABELS.int(), LABELS.to(torch.uint8), LABELS.numpy().astype(np.int32)],
                         ids=["int32", "uint8", "numpy int32"])
def test_integer_labels_are_converted_to_int64(labels):
    out = checks.check_labels(labels, 3)
    assert out.dtype == torch.int64 and torch.equal(out, LABELS)


@pytest.mark.parametrize("bad, error, match", [
    (0, InputError, r"^n must be a whole number >= 1, got 0\.$"),
    (-5, InputError, r"^n must be a whole number >= 1, got -5\.$"),
    (2.0, InputTypeError, r"got 2\.0 \(float\)\. Pass n=2\.$"),
    (2.5, InputTypeError, r"got 2\.5 \(float\)\.$"),
    (True, InputTypeError, r"got True \(bool\)"),
    ("3", InputTypeError, r"got '3' \(str\)"),
    (None, InputTypeError, r"got None \(NoneType\)"),
    (float("nan"), InputTypeError, r"got nan"),
])
def test_check_count(bad, error, match):
    with pytest.raises(error, match=match):
        checks.check_count(bad, "n")


def test_check_count_accepts_numpy_ints():
    assert checks.check_count(np.int64(3), "n") == 3 and type(checks.check_count(np.int64(3), "n")) is int


@pytest.mark.parametrize("bad, match", [(float("nan"), "got nan"), (float("inf"), "got inf"), (0.0, r"> 0, got 0\.0"),
                                        (-1, r"> 0, got -1\.0"), (True, r"real number, got True")])
def test_check_real(bad, match):
    with pytest.raises(InputError, match=match):
        checks.check_real(bad, "std", above=0)


@pytest.mark.parametrize("bad, match", [(0, r"torch\.Generator\(\)\.manual_seed\(0\)"), ("g", r"got str\.$"),
                                        (np.random.default_rng(0), r"got Generator")])
def test_check_generator_says_how_to_seed_one(bad, match):
    with pytest.raises(InputTypeError, match=match):
        checks.check_generator(bad)


@pytest.mark.parametrize("bad, error, match", [(None, InputTypeError, "str or pathlib.Path"),
                                               (3, InputTypeError, "got int"), ("", InputError, "empty string")])
def test_check_path(bad, error, match):
    with pytest.raises(error, match=match):
        checks.check_path(bad)


# --------------------------------------------------------------------------------------------
# Devices: one message wherever a device is taken
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, extra", [("gpu", r"For a GPU pass 'cuda' \(NVIDIA\) or 'mps'"), ("GPU", "For a GPU"),
                                        ("tpu", ""), ("", ""), ("cuda:-1", ""),
                                        ("xla", "does not support device type 'xla'"),
                                        (0, r"\(int\)"), (["cpu"], r"\(list\)"), (1.5, r"\(float\)")],
                         ids=["gpu", "GPU", "tpu", "empty", "cuda:-1", "xla", "int", "list", "float"])
def test_unknown_devices_list_what_is_accepted(bad, extra):
    with pytest.raises(DeviceError, match=r"Unknown device") as err:
        utils.get_device(bad)
    message = str(err.value)
    assert "'cpu', 'cuda', 'cuda:N'" in message and "'mps'" in message and "None" in message
    assert "20" not in message and "privateuseone" not in message  # not torch's list of device types
    if extra:
        assert err.match(extra)
    assert isinstance(err.value, ValueError) and isinstance(err.value, RuntimeError)


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the message when CUDA is missing")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_missing_cuda_says_so_and_what_to_do(name):
    with pytest.raises(DeviceError, match=r"sees no CUDA GPU on this machine.*Change runtime type.*device=None"):
        utils.get_device(name)


@pytest.mark.skipif(utils._mps_available(), reason="tests the message when MPS is missing")
def test_missing_mps_says_so_and_what_to_do():
    with pytest.raises(DeviceError, match=r"Metal backend is not available on this machine.*Pass device=None or 'cpu'"):
        utils.get_device("mps")


def test_good_devices_still_work():
    assert utils.get_device("cpu") == torch.device("cpu") == utils.get_device(torch.device("cpu"))


@pytest.mark.parametrize("bad, error", [(-1, InputError), (2**32, InputError), (1.0, InputTypeError),
                                        (True, InputTypeError), ("1", InputTypeError)])
def test_seed_everything_refuses_with_the_range(bad, error):
    with pytest.raises(error, match=r"seed must be a whole number in \[0, 2\*\*32\)"):
        utils.seed_everything(bad)


def test_progress_refuses_a_number_in_place_of_an_iterable():
    with pytest.raises(InputTypeError, match=r"iterable must be iterable \(a list, a range, a loader\), got "
                                             r"int\. To count 5 steps, pass progress\(range\(5\)\) or "
                                             r"progress\(total=5\)\."):
        utils.progress(5)
    assert list(utils.progress(range(3), quiet=True)) == [0, 1, 2]


@pytest.mark.parametrize("value, kwargs, error, match", [
    (1.5, {"minimum": -2**62}, InputTypeError, r"^k must be a whole number, got 1\.5 \(float\)\.$"),
    (1.5, {"minimum": None}, InputTypeError, r"^k must be a whole number, got 1\.5 \(float\)\.$"),
    (11, {"maximum": 10}, InputError, r"^k must be at most 10, got 11\.$"),
    (0, {"maximum": 10}, InputError, r"^k must be a whole number >= 1, got 0\.$"),
], ids=["huge negative minimum", "no minimum", "above maximum", "below minimum"])
def test_check_count_messages(value, kwargs, error, match):
    with pytest.raises(error, match=match):
        checks.check_count(value, "k", **kwargs)
    assert checks.check_count(-5, "k", minimum=None) == -5 and checks.check_count(10, "k", maximum=10) == 10
