"""Bad input to minigen.data: devices, splits, counts, labels, 2-D points, damaged and foreign
IDX files, images for thick_strokes. Every case asserts the message."""
import gzip

import numpy as np
import pytest
import torch

from minigen import data
from minigen.checks import DeviceError, InputError, InputTypeError, PathError

LABELS = torch.tensor([0, 0, 1, 1, 2, 2])


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the message when CUDA is missing")
@pytest.mark.parametrize("call", [
    lambda d: data.digits(device=d), lambda d: data.stroke_pairs(device=d),
    lambda d: data.stroke_domains(device=d), lambda d: data.mnist(device=d, root="/nonexistent"),
], ids=["digits", "stroke_pairs", "stroke_domains", "mnist"])
@pytest.mark.parametrize("device, match", [("cuda", "sees no CUDA GPU.*Change runtime type"),
                                           ("gpu", r"Unknown device 'gpu'.*'cpu', 'cuda'"),
                                           (0, r"Unknown device 0 \(int\)")])
def test_every_device_argument_goes_through_get_device(call, device, match):
    with pytest.raises(DeviceError, match=match):
        call(device)


@pytest.mark.parametrize("call, match", [
    (lambda: data.digits("val", device="cpu"), r"split must be 'train', 'validation', 'test' or 'all', got 'val'"),
    (lambda: data.mnist("all"), r"split must be 'train' or 'test', got 'all'"),
    (lambda: data.mnist(kind="emnist"), r"kind must be 'mnist' or 'fashion', got 'emnist'"),
    (lambda: data.mnist(download="yes"), r"download must be True or False, got 'yes'"),
    (lambda: data.stroke_domains(seed=-1, device="cpu"), r"seed must be in \[0, 2\*\*63\)"),
    (lambda: data.stroke_domains(seed=1.5, device="cpu"), r"seed must be an int"),
], ids=["digits split", "mnist split", "mnist kind", "mnist download", "seed -1", "seed float"])
def test_bad_choices(call, match):
    with pytest.raises((InputError, ValueError, TypeError), match=match):
        call()


@pytest.mark.parametrize("per_class, error, match", [
    (-1, InputError, r"per_class must be a whole number >= 1, got -1"),
    (0, InputError, r"per_class must be a whole number >= 1, got 0"),
    (1.5, InputTypeError, r"per_class must be a whole number >= 1, got 1\.5"),
    (3, InputError, r"class 0 has 2 examples, fewer than per_class=3: pass per_class <= 2"),
])
def test_per_class_indices_refuses_bad_counts(per_class, error, match):
    with pytest.raises(error, match=match):
        data.per_class_indices(LABELS, per_class)


@pytest.mark.parametrize("labels, error, match", [
    (LABELS.float(), InputTypeError, r"integer classes \(int64\)"),
    (torch.tensor([0, -1, 1]), InputError, r"classes in 0\.\.9, got values from -1"),
    (LABELS[:0], InputError, r"labels is empty"),
    ([0, 1], InputTypeError, r"torch\.tensor\(labels\)"),
])
def test_per_class_indices_refuses_bad_labels(labels, error, match):
    with pytest.raises(error, match=match):
        data.per_class_indices(labels, 1)


def test_per_class_indices_converts_numpy_and_int32_labels():
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    expected = data.per_class_indices(LABELS, 2, generator=g())
    assert torch.equal(data.per_class_indices(LABELS.numpy().astype(np.int32), 2, generator=g()), expected)
    with pytest.raises(InputTypeError, match=r"torch\.Generator\(\)\.manual_seed\(0\)"):
        data.per_class_indices(LABELS, 2, generator=0)


@pytest.mark.parametrize("call, error, match", [
    (lambda: data.ring8().sample(0), InputError, r"n must be a whole number >= 1, got 0"),
    (lambda: data.ring8().sample(-3), InputError, r"n must be a whole number >= 1, got -3"),
    (lambda: data.ring8().sample(2.5), InputTypeError, r"n must be a whole number"),
    (lambda: data.ring8().sample(4, generator=1), InputTypeError, r"generator must be a torch\.Generator"),
    (lambda: data.two_moons(-1), InputError, r"n must be a whole number >= 1"),
    (lambda: data.two_moons(5, noise=-0.1), InputError, r"noise must be a finite number >= 0"),
    (lambda: data.ring8(std=0), InputError, r"std must be a finite number > 0, got 0"),
    (lambda: data.ring8(radius=float("nan")), InputError, r"radius must be a finite number > 0, got nan"),
    (lambda: data.grid25(spacing=-2), InputError, r"spacing must be a finite number > 0"),
    (lambda: data.GaussianMixture2D(torch.zeros(3), 0.1), InputError,
     r"means must be a finite float tensor of shape \(K, 2\)"),
    (lambda: data.ring8().log_prob(torch.zeros(3)), InputError, r"x must have shape \(n, 2\), got \(3,\)"),
    (lambda: data.ring8().log_prob(torch.full((2, 2), float("nan"))), InputError, r"NaN in the data"),
    (lambda: data.ring8().log_prob([[0.0, 0.0]]), InputTypeError, r"torch\.tensor\(x\)"),
], ids=["n=0", "n<0", "n float", "generator int", "moons n", "moons noise", "std 0", "radius nan",
        "spacing", "means shape", "log_prob shape", "log_prob nan", "log_prob list"])
def test_toy_distributions(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_log_prob_converts_numpy_points():
    ring = data.ring8()
    pts = ring.sample(5, torch.Generator().manual_seed(0))
    torch.testing.assert_close(ring.log_prob(pts.numpy()), ring.log_prob(pts))


# --------------------------------------------------------------------------------------------
# IDX files: missing, damaged, foreign
# --------------------------------------------------------------------------------------------
def _idx(dtype_code: int, array: np.ndarray) -> bytes:
    header = bytes([0, 0, dtype_code, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.tobytes()


def _mnist_folder(tmp_path, images: bytes, labels: bytes):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(images)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels)
    return tmp_path


GOOD_LABELS = _idx(0x08, np.array([1, 2], np.uint8))


def test_read_idx_paths(tmp_path):
    with pytest.raises(PathError, match=r"does not exist: pass the path of an IDX file") as err:
        data.read_idx(tmp_path / "missing.gz")
    assert isinstance(err.value, OSError)
    with pytest.raises(PathError, match=r"is a folder, not a file"):
        data.read_idx(tmp_path)
    with pytest.raises(InputTypeError, match=r"path must be a path \(str or pathlib\.Path\), got NoneType"):
        data.read_idx(None)


def test_a_truncated_gz_file_is_named_not_a_raw_eoferror(tmp_path):
    whole = gzip.compress(_idx(0x08, np.zeros((3, 28, 28), np.uint8)))
    (tmp_path / "cut.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(PathError, match=r"cut\.gz could not be read \(EOFError.*truncated or damaged.*Download it"):
        data.read_idx(tmp_path / "cut.gz")
    (tmp_path / "junk.gz").write_bytes(b"this is not gzip")
    with pytest.raises(PathError, match=r"junk\.gz could not be read.*Download it again"):
        data.read_idx(tmp_path / "junk.gz")


def test_an_int32_image_file_is_refused_not_read_as_pixels_up_to_4(tmp_path):
    root = _mnist_folder(tmp_path, _idx(0x0C, np.full((2, 28, 28), 1020, ">i4")), GOOD_LABELS)
    with pytest.raises(PathError, match=r"holds >i4 values, not 8-bit pixels 0\.\.255.*not an MNIST image file"):
        data.mnist(root=root, device="cpu")


def test_a_label_file_with_other_classes_is_refused(tmp_path):
    root = _mnist_folder(tmp_path, _idx(0x08, np.zeros((2, 28, 28), np.uint8)), _idx(0x08, np.array([1, 12], np.uint8)))
    with pytest.raises(PathError, match=r"is not an MNIST label file: labels must be classes in 0\.\.9"):
        data.mnist(root=root, device="cpu")


def test_a_good_folder_still_loads(tmp_path):
    pixels = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28) % 256
    root = _mnist_folder(tmp_path, _idx(0x08, pixels.astype(np.uint8)), GOOD_LABELS)
    x, y = data.mnist(root=root, device="cpu")
    assert x.dtype == torch.float32 and float(x.max()) == 1.0 and y.tolist() == [1, 2]


def test_mnist_root_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(PathError, match=r"is a file; pass the folder that holds the IDX files"):
        data.mnist(root=tmp_path / "f", device="cpu")
    with pytest.raises(FileNotFoundError, match=r"digits\(\)"):  # still a FileNotFoundError
        data.mnist(root=tmp_path, device="cpu")


# --------------------------------------------------------------------------------------------
# thick_strokes: images checked and converted
# --------------------------------------------------------------------------------------------
X = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("bad, error, match", [
    (X * 255, InputError, r"x must have values in \[0, 1\].*divide them by 255"),
    (X[:, 0], InputError, r"unsqueeze\(1\)"),
    ((X * 255).to(torch.uint8), InputTypeError, r"x\.float\(\) / 255"),
    (X[:0], InputError, r"x is empty"),
    (X.clone().fill_(float("nan")), InputError, r"NaN in the data"),
])
def test_thick_strokes_checks_its_images(bad, error, match):
    with pytest.raises(error, match=match):
        data.thick_strokes(bad)


@pytest.mark.parametrize("other", [X.double(), X.half(), X.double().numpy()], ids=["float64", "float16", "numpy"])
def test_thick_strokes_converts(other):
    out = data.thick_strokes(other)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, data.thick_strokes(X), atol=1e-3, rtol=0)


@pytest.mark.parametrize("call", [lambda: data.two_moons(10**12), lambda: data.ring8().sample(10**12),
                                  lambda: data.grid25().sample(data.MAX_POINTS + 1)],
                         ids=["two_moons", "ring8", "grid25"])
def test_huge_point_counts_are_refused_before_allocation(call):
    with pytest.raises(InputError, match=r"^n must be at most 10,000,000, got [\d,]+ \(drawing more at once "
                                         r"could exhaust memory; draw in batches"):
        call()
