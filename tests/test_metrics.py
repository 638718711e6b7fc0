import contextlib
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from minigen import metrics as M
from minigen.data import digits, grid25, ring8, thick_strokes


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _with_moments(n: int, mean: torch.Tensor, cov: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """n float64 samples whose *sample* mean and (unbiased) covariance are exactly mean and cov."""
    z = torch.randn(n, len(mean), generator=_gen(seed), dtype=torch.float64)
    z = z - z.mean(0)
    z = z @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(z.T).reshape(len(mean), -1))).T  # cov = I
    return mean + z @ torch.linalg.cholesky(cov).T


def _random_cov(d: int, seed: int) -> torch.Tensor:
    a = torch.randn(d, d, generator=_gen(seed), dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


@pytest.fixture(scope="module")
def held_out():
    return digits("test")


# ------------------------------------------------------------------------------------------
# The classifier
# ------------------------------------------------------------------------------------------
def test_classifier_shapes():
    model = M.DigitClassifier().eval()
    x = torch.rand(5, 1, 28, 28, generator=_gen())
    assert model(x).shape == (5, 10)
    assert model.features(x).shape == (5, M.FEATURE_DIM)
    assert (model.features(x) >= 0).all()


def test_shipped_classifier_accuracy_plain_and_dilated(held_out):
    x, y = held_out
    assert M.label_preservation(x, y) >= 0.97
    assert M.label_preservation(thick_strokes(x), y) >= 0.97


def test_load_classifier_is_cached_in_eval_mode_without_grads():
    model = M.load_classifier("cpu")
    assert model is M.load_classifier(None if not torch.cuda.is_available() else "cpu")
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("content", [None, b"not a checkpoint"])
def test_missing_or_corrupt_weights_name_the_training_script(tmp_path, monkeypatch, content):
    path = tmp_path / "digit_classifier.pt"
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setattr(M, "WEIGHTS_PATH", path)
    monkeypatch.setattr(M, "_CLASSIFIERS", {})
    with pytest.raises(RuntimeError, match="scripts/train_classifier.py"):
        M.load_classifier("cpu")


def test_features_shape_and_batching(held_out):
    x = held_out[0][:37]
    f = M.features(x, batch_size=10)
    assert f.shape == (37, M.FEATURE_DIM) and f.dtype == torch.float32
    torch.testing.assert_close(f, M.features(x, batch_size=500))


@pytest.mark.parametrize("bad, error, match", [
    (torch.rand(4, 28, 28), ValueError, "unsqueeze"),
    (torch.rand(4, 3, 28, 28), ValueError, "channel"),
    (torch.rand(4, 1, 32, 32), ValueError, "28x28"),
    (torch.rand(4, 1, 28, 28) * 2 - 1, ValueError, r"\(x \+ 1\) / 2"),
    ((torch.rand(4, 1, 28, 28) * 255).to(torch.uint8), TypeError, "255"),
    (torch.full((4, 1, 28, 28), float("nan")), ValueError, "NaN"),
])
def test_bad_images_raise_clear_errors(bad, error, match):
    for call in (M.features, M.class_coverage, M.evaluate_images):
        with pytest.raises(error, match=match):
            call(bad)


# ------------------------------------------------------------------------------------------
# Frechet distance
# ------------------------------------------------------------------------------------------
@pytest.mark.equation
def test_fd_identical_sets_is_zero():
    f = torch.randn(500, 16, generator=_gen(), dtype=torch.float64)
    assert M.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.equation
def test_fd_matches_closed_form_for_gaussians():
    # Covariances sharing eigenvectors Q: FD = |mu_a - mu_b|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2.
    d = 6
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=_gen(1), dtype=torch.float64))
    ev_a = torch.tensor([0.5, 1.0, 2.0, 3.0, 0.1, 4.0], dtype=torch.float64)
    ev_b = torch.tensor([1.0, 1.0, 0.5, 3.0, 2.0, 0.2], dtype=torch.float64)
    mu_a, mu_b = torch.zeros(d, dtype=torch.float64), torch.arange(d, dtype=torch.float64) / 3
    a = _with_moments(400, mu_a, q @ torch.diag(ev_a) @ q.T, seed=2)
    b = _with_moments(300, mu_b, q @ torch.diag(ev_b) @ q.T, seed=3)
    expected = (mu_a - mu_b).square().sum() + (ev_a.sqrt() - ev_b.sqrt()).square().sum()
    assert M.frechet_distance(a, b) == pytest.approx(float(expected), rel=1e-9)
    # one dimension: (m1 - m2)^2 + (s1 - s2)^2
    one = _with_moments(50, torch.tensor([1.0], dtype=torch.float64), torch.tensor([[4.0]], dtype=torch.float64))
    two = _with_moments(80, torch.tensor([-2.0], dtype=torch.float64), torch.tensor([[9.0]], dtype=torch.float64))
    assert M.frechet_distance(one, two) == pytest.approx(9.0 + 1.0, rel=1e-9)


def _fd_scipy(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


@pytest.mark.equation
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fd_agrees_with_scipy_sqrtm(seed):
    g = np.random.default_rng(seed)
    a = g.standard_normal((300, 20)) @ g.standard_normal((20, 20))
    b = g.standard_normal((250, 20)) @ g.standard_normal((20, 20)) + 0.5
    assert M.frechet_distance(a, b) == pytest.approx(_fd_scipy(a, b), rel=1e-6)
    # float32 features (what features() returns) are promoted to float64 first
    assert M.frechet_distance(torch.from_numpy(a).float(), torch.from_numpy(b).float()) == \
        pytest.approx(_fd_scipy(a.astype(np.float32).astype(np.float64),
                                b.astype(np.float32).astype(np.float64)), rel=1e-5)


@pytest.mark.equation
def test_fd_is_stable_for_rank_deficient_covariances():
    g = _gen(4)
    # 10 samples in 64 dimensions (rank <= 9), with 20 dead (always zero) features
    a = torch.randn(10, 64, generator=g, dtype=torch.float64).clamp(min=0)
    b = torch.randn(12, 64, generator=g, dtype=torch.float64).clamp(min=0) + 0.3
    a[:, :20] = 0
    b[:, :20] = 0
    fd_ab, fd_ba = M.frechet_distance(a, b), M.frechet_distance(b, a)
    assert math.isfinite(fd_ab) and isinstance(fd_ab, float) and fd_ab > 0
    assert fd_ab == pytest.approx(fd_ba, rel=1e-8)  # the Frechet distance is symmetric
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # dead features change nothing: the same distance without them
    assert M.frechet_distance(a[:, 20:], b[:, 20:]) == pytest.approx(fd_ab, rel=1e-8)
    # a covariance of rank one: points on a line
    t = torch.linspace(0, 1, 30, dtype=torch.float64)[:, None]
    line_a, line_b = t * torch.ones(1, 8, dtype=torch.float64), 2 * t * torch.ones(1, 8, dtype=torch.float64)
    fd = M.frechet_distance(line_a, line_b)
    # exact: |mu_a - mu_b|^2 + (sqrt(tr S_a) - sqrt(tr S_b))^2 for covariances on the same line
    var = float(torch.var(t))
    expected = 8 * 0.5**2 + (math.sqrt(8 * var) - math.sqrt(8 * 4 * var)) ** 2
    assert fd == pytest.approx(expected, rel=1e-6)


@pytest.mark.equation
def test_fd_rejects_mismatched_or_bad_features():
    with pytest.raises(ValueError, match="dimensions differ"):
        M.frechet_distance(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="at least 2 rows"):
        M.frechet_distance(torch.zeros(1, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"\(N, F\)"):
        M.frechet_distance(torch.zeros(5), torch.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        M.frechet_distance(torch.full((5, 3), float("nan")), torch.zeros(5, 3))


# ------------------------------------------------------------------------------------------
# KID
# ------------------------------------------------------------------------------------------
def _mmd2_naive(a: torch.Tensor, b: torch.Tensor) -> float:
    m, d = len(a), a.shape[1]
    k = lambda x, y: (float(x @ y) / d + 1) ** 3  # noqa: E731
    xx = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / m**2
    return xx + yy - 2 * xy


@pytest.mark.equation
def test_kid_equals_naive_unbiased_mmd_on_the_same_subsets():
    g = _gen(5)
    a = torch.randn(12, 3, generator=g, dtype=torch.float64)
    b = torch.randn(15, 3, generator=g, dtype=torch.float64) + 0.5
    value, _ = M.kid(a, b, subsets=4, subset_size=6, generator=_gen(7))
    # replay the subsets kid() drew from the same generator
    replay = _gen(7)
    s_a = M._random_subsets(4, 12, 6, replay).bool()
    s_b = M._random_subsets(4, 15, 6, replay).bool()
    naive = [_mmd2_naive(a[s_a[s]], b[s_b[s]]) for s in range(4)]
    assert value == pytest.approx(sum(naive) / 4, rel=1e-10)


@pytest.mark.equation
def test_kid_near_zero_for_same_distribution_and_positive_for_different():
    g = _gen(6)
    a = torch.randn(800, 16, generator=g).clamp(min=0)
    b = torch.randn(800, 16, generator=g).clamp(min=0)
    same, same_se = M.kid(a, b, generator=_gen(0))
    assert math.isfinite(same_se) and same_se > 0
    assert abs(same) < 4 * same_se
    identical, _ = M.kid(a, a, generator=_gen(0))
    assert abs(identical) < 4 * same_se
    diff, diff_se = M.kid(a, b + 0.3, generator=_gen(0))
    assert math.isfinite(diff_se) and diff > 10 * diff_se > 0
    # deterministic given the generator
    assert M.kid(a, b, generator=_gen(1)) == M.kid(a, b, generator=_gen(1))


@pytest.mark.equation
def test_kid_argument_errors():
    a = torch.zeros(10, 3)
    with pytest.raises(ValueError, match="subset_size"):
        M.kid(a, a, subset_size=10)
    with pytest.raises(ValueError, match="subsets"):
        M.kid(a, a, subsets=1)


# ------------------------------------------------------------------------------------------
# Precision and recall
# ------------------------------------------------------------------------------------------
@pytest.mark.equation
def test_precision_recall_identical_and_disjoint():
    real = torch.randn(300, 8, generator=_gen(8))
    assert M.precision_recall(real, real.clone()) == (1.0, 1.0)
    assert M.precision_recall(real, real + 100.0) == (0.0, 0.0)


@pytest.mark.equation
def test_precision_recall_separate_quality_from_diversity():
    g = _gen(9)
    centres = torch.tensor([[0.0, 0.0], [20.0, 0.0]])
    real = torch.cat([c + torch.randn(400, 2, generator=g) for c in centres])
    one_mode = centres[0] + torch.randn(400, 2, generator=g)  # good samples, half the modes
    precision, recall = M.precision_recall(real, one_mode, k=3)
    assert precision > 0.95
    assert 0.4 < recall < 0.6
    with pytest.raises(ValueError, match="more than k rows"):
        M.precision_recall(real[:3], one_mode, k=3)


# ------------------------------------------------------------------------------------------
# Class coverage and evaluate_images
# ------------------------------------------------------------------------------------------
def test_class_coverage_of_test_digits_is_near_uniform(held_out):
    cov = M.class_coverage(held_out[0])
    assert set(cov) == {"histogram", "classes_covered", "min_class_share", "kl_from_uniform",
                        "mean_confidence"}
    assert len(cov["histogram"]) == 10 and sum(cov["histogram"]) == pytest.approx(1.0)
    assert cov["classes_covered"] == 10
    assert cov["min_class_share"] > 0.08
    assert cov["kl_from_uniform"] < 0.01
    assert cov["mean_confidence"] > 0.9


@pytest.mark.equation
def test_class_coverage_of_one_class(held_out):
    x, y = held_out
    cov = M.class_coverage(x[y == 3])
    assert cov["classes_covered"] == 1
    assert cov["min_class_share"] == 0.0
    assert cov["histogram"][3] > 0.95
    assert cov["kl_from_uniform"] == pytest.approx(math.log(10), abs=0.2)


def test_evaluate_images_real_vs_real_and_noise(held_out):
    train_x, _ = digits("train")
    real = train_x[torch.randperm(len(train_x), generator=_gen(0))[:500]]
    r = M.evaluate_images(real)
    expected_keys = {"fd", "kid", "kid_se", "precision", "recall", "histogram", "classes_covered",
                     "min_class_share", "kl_from_uniform", "mean_confidence"}
    assert set(r) == expected_keys
    noise = M.evaluate_images(torch.rand(500, 1, 28, 28, generator=_gen(1)))
    assert r["fd"] < noise["fd"] / 20
    assert r["kid"] < noise["kid"] / 20
    assert r["precision"] > 0.7 and r["recall"] > 0.7
    assert noise["recall"] < 0.05
    assert r["classes_covered"] == 10
    # an explicit reference equals the cached default one
    explicit = M.evaluate_images(real, held_out[0])
    assert explicit == r
    # the test set against itself: FD 0, precision and recall 1
    same = M.evaluate_images(held_out[0])
    assert same["fd"] == pytest.approx(0.0, abs=1e-6)
    assert same["precision"] == same["recall"] == 1.0


# ------------------------------------------------------------------------------------------
# 2-D toy data, translation
# ------------------------------------------------------------------------------------------
@pytest.mark.equation
@pytest.mark.parametrize("make", [ring8, grid25])
def test_mode_coverage_of_exact_mixture_samples(make):
    mixture = make()
    r = M.mode_coverage(mixture.sample(2500, _gen(10)), mixture)
    assert r["modes_covered"] == r["n_modes"] == len(mixture.means)
    assert r["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)  # P(|z| < 3) in 2-D
    assert sum(r["counts"]) == round(r["high_quality"] * 2500)


@pytest.mark.equation
def test_mode_coverage_of_a_collapsed_generator():
    mixture = ring8()
    g = _gen(11)
    modes = torch.tensor([0, 3, 5])[torch.randint(3, (1000,), generator=g)]
    x = mixture.means[modes] + mixture.std * torch.randn(1000, 2, generator=g, dtype=torch.float64)
    r = M.mode_coverage(x, mixture)
    assert r["modes_covered"] == 3
    assert r["high_quality"] > 0.97
    # a few stray samples near a mode do not make it covered
    stray = torch.cat([x, mixture.means[1:2].expand(3, 2)])
    assert M.mode_coverage(stray, mixture)["modes_covered"] == 3
    # samples between modes are low quality and cover nothing
    far = M.mode_coverage(torch.zeros(100, 2), mixture)
    assert far["modes_covered"] == 0 and far["high_quality"] == 0.0
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        M.mode_coverage(torch.zeros(10, 3), mixture)


@pytest.mark.equation
def test_label_preservation_and_pixel_error(held_out):
    x, y = held_out
    assert M.label_preservation(x[:200], y[:200]) > 0.95
    assert M.label_preservation(x[:200], (y[:200] + 1) % 10) < 0.05
    with pytest.raises(ValueError, match="source_labels"):
        M.label_preservation(x[:10], y[:9])
    zeros, ones = torch.zeros(3, 1, 28, 28), torch.ones(3, 1, 28, 28)
    assert M.pixel_error(zeros, ones) == 1.0
    assert M.pixel_error(x[:5], x[:5]) == 0.0
    assert M.pixel_error(zeros, torch.full_like(zeros, 0.25)) == 0.25
    with pytest.raises(ValueError, match="same shape"):
        M.pixel_error(zeros, ones[:2])


# torch >= 2.9: per-backend fp32_precision settings; written out here, not read from the code tested
NEW_PRECISION_API = hasattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision")
KNOBS = [torch.backends.cudnn.conv, torch.backends.cuda.matmul, torch.backends.mkldnn.conv,
         torch.backends.mkldnn.matmul] if NEW_PRECISION_API else []


def _precision_state():
    """Every float32 precision setting, read through one API only (PyTorch refuses mixed reads)."""
    if NEW_PRECISION_API:
        return tuple(knob.fp32_precision for knob in KNOBS)
    return torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()


def test_the_switch_covers_every_convolution_and_matrix_product_setting():
    assert [obj for obj, _ in M._precision_knobs()] == KNOBS


def _set_precision(setup):
    """Put PyTorch's float32 settings as a caller might: 'defaults', 'legacy' or 'new' API."""
    if setup == "legacy":
        torch.backends.cudnn.allow_tf32 = True
        torch.set_float32_matmul_precision("high")
    elif setup == "new":
        if not NEW_PRECISION_API:
            pytest.skip("needs torch >= 2.9 (per-backend fp32_precision)")
        torch.backends.cudnn.conv.fp32_precision = "tf32"
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        torch.backends.mkldnn.matmul.fp32_precision = "bf16"


PRISTINE = _precision_state()  # at collection, before any test changed a setting


@pytest.fixture
def restore_precision():
    """Leave PyTorch's float32 settings as a fresh interpreter has them, whatever the test set."""
    yield
    if NEW_PRECISION_API:
        for knob, value in zip(KNOBS, PRISTINE):
            knob.fp32_precision = value
    else:
        torch.backends.cudnn.allow_tf32, precision = PRISTINE
        torch.set_float32_matmul_precision(precision)


@pytest.mark.gpu
@pytest.mark.parametrize("setup", ["defaults", "legacy", "new"])
def test_features_on_gpu_match_cpu(held_out, setup, restore_precision):
    # with cuDNN's default TF32 convolutions the features differed by up to 3.2e-4 on an H200;
    # in full float32 the two devices should agree far more closely (tolerance 10x below that)
    _set_precision(setup)
    before = _precision_state()
    x = held_out[0][:200]
    torch.testing.assert_close(M.features(x, device="cuda"), M.features(x, device="cpu"),
                               atol=3e-5, rtol=3e-5)
    classifier = M.load_classifier("cuda")
    torch.testing.assert_close(classifier(x.cuda()).cpu(), M.load_classifier("cpu")(x), atol=3e-5, rtol=3e-5)
    assert _precision_state() == before  # restored


@pytest.mark.parametrize("setup", ["defaults", "legacy", "new"])
def test_classifier_runs_in_full_float32_and_restores_the_callers_settings(held_out, setup, restore_precision):
    """Inside the classifier every float32 setting is full precision; afterwards, the caller's."""
    _set_precision(setup)
    before = _precision_state()
    seen = []
    model = M.load_classifier("cpu")
    handles = [layer.register_forward_hook(lambda module, *_: seen.append((module, _precision_state())))
               for layer in (model.conv1, model.fc2)]  # a convolution, and the logits' layer
    try:
        M.features(held_out[0][:20], batch_size=10)  # two batches (and their logits)
        model(held_out[0][:5])  # the model called directly, as chapters do
    finally:
        for handle in handles:
            handle.remove()
    full = (("ieee",) * len(KNOBS)) if NEW_PRECISION_API else (False, "highest")
    assert [m for m, _ in seen] == [model.conv1, model.fc2] * 3
    assert all(state == full for _, state in seen)
    assert _precision_state() == before


def test_classifier_precision_is_restored_after_an_error(held_out, restore_precision):
    _set_precision("new" if NEW_PRECISION_API else "legacy")
    before = _precision_state()
    conv1 = M.load_classifier("cpu").conv1

    def planted(*_):
        raise RuntimeError("planted")

    handle = conv1.register_forward_hook(planted)
    try:
        with pytest.raises(RuntimeError, match="planted"):
            M.features(held_out[0][:20])
    finally:
        handle.remove()
    assert _precision_state() == before


def test_full_precision_leaves_cpu_features_bit_for_bit(held_out, monkeypatch):
    """On the CPU the switch changes nothing: the book's stored FDs stay as they are."""
    x = held_out[0][:100]
    with_switch = M.features(x)
    monkeypatch.setattr(M, "_float32_precision", contextlib.nullcontext)
    assert torch.equal(M.features(x), with_switch)


@pytest.mark.equation
def test_grey_share_by_hand():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 0, :6] = torch.tensor([0.05, 0.3, 0.5, 0.95, 1.0, 1.0])  # ink: 0.3, 0.5, 0.95, 1, 1
    assert M.grey_share(x) == pytest.approx(2 / 5)
    assert M.grey_share(x, solid=0.99) == pytest.approx(3 / 5)
    assert M.grey_share((x > 0.5).float()) == 0.0  # black and white: nothing grey
    with pytest.raises(ValueError, match="no pixel above"):
        M.grey_share(torch.zeros(2, 1, 28, 28))


def _mmd2_unbiased(a, b):
    """The all-rows unbiased MMD^2 written out with explicit loops over the kernel matrices."""
    k = lambda x, y: (x @ y.T / x.shape[1] + 1) ** 3  # noqa: E731
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    n, m = len(a), len(b)
    off = lambda km, size: (km.sum() - km.diagonal().sum()) / (size * (size - 1))  # noqa: E731
    return off(kaa, n) + off(kbb, m) - 2 * kab.mean()


def test_kid_se_is_the_jackknife_of_the_all_rows_estimate():
    # independent side: leave each row out, recompute the estimate from scratch
    g = _gen(11)
    a, b = torch.randn(9, 3, generator=g, dtype=torch.float64), torch.randn(7, 3, generator=g,
                                                                            dtype=torch.float64) + 0.5
    left_a = torch.stack([_mmd2_unbiased(torch.cat([a[:i], a[i + 1:]]), b) for i in range(len(a))])
    left_b = torch.stack([_mmd2_unbiased(a, torch.cat([b[:j], b[j + 1:]])) for j in range(len(b))])
    var = ((len(a) - 1) / len(a) * (left_a - left_a.mean()).square().sum()
           + (len(b) - 1) / len(b) * (left_b - left_b.mean()).square().sum())
    _, se = M.kid(a, b, subsets=3, generator=_gen(0))
    assert se == pytest.approx(var.sqrt().item(), rel=1e-9)


def test_kid_se_matches_the_spread_over_independent_data_sets():
    # The standard error must describe how KID varies from one data set to another. 120 pairs
    # of independent sets (200 vs 100 rows, different distributions); the SD of 120 values is
    # known to about 7 %, so [0.8, 1.25] is about three standard errors wide. The old estimate
    # (the subsets' spread) was 1.45 times too large here.
    g = _gen(12)
    values, ses = [], []
    for r in range(120):
        a = torch.randn(200, 8, generator=g, dtype=torch.float64) + 0.25
        b = torch.randn(100, 8, generator=g, dtype=torch.float64)
        value, se = M.kid(a, b, subsets=20, generator=_gen(r))
        values.append(value)
        ses.append(se)
    ratio = torch.tensor(ses).mean() / torch.tensor(values).std()
    assert 0.8 < ratio < 1.25, ratio
