"""vae.CodeDensity and vae.fit_code_density: the ex-post mixture of Gaussians on a VAE's codes."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from minigen import vae
from minigen.checks import InputError, InputTypeError

# benchmarks/bench_em.py, whose em_by_the_definition is EM as the definitions read
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_em  # noqa: E402

F64 = torch.float64


def mixture(weights, means, covs):
    w, m, c = (torch.tensor(a, dtype=F64) for a in (weights, means, covs))
    return vae.CodeDensity(w, m, torch.linalg.cholesky(c))


TRUE = dict(weights=[0.5, 0.3, 0.2], means=[[0.0, 0.0], [4.0, 1.0], [-3.0, 4.0]],
            covs=[[[1.0, 0.5], [0.5, 1.0]], [[0.5, 0.0], [0.0, 2.0]], [[1.0, -0.3], [-0.3, 0.4]]])


def test_log_prob_integrates_to_one():
    """A normalised density: a Riemann sum over a 2-d grid gives 1 (a wrong log-determinant,
    e.g. the full one instead of half, would give about 0.4 or 2)."""
    density = mixture(**TRUE)
    h = 0.02
    g = torch.arange(-12, 14, h, dtype=F64)
    zz = torch.cartesian_prod(g, g)
    total = sum(density.log_prob(chunk).exp().sum().item() for chunk in zz.split(200_000)) * h * h
    assert abs(total - 1) < 1e-6


def test_log_prob_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    K, d = 4, 5
    a = torch.randn(K, d, d, generator=g, dtype=F64)
    covs = a @ a.transpose(1, 2) + 0.5 * torch.eye(d, dtype=F64)
    w = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64)
    m = 3 * torch.randn(K, d, generator=g, dtype=F64)
    density = vae.CodeDensity(w, m, torch.linalg.cholesky(covs))
    td = torch.distributions
    ref = td.MixtureSameFamily(td.Categorical(w), td.MultivariateNormal(m, covariance_matrix=covs))
    z = 4 * torch.randn(300, d, generator=g, dtype=F64)
    torch.testing.assert_close(density.log_prob(z), ref.log_prob(z), rtol=0, atol=1e-10)


def test_sample_moments():
    """The sample mean and the component shares agree with the mixture within 4 standard errors."""
    density, n = mixture(**TRUE), 40_000
    z = density.sample(n, torch.Generator().manual_seed(1))
    w, m = density.weights, density.means
    c = density.scale_tril @ density.scale_tril.transpose(1, 2)
    mean = (w[:, None] * m).sum(0)
    second = (w[:, None, None] * (c + m[:, :, None] * m[:, None, :])).sum(0)
    var = second.diagonal() - mean ** 2
    assert ((z.mean(0) - mean).abs() / (var / n).sqrt()).max() < 4
    # the share of samples nearest (in density) to each component's mean
    near = torch.stack([torch.linalg.vector_norm(z - mk, dim=1) for mk in m]).argmin(0)
    share = torch.bincount(near, minlength=3).double() / n
    # the components overlap little: each share is close to its weight (not a 1/K split)
    assert (share - w).abs().max() < 0.02


def test_em_recovers_a_known_mixture():
    density = mixture(**TRUE)
    z = density.sample(6000, torch.Generator().manual_seed(2))
    fitted = vae._em(z, 3, 200, torch.Generator().manual_seed(3))
    order = [int(torch.linalg.vector_norm(fitted.means - mk, dim=1).argmin()) for mk in density.means]
    assert sorted(order) == [0, 1, 2]
    n_k = 6000 * density.weights
    se_w = (density.weights * (1 - density.weights) / 6000).sqrt()
    assert ((fitted.weights[order] - density.weights).abs() / se_w).max() < 4
    c = density.scale_tril @ density.scale_tril.transpose(1, 2)
    se_m = (c.diagonal(dim1=1, dim2=2) / n_k[:, None]).sqrt()
    assert ((fitted.means[order] - density.means).abs() / se_m).max() < 4
    c_fit = fitted.scale_tril @ fitted.scale_tril.transpose(1, 2)
    assert (c_fit[order] - c).abs().max() < 0.2  # a covariance without its 1/N_k is off by far more
    # EM maximises the likelihood: the fit is at least as likely as the truth on its own data
    assert fitted.log_prob(z).mean() >= density.log_prob(z).mean() - 1e-6


def test_one_component_is_the_sample_mean_and_covariance():
    z = torch.randn(500, 3, generator=torch.Generator().manual_seed(4), dtype=F64) * torch.tensor([1.0, 2.0, 0.5])
    fitted = vae._em(z, 1, 50, torch.Generator().manual_seed(5))
    zn = z.numpy()
    np.testing.assert_allclose(fitted.means[0].numpy(), zn.mean(0), atol=1e-12)
    cov = (fitted.scale_tril @ fitted.scale_tril.transpose(1, 2))[0].numpy()
    np.testing.assert_allclose(cov, np.cov(zn.T), atol=1e-5)  # plus the 1e-6 jitter
    assert fitted.weights.tolist() == [1.0]


@pytest.fixture(scope="module")
def model():
    return vae.build(vae.VAEConfig(latent_dim=4, hidden=16), seed=0, device="cpu")


def test_fit_and_sample_through_a_vae(model):
    x = torch.rand(60, 1, 28, 28, generator=torch.Generator().manual_seed(6))
    density = vae.fit_code_density(model, x, components=3, generator=torch.Generator().manual_seed(7))
    assert repr(density) == "CodeDensity(3 Gaussians on R^4)"
    assert math.isclose(density.weights.sum().item(), 1.0, abs_tol=1e-12)
    again = vae.fit_code_density(model, x, components=3, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(again.means, density.means, rtol=0, atol=0)
    images = vae.sample(model, 5, generator=torch.Generator().manual_seed(8), prior=density)
    codes = density.sample(5, torch.Generator().manual_seed(8)).float()
    with torch.no_grad():
        torch.testing.assert_close(images, torch.sigmoid(model.decode(codes)))
    prior_images = vae.sample(model, 5, generator=torch.Generator().manual_seed(8))
    assert not torch.allclose(images, prior_images)  # the prior= argument is not ignored


def test_bad_input(model):
    x = torch.rand(5, 1, 28, 28)
    with pytest.raises(InputError, match="at least as many images as components"):
        vae.fit_code_density(model, x, components=6)
    with pytest.raises(InputError, match="components"):
        vae.fit_code_density(model, x, components=0)
    with pytest.raises(InputTypeError, match="components"):
        vae.fit_code_density(model, x, components=2.5)
    other = mixture([1.0], [[0.0, 0.0]], [[[1.0, 0.0], [0.0, 1.0]]])
    with pytest.raises(InputError, match="latent_dim = 4"):
        vae.sample(model, 3, prior=other)
    with pytest.raises(InputTypeError, match="prior"):
        vae.sample(model, 3, prior=torch.distributions.Normal(0.0, 1.0))
    with pytest.raises(InputError, match="z"):
        other.log_prob(torch.zeros(3, 5))


def em_step_by_hand(zn, w, means, covs, jitter):
    """One EM step for a Gaussian mixture, written out in NumPy."""
    log_n = []
    for wk, m, c in zip(w, means, covs):
        inv, logdet = np.linalg.inv(c), np.linalg.slogdet(c)[1]
        quad = np.einsum("ni,ij,nj->n", zn - m, inv, zn - m)
        log_n.append(np.log(wk) - 0.5 * quad - 0.5 * logdet - 0.5 * zn.shape[1] * np.log(2 * np.pi))
    log_n = np.stack(log_n, 1)
    r = np.exp(log_n - np.logaddexp.reduce(log_n, axis=1, keepdims=True))
    nk = r.sum(0)
    m1 = (r.T @ zn) / nk[:, None]
    c1 = np.stack([((zn - m1[k]).T * r[:, k]) @ (zn - m1[k]) / nk[k] for k in range(len(w))])
    return nk / len(zn), m1, c1 + jitter * np.eye(zn.shape[1])


def covariances(density):
    return (density.scale_tril @ density.scale_tril.transpose(1, 2)).numpy()


def test_em_steps_match_steps_by_hand():
    """Overlapping components with unequal weights (0.85 and 0.15). The first step is checked
    from _em's start; the converged fit must be a fixed point of a step by hand, which an E step
    without the weights, or an M step that mixes up the responsibilities, is not. The
    log-likelihood of the codes never falls from one EM step to the next."""
    truth = mixture([0.85, 0.15], [[0.0, 0.0], [1.0, 0.5]], [[[1.0, 0.2], [0.2, 1.0]], [[0.5, 0.0], [0.0, 0.8]]])
    z = truth.sample(2000, torch.Generator().manual_seed(9))
    zn = z.numpy()
    jitter = 1e-6 * zn.var(0, ddof=1).mean()
    # _em's start: means at the two codes the generator picks, the codes' covariance, equal weights
    start = torch.randperm(2000, generator=torch.Generator().manual_seed(10))[:2].numpy()
    cov0 = np.cov(zn.T) + jitter * np.eye(2)
    w1, m1, c1 = em_step_by_hand(zn, [0.5, 0.5], zn[start], [cov0, cov0], jitter)
    one = vae._em(z, 2, 1, torch.Generator().manual_seed(10))
    np.testing.assert_allclose(one.weights.numpy(), w1, rtol=1e-10)
    np.testing.assert_allclose(one.means.numpy(), m1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(covariances(one), c1, rtol=1e-9)
    fit = vae._em(z, 2, 5000, torch.Generator().manual_seed(10))  # EM is slow on overlaps
    w2, m2, c2 = em_step_by_hand(zn, fit.weights.numpy(), fit.means.numpy(), covariances(fit), jitter)
    np.testing.assert_allclose(w2, fit.weights.numpy(), atol=1e-4)
    np.testing.assert_allclose(m2, fit.means.numpy(), atol=1e-4)
    lls = [vae._em(z, 2, t, torch.Generator().manual_seed(10)).log_prob(z).mean().item() for t in range(1, 30)]
    assert all(b >= a - 1e-9 for a, b in zip(lls, lls[1:]))


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_em_is_em_by_the_definition(offset):
    """_em's faster algebra (outer products, one batched product for the E step) gives the fit
    of EM written as its definitions read, on 20-dimensional codes and 20 components as the
    book fits them, after 100 steps; also far from the origin, where E[z z^T] - m m^T would
    lose the covariance to cancellation if the codes were not centred first."""
    g = torch.Generator().manual_seed(20)
    z = torch.randn(3000, 20, generator=g, dtype=F64) * torch.rand(20, generator=g, dtype=F64)
    z = torch.cat([z[:1000] + 1.5, z[1000:] - 0.7]) + offset
    w, m, c = bench_em.em_by_the_definition(z, 20, 100, torch.Generator().manual_seed(21))
    fit = vae._em(z, 20, 100, torch.Generator().manual_seed(21))
    # the two differ by rounding: at most about 1e-11 at offset 0 and 3e-9 at 1e4, while EM
    # without the centring is off by 4e-4 there
    np.testing.assert_allclose(fit.weights.numpy(), w.numpy(), rtol=1e-6)
    np.testing.assert_allclose(fit.means.numpy(), m.numpy(), rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(covariances(fit), c.numpy(), rtol=1e-6, atol=1e-7)
    # the outer products in slices of 700 codes (a data set too large to hold them at once)
    sliced = vae._em(z, 20, 100, torch.Generator().manual_seed(21), outer_numbers=700 * 20 * 20)
    np.testing.assert_allclose(covariances(sliced), covariances(fit), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(sliced.means.numpy(), fit.means.numpy(), rtol=1e-8, atol=1e-10)


def test_fit_uses_posterior_draws_not_means():
    """With one component the fit is the mean and covariance of z = mu + sigma eps: about
    mean(mu) and Cov(mu) + mean(sigma^2). Fitting the means alone would miss the sigma^2 part,
    and a draw scaled by sigma^2 instead of sigma would shrink it (sigma^2 = e^-2 here)."""
    model = vae.build(vae.VAEConfig(latent_dim=3, hidden=16), seed=1, device="cpu")
    with torch.no_grad():
        model.encoder[-1].bias[3:] = -2.0  # log sigma^2 about -2
    x = torch.rand(4000, 1, 28, 28, generator=torch.Generator().manual_seed(11))
    density = vae.fit_code_density(model, x, components=1, generator=torch.Generator().manual_seed(12))
    with torch.no_grad():
        mu, log_var = (t.double() for t in model.encode(x))
    expected = torch.cov(mu.T) + torch.diag(log_var.exp().mean(0))
    fitted = (density.scale_tril @ density.scale_tril.transpose(1, 2))[0]
    var = expected.diagonal()
    assert ((density.means[0] - mu.mean(0)).abs() / (var / 4000).sqrt()).max() < 4
    # each variance within 4 standard errors (2 var^2 / N for a Gaussian sample variance)
    assert ((fitted.diagonal() - var).abs() / (2 * var ** 2 / 4000).sqrt()).max() < 4
    assert log_var.exp().mean() > 2 * torch.cov(mu.T).diagonal().mean()  # sigma^2 dominates: informative


def test_a_code_density_refuses_what_is_not_a_mixture():
    w, m, L = torch.tensor([0.5, 0.5]), torch.zeros(2, 3), torch.eye(3).expand(2, 3, 3)
    vae.CodeDensity(w, m, L)  # fine, and converted to float64 on the CPU
    with pytest.raises(InputTypeError, match="three tensors"):
        vae.CodeDensity([0.5, 0.5], m, L)
    with pytest.raises(InputError, match="shapes"):
        vae.CodeDensity(w, torch.zeros(3, 3), L)
    for bad in (dict(w=torch.tensor([0.7, 0.7])), dict(w=torch.tensor([1.5, -0.5])),
                dict(L=-torch.eye(3).expand(2, 3, 3)), dict(L=torch.ones(2, 3, 3)),
                dict(m=torch.full((2, 3), float("nan")))):
        args = dict(w=w, m=m, L=L) | bad
        with pytest.raises(InputError, match="positive weights summing to 1"):
            vae.CodeDensity(args["w"], args["m"], args["L"])
