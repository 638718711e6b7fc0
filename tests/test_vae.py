"""minigen.vae: the equations (KL terms, ELBO, the beta-weighted loss, IWAE) pinned to hand-computed
values and to exact models, then one training step, the training loop, checkpoints and use."""
import json
import math

import numpy as np
import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from minigen import cli, vae
from minigen.checkpoint import CheckpointError, load_checkpoint
from minigen.utils import TrainingDiverged

F64 = torch.float64


# --------------------------------------------------------------------------------------------
# The equations
# --------------------------------------------------------------------------------------------
@pytest.mark.equation
def test_kl_is_zero_at_the_prior():
    kl = vae.gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 5))
    assert kl.shape == (3,)
    assert torch.equal(kl, torch.zeros(3))


@pytest.mark.equation
def test_kl_hand_computed():
    # dim 1: mu = 1, sigma^2 = 1 -> (1 + 1 - 0 - 1) / 2 = 0.5
    # dim 2: mu = 0, sigma^2 = 2 -> (0 + 2 - ln 2 - 1) / 2 = (1 - ln 2) / 2
    mu = torch.tensor([[1.0, 0.0]], dtype=F64)
    log_var = torch.tensor([[0.0, math.log(2.0)]], dtype=F64)
    expected = 0.5 + (1 - math.log(2)) / 2
    torch.testing.assert_close(vae.gaussian_kl(mu, log_var), torch.tensor([expected], dtype=F64))


@pytest.mark.equation
def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu = 2 * torch.randn(64, 8, generator=g, dtype=F64)
    log_var = 3 * torch.randn(64, 8, generator=g, dtype=F64)
    q = Independent(Normal(mu, (0.5 * log_var).exp()), 1)
    prior = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    torch.testing.assert_close(vae.gaussian_kl(mu, log_var), kl_divergence(q, prior))


@pytest.mark.equation
def test_kl_terms_by_hand_per_dimension():
    # KL_j = (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1) / 2, one term per latent dimension
    mu = torch.tensor([[1.5, -0.5, 0.0], [0.0, 0.0, 2.0]], dtype=F64)
    log_var = torch.tensor([[math.log(2.0), -1.0, 0.0], [0.0, 1.0, -2.0]], dtype=F64)
    expected = torch.tensor([
        [(2.25 + 2 - math.log(2.0) - 1) / 2, (0.25 + math.exp(-1.0) + 1 - 1) / 2, 0.0],
        [0.0, (math.e - 1 - 1) / 2, (4 + math.exp(-2.0) + 2 - 1) / 2],
    ], dtype=F64)
    terms = vae.kl_terms(mu, log_var)
    assert terms.shape == (2, 3)
    torch.testing.assert_close(terms, expected)
    assert terms[0, 2].item() == 0.0 and terms[1, 0].item() == 0.0  # exactly 0 at the prior
    assert (terms[terms != 0] > 0).all()


@pytest.mark.equation
def test_kl_terms_sum_to_gaussian_kl_and_match_torch_distributions():
    g = torch.Generator().manual_seed(6)
    mu = 2 * torch.randn(32, 5, generator=g, dtype=F64)
    log_var = 3 * torch.randn(32, 5, generator=g, dtype=F64)
    terms = vae.kl_terms(mu, log_var)
    torch.testing.assert_close(terms.sum(1), vae.gaussian_kl(mu, log_var))
    per_dim = kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu)))
    torch.testing.assert_close(terms, per_dim)


@pytest.mark.equation
def test_bernoulli_log_likelihood_hand_values():
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    # zero logits: p = 1/2 for every pixel, whatever x is -> 784 * log(1/2) per image
    torch.testing.assert_close(vae.bernoulli_log_likelihood(x, torch.zeros_like(x)),
                               torch.full((2,), -784 * math.log(2)))
    # one pixel, x = 1, logit l: log sigmoid(l); x = 0.25: 0.25 log p + 0.75 log(1 - p)
    p = 1 / (1 + math.exp(-1.5))
    out = vae.bernoulli_log_likelihood(torch.tensor([[1.0], [0.25]], dtype=F64),
                                       torch.tensor([[1.5], [1.5]], dtype=F64))
    torch.testing.assert_close(out, torch.tensor([math.log(p), 0.25 * math.log(p) + 0.75 * math.log(1 - p)],
                                                 dtype=F64))


@pytest.mark.equation
def test_gaussian_log_likelihood_matches_torch_distributions():
    g = torch.Generator().manual_seed(2)
    x, mean = torch.rand(4, 1, 28, 28, generator=g, dtype=F64), torch.rand(4, 1, 28, 28, generator=g, dtype=F64)
    log_var = torch.randn(4, 1, 28, 28, generator=g, dtype=F64)
    expected = Normal(mean, (0.5 * log_var).exp()).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(vae.gaussian_log_likelihood(x, mean, log_var), expected)
    # a float log-variance broadcasts; standard normal at 0 in d dims: -d/2 log(2 pi)
    torch.testing.assert_close(vae.gaussian_log_likelihood(torch.zeros(3, 7, dtype=F64), 0.0, 0.0),
                               torch.full((3,), -3.5 * math.log(2 * math.pi), dtype=F64))


@pytest.mark.equation
def test_elbo_hand_computed_and_reduced_over_the_batch():
    x = torch.zeros(2, 1, 28, 28)
    x[1] = 1.0
    logits = torch.zeros(2, 1, 28, 28)
    logits[1] = 2.0  # image 1: every pixel log sigmoid(2)
    mu = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    log_var = torch.zeros(2, 2)
    parts = vae.elbo(x, logits, mu, log_var)
    rec0, rec1 = -784 * math.log(2), 784 * math.log(1 / (1 + math.exp(-2.0)))
    kl0, kl1 = 0.0, 0.5
    torch.testing.assert_close(parts.reconstruction, torch.tensor((rec0 + rec1) / 2))
    torch.testing.assert_close(parts.kl, torch.tensor((kl0 + kl1) / 2))
    torch.testing.assert_close(parts.elbo, parts.reconstruction - parts.kl)
    assert parts.elbo.shape == ()


@pytest.mark.equation
def test_elbo_gaussian_likelihood():
    x = torch.full((1, 1, 28, 28), 0.5)
    parts = vae.elbo(x, torch.zeros_like(x), torch.zeros(1, 3), torch.zeros(1, 3),
                     likelihood="gaussian", sigma_x=0.1)
    # sigmoid(0) = 0.5 = x, so only the normaliser remains: -784/2 (log 0.01 + log 2 pi)
    torch.testing.assert_close(parts.elbo, torch.tensor(-392 * (math.log(0.01) + math.log(2 * math.pi))))
    with pytest.raises(ValueError, match="likelihood"):
        vae.elbo(x, x, torch.zeros(1, 3), torch.zeros(1, 3), likelihood="poisson")


@pytest.mark.equation
def test_vae_loss_is_minus_the_elbo_at_beta_one_and_weights_the_kl():
    parts = vae.ELBO(elbo=torch.tensor(-107.0), reconstruction=torch.tensor(-100.0), kl=torch.tensor(7.0))
    assert vae.vae_loss(parts).item() == 107.0  # beta = 1 by default: -ELBO
    assert vae.vae_loss(parts, 1.0).item() == 107.0
    assert vae.vae_loss(parts, 2.0).item() == 114.0  # 2 * 7 + 100
    assert vae.vae_loss(parts, 0.0).item() == 100.0  # reconstruction alone
    assert vae.vae_loss(parts, 0.5).item() == 103.5
    # on the parts elbo() returns, beta = 1 gives exactly -ELBO
    g = torch.Generator().manual_seed(7)
    x = torch.rand(3, 1, 28, 28, generator=g)
    real = vae.elbo(x, torch.randn(3, 1, 28, 28, generator=g), torch.randn(3, 4, generator=g),
                    torch.randn(3, 4, generator=g))
    torch.testing.assert_close(vae.vae_loss(real, 1.0), -real.elbo)
    torch.testing.assert_close(vae.vae_loss(real, 2.0), 2 * real.kl - real.reconstruction)


@pytest.mark.equation
def test_reparameterize_is_seeded_and_differentiable():
    mu = torch.tensor([[0.5, -1.0]], requires_grad=True)
    log_var = torch.tensor([[0.0, math.log(4.0)]], requires_grad=True)
    z1 = vae.reparameterize(mu, log_var, torch.Generator().manual_seed(3))
    z2 = vae.reparameterize(mu, log_var, torch.Generator().manual_seed(3))
    assert torch.equal(z1, z2)
    eps = torch.randn(1, 2, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(z1, mu + torch.tensor([[1.0, 2.0]]) * eps)
    z1.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones(1, 2))  # dz/dmu = 1
    torch.testing.assert_close(log_var.grad, 0.5 * torch.tensor([[1.0, 2.0]]) * eps)  # sigma eps / 2


@pytest.mark.equation
def test_reparameterize_has_the_right_moments():
    mu, log_var = torch.full((200_000, 1), 1.5, dtype=F64), torch.full((200_000, 1), math.log(0.25), dtype=F64)
    z = vae.reparameterize(mu, log_var, torch.Generator().manual_seed(4))
    assert abs(z.mean().item() - 1.5) < 4 * 0.5 / math.sqrt(len(z))
    assert abs(z.std().item() - 0.5) < 0.005


# --------------------------------------------------------------------------------------------
# The IWAE bound on a linear-Gaussian model, whose log p(x) is exact
# --------------------------------------------------------------------------------------------
def _linear_gaussian(d=2, D=5, s=0.5, seed=5, orthogonal=False):
    """p(z) = N(0, I_d), p(x | z) = N(W z + b, s^2 I_D); returns W, b, s, data x and exact log p(x)."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(D, d, generator=g, dtype=F64)
    if orthogonal:  # orthogonal columns make the true posterior covariance diagonal
        W = torch.linalg.qr(W).Q * torch.tensor([2.0, 0.7], dtype=F64)
    b = torch.randn(D, generator=g, dtype=F64)
    marginal = MultivariateNormal(b, W @ W.T + s**2 * torch.eye(D, dtype=F64))
    x = b + torch.randn(400, D, generator=g, dtype=F64) @ torch.linalg.cholesky(marginal.covariance_matrix).T
    return W, b, s, x, marginal.log_prob(x)


def _linear_gaussian_log_w(W, b, s, x, mu, log_var, k, seed):
    z = vae.reparameterize(mu.expand(k, *mu.shape), log_var.expand(k, *log_var.shape),
                           torch.Generator().manual_seed(seed)).flatten(0, 1)
    xr = x.repeat(k, 1)
    log_w = (vae.gaussian_log_likelihood(xr, z @ W.T + b, 2 * math.log(s))
             + vae.gaussian_log_likelihood(z, 0.0, 0.0)
             - vae.gaussian_log_likelihood(z, mu.repeat(k, 1), log_var.repeat(k, 1)))
    return log_w.view(k, -1)


def _posterior(W, b, s, x):
    precision = W.T @ W / s**2 + torch.eye(W.shape[1], dtype=F64)
    cov = torch.linalg.inv(precision)
    return (x - b) @ W @ cov.T / s**2, cov


@pytest.mark.equation
def test_iwae_is_exact_when_q_is_the_true_posterior():
    W, b, s, x, log_px = _linear_gaussian(orthogonal=True)
    mean, cov = _posterior(W, b, s, x)
    assert (cov - torch.diag(torch.diag(cov))).abs().max() < 1e-12
    log_var = torch.diag(cov).log().expand_as(mean)
    for k in (1, 7):
        log_w = _linear_gaussian_log_w(W, b, s, x, mean, log_var, k, seed=k)
        torch.testing.assert_close(log_w, log_px.expand(k, -1))  # every weight is p(x)
        torch.testing.assert_close(vae.iwae_bound(log_w), log_px.mean())


def test_iwae_approaches_the_exact_log_likelihood_from_below():
    W, b, s, x, log_px = _linear_gaussian()
    mean, cov = _posterior(W, b, s, x)
    sd = torch.diag(cov).sqrt()
    # a deliberately poor diagonal q: mean off by half a standard deviation, variances half the
    # true posterior's, no correlation. Too narrow a q makes the bound converge slowly in k.
    q_mean, q_log_var = mean + 0.5 * sd, (0.5 * sd**2).log().expand_as(mean)
    gaps, ses = [], []
    for k in (1, 10, 100, 1000, 10000):
        log_w = _linear_gaussian_log_w(W, b, s, x, q_mean, q_log_var, k, seed=k)
        per_image = torch.logsumexp(log_w, 0) - math.log(k) - log_px  # L_k(x) - log p(x)
        torch.testing.assert_close(per_image.mean(), vae.iwae_bound(log_w) - log_px.mean())
        gaps.append(-per_image.mean().item())
        ses.append(per_image.std().item() / math.sqrt(len(x)))
    assert all(g > -3 * se for g, se in zip(gaps, ses)), (gaps, ses)  # below log p(x)
    assert all(a - b > 3 * se for a, b, se in zip(gaps[:3], gaps[1:4], ses)), gaps  # rising with k
    assert abs(gaps[-1]) < 0.01 and abs(gaps[-1]) < 0.02 * gaps[0], gaps  # ... to log p(x)
    # k = 1 is the ELBO: log p(x) - KL(q || posterior), computed here in closed form
    q = MultivariateNormal(q_mean, torch.diag_embed(q_log_var.exp()))
    kl = kl_divergence(q, MultivariateNormal(mean, cov))
    assert abs(gaps[0] - kl.mean().item()) < 3 * ses[0]


# --------------------------------------------------------------------------------------------
# Networks, training and use
# --------------------------------------------------------------------------------------------
SMALL = dict(hidden=64, latent_dim=4, batch_size=32, steps=60)


def _build(seed=0, **changes):
    return vae.build(vae.VAEConfig(**{**SMALL, **changes}), seed=seed, device="cpu")


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_network_shapes(arch):
    model = _build(arch=arch)
    assert isinstance(model, vae.VAE) and model.config.arch == arch
    x = torch.rand(5, 1, 28, 28)
    logits, mu, log_var = model(x, torch.Generator().manual_seed(0))
    assert logits.shape == x.shape and mu.shape == log_var.shape == (5, 4)


def test_build_is_seeded_and_leaves_the_global_random_state_alone():
    state = torch.get_rng_state()
    a, b, c = _build(seed=3), _build(seed=3), _build(seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.encoder[1].weight, c.encoder[1].weight)
    assert set(vae.make_optimizers(a)) == {"vae"}


def test_log_variance_is_clamped():
    model = _build()
    with torch.no_grad():
        model.encoder[-1].bias[4:] = 1e4  # the log-variance half of the encoder's output
    _, log_var = model.encode(torch.rand(2, 1, 28, 28))
    assert log_var.max().item() == vae.LOG_VAR_MAX
    with torch.no_grad():
        model.encoder[-1].bias[4:] = -1e4
    assert model.encode(torch.rand(2, 1, 28, 28))[1].min().item() == vae.LOG_VAR_MIN


def test_shift_images():
    x = torch.zeros(2, 1, 28, 28)
    x[:, 0, 10, 12] = 1.0
    assert torch.equal(vae.shift_images(x, 0), x)
    y = vae.shift_images(x, 2, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and torch.equal(y.sum((1, 2, 3)), torch.ones(2))
    rows, cols = y[:, 0].nonzero()[:, 1], y[:, 0].nonzero()[:, 2]
    assert ((rows - 10).abs() <= 2).all() and ((cols - 12).abs() <= 2).all()


def _digits(n=256):
    from minigen.data import digits

    x, _ = digits("train", device="cpu")
    return x[torch.linspace(0, len(x) - 1, n).long()]


@pytest.mark.equation
def test_train_step_minimises_the_beta_weighted_loss():
    x = _digits(32)
    for beta in (1.0, 2.0):
        model = _build(beta=beta)
        before = [p.clone() for p in model.parameters()]
        out = vae.train_step(model, x, vae.make_optimizers(model), generator=torch.Generator().manual_seed(0))
        assert set(out) == {"loss", "elbo", "reconstruction", "kl"}
        assert all(isinstance(v, torch.Tensor) and v.shape == () and not v.requires_grad for v in out.values())
        torch.testing.assert_close(out["loss"], beta * out["kl"] - out["reconstruction"])
        torch.testing.assert_close(out["elbo"], out["reconstruction"] - out["kl"])
        assert all(not torch.equal(p, q) for p, q in zip(before, model.parameters()))
    # a reader's own ELBO plugs in: the step reports (and minimises) what it returns
    seen = []

    def my_elbo(x, x_logits, mu, log_var):
        seen.append(x_logits.shape)
        return vae.elbo(x, x_logits, mu, log_var, likelihood="gaussian", sigma_x=0.5)

    model = _build()
    out = vae.train_step(model, x, vae.make_optimizers(model), generator=torch.Generator().manual_seed(0),
                         elbo_fn=my_elbo)
    again = _build()
    logits, mu, log_var = again(x, torch.Generator().manual_seed(0))
    expected = vae.elbo(x, logits, mu, log_var, likelihood="gaussian", sigma_x=0.5)
    assert seen == [x.shape]
    torch.testing.assert_close(out["elbo"], expected.elbo.detach())


def test_training_lowers_the_loss_and_is_repeatable():
    x = _digits()
    state = torch.get_rng_state()
    histories = [vae.train(_build(seed=0), x, seed=0, device="cpu") for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), state)
    h = histories[0]
    assert set(h) == {"step", "time", "loss", "elbo", "reconstruction", "kl"}
    assert h["step"] == list(range(1, 61))  # config.steps when given no budget
    assert np.mean(h["loss"][-10:]) < np.mean(h["loss"][:10]) - 50
    assert h["loss"] == histories[1]["loss"]
    assert vae.train(_build(seed=0), x, steps=5, seed=1, device="cpu")["loss"] != h["loss"][:5]


def test_max_seconds_stops_training():
    model = _build()
    h = vae.train(model, _digits(), steps=10**6, max_seconds=0.5, device="cpu")
    assert 0 < len(h["step"]) < 10**6 and h["time"][-1] < 5


def test_nan_guard_names_the_step_and_writes_no_diverged_checkpoint(tmp_path):
    model = _build()

    def nan_elbo(x, x_logits, mu, log_var):  # the loss turns NaN at the first step
        parts = vae.elbo(x, x_logits, mu, log_var)
        nan = float("nan")
        return parts._replace(elbo=parts.elbo * nan, reconstruction=parts.reconstruction * nan)
    path = tmp_path / "c.pt"
    with pytest.raises(TrainingDiverged, match=r"step 1: loss=nan, elbo=nan, reconstruction=nan\.") as err:
        vae.train(model, _digits(64), steps=3, device="cpu", checkpoint=path, elbo_fn=nan_elbo)
    assert "No checkpoint had been written yet" in str(err.value)
    assert not path.exists()  # a diverged state is never saved


def test_checkpoint_round_trip(tmp_path):
    model = _build()
    vae.train(model, _digits(), steps=5, device="cpu", checkpoint=tmp_path / "c.pt", checkpoint_every=2)
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert ckpt["family"] == "vae" and ckpt["step"] == 5 and len(ckpt["history"]["loss"]) == 5
    again = vae.load(tmp_path / "c.pt", device="cpu")
    assert again.config == model.config and not again.training
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(again.encode(x), model.encode(x))
    with pytest.raises(CheckpointError, match="'gan' model, not a 'vae'"):
        vae.load({**ckpt, "family": "gan"})


def test_resuming_from_a_loaded_checkpoint_leaves_it_unchanged(tmp_path):
    x = _digits(64)
    vae.train(_build(), x, steps=2, device="cpu", checkpoint=tmp_path / "c.pt")
    ckpt = load_checkpoint(tmp_path / "c.pt")
    saved = {k: v.clone() for k, v in ckpt["optimizers"]["vae"]["state"][0].items()}
    first = vae.train(vae.load(ckpt, device="cpu"), x, steps=2, device="cpu", resume=ckpt)
    assert all(torch.equal(v, saved[k]) for k, v in ckpt["optimizers"]["vae"]["state"][0].items())
    second = vae.train(vae.load(ckpt, device="cpu"), x, steps=2, device="cpu", resume=ckpt)
    assert first["loss"] == second["loss"]


def test_evaluate_bounds_and_units():
    model = _build(seed=0)
    vae.train(model, _digits(), device="cpu")
    x = _digits(50)
    r = vae.evaluate(model, x, k=50, batch_size=20, generator=torch.Generator().manual_seed(0))
    assert r["k"] == 50
    assert r["neg_iwae"] <= r["neg_elbo"] + 0.5  # the k-sample bound is tighter
    assert r["neg_elbo"] == pytest.approx(r["reconstruction"] + r["kl"])
    assert 40 < r["neg_iwae"] < 784 * math.log(2)  # nats per image, better than p = 1/2
    per_dim = vae.kl_per_dimension(model, x)
    assert per_dim.shape == (4,) and (per_dim >= 0).all()
    assert per_dim.sum().item() == pytest.approx(r["kl"], rel=1e-4)


def test_reconstruct_sample_interpolate():
    model = _build().eval()
    x = _digits(4)
    rec = vae.reconstruct(model, x)
    assert rec.shape == x.shape and 0 <= rec.min() and rec.max() <= 1
    s1 = vae.sample(model, 6, generator=torch.Generator().manual_seed(1))
    s2 = vae.sample(model, 6, generator=torch.Generator().manual_seed(1))
    assert s1.shape == (6, 1, 28, 28) and torch.equal(s1, s2)
    path = vae.interpolate(model, x[:2], x[2:], steps=5)
    assert path.shape == (2, 5, 1, 28, 28)
    torch.testing.assert_close(path[:, 0], rec[:2])
    torch.testing.assert_close(path[:, -1], rec[2:])


def test_cli_train_then_sample_round_trip(tmp_path, capsys):
    from minigen.data import digits

    out = tmp_path / "run"
    assert cli.main(["train", "vae", "--out", str(out), "--steps", "30", "--seed", "3", "--quiet",
                     "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["steps"] == 30 and printed["checkpoint"] == str(out / "checkpoint.pt")
    for name in ("checkpoint.pt", "samples.png", "history.json"):
        assert (out / name).is_file()
    assert len(json.loads((out / "history.json").read_text())["step"]) == 30
    # the command trains the chapter's VAE on the training digits with --seed, as the API does
    saved = vae.load(out / "checkpoint.pt", device="cpu")
    assert saved.config == vae.VAEConfig()
    direct = vae.build(vae.VAEConfig(), seed=3, device="cpu")
    vae.train(direct, digits("train", device="cpu")[0], steps=30, seed=3, device="cpu")
    for (name, p), q in zip(saved.state_dict().items(), direct.state_dict().values()):
        torch.testing.assert_close(p, q, msg=name)
    npy = tmp_path / "x.npy"
    assert cli.main(["sample", str(out / "checkpoint.pt"), "-n", "12", "--out", str(npy), "--device", "cpu"]) == 0
    x = np.load(npy)
    assert x.shape == (12, 1, 28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    np.testing.assert_allclose(x, vae.sample(saved, 12, generator=torch.Generator().manual_seed(0)).numpy(),
                               atol=1e-6)
    again = torch.from_numpy(np.load(npy))
    assert cli.main(["sample", str(out / "checkpoint.pt"), "-n", "12", "--out", str(npy), "--device", "cpu"]) == 0
    assert torch.equal(torch.from_numpy(np.load(npy)), again)  # --seed 0 both times


# --------------------------------------------------------------------------------------------
# CUDA
# --------------------------------------------------------------------------------------------
@pytest.mark.gpu
def test_train_evaluate_sample_on_cuda():
    model = vae.build(vae.VAEConfig(**SMALL), device="cuda")
    h = vae.train(model, _digits(), steps=20, seed=0, device="cuda")
    assert len(h["loss"]) == 20 and all(math.isfinite(v) for v in h["loss"])
    r = vae.evaluate(model, _digits(40), k=10, generator=torch.Generator().manual_seed(0))
    assert math.isfinite(r["neg_iwae"])
    s = vae.sample(model, 5, generator=torch.Generator().manual_seed(0))
    assert s.device.type == "cuda" and s.shape == (5, 1, 28, 28)


@pytest.mark.gpu
def test_reparameterize_cpu_generator_on_cuda_matches_cpu():
    mu, log_var = torch.randn(3, 4), torch.randn(3, 4)
    z_cpu = vae.reparameterize(mu, log_var, torch.Generator().manual_seed(0))
    z_gpu = vae.reparameterize(mu.cuda(), log_var.cuda(), torch.Generator().manual_seed(0))
    torch.testing.assert_close(z_gpu.cpu(), z_cpu)
