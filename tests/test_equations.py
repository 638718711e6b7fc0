"""Every loss, bound and metric pinned so that a plausible mistake fails (issue 18).

Each test computes its expected value independently of the code under test: by hand, with
``torch.distributions``, with a naive loop, or with a float64 re-derivation of the formula;
every term of a hand-computed case is non-zero, so no term can be dropped unnoticed. The
training steps are checked through their update: with SGD at learning rate 1 the change of each
parameter must be minus the gradient of the loss written out here. The documented defaults are
pinned too. These tests (and the other tests marked ``equation``) are the ones
``scripts/mutation_test.sh`` runs against each mutant of the equation code.
"""
import copy
import math
import statistics

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from minigen import cvae, gan, vae
from minigen import cyclegan as cg
from minigen import metrics as M
from minigen.data import GaussianMixture2D, binarize, digits, thick_strokes

pytestmark = pytest.mark.equation

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _sgd(params) -> torch.optim.Optimizer:
    """Plain SGD with learning rate 1: one step changes each parameter by minus its gradient."""
    return torch.optim.SGD(list(params), lr=1.0)


def _assert_updated_by(after, before, grads, **tol):
    """Each parameter moved by exactly minus its gradient (the update of :func:`_sgd`)."""
    after, before, grads = list(after), list(before), list(grads)
    assert len(after) == len(before) == len(grads)
    for i, (p, p0, g) in enumerate(zip(after, before, grads)):
        assert g.abs().max() > 0, f"parameter {i} got no gradient: the check would prove nothing"
        torch.testing.assert_close(p.detach(), p0.detach() - g, msg=f"parameter {i}", **tol)


def _test_digits(n: int, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = digits("test", device="cpu")
    return x[start:start + n], y[start:start + n]


# ============================================================================================
# The documented defaults of the settings (the defaults of the functions are pinned below, each
# by a test that computes the function's value with them)
# ============================================================================================
def test_documented_default_settings():
    v = vae.VAEConfig()
    assert (v.likelihood, v.sigma_x, v.beta, v.latent_dim) == ("bernoulli", 0.1, 1.0, 20)
    assert cvae.CVAEConfig().beta == 1.0
    c = cg.CycleGANConfig()
    assert (c.lambda_cyc, c.lambda_id, c.history_size) == (20.0, 0.0, 50)
    assert gan.DIGITS.r1 == 1.0 and gan.RING.r1 == 0.1 and gan.GANConfig().loss == "nonsaturating"
    assert M.COVERAGE_THRESHOLD == 0.05  # half the fair share of 10 %


# ============================================================================================
# minigen.vae
# ============================================================================================
def test_reparameterize_float64_draws_eps_in_the_mean_dtype():
    mu = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.25, -3.0]], dtype=F64)
    log_var = torch.tensor([[0.0, math.log(4.0), -1.0], [1.0, -2.0, 0.5]], dtype=F64)
    z = vae.reparameterize(mu, log_var, _gen(3))
    eps = torch.randn(2, 3, generator=_gen(3), dtype=F64)  # eps ~ N(0, I), drawn in float64
    assert z.dtype == F64
    torch.testing.assert_close(z, mu + (0.5 * log_var).exp() * eps, rtol=0, atol=1e-15)


def test_reparameterize_without_a_generator_uses_the_global_random_state():
    mu, log_var = torch.tensor([[1.0, -2.0]]), torch.tensor([[math.log(9.0), 0.0]])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        z = vae.reparameterize(mu, log_var)
        torch.manual_seed(5)
        eps = torch.randn(1, 2)
    torch.testing.assert_close(z, mu + torch.tensor([[3.0, 1.0]]) * eps)


def test_gaussian_log_likelihood_keeps_a_float_log_variance_in_float64():
    # one number, -1/2 ((x - m)^2 / s^2 + log s^2 + log 2 pi), to float64 precision: a log-variance
    # given as a Python float must not pass through float32 on the way
    x = torch.tensor([[0.3]], dtype=F64)
    expected = -0.5 * (0.2**2 / math.exp(0.1) + 0.1 + math.log(2 * math.pi))
    got = vae.gaussian_log_likelihood(x, 0.1, 0.1)
    assert got.dtype == F64 and got.shape == (1,)
    assert abs(got.item() - expected) < 1e-14


def test_gaussian_log_likelihood_by_hand_per_example():
    # two examples, two pixels each, every term non-zero; log_var as a tensor of the same shape
    x = torch.tensor([[0.9, 0.1], [0.4, 0.7]], dtype=F64)
    mean = torch.tensor([[0.5, 0.3], [0.0, 1.0]], dtype=F64)
    log_var = torch.tensor([[0.5, -1.0], [1.5, -0.25]], dtype=F64)
    expected = [-0.5 * sum((xi - mi) ** 2 / math.exp(li) + li + math.log(2 * math.pi)
                           for xi, mi, li in zip(xr, mr, lr))
                for xr, mr, lr in zip(x.tolist(), mean.tolist(), log_var.tolist())]
    torch.testing.assert_close(vae.gaussian_log_likelihood(x, mean, log_var), torch.tensor(expected, dtype=F64))


def _bernoulli_by_hand(x, logits):
    """sum_i x_i log sigma(l_i) + (1 - x_i) log(1 - sigma(l_i)), per example, by a Python loop."""
    out = []
    for xr, lr in zip(x.flatten(1).tolist(), logits.flatten(1).tolist()):
        p = [1 / (1 + math.exp(-v)) for v in lr]
        out.append(sum(xi * math.log(pi) + (1 - xi) * math.log(1 - pi) for xi, pi in zip(xr, p)))
    return torch.tensor(out, dtype=F64)


def _gaussian_decoder_by_hand(x, logits, sigma):
    out = []
    for xr, lr in zip(x.flatten(1).tolist(), logits.flatten(1).tolist()):
        m = [1 / (1 + math.exp(-v)) for v in lr]
        out.append(-0.5 * sum((xi - mi) ** 2 / sigma**2 + math.log(sigma**2) + math.log(2 * math.pi)
                              for xi, mi in zip(xr, m)))
    return torch.tensor(out, dtype=F64)


def _small_images():
    x = torch.tensor([[0.0, 0.25, 1.0, 0.6], [0.9, 0.1, 0.5, 0.3]], dtype=F64).view(2, 1, 2, 2)
    logits = torch.tensor([[-1.0, 0.5, 2.0, 0.3], [1.5, -2.0, 0.7, -0.4]], dtype=F64).view(2, 1, 2, 2)
    return x, logits


def test_decoder_log_likelihood_by_hand_and_its_defaults():
    x, logits = _small_images()
    bern = _bernoulli_by_hand(x, logits)
    torch.testing.assert_close(vae.decoder_log_likelihood(x, logits), bern)  # default: Bernoulli
    torch.testing.assert_close(vae.decoder_log_likelihood(x, logits, likelihood="bernoulli"), bern)
    torch.testing.assert_close(vae.decoder_log_likelihood(x, logits, likelihood="gaussian"),
                               _gaussian_decoder_by_hand(x, logits, 0.1))  # default sigma_x = 0.1
    torch.testing.assert_close(vae.decoder_log_likelihood(x, logits, likelihood="gaussian", sigma_x=0.3),
                               _gaussian_decoder_by_hand(x, logits, 0.3))
    torch.testing.assert_close(vae.bernoulli_log_likelihood(x, logits), bern)


def test_elbo_by_hand_every_term_non_zero_and_its_defaults():
    x, logits = _small_images()
    mu = torch.tensor([[0.5, -1.0], [2.0, 0.3]], dtype=F64)
    log_var = torch.tensor([[0.2, -0.5], [1.0, 0.7]], dtype=F64)
    kl = [0.5 * sum(m**2 + math.exp(lv) - lv - 1 for m, lv in zip(mr, lr))
          for mr, lr in zip(mu.tolist(), log_var.tolist())]
    for kwargs, rec in (({}, _bernoulli_by_hand(x, logits)),
                        ({"likelihood": "gaussian"}, _gaussian_decoder_by_hand(x, logits, 0.1)),
                        ({"likelihood": "gaussian", "sigma_x": 0.3}, _gaussian_decoder_by_hand(x, logits, 0.3))):
        parts = vae.elbo(x, logits, mu, log_var, **kwargs)
        assert isinstance(parts, vae.ELBO) and parts._fields == ("elbo", "reconstruction", "kl")
        torch.testing.assert_close(parts.reconstruction, rec.mean())
        torch.testing.assert_close(parts.kl, torch.tensor(sum(kl) / 2, dtype=F64))
        torch.testing.assert_close(parts.elbo, rec.mean() - sum(kl) / 2)


def test_iwae_bound_by_hand():
    # k = 3 samples (rows) of B = 2 images (columns): log (1/k) sum_i exp(log_w[i, b]), then the mean
    log_w = torch.tensor([[-1.0, -3.0], [-2.0, -0.5], [-4.0, -1.5]], dtype=F64)
    per_image = [math.log(sum(math.exp(v) for v in col) / 3) for col in ([-1.0, -2.0, -4.0], [-3.0, -0.5, -1.5])]
    torch.testing.assert_close(vae.iwae_bound(log_w), torch.tensor(sum(per_image) / 2, dtype=F64))
    # k = 1: the one-sample ELBO, the log-weight itself
    torch.testing.assert_close(vae.iwae_bound(log_w[:1]), log_w[0].mean())


# --------------------------------------------------------------------------------------------
# A VAE with hand-made networks, whose log-weights are written out below
# --------------------------------------------------------------------------------------------
class _Encoder(nn.Module):
    """q(z | x) with a 2-d latent from the mean ink of the top and bottom halves of an image."""

    def forward(self, x):
        top, bottom = x[:, 0, :14].mean((1, 2)), x[:, 0, 14:].mean((1, 2))
        return torch.stack([2 * top - 0.5, 0.5 - 3 * bottom, top - 0.7, 0.4 - 2 * bottom], 1)  # mu, log_var


def _q_by_hand(x):
    top, bottom = x[:, 0, :14].mean((1, 2)), x[:, 0, 14:].mean((1, 2))
    mu = torch.stack([2 * top - 0.5, 0.5 - 3 * bottom], 1)
    log_var = torch.stack([top - 0.7, 0.4 - 2 * bottom], 1)
    return mu, log_var


class _Decoder(nn.Module):
    """Logits z_1 A + z_2 B + C for three fixed images A, B, C."""

    def __init__(self):
        super().__init__()
        self.basis = nn.Parameter(torch.randn(3, 1, 28, 28, generator=_gen(11), dtype=F64), requires_grad=False)

    def forward(self, z):
        a, b, c = self.basis
        return z[:, 0, None, None, None] * a + z[:, 1, None, None, None] * b + c


def _hand_vae(likelihood="bernoulli", sigma_x=0.1) -> vae.VAE:
    model = vae.VAE(vae.VAEConfig(latent_dim=2, hidden=4, likelihood=likelihood, sigma_x=sigma_x))
    model.encoder, model.decoder = _Encoder(), _Decoder()
    return model.double()


def _log_weights_by_hand(model, x, eps):
    """log p(x|z) + log p(z) - log q(z|x) of z = mu + sigma eps, eps ``(k, B, 2)``, with
    torch.distributions; returns ``(log_w, log_px_z)``, each ``(k, B)``."""
    mu, log_var = _q_by_hand(x)
    sd = (0.5 * log_var).exp()
    z = mu + sd * eps  # (k, B, 2)
    a, b, c = model.decoder.basis
    logits = z[..., 0, None, None, None] * a + z[..., 1, None, None, None] * b + c  # (k, B, 1, 28, 28)
    cfg = model.config
    if cfg.likelihood == "bernoulli":
        log_px = Bernoulli(logits=logits, validate_args=False).log_prob(x.expand_as(logits)).sum((2, 3, 4))
    else:
        log_px = Normal(torch.sigmoid(logits), cfg.sigma_x).log_prob(x.expand_as(logits)).sum((2, 3, 4))
    log_pz = Normal(0.0, 1.0).log_prob(z).sum(-1)  # the prior N(0, I)
    log_qz = Normal(mu, sd).log_prob(z).sum(-1)
    return log_px + log_pz - log_qz, log_px


def _kl_by_hand(x):
    mu, log_var = _q_by_hand(x)
    return kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(0.0, 1.0))  # (B, 2)


def _evaluate_by_hand(model, x, k, batch_size, seed):
    g = _gen(seed)
    log_w, log_px = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        w, p = _log_weights_by_hand(model, xb, torch.randn(k, len(xb), 2, generator=g, dtype=F64))
        log_w.append(w)
        log_px.append(p)
    log_w, log_px = torch.cat(log_w, 1), torch.cat(log_px, 1)
    kl = _kl_by_hand(x).sum(1)
    rec = log_px.mean(0)  # the reconstruction term: the k samples averaged, per image
    iwae = torch.logsumexp(log_w, 0) - math.log(k)
    # nats when the pixels are 0/1 or the decoder is a density; else a binary cross-entropy score
    binary = set(x.unique().tolist()) <= {0.0, 1.0}
    units = "nats" if binary or model.config.likelihood == "gaussian" else "bce"
    return {"neg_elbo": -(rec - kl).mean().item(), "neg_iwae": -iwae.mean().item(),
            "reconstruction": -rec.mean().item(), "kl": kl.mean().item(), "k": k, "units": units}


@pytest.mark.parametrize("likelihood, sigma_x", [("bernoulli", 0.1), ("gaussian", 0.3)])
def test_log_weights_by_hand(likelihood, sigma_x):
    model = _hand_vae(likelihood, sigma_x)
    x = _test_digits(2)[0].double()
    log_w, log_px = vae.log_weights(model, x, 3, _gen(4))
    expected_w, expected_px = _log_weights_by_hand(model, x, torch.randn(3, 2, 2, generator=_gen(4), dtype=F64))
    assert log_w.shape == log_px.shape == (3, 2)
    torch.testing.assert_close(log_px, expected_px)
    torch.testing.assert_close(log_w, expected_w)
    # log p(z) - log q(z | x) is not 0 either
    assert (log_w - log_px).abs().min() > 0.01


def test_evaluate_by_hand_over_several_batches():
    model = _hand_vae()
    x = _test_digits(3)[0].double()
    expected = _evaluate_by_hand(model, x, k=4, batch_size=2, seed=6)  # a full batch, then a partial one
    got = vae.evaluate(model, x, k=4, batch_size=2, generator=_gen(6))
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-12) if key != "units" \
            else got[key] == expected[key], key
    assert got["neg_iwae"] < got["neg_elbo"]  # here the k-sample bound is tighter
    assert got["units"] == "bce"  # grey-level digits under the Bernoulli decoder


def test_evaluate_by_hand_on_binarised_digits_is_in_nats():
    model = _hand_vae()
    x = binarize(_test_digits(3)[0].double())
    expected = _evaluate_by_hand(model, x, k=4, batch_size=2, seed=6)
    got = vae.evaluate(model, x, k=4, batch_size=2, generator=_gen(6))
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-12) if key != "units" \
            else got[key] == expected[key], key
    assert got["units"] == "nats"


def test_evaluate_defaults_are_k_100_and_batches_of_100():
    model = _hand_vae()
    x = digits("train", device="cpu")[0][:101].double()  # a batch of 100, then one image
    expected = _evaluate_by_hand(model, x, k=100, batch_size=100, seed=2)
    got = vae.evaluate(model, x, generator=_gen(2))
    assert got["k"] == 100
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-12) if key != "units" \
            else got[key] == expected[key], key


def test_evaluate_keeps_the_training_mode():
    model = _hand_vae()
    x = _test_digits(2)[0].double()
    for training in (True, False):
        model.train(training)
        vae.evaluate(model, x, k=2, generator=_gen(0))
        assert model.training is training


def test_kl_per_dimension_by_hand_over_several_batches():
    model = _hand_vae()
    x = _test_digits(5)[0].double()
    expected = _kl_by_hand(x).mean(0)  # (d,): each dimension's KL averaged over the images
    assert (expected > 0.001).all()
    torch.testing.assert_close(vae.kl_per_dimension(model, x, batch_size=2), expected)  # 2 + 2 + 1
    torch.testing.assert_close(vae.kl_per_dimension(model, x), expected)  # the default: one batch


def test_evaluate_and_kl_per_dimension_name_their_argument():
    model = _hand_vae()
    bad = torch.full((2, 1, 28, 28), 2.0, dtype=F64)
    with pytest.raises(ValueError, match=r"^x must have values in \[0, 1\]"):
        vae.evaluate(model, bad, k=2)
    with pytest.raises(ValueError, match=r"^x must have values in \[0, 1\]"):
        vae.kl_per_dimension(model, bad)


# --------------------------------------------------------------------------------------------
# One training step: the update is minus the gradient of the beta-weighted loss
# --------------------------------------------------------------------------------------------
def _vae_loss_by_hand(model, x, eps, labels=None):
    """beta KL - E_q[log p(x | z)] of one reparameterised z per image, written out."""
    if labels is None:
        mu, log_var = model.encode(x)
    else:
        h = torch.cat([x.flatten(1), nn.functional.one_hot(labels, 10).to(x.dtype)], 1)
        mu, log_var = model.encoder(h).chunk(2, 1)
    sd = (0.5 * log_var).exp()
    z = mu + sd * eps
    logits = model.decode(z) if labels is None else model.decode(z, labels)
    cfg = model.config
    if getattr(cfg, "likelihood", "bernoulli") == "bernoulli":
        rec = (x * nn.functional.logsigmoid(logits) + (1 - x) * nn.functional.logsigmoid(-logits)).flatten(1).sum(1)
    else:
        rec = Normal(torch.sigmoid(logits), cfg.sigma_x).log_prob(x).flatten(1).sum(1)
    kl = kl_divergence(Normal(mu, sd), Normal(0.0, 1.0)).sum(1)
    return cfg.beta * kl.mean() - rec.mean(), rec.mean(), kl.mean()


@pytest.mark.parametrize("changes", [dict(beta=2.5), dict(beta=0.5, likelihood="gaussian", sigma_x=0.3)])
def test_vae_train_step_update_is_minus_the_gradient_of_the_beta_loss(changes):
    model = vae.build(vae.VAEConfig(hidden=8, latent_dim=3, **changes), seed=1, device="cpu").double()
    x = digits("train", device="cpu")[0][:4].double()
    before = copy.deepcopy(model)
    loss, rec, kl = _vae_loss_by_hand(before, x, torch.randn(4, 3, generator=_gen(3), dtype=F64))
    grads = torch.autograd.grad(loss, list(before.parameters()))
    out = vae.train_step(model, x, {"vae": _sgd(model.parameters())}, generator=_gen(3))
    torch.testing.assert_close(out["loss"], loss.detach())
    torch.testing.assert_close(out["reconstruction"], rec.detach())
    torch.testing.assert_close(out["kl"], kl.detach())
    torch.testing.assert_close(out["elbo"], (rec - kl).detach())
    assert rec.abs() > 1 and kl > 0.01
    _assert_updated_by(model.parameters(), before.parameters(), grads)


def test_cvae_train_step_update_is_minus_the_gradient_of_the_beta_loss():
    model = cvae.build(cvae.CVAEConfig(hidden=8, latent_dim=3, beta=2.5), seed=1, device="cpu").double()
    x, labels = digits("train", device="cpu")
    x, labels = x[:4].double(), labels[:4]
    before = copy.deepcopy(model)
    loss, rec, kl = _vae_loss_by_hand(before, x, torch.randn(4, 3, generator=_gen(3), dtype=F64), labels)
    grads = torch.autograd.grad(loss, list(before.parameters()))
    out = cvae.train_step(model, x, labels, {"cvae": _sgd(model.parameters())}, generator=_gen(3))
    torch.testing.assert_close(out["loss"], loss.detach())
    torch.testing.assert_close(out["elbo"], (rec - kl).detach())
    torch.testing.assert_close(out["kl"], kl.detach())
    _assert_updated_by(model.parameters(), before.parameters(), grads)


# ============================================================================================
# minigen.gan: one step, with the R1 penalty
# ============================================================================================
def test_gan_train_step_updates_are_minus_the_gradients_of_the_losses():
    config = gan.GANConfig(net="mlp", z_dim=2, width=8, depth=2, batch_size=16, r1=0.5)
    model = gan.build(config, seed=2, device="cpu")
    x = torch.randn(24, 2, generator=_gen(1))  # more real rows than the generator's batch
    before = copy.deepcopy(model)
    G, D = before.G, before.D
    g = _gen(7)
    # D's step: -E log sigma(D(x)) - E log(1 - sigma(D(G(z)))) + gamma/2 E |grad_x D(x)|^2
    z = torch.randn(24, 2, generator=g)
    xr = x.clone().requires_grad_(True)
    d_real, d_fake = D(xr), D(G(z).detach())
    loss_d = nn.functional.softplus(-d_real).mean() + nn.functional.softplus(d_fake).mean()
    (grad_x,) = torch.autograd.grad(d_real.sum(), xr, create_graph=True)
    r1 = 0.5 / 2 * (grad_x**2).sum(1).mean()
    grads_d = torch.autograd.grad(loss_d + r1, list(D.parameters()))
    d_before = [p.detach().clone() for p in D.parameters()]
    with torch.no_grad():
        for p, gr in zip(D.parameters(), grads_d):
            p -= gr
    # G's step, against the updated D: -E log sigma(D(G(z)))
    loss_g = nn.functional.softplus(-D(G(torch.randn(16, 2, generator=g)))).mean()
    grads_g = torch.autograd.grad(loss_g, list(G.parameters()))

    opts = {"G": _sgd(model.G.parameters()), "D": _sgd(model.D.parameters())}
    out = gan.train_step(model, lambda: x, opts, generator=_gen(7))
    torch.testing.assert_close(out["loss_D"], loss_d.detach())
    torch.testing.assert_close(out["r1"], r1.detach())
    torch.testing.assert_close(out["loss_G"], loss_g.detach())
    torch.testing.assert_close(out["D_real"], d_real.detach().mean())
    torch.testing.assert_close(out["D_fake"], d_fake.detach().mean())
    assert r1 > 1e-4
    _assert_updated_by(model.D.parameters(), d_before, grads_d, rtol=1e-5, atol=1e-6)
    _assert_updated_by(model.G.parameters(), G.parameters(), grads_g, rtol=1e-5, atol=1e-6)


def test_optimal_discriminator_refuses_a_negative_generator_density_with_its_message():
    with pytest.raises(ValueError, match=r"^densities must be non-negative; pass p\(x\), not log p\(x\)\.$"):
        gan.optimal_discriminator(torch.ones(2), torch.tensor([0.5, -1.0]))
    with pytest.raises(ValueError, match=r"^p_data and p_g must have the same shape, got \(3,\) and \(2,\)\.$"):
        gan.optimal_discriminator(torch.ones(3), torch.ones(2))


# ============================================================================================
# minigen.cyclegan
# ============================================================================================
def _cyclegan_images():
    x = torch.tensor([[0.2, 0.6], [1.0, 0.4]], dtype=F64).view(1, 1, 2, 2)
    x_out = torch.tensor([[0.5, 0.5], [0.7, 0.0]], dtype=F64).view(1, 1, 2, 2)
    y = torch.tensor([[0.9, 0.3], [0.1, 0.8]], dtype=F64).view(2, 1, 1, 2)
    y_out = torch.tensor([[0.6, 0.35], [0.5, 0.2]], dtype=F64).view(2, 1, 1, 2)
    return x, x_out, y, y_out


def test_cycle_and_identity_losses_by_hand_with_non_zero_images():
    # |x_out - x| = 0.3, 0.1, 0.3, 0.4 (mean 0.275); |y_out - y| = 0.3, 0.05, 0.4, 0.6 (mean 0.3375)
    x, x_out, y, y_out = _cyclegan_images()
    expected = np.abs(x_out.numpy() - x.numpy()).mean() + np.abs(y_out.numpy() - y.numpy()).mean()
    assert expected == pytest.approx(0.275 + 0.3375)
    assert cg.cycle_loss(x, x_out, y, y_out).item() == pytest.approx(expected, rel=1e-12)
    assert cg.identity_loss(x, x_out, y, y_out).item() == pytest.approx(expected, rel=1e-12)
    # the roles: x_idt is compared with x, y_idt with y
    assert cg.identity_loss(x, x, y, y_out).item() == pytest.approx(0.3375, rel=1e-12)
    assert cg.identity_loss(x, x_out, y, y).item() == pytest.approx(0.275, rel=1e-12)
    assert cg.cycle_loss(x, x, y, y_out).item() == pytest.approx(0.3375, rel=1e-12)


def test_generator_and_discriminator_objectives_by_hand_every_term_non_zero():
    d_y_fake = torch.tensor([0.5, -0.5, 2.0], dtype=F64)
    d_x_fake = torch.tensor([[0.2], [1.5]], dtype=F64)
    l_cyc, l_id = torch.tensor(0.3, dtype=F64), torch.tensor(0.2, dtype=F64)
    # the paper's scaling: no 1/2 on the generators' least-squares terms
    gan_terms = (0.25 + 2.25 + 1.0) / 3 + (0.64 + 0.25) / 2
    total = cg.generator_objective(d_y_fake, d_x_fake, l_cyc, l_id, lambda_cyc=4.0, lambda_id=0.7)
    assert total.item() == pytest.approx(gan_terms + 4.0 * 0.3 + 0.7 * 0.2, rel=1e-12)
    d_x_real, d_y_real = torch.tensor([0.9, 0.4], dtype=F64), torch.tensor([[1.5, -0.5, 0.8]], dtype=F64)
    fakes = (torch.tensor([0.3, -0.2, 0.6], dtype=F64), torch.tensor([0.1, 0.7], dtype=F64))
    expected = (0.5 * (0.01 + 0.36) / 2 + 0.5 * (0.09 + 0.04 + 0.36) / 3
                + 0.5 * (0.25 + 2.25 + 0.04) / 3 + 0.5 * (0.01 + 0.49) / 2)
    got = cg.discriminator_objective(d_x_real, fakes[0], d_y_real, fakes[1])
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_cyclegan_train_step_updates_are_minus_the_gradients_of_the_objectives():
    # lambda_id = 0.5 switches the identity loss on (any lambda_id > 0 must train it); x and y are
    # real digits, not zeros, so that every term and every gradient is non-zero
    config = cg.CycleGANConfig(channels=4, d_channels=4, batch_size=3, lambda_cyc=3.0, lambda_id=0.5)
    model = cg.build(config, seed=0, device="cpu").double()
    x = _test_digits(3)[0].double()
    y = thick_strokes(_test_digits(3, start=10)[0]).double()
    before = copy.deepcopy(model)
    G, F, D_X, D_Y = before.G, before.F, before.D_X, before.D_Y
    fake_y, fake_x = G(x), F(y)
    l_gan = ((D_Y(fake_y) - 1) ** 2).mean() + ((D_X(fake_x) - 1) ** 2).mean()  # no 1/2: the paper's
    l_cyc = (F(fake_y) - x).abs().mean() + (G(fake_x) - y).abs().mean()
    l_id = (G(y) - y).abs().mean() + (F(x) - x).abs().mean()
    l_gen = l_gan + 3.0 * l_cyc + 0.5 * l_id
    gen_params = list(G.parameters()) + list(F.parameters())
    grads_gen = torch.autograd.grad(l_gen, gen_params)
    # the discriminators see the images generated before the update (no history buffer here)
    fy, fx = fake_y.detach(), fake_x.detach()
    l_dis = (0.5 * ((D_X(x) - 1) ** 2).mean() + 0.5 * (D_X(fx) ** 2).mean()
             + 0.5 * ((D_Y(y) - 1) ** 2).mean() + 0.5 * (D_Y(fy) ** 2).mean())
    dis_params = list(D_X.parameters()) + list(D_Y.parameters())
    grads_dis = torch.autograd.grad(l_dis, dis_params)

    opts = {"GF": _sgd(list(model.G.parameters()) + list(model.F.parameters())),
            "D": _sgd(list(model.D_X.parameters()) + list(model.D_Y.parameters()))}
    out = cg.train_step(model, x, y, opts, cg.ImageHistory(0), cg.ImageHistory(0))
    for key, value in (("generator", l_gen), ("discriminator", l_dis), ("cycle", l_cyc), ("identity", l_id)):
        torch.testing.assert_close(out[key], value.detach(), msg=key)
    assert l_id > 0.01 and l_cyc > 0.01
    _assert_updated_by(list(model.G.parameters()) + list(model.F.parameters()), gen_params, grads_gen)
    _assert_updated_by(list(model.D_X.parameters()) + list(model.D_Y.parameters()), dis_params, grads_dis)


class _Affine(nn.Module):
    def __init__(self, scale: float, shift: float):
        super().__init__()
        self.scale, self.shift = scale, shift

    def forward(self, x):
        return self.scale * x + self.shift


def test_evaluate_translation_by_hand():
    x, labels = _test_digits(12)
    y = thick_strokes(x)
    G, F = _Affine(-0.8, 0.9), _Affine(0.9, 0.0)  # G inverts the digits: the classifier misreads some
    clf = M.load_classifier("cpu")
    with torch.no_grad():
        kept = {name: (clf(images).argmax(1) == labels).double().mean().item()
                for name, images in (("label_x2y", G(x)), ("label_y2x", F(y)))}
    expected = {**kept,
                "pixel_x2y": (G(x).double() - y.double()).abs().mean().item(),
                "pixel_y2x": (F(y).double() - x.double()).abs().mean().item(),
                "cycle_x": (F(G(x)).double() - x.double()).abs().mean().item(),
                "cycle_y": (G(F(y)).double() - y.double()).abs().mean().item()}
    got = cg.evaluate_translation(G, F, x, y, labels)
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-9), key
    assert len(set(expected.values())) == 6 and 0 < min(expected.values())


# ============================================================================================
# minigen.metrics: Frechet distance
# ============================================================================================
def test_frechet_distance_by_hand_in_one_and_two_dimensions():
    # 1-D: (m_a - m_b)^2 + (s_a - s_b)^2 with unbiased variances
    a, b = [0.0, 1.0, 5.0], [2.0, 2.0, 8.0, 4.0]
    var_a, var_b = statistics.variance(a), statistics.variance(b)
    expected = (statistics.mean(a) - statistics.mean(b)) ** 2 + var_a + var_b - 2 * math.sqrt(var_a * var_b)
    assert M.frechet_distance(torch.tensor(a)[:, None], torch.tensor(b)[:, None]) == pytest.approx(expected, rel=1e-12)
    # 2-D, correlated: tr(S_a S_b)^(1/2) from the eigenvalues of S_a S_b (real, >= 0), with numpy
    pa = np.array([[0.0, 0.0], [1.0, 2.0], [3.0, 1.0], [2.0, 5.0]])
    pb = np.array([[1.0, 1.0], [2.0, -1.0], [4.0, 3.0], [0.0, 2.0], [3.0, 3.0]])
    ca, cb = np.cov(pa, rowvar=False), np.cov(pb, rowvar=False)
    cross = np.sqrt(np.linalg.eigvals(ca @ cb).real).sum()
    expected = ((pa.mean(0) - pb.mean(0)) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * cross
    assert M.frechet_distance(pa, pb) == pytest.approx(float(expected), rel=1e-10)
    assert M.frechet_distance(torch.from_numpy(pb), torch.from_numpy(pa)) == pytest.approx(float(expected), rel=1e-10)


def test_frechet_distance_needs_two_rows_in_each_set():
    two = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    assert M.frechet_distance(two, two + 1.0) == pytest.approx(2.0)  # two rows are enough
    message = r"^each feature set needs at least 2 rows to estimate a covariance; got \d+ and \d+\.$"
    with pytest.raises(ValueError, match=message):
        M.frechet_distance(two, two[:1])
    with pytest.raises(ValueError, match=message):
        M.frechet_distance(two[:1], two)


@pytest.mark.parametrize("call", [M.frechet_distance, M.kid])
def test_feature_errors_name_the_argument(call):
    good, flat = torch.zeros(6, 3), torch.zeros(6)
    with pytest.raises(ValueError, match=r"^feat_a must be a 2-D feature matrix \(N, F\), got shape \(6,\)\.$"):
        call(flat, good)
    with pytest.raises(ValueError, match=r"^feat_b must be a 2-D feature matrix \(N, F\), got shape \(6,\)\.$"):
        call(good, flat)
    with pytest.raises(ValueError, match=r"^feature dimensions differ: 3 vs 4\.$"):
        call(good, torch.zeros(6, 4))


# ============================================================================================
# KID
# ============================================================================================
def _kernel(u, v):
    return (sum(p * q for p, q in zip(u, v)) / len(u) + 1) ** 3


def _mmd2_by_hand(a, b):
    """Unbiased MMD^2 with the cubic kernel, by Python loops over the rows."""
    m = len(a)
    xx = sum(_kernel(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(_kernel(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(_kernel(a[i], b[j]) for i in range(m) for j in range(m)) / m**2
    return xx + yy - 2 * xy


def _mmd2_all_rows_by_hand(a, b):
    """Unbiased MMD^2 of all rows, sets of different sizes, by Python loops."""
    n, m = len(a), len(b)
    xx = sum(_kernel(a[i], a[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(_kernel(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(_kernel(a[i], b[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


def _kid_se_by_hand(a, b):
    """KID's standard error: the two-sample delete-one jackknife, each left-out estimate by loops."""
    a, b = [list(map(float, r)) for r in a], [list(map(float, r)) for r in b]
    n, m = len(a), len(b)
    left_a = [_mmd2_all_rows_by_hand(a[:i] + a[i + 1:], b) for i in range(n)]
    left_b = [_mmd2_all_rows_by_hand(a, b[:j] + b[j + 1:]) for j in range(m)]
    mean_a, mean_b = statistics.mean(left_a), statistics.mean(left_b)
    return math.sqrt((n - 1) / n * sum((v - mean_a) ** 2 for v in left_a)
                     + (m - 1) / m * sum((v - mean_b) ** 2 for v in left_b))


def _kid_by_hand(a, b, subsets, m, seed):
    """KID's subset values, with the subsets replayed from the seed, by loops."""
    g = _gen(seed)
    s_a = M._random_subsets(subsets, len(a), m, g).bool()
    s_b = M._random_subsets(subsets, len(b), m, g).bool()
    return [_mmd2_by_hand(a[s_a[s]].tolist(), b[s_b[s]].tolist()) for s in range(subsets)]


def test_polynomial_kernel_and_random_subsets_by_hand():
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0]], dtype=F64)
    y = torch.tensor([[3.0, -1.0], [0.5, 0.5], [2.0, 2.0]], dtype=F64)
    expected = torch.tensor([[_kernel(u, v) for v in y.tolist()] for u in x.tolist()], dtype=F64)
    torch.testing.assert_close(M._polynomial_kernel(x, y), expected)
    s = M._random_subsets(5, 9, 4, _gen(0))
    assert s.dtype == F64 and s.shape == (5, 9)
    assert set(s.unique().tolist()) == {0.0, 1.0} and s.sum(1).tolist() == [4.0] * 5
    assert len({tuple(row) for row in s.tolist()}) > 1


def test_subset_kernel_sums_over_several_chunks_by_hand():
    x = torch.randn(7, 2, generator=_gen(1), dtype=F64)
    y = torch.randn(5, 2, generator=_gen(2), dtype=F64)
    s_x = torch.tensor([[1, 0, 1, 1, 0, 0, 1], [0, 1, 1, 0, 1, 1, 0]], dtype=F64)
    s_y = torch.tensor([[1, 1, 0, 0, 1], [0, 1, 1, 1, 0]], dtype=F64)
    expected = torch.tensor([sum(_kernel(x[i].tolist(), y[j].tolist()) for i in range(7) for j in range(5)
                                 if s_x[s, i] and s_y[s, j]) for s in range(2)], dtype=F64)
    for chunk in (3, 7, 1024):  # three chunks (the last partial), one chunk, the default
        torch.testing.assert_close(M._subset_kernel_sums(x, s_x, y, s_y, chunk=chunk), expected, msg=str(chunk))
    torch.testing.assert_close(M._subset_kernel_sums(x, s_x, y, s_y), expected)


def test_kid_and_its_standard_error_by_hand():
    # the mean over 5 subsets of 3 rows; the standard error is the jackknife of all rows, which
    # does not depend on the subsets
    a = torch.randn(10, 3, generator=_gen(3), dtype=F64)
    b = torch.randn(12, 3, generator=_gen(4), dtype=F64) + 0.4
    values = _kid_by_hand(a, b, subsets=5, m=3, seed=9)
    mean, se = M.kid(a, b, subsets=5, subset_size=3, generator=_gen(9))
    assert mean == pytest.approx(statistics.mean(values), rel=1e-10)
    assert se == pytest.approx(_kid_se_by_hand(a.tolist(), b.tolist()), rel=1e-10)
    assert M.kid(a, b, subsets=7, subset_size=4, generator=_gen(1))[1] == pytest.approx(se, rel=1e-12)


def test_kid_defaults_half_the_smaller_set_and_100_subsets():
    a = torch.randn(9, 2, generator=_gen(5), dtype=F64)
    b = torch.randn(13, 2, generator=_gen(6), dtype=F64) * 1.5
    values = _kid_by_hand(a, b, subsets=100, m=4, seed=1)  # m = 9 // 2
    mean, se = M.kid(a, b, generator=_gen(1))
    assert mean == pytest.approx(statistics.mean(values), rel=1e-10)
    assert se == pytest.approx(_kid_se_by_hand(a.tolist(), b.tolist()), rel=1e-10)


def test_kid_on_two_thousand_rows_caps_the_subsets_at_1000_and_sums_several_chunks():
    # chapter 9 scores 2,000 images: the default subset size is min(n // 2, 1000) = 1000, and the
    # kernel sums run over two chunks of rows
    a = torch.randn(2002, 2, generator=_gen(7), dtype=F64) * 0.5
    b = torch.randn(2010, 2, generator=_gen(8), dtype=F64) * 0.5 + 0.2
    g = _gen(2)
    s_a = M._random_subsets(2, 2002, 1000, g).bool()
    s_b = M._random_subsets(2, 2010, 1000, g).bool()
    values = []
    for s in range(2):
        sa, sb = a[s_a[s]], b[s_b[s]]
        k_aa, k_bb, k_ab = ((sa @ sa.T) / 2 + 1) ** 3, ((sb @ sb.T) / 2 + 1) ** 3, ((sa @ sb.T) / 2 + 1) ** 3
        values.append(((k_aa.sum() - k_aa.trace()) / (1000 * 999) + (k_bb.sum() - k_bb.trace()) / (1000 * 999)
                       - 2 * k_ab.sum() / 1000**2).item())
    mean, se = M.kid(a, b, subsets=2, generator=_gen(2))
    assert mean == pytest.approx(statistics.mean(values), rel=1e-9)
    # the jackknife from whole kernel matrices (kid builds them 1,024 rows at a time)
    n, m = len(a), len(b)
    k_aa, k_bb, k_ab = ((a @ a.T) / 2 + 1) ** 3, ((b @ b.T) / 2 + 1) ** 3, ((a @ b.T) / 2 + 1) ** 3
    k_aa.fill_diagonal_(0)
    k_bb.fill_diagonal_(0)
    s_aa, s_bb, s_ab = k_aa.sum(), k_bb.sum(), k_ab.sum()
    left_a = ((s_aa - 2 * k_aa.sum(1)) / ((n - 1) * (n - 2)) + s_bb / (m * (m - 1))
              - 2 * (s_ab - k_ab.sum(1)) / ((n - 1) * m))
    left_b = (s_aa / (n * (n - 1)) + (s_bb - 2 * k_bb.sum(1)) / ((m - 1) * (m - 2))
              - 2 * (s_ab - k_ab.sum(0)) / (n * (m - 1)))
    var = ((n - 1) / n * (left_a - left_a.mean()).square().sum()
           + (m - 1) / m * (left_b - left_b.mean()).square().sum())
    assert se == pytest.approx(var.sqrt().item(), rel=1e-9)


def test_kid_subset_size_and_count_limits():
    a, b = torch.randn(6, 2, generator=_gen(1), dtype=F64), torch.randn(7, 2, generator=_gen(2), dtype=F64)
    for m in (2, 5):  # the smallest subset, and the largest (one row less than the smaller set)
        mean, _ = M.kid(a, b, subsets=3, subset_size=m, generator=_gen(0))
        assert mean == pytest.approx(statistics.mean(_kid_by_hand(a, b, 3, m, 0)), rel=1e-10)
    mean, se = M.kid(a, b, subsets=2, generator=_gen(4))  # two subsets are enough for a spread
    assert math.isfinite(mean) and se > 0
    with pytest.raises(ValueError, match=r"^subset_size must be in \[2, 6\)"):
        M.kid(a, b, subset_size=6)
    with pytest.raises(ValueError, match=r"^subset_size must be in \[2, 6\)"):
        M.kid(a, b, subset_size=1)
    with pytest.raises(ValueError, match=r"^subsets must be at least 2 to estimate a spread, got 1\.$"):
        M.kid(a, b, subsets=1)


# ============================================================================================
# Precision and recall
# ============================================================================================
# Integer points, so that every distance is exact and some points lie exactly on a ball's edge;
# at most 25 rows, so that torch.cdist computes each distance directly.
PR_REAL = [(1, 0), (7, 9), (8, 3), (4, 2), (6, 6), (6, 2), (7, 7), (6, 4), (7, 2)]
PR_FAKE = [(1, 6), (1, 8), (4, 3), (4, 6), (7, 2), (9, 1), (0, 8)]


def _precision_recall_by_hand(real, fake, k, strict=False):
    def radius(points, i):  # distance to the k-th nearest other point
        return sorted(math.dist(points[i], points[j]) for j in range(len(points)) if j != i)[k - 1]

    inside = (lambda d, r: d < r) if strict else (lambda d, r: d <= r)
    r_real = [radius(real, j) for j in range(len(real))]
    r_fake = [radius(fake, j) for j in range(len(fake))]
    precision = sum(any(inside(math.dist(f, r), r_real[j]) for j, r in enumerate(real)) for f in fake) / len(fake)
    recall = sum(any(inside(math.dist(r, f), r_fake[j]) for j, f in enumerate(fake)) for r in real) / len(real)
    return precision, recall


def test_precision_recall_by_hand_with_points_on_the_ball_edges():
    real, fake = torch.tensor(PR_REAL, dtype=F64), torch.tensor(PR_FAKE, dtype=F64)
    expected = _precision_recall_by_hand(PR_REAL, PR_FAKE, 3)
    assert expected == (5 / 7, 8 / 9)
    assert M.precision_recall(real, fake) == expected  # k = 3 by default
    assert M.precision_recall(real, fake, k=3) == expected
    # the case tells the variants apart: another k, and points exactly on an edge
    assert _precision_recall_by_hand(PR_REAL, PR_FAKE, 4) != expected
    assert _precision_recall_by_hand(PR_REAL, PR_FAKE, 2) != expected
    strict = _precision_recall_by_hand(PR_REAL, PR_FAKE, 3, strict=True)
    assert strict[0] != expected[0] and strict[1] != expected[1]
    for k in (1, 2, 4):
        assert M.precision_recall(real, fake, k=k) == _precision_recall_by_hand(PR_REAL, PR_FAKE, k), k
    # swapping the sets swaps the two numbers
    assert M.precision_recall(fake, real) == expected[::-1]


def test_precision_recall_needs_more_than_k_rows_in_each_set():
    real, fake = torch.tensor(PR_REAL, dtype=F64), torch.tensor(PR_FAKE, dtype=F64)
    for r, f in ((real[:3], fake), (real, fake[:3]), (real[:2], fake[:2])):
        with pytest.raises(ValueError, match=r"^need k >= 1 and more than k rows in each set; got k=3, "):
            M.precision_recall(r, f, k=3)
    assert M.precision_recall(real[:4], fake[:4], k=3) == _precision_recall_by_hand(PR_REAL[:4], PR_FAKE[:4], 3)
    with pytest.raises(ValueError, match=r"^need k >= 1"):
        M.precision_recall(real, fake, k=0)
    with pytest.raises(ValueError, match=r"^real_feat must be a 2-D feature matrix"):
        M.precision_recall(torch.zeros(5), fake)
    with pytest.raises(ValueError, match=r"^fake_feat must be a 2-D feature matrix"):
        M.precision_recall(real, torch.zeros(5))
    with pytest.raises(ValueError, match=r"^feature dimensions differ: 2 vs 3\.$"):
        M.precision_recall(real, torch.zeros(5, 3))


# ============================================================================================
# Class coverage
# ============================================================================================
def _coverage_by_hand(logits):
    """The class-coverage numbers from logits, with numpy in float64."""
    z = np.asarray(logits, dtype=np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    share = np.bincount(p.argmax(1), minlength=10) / len(p)
    nz = share[share > 0]
    return {"histogram": [round(float(s), 6) for s in share],
            "classes_covered": int((share >= 0.05).sum()),
            "min_class_share": float(share.min()),
            "kl_from_uniform": float((nz * np.log(10 * nz)).sum()),
            "mean_confidence": float(p.max(1).mean())}


def _assert_coverage_equal(got, expected):
    assert got.keys() == expected.keys()
    assert got["histogram"] == pytest.approx(expected["histogram"], abs=1e-12)
    for key in ("classes_covered", "min_class_share", "kl_from_uniform", "mean_confidence"):
        assert got[key] == pytest.approx(expected[key], rel=1e-6), key


def _one_hot_logits(classes, heights):
    logits = torch.zeros(len(classes), 10, dtype=F64)
    logits[torch.arange(len(classes)), torch.tensor(classes)] = torch.tensor(heights, dtype=F64)
    return logits


def test_coverage_from_logits_by_hand():
    # 20 images: class 0 once (a share of exactly 5 %: covered), class 1 three times, class 2
    # sixteen times; a logit h over nine zeros gives the top class e^h / (e^h + 9)
    heights = [math.log(9.0)] + [math.log(27.0)] * 3 + [2.0] * 16
    logits = _one_hot_logits([0] + [1] * 3 + [2] * 16, heights)
    got = M._coverage_from_logits(logits)
    confidence = (0.5 + 3 * 0.75 + 16 * math.exp(2) / (math.exp(2) + 9)) / 20
    assert got["histogram"] == [0.05, 0.15, 0.8] + [0.0] * 7
    assert got["classes_covered"] == 3
    assert got["min_class_share"] == 0.0
    assert got["kl_from_uniform"] == pytest.approx(0.05 * math.log(0.5) + 0.15 * math.log(1.5) + 0.8 * math.log(8))
    assert got["mean_confidence"] == pytest.approx(confidence, rel=1e-12)
    _assert_coverage_equal(got, _coverage_by_hand(logits))


def test_coverage_from_logits_rounds_shares_to_six_decimals_and_counts_all_ten_classes():
    three = M._coverage_from_logits(_one_hot_logits([4, 4, 9], [1.0, 3.0, 0.5]))
    assert three["histogram"] == [0.0] * 4 + [0.666667] + [0.0] * 4 + [0.333333]
    assert three["classes_covered"] == 2
    every = M._coverage_from_logits(_one_hot_logits(list(range(10)) * 2, [1.0] * 20))
    assert len(every["histogram"]) == 10 and every["min_class_share"] == 0.1
    assert every["kl_from_uniform"] == pytest.approx(0.0, abs=1e-15)
    one = M._coverage_from_logits(_one_hot_logits([7], [0.0]))  # one image is enough
    assert one["classes_covered"] == 1 and one["mean_confidence"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"^images is empty: class coverage needs at least one image\.$"):
        M._coverage_from_logits(torch.zeros(0, 10))


def test_class_coverage_equals_the_classifier_read_by_hand():
    x = torch.cat([_test_digits(7)[0], torch.rand(3, 1, 28, 28, generator=_gen(0))])
    with torch.no_grad():
        logits = M.load_classifier("cpu")(x)
    _assert_coverage_equal(M.class_coverage(x), _coverage_by_hand(logits))


# ============================================================================================
# evaluate_images: which number is which
# ============================================================================================
def _evaluate_images_by_hand(generated, reference, subsets, seed):
    clf = M.load_classifier("cpu")
    with torch.no_grad():
        fg, fr, logits = clf.features(generated).double(), clf.features(reference).double(), clf(generated)
    ca, cb = np.cov(fg.numpy(), rowvar=False), np.cov(fr.numpy(), rowvar=False)
    vals, vecs = np.linalg.eigh(ca)
    root = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ cb @ root), 0, None)).sum()
    fd = float(((fg.numpy().mean(0) - fr.numpy().mean(0)) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * cross)
    m = min(len(fg), len(fr)) // 2
    values = _kid_by_hand(fg, fr, subsets, m, seed)
    precision, recall = _precision_recall_by_hand(fr.tolist(), fg.tolist(), 3)
    return {"fd": fd, "kid": statistics.mean(values), "kid_se": _kid_se_by_hand(fg.tolist(), fr.tolist()),
            "precision": precision, "recall": recall, **_coverage_by_hand(logits)}


def _generated_and_reference():
    x = _test_digits(40)[0]
    noise = torch.rand(3, 1, 28, 28, generator=_gen(1))
    return torch.cat([thick_strokes(x[:9]), noise]), x[20:35]  # 12 generated, 15 reference


def test_evaluate_images_by_hand():
    generated, reference = _generated_and_reference()
    expected = _evaluate_images_by_hand(generated, reference, subsets=100, seed=0)  # the defaults
    got = M.evaluate_images(generated, reference)
    assert got.keys() == expected.keys()
    assert got["fd"] == pytest.approx(expected["fd"], rel=1e-6)
    for key in ("kid", "kid_se"):
        assert got[key] == pytest.approx(expected[key], rel=1e-6), key
    assert (got["precision"], got["recall"]) == (expected["precision"], expected["recall"])
    assert got["precision"] != got["recall"]  # so that a swap of the two shows
    assert len(got["histogram"]) == 10
    keys = ("histogram", "classes_covered", "min_class_share", "kl_from_uniform", "mean_confidence")
    _assert_coverage_equal({k: got[k] for k in keys}, {k: expected[k] for k in keys})


def test_evaluate_images_passes_its_kid_settings_on():
    generated, reference = _generated_and_reference()
    expected = _evaluate_images_by_hand(generated, reference, subsets=7, seed=3)
    got = M.evaluate_images(generated, reference, kid_subsets=7, seed=3)
    assert got["kid"] == pytest.approx(expected["kid"], rel=1e-6)
    assert got["kid_se"] == pytest.approx(expected["kid_se"], rel=1e-6)


def test_evaluate_images_default_reference_is_the_test_digits():
    generated, _ = _generated_and_reference()
    assert M.evaluate_images(generated) == M.evaluate_images(generated, digits("test", device="cpu")[0])


def test_classifier_metrics_pass_their_device_to_every_classifier_call(monkeypatch):
    # the classifier runs wherever `device` says (a GPU in a chapter): no call may fall back to the
    # default device
    seen = []
    load = M.load_classifier
    monkeypatch.setattr(M, "load_classifier", lambda device=None: seen.append(device) or load("cpu"))
    monkeypatch.setattr(M, "_REFERENCE", {})  # so that the reference features are computed again
    x, labels = _test_digits(6)
    M.class_coverage(x, device="cpu")
    M.label_preservation(x, labels, device="cpu")
    assert seen == ["cpu", "cpu"]
    M.evaluate_images(x, device="cpu")  # the generated images, then the default reference
    M.evaluate_images(x, x.flip(3), device="cpu")  # the generated images, then the reference
    cg.evaluate_translation(nn.Identity(), nn.Identity(), x, x, labels, device="cpu")  # two reads
    assert seen == ["cpu"] * 8


# ============================================================================================
# Mode coverage
# ============================================================================================
MIXTURE = GaussianMixture2D(torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=torch.float32), 0.5)


def test_mode_coverage_by_hand_and_its_defaults():
    # default n_std = 3: within 1.5 of a mode is high quality, (1.5, 0) exactly on the edge;
    # default min_share = 0.2: a mode needs max(1, ceil(0.2 * 8 / 3)) = 1 sample
    samples = torch.tensor([[0.0, 0.0], [0.5, 0.5], [1.5, 0.0], [-1.0, 0.0],  # mode 0
                            [10.0, 1.0], [11.0, 0.0],  # mode 1
                            [1.8, 0.0], [5.0, 5.0]], dtype=F64)  # too far from every mode
    expected = {"modes_covered": 2, "n_modes": 3, "high_quality": 6 / 8, "counts": [4, 2, 0], "min_count": 1}
    assert M.mode_coverage(samples, MIXTURE) == expected
    assert M.mode_coverage(samples.float(), MIXTURE) == expected
    assert M.mode_coverage(samples.tolist(), MIXTURE) == expected
    assert M.mode_coverage(samples, MIXTURE, n_std=3.0, min_share=0.2) == expected
    # a wider radius takes in (1.8, 0): n_std = 4 gives 2.0
    assert M.mode_coverage(samples, MIXTURE, n_std=4.0)["counts"] == [5, 2, 0]


def test_mode_coverage_threshold_is_at_least_min_share_of_a_fair_share():
    # 100 samples, 4 modes, min_share 0.2: ceil(0.2 * 100 / 4) = 5 high-quality samples needed
    means = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]], dtype=F64)
    counts = [5, 4, 91, 0]
    samples = torch.cat([means[i].expand(c, 2) for i, c in enumerate(counts)])
    r = M.mode_coverage(samples, GaussianMixture2D(means, 0.5), min_share=0.2)
    assert r["min_count"] == 5 and r["counts"] == counts
    assert r["modes_covered"] == 2  # exactly 5 counts, 4 does not
    assert M.mode_coverage(samples, GaussianMixture2D(means, 0.5), min_share=0.16)["min_count"] == 4
    # never fewer than one sample
    assert M.mode_coverage(samples[:1], GaussianMixture2D(means, 0.5))["min_count"] == 1


def test_mode_coverage_refuses_bad_shapes_with_its_message():
    for bad in (torch.zeros(0, 2), torch.zeros(4, 3), torch.zeros(4)):
        with pytest.raises(ValueError, match=r"^samples must have shape \(N, 2\) with N >= 1, got "):
            M.mode_coverage(bad, MIXTURE)
    assert M.mode_coverage(torch.zeros(1, 2), MIXTURE)["modes_covered"] == 1


# ============================================================================================
# Translation: label preservation, pixel error; the grey share
# ============================================================================================
def test_label_preservation_by_hand():
    x, labels = _test_digits(10)
    wrong = labels.clone()
    wrong[[1, 4, 6]] = (wrong[[1, 4, 6]] + 1) % 10
    with torch.no_grad():
        predicted = M.load_classifier("cpu")(x).argmax(1)
    expected = sum(int(p) == int(w) for p, w in zip(predicted, wrong)) / 10
    assert 0 < expected < 1
    assert M.label_preservation(x, wrong) == pytest.approx(expected)
    assert M.label_preservation(x[:1], labels[:1]) in (0.0, 1.0)  # one image is enough


def test_label_preservation_refuses_bad_labels_and_no_images():
    x, labels = _test_digits(4)
    for bad in (labels.double(), labels[:, None], labels[:3]):
        with pytest.raises(ValueError, match=r"^source_labels must be integer labels of shape \(4,\), got dtype "):
            M.label_preservation(x, bad)
    with pytest.raises(ValueError, match=r"^translated is empty\.$"):
        M.label_preservation(torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.int64))


def test_pixel_error_by_hand_and_names_its_arguments():
    a = torch.zeros(2, 1, 28, 28)
    b = torch.zeros(2, 1, 28, 28)
    a[0, 0, 0, :3] = torch.tensor([0.2, 0.7, 1.0])
    b[0, 0, 0, :3] = torch.tensor([0.5, 0.1, 1.0])
    b[1, 0, 5, 5] = 0.25
    expected = (0.3 + 0.6 + 0.0 + 0.25) / (2 * 784)
    assert M.pixel_error(a, b) == pytest.approx(expected, rel=1e-6)
    bad = torch.full((2, 1, 28, 28), 2.0)
    with pytest.raises(ValueError, match=r"^images must have values in"):
        M.pixel_error(bad, b)
    with pytest.raises(ValueError, match=r"^target must have values in"):
        M.pixel_error(a, bad)
    with pytest.raises(ValueError, match=r"^images and target must have the same shape, got \(2, 1, 28, 28\) "
                                         r"and \(1, 1, 28, 28\)\.$"):
        M.pixel_error(a, b[:1])


def test_grey_share_edges_by_hand():
    # ink = 0.25 and solid = 0.75: a pixel at exactly 0.25 has no ink, one at exactly 0.75 is solid
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 0, :5] = torch.tensor([0.25, 0.5, 0.75, 1.0, 0.3])
    assert M.grey_share(x, ink=0.25, solid=0.75) == 2 / 4
    # the defaults: ink 0.1 and solid 0.9
    x[0, 0, 1, :3] = torch.tensor([0.05, 0.95, 0.85])
    assert M.grey_share(x) == 5 / 7
    with pytest.raises(ValueError, match=r"^images must have values in"):
        M.grey_share(torch.full((1, 1, 28, 28), 2.0))
    with pytest.raises(ValueError, match=r"^images have no pixel above ink=0\.25: the grey share is undefined\.$"):
        M.grey_share(torch.full((1, 1, 28, 28), 0.25), ink=0.25)
