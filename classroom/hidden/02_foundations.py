"""Hidden tests of chapter 2 (02_foundations): the autograder runs them, students never see them.

Each question: ``points``, ``task`` (what the stub in the student edition asks for), ``forbidden``
(the functions that already do the job: an answer that uses one gets 0), ``checks``: functions
of the student's function that raise (an ``AssertionError``) when it is wrong, and optionally
``slow`` (checks skipped once an earlier one failed) and ``seconds`` (the time limit of one check).
The first line of a check's docstring is what the student's feedback says when it fails. A
question's points are all or nothing: every check must pass.
"""
import math

import torch
from torch.distributions import Bernoulli, Laplace, Normal, kl_divergence

F64 = torch.float64
KL = ["torch.distributions.kl_divergence", "torch.distributions.kl.kl_divergence"]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _t(*values):
    return torch.tensor(values if len(values) > 1 else values[0], dtype=F64)


def _same_gradients(fn, reference, *inputs):
    """The gradients of sum(fn(inputs)) and sum(reference(inputs)) agree, input by input."""
    grads = []
    for f in (fn, reference):
        xs = [x.detach().clone().requires_grad_() for x in inputs]
        out = f(*xs)
        assert isinstance(out, torch.Tensor), f"returned {type(out).__name__}, not a tensor"
        grads.append(torch.autograd.grad(out.sum(), xs, allow_unused=True))
    for i, (mine, ref) in enumerate(zip(*grads)):
        assert mine is not None, f"no gradient flows to argument {i + 1}"
        torch.testing.assert_close(mine, ref, msg=lambda m: f"gradient of argument {i + 1}: {m}")


# -- my_kl_normal(mu1, sigma1, mu2, sigma2) -----------------------------------------------------
def _kl_normal(mu1, s1, mu2, s2):
    return kl_divergence(Normal(mu1, s1), Normal(mu2, s2))


def kl_normal_other_shape(fn):
    """float64, shape (3, 4, 5), against torch.distributions"""
    g = _gen(101)
    mu = 2 * torch.randn(2, 3, 4, 5, generator=g, dtype=F64)
    s = torch.exp(torch.randn(2, 3, 4, 5, generator=g, dtype=F64))
    out = fn(mu[0], s[0], mu[1], s[1])
    assert out.shape == (3, 4, 5), f"shape {tuple(out.shape)}, expected elementwise (3, 4, 5)"
    torch.testing.assert_close(out, _kl_normal(mu[0], s[0], mu[1], s[1]))


def kl_normal_broadcast_and_equal(fn):
    """broadcasts a vector against numbers, and is 0 for equal Gaussians far from the origin"""
    mu = _t(-50.0, 0.0, 1e3)
    torch.testing.assert_close(fn(mu, _t(2.0), _t(0.0), _t(1.0)), _kl_normal(mu, _t(2.0), _t(0.0), _t(1.0)))
    s = _t(1e-3, 1.0, 30.0)
    torch.testing.assert_close(fn(mu, s, mu, s), torch.zeros(3, dtype=F64), rtol=0, atol=1e-9)


def kl_normal_by_hand(fn):
    """KL(N(0, 1) || N(1, 2^2)) = log 2 + 2/8 - 1/2, worked out by hand"""
    torch.testing.assert_close(fn(_t(0.0), _t(1.0), _t(1.0), _t(2.0)), _t(math.log(2) + 2 / 8 - 0.5))


def kl_normal_gradient(fn):
    """its gradients (by autograd) with respect to all four arguments"""
    g = _gen(102)
    args = (torch.randn(6, generator=g, dtype=F64), torch.rand(6, generator=g, dtype=F64) + 0.2,
            torch.randn(6, generator=g, dtype=F64), torch.rand(6, generator=g, dtype=F64) + 0.2)
    _same_gradients(fn, _kl_normal, *args)


# -- my_kl_bernoulli(a, b) -------------------------------------------------------------------
def _kl_bernoulli(a, b):
    return kl_divergence(Bernoulli(probs=a), Bernoulli(probs=b))


def kl_bernoulli_other_shape(fn):
    """float64, shape (4, 7), against torch.distributions"""
    g = _gen(201)
    a, b = torch.rand(2, 4, 7, generator=g, dtype=F64) * 0.98 + 0.01
    out = fn(a, b)
    assert out.shape == (4, 7), f"shape {tuple(out.shape)}, expected elementwise (4, 7)"
    torch.testing.assert_close(out, _kl_bernoulli(a, b))


def kl_bernoulli_certain_coins(fn):
    """a = 0 and a = 1 (0 log 0 = 0): finite and exact, also against a very biased b"""
    a, b = _t(0.0, 1.0, 0.0, 1.0), _t(0.3, 0.3, 1e-9, 1 - 1e-9)
    out = fn(a, b)
    assert torch.isfinite(out).all(), f"not finite: {out.tolist()}"
    torch.testing.assert_close(out, _t(-math.log(0.7), -math.log(0.3), -math.log(1 - 1e-9), -math.log(1 - 1e-9)))


def kl_bernoulli_by_hand(fn):
    """KL(B(0.5) || B(0.1)) = 0.5 log 5 + 0.5 log(5/9), and 0 for equal coins"""
    torch.testing.assert_close(fn(_t(0.5), _t(0.1)), _t(0.5 * math.log(5) + 0.5 * math.log(5 / 9)))
    torch.testing.assert_close(fn(_t(0.2, 0.7), _t(0.2, 0.7)), _t(0.0, 0.0), rtol=0, atol=1e-12)


def kl_bernoulli_gradient(fn):
    """its gradients (by autograd) with respect to a and b"""
    g = _gen(202)
    _same_gradients(fn, _kl_bernoulli, *(torch.rand(2, 9, generator=g, dtype=F64) * 0.9 + 0.05))


# -- my_jsd_bernoulli(a, b) ------------------------------------------------------------------
def _entropy(p):
    return -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p))


def _jsd_bernoulli(a, b):  # JSD = H(M) - (H(P) + H(Q)) / 2, an independent route
    return _entropy((a + b) / 2) - (_entropy(a) + _entropy(b)) / 2


def jsd_other_shape(fn):
    """float64, shape (5, 3), against JSD = H(M) - (H(P) + H(Q)) / 2"""
    g = _gen(301)
    a, b = torch.rand(2, 5, 3, generator=g, dtype=F64)
    out = fn(a, b)
    assert out.shape == (5, 3), f"shape {tuple(out.shape)}, expected elementwise (5, 3)"
    torch.testing.assert_close(out, _jsd_bernoulli(a, b))


def jsd_edges(fn):
    """certain coins: JSD(B(0) || B(0)) = 0 (no NaN), JSD(B(1) || B(0)) = log 2, JSD(B(0) || B(0.5))"""
    out = fn(_t(0.0, 1.0, 0.0, 1.0), _t(0.0, 0.0, 0.5, 1.0))
    assert torch.isfinite(out).all(), f"not finite: {out.tolist()}"
    torch.testing.assert_close(out, _jsd_bernoulli(_t(0.0, 1.0, 0.0, 1.0), _t(0.0, 0.0, 0.5, 1.0)),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(out[1], _t(math.log(2)))


def jsd_symmetric_bounded(fn):
    """symmetric and between 0 and log 2 on 10,000 random pairs"""
    g = _gen(302)
    a, b = torch.rand(2, 10_000, generator=g, dtype=F64)
    out = fn(a, b)
    torch.testing.assert_close(out, fn(b, a))
    assert out.min() >= -1e-12 and out.max() <= math.log(2) + 1e-12, (out.min().item(), out.max().item())


def jsd_gradient(fn):
    """its gradients (by autograd) with respect to a and b"""
    g = _gen(303)
    _same_gradients(fn, _jsd_bernoulli, *(torch.rand(2, 9, generator=g, dtype=F64) * 0.9 + 0.05))


# -- my_laplace_icdf(u, mu, b) ---------------------------------------------------------------
def _laplace_icdf(u, mu, b):
    return Laplace(mu, b).icdf(u)


def laplace_other_shape(fn):
    """float64, u of shape (3, 5) with a location and scale per column, against Laplace.icdf"""
    g = _gen(401)
    u = torch.rand(3, 5, generator=g, dtype=F64)
    mu, b = torch.randn(5, generator=g, dtype=F64), torch.rand(5, generator=g, dtype=F64) + 0.1
    out = fn(u, mu, b)
    assert out.shape == (3, 5), f"shape {tuple(out.shape)}, expected (3, 5)"
    torch.testing.assert_close(out, _laplace_icdf(u, mu, b))


def laplace_tails_and_median(fn):
    """u = 1/2 gives mu; u near 0 and 1 give the far tails accurately"""
    u, mu, b = _t(0.5, 1e-12, 1 - 1e-12, 0.25), _t(-3.0), _t(2.0)
    torch.testing.assert_close(fn(u, mu, b), _laplace_icdf(u, mu, b))


def laplace_increasing(fn):
    """the inverse of a CDF is increasing in u"""
    u = torch.linspace(0.001, 0.999, 999, dtype=F64)
    x = fn(u, _t(0.0), _t(1.0))
    assert (x.diff() > 0).all(), "my_laplace_icdf(u) decreases somewhere as u grows"


def laplace_gradient(fn):
    """its gradients (by autograd) with respect to u, mu and b"""
    g = _gen(402)
    u = torch.rand(7, generator=g, dtype=F64) * 0.9 + 0.05
    _same_gradients(fn, _laplace_icdf, u, torch.randn(7, generator=g, dtype=F64),
                    torch.rand(7, generator=g, dtype=F64) + 0.5)


QUESTIONS = {
    "my_kl_normal": {
        "points": 2, "forbidden": KL,
        "task": "Return KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)) of eq. (found-gkl), elementwise.",
        "checks": [kl_normal_other_shape, kl_normal_broadcast_and_equal, kl_normal_by_hand, kl_normal_gradient]},
    "my_kl_bernoulli": {
        "points": 2, "forbidden": KL,
        "task": "Return KL(Bernoulli(a) || Bernoulli(b)), elementwise, with 0 log 0 = 0.",
        "checks": [kl_bernoulli_other_shape, kl_bernoulli_certain_coins, kl_bernoulli_by_hand,
                   kl_bernoulli_gradient]},
    "my_jsd_bernoulli": {
        "points": 2, "forbidden": KL,
        "task": "Return JSD(Bernoulli(a) || Bernoulli(b)) of eq. (found-jsd-def), elementwise, "
                "with 0 log 0 = 0.",
        "checks": [jsd_other_shape, jsd_edges, jsd_symmetric_bounded, jsd_gradient]},
    "my_laplace_icdf": {
        "points": 2, "forbidden": ["torch.distributions.Laplace", "torch.distributions.laplace.Laplace"],
        "task": "Return the inverse CDF of the Laplace distribution with location mu and scale b at u, "
                "elementwise.",
        "checks": [laplace_other_shape, laplace_tails_and_median, laplace_increasing, laplace_gradient]},
}
