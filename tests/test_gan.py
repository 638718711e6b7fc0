"""minigen.gan: the losses and the R1 penalty pinned to hand-computed values and a float64
re-derivation, the networks' shapes, one training step, the training loop's behaviour,
checkpoints and the command line."""
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from minigen import gan
from minigen.checkpoint import CheckpointError, load_checkpoint
from minigen.data import ring8
from minigen.utils import TrainingDiverged

# benchmarks/bench_frozen.py, whose plain step computes every gradient
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_frozen  # noqa: E402

LN2 = math.log(2.0)
TINY_RING = replace(gan.RING, width=16, depth=2, batch_size=32, lr_g=1e-3, lr_d=1e-3, r1=0.0)
TINY_DIGITS = replace(gan.DIGITS, width=4, z_dim=8, batch_size=8)


# --------------------------------------------------------------------------------------------
# Losses: hand-computed values
# --------------------------------------------------------------------------------------------
@pytest.mark.equation
def test_all_zero_logits_give_ln2_per_term():
    zeros = torch.zeros(7)
    assert gan.value_function(zeros, zeros).item() == pytest.approx(-2 * LN2)
    assert gan.discriminator_loss(zeros, zeros).item() == pytest.approx(2 * LN2)
    assert gan.generator_loss_minimax(zeros).item() == pytest.approx(-LN2)
    assert gan.generator_loss_nonsaturating(zeros).item() == pytest.approx(LN2)


@pytest.mark.equation
def test_lsgan_losses_by_hand():
    zeros = torch.zeros(3)
    assert gan.lsgan_discriminator_loss(zeros, zeros).item() == pytest.approx(0.5)
    assert gan.lsgan_generator_loss(zeros).item() == pytest.approx(0.5)
    # the perfect least-squares discriminator: 1 on real, 0 on fake
    assert gan.lsgan_discriminator_loss(torch.ones(4), torch.zeros(4)).item() == 0.0
    # (2 - 1)^2 / 2 + 3^2 / 2 = 5, and a patch map (B, 1, h, w) is averaged over every element
    assert gan.lsgan_discriminator_loss(torch.full((2, 1, 3, 3), 2.0), torch.full((2, 1, 3, 3), 3.0)).item() == 5.0
    assert gan.lsgan_generator_loss(torch.tensor([3.0, -1.0])).item() == pytest.approx((4 + 4) / 4)


@pytest.mark.equation
def test_losses_at_logit_ln3_by_hand():
    # sigmoid(ln 3) = 3/4: D says "real" with probability 3/4
    t = torch.tensor([math.log(3.0)])
    assert gan.value_function(t, -t).item() == pytest.approx(2 * math.log(3 / 4))
    assert gan.discriminator_loss(t, -t).item() == pytest.approx(-2 * math.log(3 / 4))
    assert gan.generator_loss_minimax(t).item() == pytest.approx(math.log(1 / 4))
    assert gan.generator_loss_nonsaturating(t).item() == pytest.approx(-math.log(3 / 4))


@pytest.mark.equation
def test_losses_average_over_the_batch():
    r, f = torch.tensor([0.0, math.log(3.0)]), torch.tensor([0.0, 0.0, -math.log(3.0)])
    expected = (math.log(0.5) + math.log(0.75)) / 2 + (2 * math.log(0.5) + math.log(0.75)) / 3
    assert gan.value_function(r, f).item() == pytest.approx(expected)


# --------------------------------------------------------------------------------------------
# Losses: an independent float64 re-derivation, PyTorch's BCE, and the gradients
# --------------------------------------------------------------------------------------------
def _reference(r, f):
    """The chapter's formulas written naively with probabilities, in float64."""
    D_r, D_f = 1 / (1 + torch.exp(-r.double())), 1 / (1 + torch.exp(-f.double()))
    V = torch.log(D_r).mean() + torch.log(1 - D_f).mean()
    return {"V": V, "L_D": -V, "mm": torch.log(1 - D_f).mean(), "ns": -torch.log(D_f).mean(),
            "ls_D": 0.5 * ((r.double() - 1) ** 2).mean() + 0.5 * (f.double() ** 2).mean(),
            "ls_G": 0.5 * ((f.double() - 1) ** 2).mean()}


@pytest.mark.equation
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_losses_match_float64_rederivation(seed):
    g = torch.Generator().manual_seed(seed)
    r, f = 4 * torch.randn(64, generator=g), 4 * torch.randn(48, generator=g)
    ref = _reference(r, f)
    got = {"V": gan.value_function(r, f), "L_D": gan.discriminator_loss(r, f),
           "mm": gan.generator_loss_minimax(f), "ns": gan.generator_loss_nonsaturating(f),
           "ls_D": gan.lsgan_discriminator_loss(r, f), "ls_G": gan.lsgan_generator_loss(f)}
    for k in ref:
        assert got[k].dtype == torch.float32 and got[k].shape == ()
        torch.testing.assert_close(got[k].double(), ref[k], rtol=1e-5, atol=1e-6, msg=k)


@pytest.mark.equation
def test_discriminator_loss_is_pytorch_bce_with_labels_1_and_0():
    g = torch.Generator().manual_seed(3)
    r, f = 3 * torch.randn(20, generator=g), 3 * torch.randn(20, generator=g)
    bce = (F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
           + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)))
    torch.testing.assert_close(gan.discriminator_loss(r, f), bce)


@pytest.mark.equation
def test_generator_loss_gradients_saturate_as_derived():
    # d/dt of the minimax loss is -sigmoid(t) / B; of the non-saturating one -(1 - sigmoid(t)) / B
    t = torch.tensor([-8.0, -2.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
    (g_mm,) = torch.autograd.grad(gan.generator_loss_minimax(t), t)
    (g_ns,) = torch.autograd.grad(gan.generator_loss_nonsaturating(t), t)
    torch.testing.assert_close(g_mm, -torch.sigmoid(t.detach()) / 4)
    torch.testing.assert_close(g_ns, -(1 - torch.sigmoid(t.detach())) / 4)
    assert abs(g_mm[0]) < 1e-3 < abs(g_ns[0])  # D rejects the fake: only the ns form still pushes


@pytest.mark.equation
def test_losses_are_finite_for_huge_logits():
    big = torch.tensor([-200.0, 200.0], requires_grad=True)
    # naive log(sigmoid(-200)) is log(0) = -inf in float32; the logit forms are exact
    assert torch.isinf(torch.log(torch.sigmoid(big[:1].detach())))
    loss = gan.generator_loss_nonsaturating(big)
    assert loss.item() == pytest.approx(100.0)  # (200 + 0) / 2
    (grad,) = torch.autograd.grad(loss, big)
    torch.testing.assert_close(grad, torch.tensor([-0.5, 0.0]))
    assert torch.isfinite(gan.discriminator_loss(big, big)).item()
    assert gan.discriminator_loss(big, big).item() == pytest.approx(200.0)


@pytest.mark.equation
def test_losses_do_not_modify_inputs():
    r, f = torch.randn(5), torch.randn(5)
    r0, f0 = r.clone(), f.clone()
    for fn in (gan.value_function, gan.discriminator_loss, gan.lsgan_discriminator_loss):
        fn(r, f)
    for fn in (gan.generator_loss_minimax, gan.generator_loss_nonsaturating, gan.lsgan_generator_loss):
        fn(f)
    assert torch.equal(r, r0) and torch.equal(f, f0)


# --------------------------------------------------------------------------------------------
# The optimal discriminator
# --------------------------------------------------------------------------------------------
@pytest.mark.equation
def test_optimal_discriminator_by_hand():
    p_data, p_g = torch.tensor([1.0, 3.0, 0.0, 2.0]), torch.tensor([1.0, 1.0, 5.0, 0.0])
    torch.testing.assert_close(gan.optimal_discriminator(p_data, p_g), torch.tensor([0.5, 0.75, 0.0, 1.0]))
    assert torch.isnan(gan.optimal_discriminator(torch.zeros(1), torch.zeros(1))).all()


@pytest.mark.equation
def test_optimal_discriminator_maximises_the_pointwise_objective():
    # a log y + b log(1 - y) over y in (0, 1) is largest at y = a / (a + b)
    y = torch.linspace(1e-4, 1 - 1e-4, 200001, dtype=torch.float64)
    for a, b in [(1.0, 1.0), (0.3, 2.0), (5.0, 0.2)]:
        best = y[(a * y.log() + b * (1 - y).log()).argmax()]
        d_star = gan.optimal_discriminator(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
        assert abs(best - d_star) < 1e-4


@pytest.mark.equation
def test_optimal_discriminator_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        gan.optimal_discriminator(torch.ones(3), torch.ones(2))
    with pytest.raises(ValueError, match="non-negative"):
        gan.optimal_discriminator(torch.tensor([-1.0]), torch.ones(1))


# --------------------------------------------------------------------------------------------
# The R1 penalty and the loss table
# --------------------------------------------------------------------------------------------
@pytest.mark.equation
def test_r1_penalty_of_a_linear_discriminator_is_gamma_half_squared_weight_norm():
    # D(x) = w.x + c has grad_x D = w for every x: R1 = gamma/2 |w|^2 = 0.5/2 * (1 + 4 + 4)
    w = torch.tensor([1.0, -2.0, 2.0], requires_grad=True)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    penalty = gan.r1_penalty(x @ w + 0.7, x, gamma=0.5)
    assert penalty.shape == ()
    torch.testing.assert_close(penalty, torch.tensor(2.25))
    # its graph is kept, so D can be trained through it: d/dw (gamma/2 |w|^2) = gamma w
    (grad_w,) = torch.autograd.grad(penalty, w)
    torch.testing.assert_close(grad_w, 0.5 * w.detach())


@pytest.mark.equation
def test_r1_penalty_sums_over_pixels_and_averages_over_the_batch():
    # D(x) = |x|^2 / 2 summed over the pixels of each image has grad_x D = x:
    # R1 = gamma/2 * mean_b |x_b|^2 = 3/2 * (|x_0|^2 + |x_1|^2) / 2 = 3/2 * (1 + 9) / 2
    x = torch.zeros(2, 1, 2, 2)
    x[0, 0, 0, 0] = 1.0
    x[1, 0, 1, 0], x[1, 0, 1, 1] = 2.0, -math.sqrt(5.0)
    x.requires_grad_(True)
    d_real = 0.5 * x.pow(2).flatten(1).sum(1)
    torch.testing.assert_close(gan.r1_penalty(d_real, x, gamma=3.0), torch.tensor(7.5))
    x0 = torch.ones(4, 2, requires_grad=True)
    assert gan.r1_penalty(x0.sum(1) * 0.0, x0, gamma=1.0).item() == 0.0  # a constant D: no penalty


@pytest.mark.equation
@pytest.mark.parametrize("loss_G", [gan.generator_loss_minimax, gan.generator_loss_nonsaturating])
@pytest.mark.parametrize("gamma", [0.0, 0.3])
def test_dirac_gan_field_and_its_jacobian_at_the_equilibrium(loss_G, gamma):
    # Chapter 3's Dirac-GAN (Mescheder et al. 2018): data at x = 0, generator at b, D(x) = w x.
    # The field v = (-dL_D/dw, -dL_G/db) of minigen's losses (+ R1) is, by hand,
    # (-b sigma(wb) - gamma w, w sigma(+-wb)) (+ minimax, - non-saturating), and its Jacobian at
    # (0, 0) is [[-gamma, -1/2], [1/2, 0]] for both generator losses.
    sign = 1.0 if loss_G is gan.generator_loss_minimax else -1.0

    def field(wb):
        w, b = wb[0:1], wb[1:2]
        x0 = torch.zeros(1, 1, dtype=wb.dtype, requires_grad=True)
        d_real, d_fake = w * x0[:, 0], w * b
        loss_D = gan.discriminator_loss(d_real, d_fake) + gan.r1_penalty(d_real, x0, gamma)
        (grad_D,) = torch.autograd.grad(loss_D, wb, create_graph=True, retain_graph=True)
        (grad_G,) = torch.autograd.grad(loss_G(d_fake), wb, create_graph=True)
        return torch.stack([-grad_D[0], -grad_G[1]])

    w, b = 0.7, -1.3
    expected = [-b * torch.sigmoid(torch.tensor(w * b, dtype=torch.float64)) - gamma * w,
                w * torch.sigmoid(torch.tensor(sign * w * b, dtype=torch.float64))]
    torch.testing.assert_close(field(torch.tensor([w, b], dtype=torch.float64,
                                                  requires_grad=True)),
                               torch.stack(expected))
    J = torch.autograd.functional.jacobian(field, torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(J, torch.tensor([[-gamma, -0.5], [0.5, 0.0]], dtype=torch.float64))


@pytest.mark.equation
def test_loss_table_pairs_the_chapter_losses_and_configs_refuse_other_names():
    assert gan.LOSSES["nonsaturating"] == (gan.discriminator_loss, gan.generator_loss_nonsaturating)
    assert gan.LOSSES["minimax"] == (gan.discriminator_loss, gan.generator_loss_minimax)
    assert gan.LOSSES["lsgan"] == (gan.lsgan_discriminator_loss, gan.lsgan_generator_loss)
    with pytest.raises(ValueError, match="loss"):
        replace(TINY_RING, loss="wasserstein")
    with pytest.raises(ValueError, match="net"):
        replace(gan.DIGITS, net="transformer")


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------
def test_mlp_shapes():
    model = gan.build(gan.RING, device="cpu")
    assert isinstance(model, gan.GAN) and model.config == gan.RING
    x = model.G(torch.randn(5, gan.RING.z_dim))
    assert x.shape == (5, 2) and model.D(x).shape == (5,)


def test_conv_shapes_and_range():
    model = gan.build(gan.DIGITS, device="cpu")
    x = model.G(torch.randn(6, gan.DIGITS.z_dim))
    assert x.shape == (6, 1, 28, 28)
    assert x.min() >= 0 and x.max() <= 1
    assert model.D(x).shape == (6,)


def test_dcgan_init():
    model = gan.build(gan.DIGITS, seed=0, device="cpu")
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    w = torch.cat([m.weight.flatten() for m in convs])
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.002


def test_build_is_seeded_and_leaves_the_global_random_state_alone():
    state = torch.get_rng_state()
    a, b = gan.build(TINY_DIGITS, seed=4, device="cpu"), gan.build(TINY_DIGITS, seed=4, device="cpu")
    c = gan.build(TINY_DIGITS, seed=5, device="cpu")
    assert torch.equal(torch.get_rng_state(), state)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    assert not torch.equal(a.G.fc[0].weight, c.G.fc[0].weight)


# --------------------------------------------------------------------------------------------
# One training step
# --------------------------------------------------------------------------------------------
def _count_grads(module):
    """Count, per parameter, how many backward passes reach it."""
    counts = {}
    for name, p in module.named_parameters():
        counts[name] = 0
        p.register_hook(lambda g, name=name: counts.__setitem__(name, counts[name] + 1))
    return counts


def _ring_batches(config, seed=0):
    """``real()`` for train_step: the next ring minibatch from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    return lambda: ring8().sample(config.batch_size, g)


@pytest.mark.equation
@pytest.mark.parametrize("d_steps", [1, 3])
def test_d_update_sends_no_gradient_into_G(d_steps):
    config = replace(TINY_RING, d_steps=d_steps)
    model = gan.build(config, seed=0, device="cpu")
    counts = _count_grads(model.G)
    gan.train_step(model, _ring_batches(config), gan.make_optimizers(model),
                   generator=torch.Generator().manual_seed(0))
    assert set(counts.values()) == {1}  # only the G update reached G, whatever d_steps is


@pytest.mark.equation
def test_d_update_changes_D_only_and_g_update_changes_G():
    for frozen, trained in (("G", "D"), ("D", "G")):
        config = replace(TINY_RING, **{f"lr_{frozen.lower()}": 0.0})
        model = gan.build(config, seed=0, device="cpu")
        before = {k: [p.clone() for p in getattr(model, k).parameters()] for k in "GD"}
        optimizers = gan.make_optimizers(model)
        assert set(optimizers) == {"G", "D"}
        gan.train_step(model, _ring_batches(config), optimizers, generator=torch.Generator().manual_seed(0))
        assert all(torch.equal(a, b) for a, b in zip(before[frozen], getattr(model, frozen).parameters()))
        assert not all(torch.equal(a, b) for a, b in zip(before[trained], getattr(model, trained).parameters()))


@pytest.mark.parametrize("config", [replace(TINY_DIGITS, d_steps=2), replace(TINY_RING, r1=0.1)],
                         ids=["conv-r1-2-d-steps", "mlp"])
def test_train_step_is_bit_for_bit_the_step_that_computes_every_gradient(config):
    # the step asks autograd for D's weights only in D's update and freezes D in G's update
    # (minigen.training.frozen); the trained weights must be exactly those of the plain step
    fast, plain = (gan.build(config, seed=0, device="cpu") for _ in range(2))
    opt_fast, opt_plain = gan.make_optimizers(fast), gan.make_optimizers(plain)
    start = [p.detach().clone() for p in fast.G.parameters()]
    plain_step = bench_frozen.plain_gan_step
    d_grads = {}  # D's gradients as each D update read them

    def record(key, model, step):
        def wrapped(*args, **kwargs):
            d_grads[key] = [p.grad.clone() for p in model.D.parameters()]
            return step(*args, **kwargs)
        return wrapped

    opt_fast["D"].step = record("fast", fast, opt_fast["D"].step)
    opt_plain["D"].step = record("plain", plain, opt_plain["D"].step)
    g = torch.Generator().manual_seed(3)
    shape = (1, 28, 28) if config.net == "conv" else (2,)
    batches = [torch.rand(config.batch_size, *shape, generator=g) for _ in range(8)]
    for step in range(4):
        pair = iter(batches[2 * step:2 * step + 2])
        gan.train_step(fast, lambda: next(pair), opt_fast, generator=torch.Generator().manual_seed(step))
        pair = iter(batches[2 * step:2 * step + 2])
        plain_step(plain, lambda: next(pair), opt_plain, torch.Generator().manual_seed(step))
    assert all(torch.equal(a, b) for a, b in zip(fast.state_dict().values(), plain.state_dict().values()))
    assert not all(torch.equal(a, b) for a, b in zip(start, fast.G.parameters()))  # G was trained
    # the freeze's saving itself: G's update left D's gradients as D's last update read them,
    # where the plain step's G update added its own to them. (The other saving, no gradient for
    # the real batch in D's update, is checked here only for harm, by the equal weights;
    # benchmarks/bench_frozen.py measures the two together.)
    assert all(torch.equal(p.grad, g) for p, g in zip(fast.D.parameters(), d_grads["fast"]))
    assert not all(torch.equal(p.grad, g) for p, g in zip(plain.D.parameters(), d_grads["plain"]))
    assert all(p.requires_grad for p in fast.parameters())  # D is trainable again after the step


def test_train_step_leaves_a_weight_the_user_froze_frozen():
    model = gan.build(TINY_DIGITS, seed=0, device="cpu")
    bias = model.D.net[0].bias
    bias.requires_grad_(False)
    before = bias.detach().clone()
    x = torch.rand(TINY_DIGITS.batch_size, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    gan.train_step(model, lambda: x, gan.make_optimizers(model), generator=torch.Generator().manual_seed(0))
    assert not bias.requires_grad and torch.equal(bias, before)
    assert all(p.requires_grad for p in model.D.parameters() if p is not bias)


@pytest.mark.equation
def test_train_step_returns_tensors_and_raw_discriminator_outputs():
    # D's last layer zeroed: every logit is 0 (sigma = 1/2), so L_D = 2 ln 2 and the mean raw
    # outputs D_real, D_fake are 0 (not the probability 1/2)
    model = gan.build(TINY_RING, seed=0, device="cpu")
    with torch.no_grad():
        model.D.net[-1].weight.zero_()
        model.D.net[-1].bias.zero_()
    out = gan.train_step(model, _ring_batches(TINY_RING), gan.make_optimizers(model),
                         generator=torch.Generator().manual_seed(0))
    assert set(out) == {"loss_D", "r1", "loss_G", "D_real", "D_fake"}
    assert all(isinstance(v, torch.Tensor) and v.shape == () and not v.requires_grad for v in out.values())
    torch.testing.assert_close(out["loss_D"], torch.tensor(2 * LN2))
    assert out["D_real"].item() == 0.0 and out["D_fake"].item() == 0.0 and out["r1"].item() == 0.0


@pytest.mark.equation
def test_r1_penalty_in_the_step_is_gamma_half_squared_gradient_norm():
    # a linear discriminator D(x) = w.x + c (depth 0) has grad_x D = w everywhere: the penalty is
    # r1/2 |w|^2; it is returned apart from loss_D, which stays the same with or without it
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(1))
    out, w = {}, None
    for r1 in (0.0, 0.5):
        config = replace(TINY_RING, depth=0, r1=r1)
        model = gan.build(config, seed=0, device="cpu")
        w = model.D.net[0].weight.detach().clone()
        out[r1] = gan.train_step(model, lambda: x, gan.make_optimizers(model),
                                 generator=torch.Generator().manual_seed(0))
    assert out[0.0]["r1"].item() == 0.0
    assert out[0.5]["r1"].item() == pytest.approx(0.25 * w.pow(2).sum().item(), rel=1e-5)
    assert out[0.5]["r1"].item() > 0.01
    torch.testing.assert_close(out[0.5]["loss_D"], out[0.0]["loss_D"])


@pytest.mark.equation
def test_loss_functions_plug_into_the_step_and_default_to_the_config():
    # the least-squares pair passed to a non-saturating GAN == the lsgan config's default
    def step(config, **losses):
        model = gan.build(config, seed=0, device="cpu")
        out = gan.train_step(model, _ring_batches(config), gan.make_optimizers(model),
                             generator=torch.Generator().manual_seed(0), **losses)
        return out, model

    lsgan = replace(TINY_RING, loss="lsgan")
    plugged, m1 = step(TINY_RING, loss_D=gan.lsgan_discriminator_loss, loss_G=gan.lsgan_generator_loss)
    default, m2 = step(lsgan)
    nonsat, _ = step(TINY_RING)
    for k in default:
        torch.testing.assert_close(plugged[k], default[k], msg=k)
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
    assert not torch.allclose(nonsat["loss_D"], default["loss_D"])


# --------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------
def test_seeded_run_repeats_and_learns_the_ring():
    config = replace(TINY_RING, width=32, batch_size=64)

    def distance_to_circle(model):  # mean | |x| - 2 | of 500 samples: 0 on the ring's circle
        x = gan.sample(model, 500, generator=torch.Generator().manual_seed(0)).double()
        return (x.norm(dim=1) - 2).abs().mean().item()

    def run(seed):
        model = gan.build(config, seed=seed, device="cpu")
        before = distance_to_circle(model)
        history = gan.train(model, ring8().sample, steps=300, seed=seed, device="cpu", progress=False)
        return history, before, distance_to_circle(model), model

    state = torch.get_rng_state()
    h1, before, after, model = run(1)
    h2, _, _, _ = run(1)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random state is untouched
    assert h1["loss_D"] == h2["loss_D"] and h1["loss_G"] == h2["loss_G"]
    assert h1["step"] == list(range(1, 301))
    assert abs(h1["loss_D"][0] - 2 * LN2) < 0.2  # D starts near chance: ln 2 per term
    assert after < 0.5 * before  # the samples moved out to the ring
    assert not model.training and not model.G.training and not model.D.training
    h3 = gan.train(gan.build(config, seed=1, device="cpu"), ring8().sample, steps=5, seed=2, device="cpu")
    assert h3["loss_D"] != h1["loss_D"][:5]  # another seed, other batches and noise


def test_history_is_plain_numbers_and_training_continues_from_a_checkpoint(tmp_path):
    path = tmp_path / "c.pt"
    model = gan.build(TINY_RING, seed=0, device="cpu")
    h = gan.train(model, ring8().sample, steps=3, seed=0, device="cpu", checkpoint=path)
    h = gan.train(model, ring8().sample, steps=2, seed=99, device="cpu", checkpoint=path, resume=path)
    assert set(h) == {"step", "time", "loss_D", "r1", "loss_G", "D_real", "D_fake"}
    assert h["step"] == [1, 2, 3, 4, 5]
    assert all(type(v) in (int, float) for vals in h.values() for v in vals)
    assert h["time"] == sorted(h["time"])
    ckpt = load_checkpoint(path)
    assert ckpt["step"] == 5 and ckpt["optimizers"]["G"]["state"][0]["step"] == 5
    # three steps, save, two more == five steps straight (but for the clock)
    straight = gan.build(TINY_RING, seed=0, device="cpu")
    h5 = gan.train(straight, ring8().sample, steps=5, seed=0, device="cpu")
    assert {k: v for k, v in h.items() if k != "time"} == {k: v for k, v in h5.items() if k != "time"}
    for (name, p), q in zip(model.state_dict().items(), straight.state_dict().values()):
        assert torch.equal(p, q), name
    # calling train again without resume starts afresh: new optimisers, a new history
    assert gan.train(model, ring8().sample, steps=2, device="cpu")["step"] == [1, 2]


def test_max_seconds_stops_the_run():
    model = gan.build(TINY_RING, device="cpu")
    h = gan.train(model, ring8().sample, max_seconds=0.3, device="cpu")
    assert 1 <= len(h["step"]) and h["time"][-1] < 5
    h = gan.train(model, ring8().sample, steps=4, max_seconds=60, device="cpu")
    assert len(h["step"]) == 4
    with pytest.raises(ValueError, match="max_seconds"):
        gan.train(model, ring8().sample, max_seconds=float("nan"), device="cpu")
    with pytest.raises(ValueError, match="steps"):
        gan.train(model, ring8().sample, steps=0, device="cpu")


def test_divergence_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    # the data jump to 1e30 at step 8 (finite: NaN data are refused as such), and the losses
    # blow up; checkpoints every 5 steps: the one of step 5 must survive
    calls = []

    def real(n, generator):
        calls.append(n)
        x = ring8().sample(n, generator)
        return x if len(calls) < 8 else torch.full_like(x, 1e30)

    path = tmp_path / "c.pt"
    model = gan.build(TINY_RING, seed=0, device="cpu")
    with pytest.raises(TrainingDiverged, match=r"Training diverged at step 8: ") as err:
        gan.train(model, real, steps=12, device="cpu", checkpoint=path, checkpoint_every=5)
    assert "holds step 5" in str(err.value) and str(path) in str(err.value)
    ckpt = load_checkpoint(path)
    assert ckpt["step"] == 5 and len(ckpt["history"]["loss_D"]) == 5
    assert all(torch.isfinite(t).all() for t in ckpt["models"]["model"].values())
    assert all(math.isfinite(v) for v in ckpt["history"]["loss_D"])
    assert all(torch.isfinite(p).all() for p in gan.load(path, device="cpu").parameters())


def test_conv_training_checks_the_images():
    model = gan.build(TINY_DIGITS, device="cpu")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gan.train(model, 255 * torch.rand(10, 1, 28, 28), steps=1, device="cpu")
    with pytest.raises(ValueError, match="channel"):
        gan.train(model, torch.rand(10, 28, 28), steps=1, device="cpu")


def test_checkpoint_every_and_load(tmp_path, monkeypatch):
    from minigen import training

    saved = []
    save = training.save_checkpoint
    monkeypatch.setattr(training, "save_checkpoint", lambda *a, **k: (saved.append(k["step"]), save(*a, **k))[1])
    model = gan.build(TINY_DIGITS, seed=0, device="cpu")
    x = torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "run" / "ckpt.pt"
    gan.train(model, x, steps=5, device="cpu", checkpoint=path, checkpoint_every=2)
    assert saved == [2, 4, 5] and load_checkpoint(path)["step"] == 5
    saved.clear()
    gan.train(model, x, steps=4, device="cpu", checkpoint=path, checkpoint_every=2)
    assert saved == [2, 4]  # the end of the run was just saved: no second write
    saved.clear()
    gan.train(model, x, steps=3, device="cpu", checkpoint=path, checkpoint_every=0)
    assert saved == [3]  # 0: only at the end
    ck = load_checkpoint(path)
    assert ck["family"] == "gan" and ck["step"] == 3 and len(ck["history"]["loss_D"]) == 3
    again = gan.load(path, device="cpu")
    assert isinstance(again, gan.GAN) and again.config == TINY_DIGITS and not again.training
    gen = torch.Generator()
    torch.testing.assert_close(gan.sample(again, 4, generator=gen.manual_seed(5)),
                               gan.sample(model, 4, generator=gen.manual_seed(5)))


def test_sample_uses_the_generator_and_eval_mode():
    model = gan.build(TINY_DIGITS, seed=0, device="cpu")
    a = gan.sample(model, 10, generator=torch.Generator().manual_seed(1), batch_size=3)
    b = gan.sample(model, 10, generator=torch.Generator().manual_seed(1))
    c = gan.sample(model, 10, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b)  # batch norm in eval mode: batching does not matter
    assert not torch.allclose(a, c)
    assert model.G.training and not a.requires_grad and a.shape == (10, 1, 28, 28)


def test_wrong_checkpoint_family(tmp_path):
    from minigen.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "v.pt", family="vae", models={"model": torch.nn.Linear(1, 1)})
    with pytest.raises(CheckpointError, match="'vae' model, not a 'gan'"):
        gan.load(tmp_path / "v.pt")


def test_sample_from_checkpoint_refuses_2d_models(tmp_path, capsys):
    from minigen.cli import main

    gan.train(gan.build(TINY_RING, device="cpu"), ring8().sample, steps=1, device="cpu",
              checkpoint=tmp_path / "r.pt")
    assert main(["sample", str(tmp_path / "r.pt"), "-n", "5", "--out", str(tmp_path / "s.npy"),
                 "--device", "cpu"]) == 2
    assert "2-D" in capsys.readouterr().err
    assert not (tmp_path / "s.npy").exists()


# --------------------------------------------------------------------------------------------
# Command line: train, then sample
# --------------------------------------------------------------------------------------------
def test_cli_round_trip(tmp_path, capsys):
    from minigen.cli import main

    out = tmp_path / "gan"
    assert main(["train", "gan", "--out", str(out), "--steps", "3", "--seed", "7", "--quiet",
                 "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 3
    assert {p.name for p in out.iterdir()} == {"checkpoint.pt", "samples.png", "history.json"}
    assert json.loads((out / "history.json").read_text())["step"] == [1, 2, 3]
    assert load_checkpoint(out / "checkpoint.pt")["settings"]["net"] == "conv"
    assert main(["sample", str(out / "checkpoint.pt"), "-n", "12", "--out", str(tmp_path / "s.npy"),
                 "--device", "cpu"]) == 0
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (12, 1, 28, 28) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    # the samples are those of the saved generator with --seed 0
    expected = gan.sample(gan.load(out / "checkpoint.pt", device="cpu"), 12, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(x, expected.numpy(), atol=1e-6)
    assert main(["sample", str(out / "checkpoint.pt"), "-n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    assert "wrote 4 samples" in capsys.readouterr().out


def test_cli_max_seconds(tmp_path):
    from minigen.cli import main

    assert main(["train", "gan", "--out", str(tmp_path), "--max-seconds", "0.5", "--quiet",
                 "--device", "cpu"]) == 0
    steps = load_checkpoint(tmp_path / "checkpoint.pt")["step"]
    assert 1 <= steps < gan.DIGITS.steps


# --------------------------------------------------------------------------------------------
# GPU: the same code on CUDA
# --------------------------------------------------------------------------------------------
@pytest.mark.gpu
def test_training_and_sampling_on_cuda():
    model = gan.build(TINY_DIGITS, seed=0, device="cuda")
    x = torch.rand(32, 1, 28, 28, device="cuda")
    h = gan.train(model, x, steps=5, device="cuda")
    assert len(h["loss_D"]) == 5 and all(math.isfinite(v) for v in h["loss_D"])
    assert all(p.is_cuda for p in model.parameters())
    s = gan.sample(model, 8, generator=torch.Generator().manual_seed(0))
    assert s.device.type == "cuda" and s.shape == (8, 1, 28, 28)


@pytest.mark.gpu
def test_same_weights_and_samples_on_cpu_and_cuda():
    on_cpu, on_gpu = gan.build(TINY_DIGITS, seed=0, device="cpu"), gan.build(TINY_DIGITS, seed=0, device="cuda")
    for (name, p), q in zip(on_cpu.state_dict().items(), on_gpu.state_dict().values()):
        assert torch.equal(p, q.cpu()), name
    torch.testing.assert_close(gan.sample(on_gpu, 8, generator=torch.Generator().manual_seed(3)).cpu(),
                               gan.sample(on_cpu, 8, generator=torch.Generator().manual_seed(3)),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
def test_cli_round_trip_on_cuda(tmp_path):
    from minigen.cli import main

    assert main(["train", "gan", "--out", str(tmp_path), "--steps", "2", "--quiet", "--device", "cuda"]) == 0
    model = gan.load(tmp_path / "checkpoint.pt", device="cuda")
    x = gan.sample(model, 3, generator=torch.Generator().manual_seed(0))
    assert x.device.type == "cuda" and x.shape == (3, 1, 28, 28)


def test_build_leaves_the_accelerators_random_state_alone(monkeypatch):
    # build() seeds the CPU generator inside fork_rng(devices=[]), which restores only the CPU
    # state; torch.manual_seed would also reseed every CUDA and MPS generator of the caller
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(("cuda", seed)))
    if hasattr(torch, "mps"):
        monkeypatch.setattr(torch.mps, "manual_seed", lambda seed: calls.append(("mps", seed)))
    before = torch.random.get_rng_state()
    a = gan.build(gan.RING, seed=123, device="cpu")
    b = gan.build(gan.RING, seed=123, device="cpu")
    assert calls == []
    assert torch.equal(torch.random.get_rng_state(), before)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
