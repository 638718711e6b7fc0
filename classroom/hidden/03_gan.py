"""Hidden tests of chapter 3 (03_gan); the format is described in 02_foundations.py."""
import math

import torch

from minigen import data, gan, metrics

F64 = torch.float64
RING_STEPS, RING_MODES = 800, 6  # calibrated: minigen's loss covers 7-8 of the 8 modes at 800 steps
# (seeds 0-5); a sign error covers 0


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _logits(*shape, seed, scale=5.0):
    return scale * torch.randn(*shape, generator=_gen(seed), dtype=F64)


def _same_gradients(fn, reference, *inputs):
    grads = []
    for f in (fn, reference):
        xs = [x.detach().clone().requires_grad_() for x in inputs]
        out = f(*xs)
        assert isinstance(out, torch.Tensor) and out.dim() == 0, "must return a scalar tensor"
        grads.append(torch.autograd.grad(out, xs, allow_unused=True))
    for i, (mine, ref) in enumerate(zip(*grads)):
        assert mine is not None, f"no gradient flows to argument {i + 1}"
        torch.testing.assert_close(mine, ref, msg=lambda m: f"gradient of argument {i + 1}: {m}")


def _one_step(**losses):
    """Parameters of the ring GAN after one train_step from a fixed start."""
    model = gan.build(gan.RING, seed=3)
    g = _gen(3)
    gan.train_step(model, lambda: data.ring8().sample(gan.RING.batch_size, g), gan.make_optimizers(model),
                   generator=g, **losses)
    return [p.detach().clone() for p in model.parameters()]


def _step_matches(**losses):
    for mine, ref in zip(_one_step(**losses), _one_step()):
        torch.testing.assert_close(mine, ref, rtol=1e-4, atol=1e-6)


# -- my_discriminator_loss(d_real, d_fake) ---------------------------------------------------
def _d_loss(r, f):  # float64, written out: -mean log sigma(r) - mean log(1 - sigma(f))
    return -torch.log(torch.sigmoid(r)).mean() - torch.log1p(-torch.sigmoid(f)).mean()


def d_loss_other_shapes(fn):
    """float64, a (3, 1) real batch and a 7-element fake batch: each expectation is its own mean"""
    r, f = _logits(3, 1, seed=11, scale=2.0), _logits(7, seed=12, scale=2.0)
    torch.testing.assert_close(fn(r, f), _d_loss(r, f))


def d_loss_extreme_logits(fn):
    """logits of +-200 (sigmoid rounds to 0 or 1) give the exact finite loss"""
    r, f = torch.tensor([-200.0, 0.0], dtype=F64), torch.tensor([200.0, 0.0], dtype=F64)
    out = fn(r, f)
    assert torch.isfinite(out), f"not finite: {out.item()}"
    torch.testing.assert_close(out, torch.tensor((200 + math.log(2)) / 2 * 2, dtype=F64))


def d_loss_gradient(fn):
    """its gradients (by autograd) with respect to both batches of logits"""
    _same_gradients(fn, _d_loss, _logits(6, seed=13, scale=2.0), _logits(4, seed=14, scale=2.0))


def d_loss_in_train_step(fn):
    """as loss_D of gan.train_step, one step moves the ring GAN exactly as minigen's loss does"""
    _step_matches(loss_D=fn)


# -- my_generator_loss_minimax(d_fake) -------------------------------------------------------
def _g_minimax(f):
    return torch.log1p(-torch.sigmoid(f)).mean()


def minimax_values(fn):
    """float64 on a (5, 2) batch, and -log 2 at all-zero logits"""
    f = _logits(5, 2, seed=21, scale=2.0)
    torch.testing.assert_close(fn(f), _g_minimax(f))
    torch.testing.assert_close(fn(torch.zeros(9, dtype=F64)), torch.tensor(-math.log(2), dtype=F64))


def minimax_extreme_logits(fn):
    """logits of -200 and +200 give exactly 0 and -200 per sample (no NaN, no -inf)"""
    out = fn(torch.tensor([-200.0, 200.0], dtype=F64))
    assert torch.isfinite(out), f"not finite: {out.item()}"
    torch.testing.assert_close(out, torch.tensor(-100.0, dtype=F64))


def minimax_gradient(fn):
    """its gradient is -sigmoid(t) / B, by autograd"""
    f = _logits(8, seed=22, scale=2.0).requires_grad_()
    (grad,) = torch.autograd.grad(fn(f), f)
    torch.testing.assert_close(grad, -torch.sigmoid(f.detach()) / 8)


# -- my_generator_loss_nonsaturating(d_fake) -------------------------------------------------
def _g_ns(f):
    return -torch.log(torch.sigmoid(f)).mean()


def ns_values(fn):
    """float64 on a (4, 3) batch, and log 2 at all-zero logits"""
    f = _logits(4, 3, seed=31, scale=2.0)
    torch.testing.assert_close(fn(f), _g_ns(f))
    torch.testing.assert_close(fn(torch.zeros(5, dtype=F64)), torch.tensor(math.log(2), dtype=F64))


def ns_extreme_logits(fn):
    """logits of -200 and +200 give exactly 200 and 0 per sample (no inf)"""
    out = fn(torch.tensor([-200.0, 200.0], dtype=F64))
    assert torch.isfinite(out), f"not finite: {out.item()}"
    torch.testing.assert_close(out, torch.tensor(100.0, dtype=F64))


def ns_gradient(fn):
    """its gradient is -(1 - sigmoid(t)) / B, by autograd"""
    f = _logits(8, seed=32, scale=2.0).requires_grad_()
    (grad,) = torch.autograd.grad(fn(f), f)
    torch.testing.assert_close(grad, -(1 - torch.sigmoid(f.detach())) / 8)


def ns_trains_the_ring(fn):
    model = gan.build(gan.RING, seed=0)
    g, ring, opt = _gen(0), data.ring8(), gan.make_optimizers(model)
    for _ in range(RING_STEPS):
        gan.train_step(model, lambda: ring.sample(gan.RING.batch_size, g), opt, generator=g, loss_G=fn)
    modes = metrics.mode_coverage(gan.sample(model, 2000, generator=_gen(0)), ring)["modes_covered"]
    assert modes >= RING_MODES, (f"after {RING_STEPS} steps the generator covers {modes} of 8 modes; "
                                 f"minigen's loss covers at least {RING_MODES + 1}")


ns_trains_the_ring.__doc__ = (f"as loss_G of gan.train_step, it trains the 8-Gaussian ring to at least "
                              f"{RING_MODES} of 8 modes in {RING_STEPS} steps")


# -- my_optimal_discriminator_logit(log_p_data, log_p_g) -------------------------------------
def d_star_other_shape(fn):
    """float64, shape (3, 4): sigmoid of it is p_data / (p_data + p_g)"""
    g = _gen(41)
    lp, lq = torch.randn(2, 3, 4, generator=g, dtype=F64) * 3
    out = fn(lp, lq)
    assert out.shape == (3, 4), f"shape {tuple(out.shape)}, expected (3, 4)"
    torch.testing.assert_close(torch.sigmoid(out), gan.optimal_discriminator(lp.exp(), lq.exp()))


def d_star_tails(fn):
    """log densities of -5000 and -4990 (the densities underflow to 0): the logit is -10"""
    out = fn(torch.tensor([-5000.0], dtype=F64), torch.tensor([-4990.0], dtype=F64))
    torch.testing.assert_close(out, torch.tensor([-10.0], dtype=F64))


def d_star_zero_density(fn):
    """p_g = 0 where p_data > 0 gives +inf; equal densities give 0"""
    out = fn(torch.tensor([-1.0, -2.5], dtype=F64), torch.tensor([-math.inf, -2.5], dtype=F64))
    assert out[0] == math.inf and out[1] == 0, out.tolist()


QUESTIONS = {
    "my_discriminator_loss": {
        "points": 2, "forbidden": ["minigen.gan.discriminator_loss", "minigen.gan.value_function"],
        "task": "Return L_D of eq. (gan-d-loss) from the logits d_real and d_fake (F.logsigmoid; "
                "each expectation is a mean over its batch).",
        "checks": [d_loss_other_shapes, d_loss_extreme_logits, d_loss_gradient, d_loss_in_train_step],
        "slow": [d_loss_in_train_step]},
    "my_generator_loss_minimax": {
        "points": 2, "forbidden": ["minigen.gan.generator_loss_minimax", "minigen.gan.value_function"],
        "task": "Return the minimax generator loss of eq. (gan-g-minimax) from the logits d_fake.",
        "checks": [minimax_values, minimax_extreme_logits, minimax_gradient]},
    "my_generator_loss_nonsaturating": {
        "points": 3, "forbidden": ["minigen.gan.generator_loss_nonsaturating"], "seconds": 150,
        "task": "Return the non-saturating generator loss of eq. (gan-g-ns) from the logits d_fake.",
        "checks": [ns_values, ns_extreme_logits, ns_gradient, ns_trains_the_ring],
        "slow": [ns_trains_the_ring]},
    "my_optimal_discriminator_logit": {
        "points": 2, "forbidden": ["minigen.gan.optimal_discriminator"],
        "task": "Return the logit t of the best discriminator, sigmoid(t) = p_data / (p_data + p_g), "
                "from log p_data and log p_g.",
        "checks": [d_star_other_shape, d_star_tails, d_star_zero_density]},
}
