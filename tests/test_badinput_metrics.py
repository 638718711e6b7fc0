"""Bad input to minigen.metrics: images at every entry, labels, feature matrices, counts,
seeds, devices. Every case asserts the message."""
import numpy as np
import pytest
import torch

from minigen import metrics as M
from minigen.checks import DeviceError, InputError, InputTypeError
from minigen.data import ring8

X = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
LABELS = torch.tensor([0, 1, 2, 3, 4, 5])
F = torch.rand(12, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

ENTRIES = {
    "features": (lambda b: M.features(b, device="cpu"), "images"),
    "class_coverage": (lambda b: M.class_coverage(b, device="cpu"), "images"),
    "evaluate_images": (lambda b: M.evaluate_images(b, device="cpu", kid_subsets=2), "generated"),
    "evaluate_images reference": (lambda b: M.evaluate_images(X, b, device="cpu", kid_subsets=2), "reference"),
    "label_preservation": (lambda b: M.label_preservation(b, LABELS[: len(b)], device="cpu"), "translated"),
    "pixel_error images": (lambda b: M.pixel_error(b, X), "images"),
    "pixel_error target": (lambda b: M.pixel_error(X, b), "target"),
    "grey_share": (lambda b: M.grey_share(b), "images"),
}
BAD = {
    "0..255": (X * 255, InputError, r"must have values in \[0, 1\].*divide them by 255"),
    "-1..1": (X * 2 - 1, InputError, r"\(x \+ 1\) / 2"),
    "NaN": (X.clone().fill_(float("nan")), InputError, r"NaN in the data"),
    "uint8": ((X * 255).to(torch.uint8), InputTypeError, r"x\.float\(\) / 255"),
    "3-D": (X[:, 0], InputError, r"unsqueeze\(1\)"),
    "32x32": (torch.rand(6, 1, 32, 32), InputError, r"28x28 images"),
}


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("entry", ENTRIES)
def test_every_image_entry_gives_the_same_message(entry, bad):
    images, error, match = BAD[bad]
    call, name = ENTRIES[entry]
    with pytest.raises(error, match=f"^{name} .*{match}"):
        call(images)


@pytest.mark.parametrize("entry", ["features", "class_coverage", "evaluate_images", "pixel_error images", "grey_share"])
def test_empty_images_are_refused_not_nan(entry):
    call, name = ENTRIES[entry]
    with pytest.raises(InputError, match=f"^{name} is empty"):
        call(X[:0])


def test_evaluate_images_needs_four_images():
    with pytest.raises(InputError, match=r"generated holds 3 image\(s\); evaluate_images needs at least 4"):
        M.evaluate_images(X[:3], device="cpu")


@pytest.mark.parametrize("entry", ["features", "class_coverage", "label_preservation", "pixel_error images",
                                   "grey_share"])
def test_float64_numpy_gives_the_float32_result(entry):
    call, _ = ENTRIES[entry]
    a, b = call(X), call(X.double().numpy())
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    else:
        assert a == b


@pytest.mark.parametrize("labels, error, match", [
    (LABELS.float(), InputError, r"source_labels must be integer labels of shape \(6,\), got dtype torch\.float32"),
    (LABELS[:3], InputError, r"source_labels must be integer labels of shape \(6,\)"),
    (torch.tensor([0, 1, 2, 3, 4, 10]), InputError, r"source_labels must be classes in 0\.\.9"),
    (torch.tensor([0, 1, 2, 3, 4, -1]), InputError, r"source_labels must be classes in 0\.\.9"),
    ("012345", InputTypeError, r"source_labels must be a torch\.Tensor or a NumPy array"),
])
def test_label_preservation_labels(labels, error, match):
    with pytest.raises(error, match=match):
        M.label_preservation(X, labels, device="cpu")


def test_label_preservation_converts_numpy_int32_labels():
    expected = M.label_preservation(X, LABELS, device="cpu")
    assert M.label_preservation(X, LABELS.numpy().astype(np.int32), device="cpu") == expected


@pytest.mark.parametrize("call, error, match", [
    (lambda: M.kid(F, F, subsets=2.5), InputTypeError, r"subsets must be a whole number"),
    (lambda: M.kid(F, F, subsets=0), InputError, r"subsets must be at least 2 to estimate a spread, got 0"),
    (lambda: M.kid(F, F, subset_size="4"), InputTypeError, r"subset_size must be a whole number"),
    (lambda: M.kid(F, F, subset_size=-1), InputError, r"subset_size must be in \[2, 12\)"),
    (lambda: M.kid(F, F, generator=0), InputTypeError, r"manual_seed\(0\)"),
    (lambda: M.kid(F, F[:, :2]), InputError, r"feature dimensions differ: 3 vs 2"),
    (lambda: M.precision_recall(F, F, k=1.5), InputTypeError, r"k must be a whole number"),
    (lambda: M.precision_recall(F, F, k=-1), InputError, r"need k >= 1"),
    (lambda: M.frechet_distance("ab", F), InputError, r"feat_a must be a 2-D feature matrix"),
    (lambda: M.frechet_distance(F.to(torch.complex128), F), InputTypeError, r"feat_a must hold real numbers"),
    (lambda: M.frechet_distance(F, F.clone().fill_(float("nan"))), InputError, r"feat_b contains NaN or infinite"),
    (lambda: M.frechet_distance(F[:0], F), ValueError, r"at least 2 rows"),
    (lambda: M.evaluate_images(X, device="cpu", seed=-1), ValueError, r"seed must be in \[0, 2\*\*63\)"),
    (lambda: M.evaluate_images(X, device="cpu", kid_subsets=1), InputError, r"kid_subsets must be a whole number >= 2"),
    (lambda: M.features(X, batch_size=0, device="cpu"), InputError, r"batch_size must be a whole number >= 1, got 0"),
    (lambda: M.features(X, batch_size=-1, device="cpu"), InputError, r"batch_size must be a whole number >= 1, got -1"),
    (lambda: M.features(X, device="gpu"), DeviceError, r"Unknown device 'gpu'"),
    (lambda: M.load_classifier("gpu"), DeviceError, r"Unknown device 'gpu'"),
    (lambda: M.grey_share(X, ink=0.9, solid=0.5), InputError, r"ink must be below solid"),
    (lambda: M.grey_share(X, ink=-0.1), InputError, r"ink must be a finite number >= 0"),
    (lambda: M.grey_share(X, solid=1.5), InputError, r"solid must be a finite number <= 1"),
    (lambda: M.pixel_error(X, X[:2]), InputError, r"images and target must have the same shape"),
], ids=["kid subsets float", "kid subsets 0", "kid size str", "kid size -1", "kid generator", "kid dims",
        "pr k float", "pr k -1", "fd string", "fd complex", "fd nan", "fd empty", "seed", "kid_subsets",
        "features bs 0", "features bs -1", "features device", "classifier device", "grey ink>solid",
        "grey ink<0", "grey solid>1", "pixel shapes"])
def test_numbers_and_matrices(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("call, error, match", [
    (lambda: M.mode_coverage(torch.full((4, 2), float("nan")), ring8()), InputError, r"samples contain NaN"),
    (lambda: M.mode_coverage(torch.zeros(0, 2), ring8()), InputError, r"samples must have shape \(N, 2\) with N >= 1"),
    (lambda: M.mode_coverage(torch.zeros(4, 2), None), InputTypeError, r"mixture must be a GaussianMixture2D"),
    (lambda: M.mode_coverage(torch.zeros(4, 2), ring8(), n_std=0), InputError, r"n_std must be a finite number > 0"),
    (lambda: M.mode_coverage(torch.zeros(4, 2), ring8(), min_share=-1), InputError,
     r"min_share must be a finite number >= 0"),
    (lambda: M.mode_coverage("points", ring8()), InputTypeError, r"samples must be points \(N, 2\).*got str"),
], ids=["nan", "empty", "mixture", "n_std", "min_share", "string"])
def test_mode_coverage(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --------------------------------------------------------------------------------------------
# Issue 13, probe findings
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("a, b, match", [
    (F, F[:, :2], r"feature dimensions differ: 3 vs 2"),
    (F[:1], F, r"each feature set needs at least 2 rows to estimate a covariance; got 1 and 12"),
    (F[:0], F, r"each feature set needs at least 2 rows .*got 0 and 12"),
], ids=["dims", "one row", "empty"])
def test_frechet_distance_raises_minigens_error(a, b, match):
    with pytest.raises(InputError, match=match):
        M.frechet_distance(a, b)


def test_kid_with_too_few_rows_says_so():
    with pytest.raises(InputError, match=r"kid needs at least 4 rows in each feature set .*got 1 and 12"):
        M.kid(F[:1], F)


@pytest.mark.parametrize("call, name", [
    (lambda: M.kid(F, F, subsets=1.5), "subsets"),
    (lambda: M.kid(F, F, subset_size=2.5), "subset_size"),
    (lambda: M.precision_recall(F, F, k=1.5), "k"),
])
def test_fractional_counts_name_no_absurd_bound(call, name):
    with pytest.raises(InputTypeError, match=rf"^{name} must be a whole number, got \d\.5 \(float\)\.$"):
        call()


def test_kid_refuses_an_overflowing_result():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(InputError, match=r"kid overflowed float64: the cubic kernel of features as large as "):
        M.kid(torch.randn(50, 8, generator=g) * 1e30, torch.randn(40, 8, generator=g), subsets=3)


@pytest.mark.parametrize("share", [2, 1.0001])
def test_mode_coverage_min_share_above_one(share):
    with pytest.raises(InputError, match=r"min_share must be a finite number >= 0 and <= 1"):
        M.mode_coverage(torch.zeros(4, 2), ring8(), min_share=share)
    assert M.mode_coverage(torch.zeros(4, 2), ring8(), min_share=1)["n_modes"] == 8


@pytest.mark.parametrize("scale", [1e100, 1e-100])
def test_frechet_distance_of_very_large_or_small_features_is_exact_not_a_linalg_failure(scale):
    # FD is a squared distance: scaling both sets by s scales it by s^2; without the rescaling
    # inside, eigh fails to converge at 1e100 and everything rounds to 0 at 1e-100
    g = torch.Generator().manual_seed(0)
    a = torch.randn(40, 3, generator=g, dtype=torch.float64)
    b = torch.randn(40, 3, generator=g, dtype=torch.float64) + 0.5
    assert M.frechet_distance(a * scale, b * scale) / scale**2 == pytest.approx(M.frechet_distance(a, b), rel=1e-9)


def test_frechet_distance_beyond_float64_says_so():
    a = torch.randn(40, 3, dtype=torch.float64)
    with pytest.raises(InputError, match=r"frechet_distance overflowed float64: it grows as the square of the "
                                         r"features, and features as large as .*e\+160"):
        M.frechet_distance(a * 1e160, a * 2e160)
