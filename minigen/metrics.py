"""Measuring what a generative model produced (appendix "Evaluation metrics").

Every number a chapter reports about sample quality or diversity comes from this module:

* a small pretrained digit classifier (:class:`DigitClassifier`, :func:`load_classifier`) whose
  penultimate layer gives 64-dimensional image features (:func:`features`);
* distances between a generated and a real set of images on those features:
  :func:`frechet_distance` (FD), :func:`kid` and :func:`precision_recall`;
* class coverage of generated digits (:func:`class_coverage`);
* one call that does all of the above for a chapter (:func:`evaluate_images`);
* mode coverage for 2-D toy mixtures (:func:`mode_coverage`);
* image-to-image translation: :func:`label_preservation` and :func:`pixel_error`.

The Frechet distance here is **FD on digit-classifier features**: the formula of FID
(Heusel et al. 2017) applied to this module's 64-d features, not to Inception-v3's 2048-d ones.
Its numbers are on a different scale and must never be compared with published FID values.
The VAE's held-out scores (negative ELBO, IWAE bound: bounds on a log-likelihood on binarised
digits, binary cross-entropy scores on grey levels) live in :mod:`minigen.vae`.

Images are float tensors ``(N, 1, 28, 28)`` with values in [0, 1], as :mod:`minigen.data` makes
them; every function checks them (:func:`minigen.checks.check_images`: at least one image,
finite, in range) and converts a NumPy array to a tensor and float64/float16 to float32. Metrics
are computed in float64 on the CPU from features computed on ``device``.
"""
from __future__ import annotations

import contextlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from minigen.checks import (
    InputError,
    InputTypeError,
    as_tensor,
    check_count,
    check_generator,
    check_images,
    check_labels,
    check_real,
)
from minigen.data import digits
from minigen.training import check_seed
from minigen.utils import get_device

__all__ = [
    "DigitClassifier",
    "WEIGHTS_PATH",
    "FEATURE_DIM",
    "load_classifier",
    "features",
    "reference_features",
    "frechet_distance",
    "kid",
    "precision_recall",
    "COVERAGE_THRESHOLD",
    "class_coverage",
    "evaluate_images",
    "mode_coverage",
    "label_preservation",
    "pixel_error",
    "grey_share",
]

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "digit_classifier.pt"
FEATURE_DIM = 64
#: A class is "covered" when at least this share of the images is classified as it: half of
#: the fair share of 10 % that a model producing all ten digits equally often would give it.
COVERAGE_THRESHOLD = 0.05
# Per-pixel mean and standard deviation of MNIST, used to standardise the classifier's input.
_MNIST_MEAN, _MNIST_STD = 0.1307, 0.3081


# --------------------------------------------------------------------------------------------
# The digit classifier that gives the features
# --------------------------------------------------------------------------------------------
class DigitClassifier(nn.Module):
    """A LeNet-sized CNN for 28x28 digits: two 5x5 conv layers, then 64 features, then 10 logits.

    ``conv(1->16, 5x5) -> ReLU -> maxpool 2 -> conv(16->32, 5x5) -> ReLU -> maxpool 2 ->
    linear(1568->64) -> ReLU`` gives the features; ``linear(64->10)`` the logits. About 114,000
    parameters (450 KB in float32). ``scripts/train_classifier.py`` trains it and scales the
    features to a root-mean-square of 1 on the training digits.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)
        self.fc1 = nn.Linear(32 * 7 * 7, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(B, 64)`` (after ReLU, so >= 0) of images ``x`` ``(B, 1, 28, 28)``
        in [0, 1]; computed in full float32 on every device (no TF32: :func:`_float32_precision`)."""
        with _float32_precision():
            h = (x - _MNIST_MEAN) / _MNIST_STD
            h = F.max_pool2d(F.relu(self.conv1(h)), 2)
            h = F.max_pool2d(F.relu(self.conv2(h)), 2)
            return F.relu(self.fc1(h.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 10)`` for images ``x`` ``(B, 1, 28, 28)`` in [0, 1] (full float32)."""
        with _float32_precision():
            return self.fc2(self.features(x))


_CLASSIFIERS: dict[str, DigitClassifier] = {}


def load_classifier(device=None) -> DigitClassifier:
    """The pretrained :class:`DigitClassifier` shipped with minigen, in eval mode on ``device``.

    One instance is cached per device and shared by every caller: do not train or modify it.
    Raises ``RuntimeError`` naming ``scripts/train_classifier.py`` (which rebuilds the weights)
    when the weights file is missing or unreadable.
    """
    device = get_device(device)
    key = str(device)
    if key not in _CLASSIFIERS:
        hint = ("Rebuild it with `python scripts/train_classifier.py` from the repository root "
                "(about a minute on a CPU), or reinstall minigen.")
        if not WEIGHTS_PATH.exists():
            raise RuntimeError(f"The digit-classifier weights {WEIGHTS_PATH} are missing. {hint}")
        try:
            saved = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
            model = DigitClassifier()
            model.load_state_dict(saved["state_dict"])
        except Exception as exc:  # a truncated file, a pickle error, wrong keys or shapes
            raise RuntimeError(
                f"The digit-classifier weights {WEIGHTS_PATH} could not be loaded ({exc}). {hint}"
            ) from exc
        model.requires_grad_(False)
        _CLASSIFIERS[key] = model.to(device).eval()
    return _CLASSIFIERS[key]


def _precision_knobs() -> list[tuple[object, str]]:
    """PyTorch's per-backend float32 precision settings (torch >= 2.9), or [] on older versions."""
    b = torch.backends
    knobs = [(getattr(getattr(b, backend, None), op, None), "fp32_precision")
             for backend, op in (("cudnn", "conv"), ("cuda", "matmul"), ("mkldnn", "conv"), ("mkldnn", "matmul"))]
    return [(obj, name) for obj, name in knobs if obj is not None and hasattr(obj, name)]


@contextlib.contextmanager
def _float32_precision():
    """Full float32 in the classifier's convolutions and matrix products, whatever the caller set.

    On NVIDIA GPUs since Ampere, cuDNN runs float32 convolutions in TF32 (10 bits of mantissa) by
    default, and code such as ``torch.set_float32_matmul_precision("high")`` does the same for
    matrix products: the features then differed from the CPU's by up to 3.2e-4 on an H200, and FD
    with them. Switched to full precision here and restored afterwards, so that the classifier's
    outputs do not depend on the device or on the caller's settings. PyTorch 2.9 added per-backend
    settings (``torch.backends.cudnn.conv.fp32_precision`` ...) and refuses to mix them with the
    older flags once a caller has set them, so those are used where they exist; only the settings
    that differ from full precision are written, each restored to exactly what it was.
    """
    knobs = _precision_knobs()
    changed: list[tuple[object, str, object]] = []
    try:
        if knobs:  # torch >= 2.9: "ieee" is full float32 ("none" defers to a parent, maybe "tf32")
            for obj, name in knobs:
                if getattr(obj, name) != "ieee":
                    changed.append((obj, name, getattr(obj, name)))
                    setattr(obj, name, "ieee")
        else:  # older torch: the two global flags
            if torch.backends.cudnn.allow_tf32:
                changed.append((torch.backends.cudnn, "allow_tf32", True))
                torch.backends.cudnn.allow_tf32 = False
            if torch.get_float32_matmul_precision() != "highest":
                changed.append((None, "matmul", torch.get_float32_matmul_precision()))
                torch.set_float32_matmul_precision("highest")
        yield
    finally:
        for obj, name, value in reversed(changed):
            if obj is None:
                torch.set_float32_matmul_precision(value)
            else:
                setattr(obj, name, value)


@torch.no_grad()
def _run_classifier(images, device, batch_size: int, name: str = "images",
                    allow_empty: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``(N, 64)`` and logits ``(N, 10)`` as float32 CPU tensors, in batches."""
    images = check_images(images, name, dtype=torch.float32, allow_empty=allow_empty)
    batch_size = check_count(batch_size, "batch_size")
    model = load_classifier(device)
    dev = next(model.parameters()).device
    feats, logits = [], []
    with _float32_precision():
        for i in range(0, len(images), batch_size):
            h = model.features(images[i:i + batch_size].to(dev))
            feats.append(h.cpu())
            logits.append(model.fc2(h).cpu())
    if not feats:
        return torch.zeros(0, FEATURE_DIM), torch.zeros(0, 10)
    return torch.cat(feats), torch.cat(logits)


def features(images, *, device=None, batch_size: int = 500) -> torch.Tensor:
    """Classifier features ``(N, 64)`` (float32, on the CPU) of images ``(N, 1, 28, 28)`` in [0, 1].

    ``images`` may live on any device; they are moved to ``device`` batch by batch.
    ``batch_size`` >= 1.
    """
    return _run_classifier(images, device, batch_size)[0]


_REFERENCE: dict[tuple[str, str], torch.Tensor] = {}


def reference_features(device=None, split: str = "test") -> torch.Tensor:
    """Features of the 500 digits of ``split``, ``minigen.data.digits(split)``; cached per device.

    ``split`` is ``"test"`` (final figures) or ``"validation"`` (anything that chooses settings
    or compares models on the way to a choice).
    """
    if split not in ("validation", "test"):
        raise InputError(f"split must be 'validation' or 'test', got {split!r}: the reference "
                         "digits are held out of training.")
    key = (str(get_device(device)), split)
    if key not in _REFERENCE:
        _REFERENCE[key] = features(digits(split)[0], device=device)
    return _REFERENCE[key]


# --------------------------------------------------------------------------------------------
# Distances between two sets of features
# --------------------------------------------------------------------------------------------
def _as_features(x, name: str) -> torch.Tensor:
    try:
        x = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError):
        raise InputTypeError(f"{name} must be a 2-D feature matrix (N, F) of numbers, got "
                             f"{type(x).__name__}.") from None
    if x.is_complex():
        raise InputTypeError(f"{name} must hold real numbers, got dtype {x.dtype}.")
    if x.dim() != 2:
        raise InputError(f"{name} must be a 2-D feature matrix (N, F), got shape {tuple(x.shape)}.")
    if not torch.is_floating_point(x):
        x = x.double()
    if not torch.isfinite(x).all():
        raise InputError(f"{name} contains NaN or infinite values: compute the features of finite "
                         "images (minigen.metrics.features checks them).")
    return x.detach().to("cpu", torch.float64)


def _psd_sqrt(a: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition.

    Eigenvalues that rounding made slightly negative are clipped to 0, so the result is real and
    symmetric even when ``a`` is singular (e.g. fewer samples than dimensions, dead features).
    """
    vals, vecs = torch.linalg.eigh((a + a.T) / 2)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(feat_a, feat_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ("FD on
    digit-classifier features"; not comparable with Inception FID).

    .. math:: \\mathrm{FD} = \\lVert \\mu_a - \\mu_b \\rVert^2
              + \\operatorname{tr}\\bigl(\\Sigma_a + \\Sigma_b
              - 2\\,(\\Sigma_a^{1/2}\\Sigma_b\\Sigma_a^{1/2})^{1/2}\\bigr)

    ``feat_a`` ``(N_a, F)``, ``feat_b`` ``(N_b, F)``, each with at least 2
    rows; covariances are unbiased (divide by N - 1). Computed in float64.
    The trace term uses
    :math:`\\operatorname{tr}(\\Sigma_a\\Sigma_b)^{1/2}
    = \\operatorname{tr}(\\Sigma_a^{1/2}\\Sigma_b\\Sigma_a^{1/2})^{1/2}`,
    a symmetric PSD matrix whose root is taken by eigendecomposition: never
    complex, stable for rank-deficient covariances. Returns a float >= 0 (0
    for identical sets, up to rounding).
    """
    a, b = _as_features(feat_a, "feat_a"), _as_features(feat_b, "feat_b")
    if a.shape[1] != b.shape[1]:
        raise InputError(
            f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}."
        )
    if len(a) < 2 or len(b) < 2:
        raise InputError(
            "each feature set needs at least 2 rows to estimate a covariance;"
            f" got {len(a)} and {len(b)}."
        )
    # FD scales as the square of the features: features far from 1 are
    # rescaled so that the eigendecompositions stay within float64's range
    big = max(a.abs().max().item(), b.abs().max().item())
    scale = big if (big > 1e30 or 0 < big < 1e-30) else 1.0
    a, b = a / scale, b / scale
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = (
        torch.cov(a.T).reshape(a.shape[1], -1),
        torch.cov(b.T).reshape(b.shape[1], -1),
    )
    root_a = _psd_sqrt(cov_a)
    cross = (
        torch.linalg.eigvalsh(root_a @ cov_b @ root_a)
        .clamp(min=0)
        .sqrt()
        .sum()
    )
    fd = (
        (mu_a - mu_b).square().sum()
        + cov_a.trace()
        + cov_b.trace()
        - 2 * cross
    )
    fd = fd * torch.tensor(scale, dtype=torch.float64).square()
    if not torch.isfinite(fd):
        _overflow(a * scale, b * scale)
    return max(float(fd), 0.0)


def _overflow(a: torch.Tensor, b: torch.Tensor):
    big = max(a.abs().max().item(), b.abs().max().item())
    raise InputError(
        "frechet_distance overflowed float64: it grows as the square of"
        f" the features, and features as large as {big:.3g} put it beyond"
        " float64's range. Pass features of moderate size, such as"
        " minigen.metrics.features(images)."
    )


def _polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + 1) ** 3


def _random_subsets(count: int, n: int, m: int, generator) -> torch.Tensor:
    """``(count, n)`` float64 0/1 matrix; each row marks ``m`` of ``n`` items, without replacement."""
    keep = torch.rand(count, n, generator=generator).argsort(dim=1)[:, :m]
    return torch.zeros(count, n, dtype=torch.float64).scatter_(1, keep, 1.0)


def _subset_kernel_sums(x, s_x, y, s_y, chunk: int = 1024) -> torch.Tensor:
    """For each subset s: the sum of k(x_i, y_j) over i in subset s of x and j in subset s of y.

    A subset is a 0/1 row of ``s_x`` ``(S, N_x)`` (``s_y``: ``(S, N_y)``), so the sum is
    ``s_x K s_y^T`` with the kernel matrix K; K is built ``chunk`` rows at a time, so memory
    stays at ``chunk * N_y`` numbers however large the sets are.
    """
    total = torch.zeros(len(s_x), dtype=torch.float64)
    for i in range(0, len(x), chunk):
        k = _polynomial_kernel(x[i:i + chunk], y)  # (chunk, N_y)
        total += ((s_x[:, i:i + chunk] @ k) * s_y).sum(1)
    return total


def _kernel_sums(x, y, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Row sums ``(len(x),)`` and column sums ``(len(y),)`` of the kernel matrix k(x_i, y_j)."""
    rows, cols = torch.zeros(len(x), dtype=torch.float64), torch.zeros(len(y), dtype=torch.float64)
    for i in range(0, len(x), chunk):
        k = _polynomial_kernel(x[i:i + chunk], y)
        rows[i:i + chunk] = k.sum(1)
        cols += k.sum(0)
    return rows, cols


def _kid_jackknife_se(a, b, diag_a, diag_b) -> torch.Tensor:
    """Delete-one jackknife standard error of the all-rows unbiased MMD^2 (see :func:`kid`)."""
    n, m = len(a), len(b)
    r_a = _kernel_sums(a, a)[0] - diag_a  # sum over j != i of k(a_i, a_j)
    r_b = _kernel_sums(b, b)[0] - diag_b
    c_a, c_b = _kernel_sums(a, b)  # sum over j of k(a_i, b_j); over i of k(a_i, b_j)
    s_aa, s_bb, s_ab = r_a.sum(), r_b.sum(), c_a.sum()
    # the estimate without row i of a (or row j of b): that row's terms taken out of each sum
    without_a = ((s_aa - 2 * r_a) / ((n - 1) * (n - 2)) + s_bb / (m * (m - 1))
                 - 2 * (s_ab - c_a) / ((n - 1) * m))
    without_b = (s_aa / (n * (n - 1)) + (s_bb - 2 * r_b) / ((m - 1) * (m - 2))
                 - 2 * (s_ab - c_b) / (n * (m - 1)))
    var = ((n - 1) / n * (without_a - without_a.mean()).square().sum()
           + (m - 1) / m * (without_b - without_b.mean()).square().sum())
    return var.sqrt()


def kid(feat_a, feat_b, *, subsets: int = 100, subset_size: int | None = None,
        generator: torch.Generator | None = None) -> tuple[float, float]:
    """Kernel distance (KID, Binkowski et al. 2018): unbiased MMD^2 with the cubic kernel.

    .. math:: k(x, y) = (x^\\top y / d + 1)^3, \\qquad
              \\widehat{\\mathrm{MMD}}^2 = \\frac{1}{m(m-1)}\\sum_{i\\ne j} k(a_i, a_j)
              + \\frac{1}{m(m-1)}\\sum_{i\\ne j} k(b_i, b_j) - \\frac{2}{m^2}\\sum_{i,j} k(a_i, b_j)

    averaged over ``subsets`` random subsets of ``subset_size`` rows from each set (drawn
    without replacement within a subset; default: half the smaller set, at most 1,000).

    Returns ``(kid, kid_se)``. ``kid`` is the mean over subsets (unbiased: it can be slightly
    negative when the sets come from the same distribution). ``kid_se`` is the standard error of
    the estimate due to the finite samples: the two-sample delete-one jackknife of the unbiased
    MMD^2 on *all* rows of both sets (every left-out row's estimate from the kernel matrices' row
    sums, one more pass over each matrix). The mean over subsets has nearly the same
    variance as that all-rows estimate. Measured against the spread over independent data sets
    (``tests/test_metrics.py``), it is close when the two distributions differ and conservative,
    up to about 1.5 times too large, when they are the same (the estimator is then degenerate).
    The spread of the subset values themselves is *not* a standard error: half-size subsets
    vary more than the full sample, by a factor that depends on the distributions. Computed in
    float64. "Unbiased" assumes independent rows: against a reference drawn with a fixed number
    per class (the book's test digits, 50 of each) the value is shifted by a small constant,
    about -0.006 on the digit classifier's features, the same for every model scored against it.
    """
    a, b = _as_features(feat_a, "feat_a"), _as_features(feat_b, "feat_b")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}.")
    subsets = check_count(subsets, "subsets", minimum=None)  # the type; the range below
    if subset_size is not None:
        check_count(subset_size, "subset_size", minimum=None)
    generator = check_generator(generator)
    n = min(len(a), len(b))
    if n < 4:
        raise InputError(f"kid needs at least 4 rows in each feature set (subsets of 2 or more "
                         f"rows, smaller than the set); got {len(a)} and {len(b)}.")
    m = min(n // 2, 1000) if subset_size is None else int(subset_size)
    if not 2 <= m < n:
        raise InputError(f"subset_size must be in [2, {n}) (smaller than the smaller set, so "
                         f"that subsets differ); got {m}. Both sets need at least 4 rows.")
    if subsets < 2:
        raise InputError(f"subsets must be at least 2 to estimate a spread, got {subsets}.")
    s_a = _random_subsets(subsets, len(a), m, generator)
    s_b = _random_subsets(subsets, len(b), m, generator)
    diag_a, diag_b = ((a * a).sum(1) / a.shape[1] + 1) ** 3, ((b * b).sum(1) / b.shape[1] + 1) ** 3
    sum_aa = _subset_kernel_sums(a, s_a, a, s_a) - s_a @ diag_a  # i != j
    sum_bb = _subset_kernel_sums(b, s_b, b, s_b) - s_b @ diag_b
    sum_ab = _subset_kernel_sums(a, s_a, b, s_b)
    values = (sum_aa + sum_bb) / (m * (m - 1)) - 2 * sum_ab / m**2
    se = _kid_jackknife_se(a, b, diag_a, diag_b)
    if not (torch.isfinite(values).all() and torch.isfinite(se)):
        big = max(a.abs().max().item(), b.abs().max().item())
        raise InputError(f"kid overflowed float64: the cubic kernel of features as large as "
                         f"{big:.3g} is beyond its range. Pass features of moderate size, such as "
                         "minigen.metrics.features(images) (or rescale both sets alike).")
    return float(values.mean()), float(se)


def precision_recall(real_feat, fake_feat, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k-nearest-neighbour radii.

    Each real feature vector :math:`r_i` gets a ball whose radius is the distance to its k-th
    nearest real neighbour (itself excluded); the union of the balls estimates the real manifold.
    *Precision* is the share of fake samples inside some real ball (quality); *recall* is the
    share of real samples inside some fake ball, built the same way from the fakes (diversity).
    Returns ``(precision, recall)``, each in [0, 1]. Both sets need more than ``k`` rows.
    """
    real, fake = _as_features(real_feat, "real_feat"), _as_features(fake_feat, "fake_feat")
    k = check_count(k, "k", minimum=None)  # the type; the range below
    if real.shape[1] != fake.shape[1]:
        raise InputError(f"feature dimensions differ: {real.shape[1]} vs {fake.shape[1]}.")
    if k < 1 or len(real) <= k or len(fake) <= k:
        raise InputError(f"need k >= 1 and more than k rows in each set; got k={k}, "
                         f"{len(real)} real and {len(fake)} fake rows.")

    def radii(x):  # distance to the k-th nearest neighbour: the (k+1)-th smallest, after x itself
        return torch.cdist(x, x).kthvalue(k + 1, dim=1).values

    dist = torch.cdist(fake, real)  # (N_fake, N_real)
    precision = (dist <= radii(real)[None, :]).any(dim=1).double().mean()
    recall = (dist <= radii(fake)[:, None]).any(dim=0).double().mean()
    return float(precision), float(recall)


# --------------------------------------------------------------------------------------------
# Class coverage and the one call the chapters use
# --------------------------------------------------------------------------------------------
def _coverage_from_logits(logits: torch.Tensor) -> dict:
    if len(logits) == 0:
        raise InputError("images is empty: class coverage needs at least one image.")
    probs = logits.double().softmax(dim=1)
    share = torch.bincount(probs.argmax(dim=1), minlength=10).double() / len(probs)
    nonzero = share[share > 0]
    return {
        "histogram": [round(float(s), 6) for s in share],
        "classes_covered": int((share >= COVERAGE_THRESHOLD).sum()),
        "min_class_share": float(share.min()),
        "kl_from_uniform": float((nonzero * (nonzero * 10).log()).sum()),
        "mean_confidence": float(probs.max(dim=1).values.mean()),
    }


def class_coverage(images, *, device=None) -> dict:
    """How the classifier's predictions on ``images`` spread over the ten digit classes.

    Returns a dict:

    * ``histogram``: the share of images predicted as each class 0..9 (sums to 1);
    * ``classes_covered``: how many classes get at least :data:`COVERAGE_THRESHOLD` (5 %, half
      a fair share) of the images;
    * ``min_class_share``: the smallest share (0.1 for a perfectly balanced set);
    * ``kl_from_uniform``: :math:`\\sum_c p_c \\log(10\\,p_c)` in nats, 0 for a uniform
      histogram and :math:`\\log 10 \\approx 2.30` when every image is the same class;
    * ``mean_confidence``: the mean of the largest softmax probability (near 1 for clear digits,
      lower, down to 0.1, for images the classifier cannot read).
    """
    return _coverage_from_logits(_run_classifier(images, device, 500)[1])


def evaluate_images(generated, reference="test", *, device=None, kid_subsets: int = 100,
                    seed: int = 0) -> dict:
    """Every image metric of this module for ``generated`` ``(N, 1, 28, 28)`` in [0, 1].

    ``reference``: ``"test"`` (the default, for final figures; ``None`` means the same),
    ``"validation"`` (for choosing settings or comparing models on the way to a choice), or
    images of your own. For the two named splits the 500 digits' features are cached, so
    repeated calls cost one pass of the classifier over ``generated``. Returns a dict with ``fd``,
    ``kid``, ``kid_se``, ``precision``, ``recall`` (precision and recall with ``k=3``) and the keys
    of :func:`class_coverage`. KID's random subsets are drawn from ``seed``, so the result is the
    same on every call. ``generated`` needs at least 4 images; use 1,000 for figures comparable
    with the book's reference table (the metrics depend on the sample size).
    """
    seed, kid_subsets = check_seed(seed), check_count(kid_subsets, "kid_subsets", minimum=2)
    feat_gen, logits = _run_classifier(generated, device, 500, "generated")
    if reference is None or isinstance(reference, str):
        feat_ref = reference_features(device, "test" if reference is None else reference)
    else:
        feat_ref = _run_classifier(reference, device, 500, "reference")[0]
    for name, feat in (("generated", feat_gen), ("reference", feat_ref)):
        if len(feat) < 4:
            raise InputError(f"{name} holds {len(feat)} image(s); evaluate_images needs at least 4 "
                             "(KID compares random subsets), and 1,000 for the book's reference table.")
    kid_mean, kid_se = kid(feat_gen, feat_ref, subsets=kid_subsets,
                           generator=torch.Generator().manual_seed(seed))
    precision, recall = precision_recall(feat_ref, feat_gen, k=3)
    return {"fd": frechet_distance(feat_gen, feat_ref), "kid": kid_mean, "kid_se": kid_se,
            "precision": precision, "recall": recall, **_coverage_from_logits(logits)}


# --------------------------------------------------------------------------------------------
# 2-D toy data, translation
# --------------------------------------------------------------------------------------------
def mode_coverage(samples, mixture, *, n_std: float = 3.0, min_share: float = 0.2) -> dict:
    """Mode collapse on a 2-D Gaussian mixture (e.g. :func:`minigen.data.ring8`).

    A sample is *high quality* when it lies within ``n_std`` standard deviations
    (``mixture.std``) of its nearest mode. A mode is *covered* when it holds at least
    ``min_share`` of its fair share of high-quality samples, i.e. at least
    ``max(1, ceil(min_share * N / K))`` of them for ``N`` samples and ``K`` modes, ``min_share``
    in [0, 1] (20 % of a fair share; with the default 3 stds, exact mixture samples put 98.9 % of their points there).
    The 3-standard-deviation rule for a high-quality sample is VEEGAN's (Srivastava et al. 2017);
    the per-mode threshold is minigen's own and stricter (VEEGAN counts a mode with one sample),
    so counts are not comparable with published tables.

    Returns a dict: ``modes_covered`` (int), ``n_modes`` (K), ``high_quality`` (the fraction of
    all samples that are high quality), ``counts`` (high-quality samples per mode, a list of K
    ints) and ``min_count`` (the threshold used). NaN or infinite samples are refused.
    """
    try:  # a tensor, a NumPy array or a list of pairs
        x = torch.as_tensor(samples)
    except (TypeError, ValueError, RuntimeError):
        raise InputTypeError(f"samples must be points (N, 2): a tensor, array or list of numbers, got "
                             f"{type(samples).__name__}.") from None
    if x.dim() != 2 or x.shape[1] != 2 or len(x) == 0:
        raise InputError(f"samples must have shape (N, 2) with N >= 1, got {tuple(x.shape)}.")
    if not torch.isfinite(x).all():
        raise InputError("samples contain NaN or infinite values: a diverged generator? Check "
                         "the training history; mode coverage of such samples is undefined.")
    if not hasattr(mixture, "means") or not hasattr(mixture, "std"):
        raise InputTypeError(f"mixture must be a GaussianMixture2D such as minigen.data.ring8(), got "
                             f"{type(mixture).__name__}.")
    n_std = check_real(n_std, "n_std", above=0)
    min_share = check_real(min_share, "min_share", minimum=0, maximum=1)
    x = x.detach().to("cpu", torch.float64)
    means = mixture.means.detach().to("cpu", torch.float64)
    dist, nearest = torch.cdist(x, means).min(dim=1)
    good = dist <= n_std * mixture.std
    counts = torch.bincount(nearest[good], minlength=len(means))
    min_count = max(1, math.ceil(min_share * len(x) / len(means)))
    return {"modes_covered": int((counts >= min_count).sum()), "n_modes": len(means),
            "high_quality": float(good.double().mean()), "counts": counts.tolist(),
            "min_count": min_count}


def label_preservation(translated, source_labels, *, device=None) -> float:
    """Share of ``translated`` images ``(N, 1, 28, 28)`` that the classifier still reads as the
    label of their source image (``source_labels``: digit classes 0..9, ``(N,)``, a NumPy array
    or another integer dtype is converted). 1.0 = every digit kept."""
    translated = check_images(translated, "translated", allow_empty=True)
    labels = as_tensor(source_labels, "source_labels")
    if labels.dim() != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool \
            or len(labels) != len(translated):
        raise InputError(f"source_labels must be integer labels of shape ({len(translated)},), "
                         f"got dtype {labels.dtype} and shape {tuple(labels.shape)}.")
    if len(translated) == 0:
        raise InputError("translated is empty.")
    labels = check_labels(labels, name="source_labels").cpu()  # classes 0..9
    logits = _run_classifier(translated, device, 500, "translated")[1]
    return float((logits.argmax(dim=1) == labels).double().mean())


def pixel_error(images, target) -> float:
    """Mean absolute error, over all pixels and images, between ``images`` and ``target``
    (both ``(N, 1, 28, 28)`` in [0, 1]): 0 for a perfect translation, at most 1."""
    x = check_images(images, "images").detach()
    y = check_images(target, "target").detach()
    if x.shape != y.shape:
        raise InputError(f"images and target must have the same shape, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}.")
    return float((x.double() - y.double().to(x.device)).abs().mean())


def grey_share(images, *, ink: float = 0.1, solid: float = 0.9) -> float:
    """Among the pixels with some ink (value above ``ink``), the share that is grey (below ``solid``).

    A blur measure with no classifier in it: real MNIST strokes are mostly solid, so their grey
    share is about one half; a decoder mean that averages plausible digits (chapter "VAEs") has
    grey edges around every stroke and a larger share. ``images``: ``(N, 1, 28, 28)`` in [0, 1];
    ``0 <= ink < solid <= 1``.
    """
    x = check_images(images, "images").detach()
    ink, solid = check_real(ink, "ink", minimum=0, below=1), check_real(solid, "solid", maximum=1)
    if not ink < solid:
        raise InputError(f"ink must be below solid, got ink={ink:g} and solid={solid:g}.")
    inked = x > ink
    if not inked.any():
        raise InputError(f"images have no pixel above ink={ink:g}: the grey share is undefined.")
    return ((x < solid) & inked).sum().item() / inked.sum().item()
