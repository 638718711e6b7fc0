"""The likelihood the book calls log p(x): the Bernoulli decoder is a probability mass function
on binary images (it sums to 1 over {0, 1}^n), and on grey levels it is not a density (its
integral over [0, 1] is 0.364 at p = 0.1, 0.213 at p = 0.99). Each check is also run on plausible
wrong versions of the formula, which must fail it."""
import itertools
import math

import pytest
import torch
from torch.nn import functional as F

from minigen import data, vae

F64 = torch.float64
N_PIXELS = 10  # 2^10 = 1,024 binary images: every one of them can be scored


def _all_binary_images(n: int = N_PIXELS) -> torch.Tensor:
    """Every binary image of n pixels, ``(2^n, n)`` float64."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=F64)


def _logits(seed: int, n: int = N_PIXELS) -> torch.Tensor:
    # spread out, so that some p are near 0 and 1 and none is 1/2 by accident
    return 3 * torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=F64)


# plausible mistakes in a Bernoulli log-likelihood, each a function (x, logits) -> (B,)
def _no_log_one_minus_p(x, logits):
    return (x * F.logsigmoid(logits)).flatten(1).sum(1)  # the (1 - x) log(1 - p) term dropped


def _sign_of_second_term(x, logits):
    return (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(logits)).flatten(1).sum(1)


def _mean_not_sum(x, logits):
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).mean(1)


# (a mistake that maps the logits to other probabilities, such as a forgotten sigmoid, is
# still a pmf: the value pins in tests/test_equations.py catch those, not this check)
MISTAKES = [_no_log_one_minus_p, _sign_of_second_term, _mean_not_sum]


def _pmf_total(log_likelihood, logits) -> float:
    x = _all_binary_images(len(logits))
    return torch.logsumexp(log_likelihood(x, logits.expand_as(x)), 0).exp().item()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bernoulli_decoder_is_a_pmf_on_binary_images(seed):
    total = _pmf_total(vae.bernoulli_log_likelihood, _logits(seed))
    assert total == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda f: f.__name__)
def test_the_pmf_check_fails_a_wrong_formula(mistake):
    assert abs(_pmf_total(mistake, _logits(0)) - 1.0) > 1e-3


def test_the_marginal_of_a_one_dimensional_latent_model_is_a_pmf_too():
    # p(x) = integral of p(x | z) N(z; 0, 1) dz with logits l(z) = a z + b, by quadrature over z:
    # summed over the 1,024 binary images it is 1, so ELBO <= log p(x) bounds a real likelihood
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(N_PIXELS, generator=g, dtype=F64), torch.randn(N_PIXELS, generator=g, dtype=F64)
    zs = torch.linspace(-10, 10, 4001, dtype=F64)
    x = _all_binary_images()
    logits = zs[:, None, None] * a + b  # (Z, 1, n)
    log_px_z = vae.bernoulli_log_likelihood(x.expand(len(zs), *x.shape).flatten(0, 1),
                                            logits.expand(len(zs), *x.shape).flatten(0, 1))
    log_joint = log_px_z.view(len(zs), -1) + vae.gaussian_log_likelihood(zs[:, None], 0.0, 0.0)[:, None]
    log_px = torch.logsumexp(log_joint, 0) + math.log(zs[1] - zs[0])  # (2^n,)
    assert torch.logsumexp(log_px, 0).exp().item() == pytest.approx(1.0, abs=1e-9)


def _integral_closed_form(p: float) -> float:
    """The integral of p^x (1 - p)^(1 - x) over x in [0, 1]: (1 - p) r^x with r = p / (1 - p)
    integrates to (1 - p)(r - 1) / log r = (2p - 1) / (log p - log(1 - p))."""
    return (2 * p - 1) / (math.log(p) - math.log(1 - p))


@pytest.mark.parametrize("p, expected", [(0.1, 0.364), (0.99, 0.213), (0.7, 0.472)])
def test_on_grey_levels_the_bernoulli_formula_is_not_a_density(p, expected):
    xs = torch.linspace(0, 1, 100_001, dtype=F64)[:, None]
    logit = torch.full_like(xs, math.log(p) - math.log(1 - p))
    integral = torch.trapezoid(vae.bernoulli_log_likelihood(xs, logit).exp(), xs[:, 0]).item()
    assert integral == pytest.approx(_integral_closed_form(p), abs=1e-9)
    assert round(integral, 3) == expected  # the numbers chapter 4 teaches; far from 1
    # the continuous Bernoulli of Loaiza-Ganem and Cunningham (2019) divides by this integral
    # (its normalising constant), and then integrates to 1
    assert integral / _integral_closed_form(p) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("mistake", [_no_log_one_minus_p, _sign_of_second_term],
                         ids=lambda f: f.__name__)
def test_the_integral_check_fails_a_wrong_formula(mistake):
    xs = torch.linspace(0, 1, 100_001, dtype=F64)[:, None]
    logit = torch.full_like(xs, math.log(0.1 / 0.9))
    wrong = torch.trapezoid(mistake(xs, logit).exp(), xs[:, 0]).item()
    assert abs(wrong - _integral_closed_form(0.1)) > 1e-3


# --------------------------------------------------------------------------------------------
# vae.evaluate says which number it returns: nats on binary images, a BCE score on grey levels
# --------------------------------------------------------------------------------------------
def _small_vae(likelihood: str = "bernoulli") -> vae.VAE:
    return vae.build(vae.VAEConfig(hidden=16, latent_dim=2, likelihood=likelihood), seed=0,
                     device="cpu")


def test_evaluate_labels_binary_images_nats_and_grey_levels_a_bce_score():
    x = data.digits("test", device="cpu")[0][:20]
    model = _small_vae()
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert vae.evaluate(model, data.binarize(x), k=2, generator=gen())["units"] == "nats"
    assert vae.evaluate(model, x, k=2, generator=gen())["units"] == "bce"
    # one grey pixel is enough to make it a BCE score
    almost = data.binarize(x).clone()
    almost[3, 0, 14, 14] = 0.5
    assert vae.evaluate(model, almost, k=2, generator=gen())["units"] == "bce"
    # a Gaussian decoder is a density on grey levels: its bound is in nats
    assert vae.evaluate(_small_vae("gaussian"), x, k=2, generator=gen())["units"] == "nats"
