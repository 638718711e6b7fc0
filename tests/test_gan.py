"""minigen.gan: the losses pinned to hand-computed values and a float64 re-derivation, the
networks' shapes, the training loop's behaviour, checkpoints and the command line."""
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from minigen import gan
from minigen.checkpoint import CheckpointError, load_checkpoint
from minigen.data import ring8
from minigen.utils import TrainingDiverged, seed_everything

LN2 = math.log(2.0)
TINY_RING = replace(gan.RING, width=16, depth=2, batch_size=32, lr_g=1e-3, lr_d=1e-3, r1=0.0)
TINY_DIGITS = replace(gan.DIGITS, width=4, z_dim=8, batch_size=8)


# --------------------------------------------------------------------------------------------
# Losses: hand-computed values
# --------------------------------------------------------------------------------------------
def test_all_zero_logits_give_ln2_per_term():
    zeros = torch.zeros(7)
    assert gan.value_function(zeros, zeros).item() == pytest.approx(-2 * LN2)
    assert gan.discriminator_loss(zeros, zeros).item() == pytest.approx(2 * LN2)
    assert gan.generator_loss_minimax(zeros).item() == pytest.approx(-LN2)
    assert gan.generator_loss_nonsaturating(zeros).item() == pytest.approx(LN2)


def test_lsgan_losses_by_hand():
    zeros = torch.zeros(3)
    assert gan.lsgan_discriminator_loss(zeros, zeros).item() == pytest.approx(0.5)
    assert gan.lsgan_generator_loss(zeros).item() == pytest.approx(0.5)
    # the perfect least-squares discriminator: 1 on real, 0 on fake
    assert gan.lsgan_discriminator_loss(torch.ones(4), torch.zeros(4)).item() == 0.0
    # (2 - 1)^2 / 2 + 3^2 / 2 = 5, and a patch map (B, 1, h, w) is averaged over every element
    assert gan.lsgan_discriminator_loss(torch.full((2, 1, 3, 3), 2.0), torch.full((2, 1, 3, 3), 3.0)).item() == 5.0
    assert gan.lsgan_generator_loss(torch.tensor([3.0, -1.0])).item() == pytest.approx((4 + 4) / 4)


def test_losses_at_logit_ln3_by_hand():
    # sigmoid(ln 3) = 3/4: D says "real" with probability 3/4
    t = torch.tensor([math.log(3.0)])
    assert gan.value_function(t, -t).item() == pytest.approx(2 * math.log(3 / 4))
    assert gan.discriminator_loss(t, -t).item() == pytest.approx(-2 * math.log(3 / 4))
    assert gan.generator_loss_minimax(t).item() == pytest.approx(math.log(1 / 4))
    assert gan.generator_loss_nonsaturating(t).item() == pytest.approx(-math.log(3 / 4))


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


def test_discriminator_loss_is_pytorch_bce_with_labels_1_and_0():
    g = torch.Generator().manual_seed(3)
    r, f = 3 * torch.randn(20, generator=g), 3 * torch.randn(20, generator=g)
    bce = (F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
           + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)))
    torch.testing.assert_close(gan.discriminator_loss(r, f), bce)


def test_generator_loss_gradients_saturate_as_derived():
    # d/dt of the minimax loss is -sigmoid(t) / B; of the non-saturating one -(1 - sigmoid(t)) / B
    t = torch.tensor([-8.0, -2.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
    (g_mm,) = torch.autograd.grad(gan.generator_loss_minimax(t), t)
    (g_ns,) = torch.autograd.grad(gan.generator_loss_nonsaturating(t), t)
    torch.testing.assert_close(g_mm, -torch.sigmoid(t.detach()) / 4)
    torch.testing.assert_close(g_ns, -(1 - torch.sigmoid(t.detach())) / 4)
    assert abs(g_mm[0]) < 1e-3 < abs(g_ns[0])  # D rejects the fake: only the ns form still pushes


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
def test_optimal_discriminator_by_hand():
    p_data, p_g = torch.tensor([1.0, 3.0, 0.0, 2.0]), torch.tensor([1.0, 1.0, 5.0, 0.0])
    torch.testing.assert_close(gan.optimal_discriminator(p_data, p_g), torch.tensor([0.5, 0.75, 0.0, 1.0]))
    assert torch.isnan(gan.optimal_discriminator(torch.zeros(1), torch.zeros(1))).all()


def test_optimal_discriminator_maximises_the_pointwise_objective():
    # a log y + b log(1 - y) over y in (0, 1) is largest at y = a / (a + b)
    y = torch.linspace(1e-4, 1 - 1e-4, 200001, dtype=torch.float64)
    for a, b in [(1.0, 1.0), (0.3, 2.0), (5.0, 0.2)]:
        best = y[(a * y.log() + b * (1 - y).log()).argmax()]
        d_star = gan.optimal_discriminator(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
        assert abs(best - d_star) < 1e-4


def test_optimal_discriminator_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        gan.optimal_discriminator(torch.ones(3), torch.ones(2))
    with pytest.raises(ValueError, match="non-negative"):
        gan.optimal_discriminator(torch.tensor([-1.0]), torch.ones(1))


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------
def test_mlp_shapes():
    G, D = gan.build_gan(gan.RING)
    x = G(torch.randn(5, gan.RING.z_dim))
    assert x.shape == (5, 2) and D(x).shape == (5,)


def test_conv_shapes_and_range():
    G, D = gan.build_gan(gan.DIGITS)
    x = G(torch.randn(6, gan.DIGITS.z_dim))
    assert x.shape == (6, 1, 28, 28)
    assert x.min() >= 0 and x.max() <= 1
    assert D(x).shape == (6,)


def test_dcgan_init():
    torch.manual_seed(0)
    G, D = gan.build_gan(gan.DIGITS)
    convs = [m for m in list(G.modules()) + list(D.modules())
             if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    w = torch.cat([m.weight.flatten() for m in convs])
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.002


def test_build_gan_bad_config():
    with pytest.raises(ValueError, match="net"):
        gan.build_gan(replace(gan.DIGITS, net="transformer"))
    G, D = gan.build_gan(TINY_RING)
    with pytest.raises(ValueError, match="loss"):
        gan.train_gan(G, D, ring8().sample, replace(TINY_RING, loss="wasserstein"), steps=1, quiet=True)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
def _count_grads(module):
    """Count, per parameter, how many backward passes reach it."""
    counts = {}
    for name, p in module.named_parameters():
        counts[name] = 0
        p.register_hook(lambda g, name=name: counts.__setitem__(name, counts[name] + 1))
    return counts


@pytest.mark.parametrize("d_steps", [1, 3])
def test_d_update_sends_no_gradient_into_G(d_steps):
    config = replace(TINY_RING, d_steps=d_steps)
    seed_everything(0)
    G, D = gan.build_gan(config)
    counts = _count_grads(G)
    gan.train_step(G, D, ring8().sample, gan.make_optimizers(G, D, config), config)
    assert set(counts.values()) == {1}  # only the G update reached G, whatever d_steps is


def test_d_update_changes_D_only_and_g_update_changes_G():
    config = replace(TINY_RING, lr_g=0.0)
    seed_everything(0)
    G, D = gan.build_gan(config)
    g0 = [p.clone() for p in G.parameters()]
    d0 = [p.clone() for p in D.parameters()]
    gan.train_step(G, D, ring8().sample, gan.make_optimizers(G, D, config), config)
    assert all(torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(d0, D.parameters()))
    config = replace(TINY_RING, lr_d=0.0)
    gan.train_step(G, D, ring8().sample, gan.make_optimizers(G, D, config), config)
    assert not all(torch.equal(a, b) for a, b in zip(g0, G.parameters()))


def test_r1_penalty_adds_gamma_half_squared_gradient_norm():
    # a linear discriminator D(x) = w.x + c has grad_x D = w everywhere: the penalty is r1/2 |w|^2
    x = torch.randn(32, 2)
    losses = {}
    for r1 in (0.0, 0.5):
        config = replace(TINY_RING, depth=0, r1=r1)
        seed_everything(0)
        G, D = gan.build_gan(config)
        w = D.net[0].weight.detach().clone()
        losses[r1] = gan.train_step(G, D, lambda n: x[:n], gan.make_optimizers(G, D, config), config)["loss_D"]
    assert losses[0.5] - losses[0.0] == pytest.approx(0.25 * w.pow(2).sum().item(), rel=1e-5)


def test_seeded_run_repeats_and_learns_the_ring():
    config = replace(TINY_RING, width=32, batch_size=64)

    def distance_to_circle(G):  # mean | |x| - 2 | of 500 samples: 0 on the ring's circle
        x = gan.sample(G, 500, generator=torch.Generator().manual_seed(0)).double()
        return (x.norm(dim=1) - 2).abs().mean().item()

    def run():
        seed_everything(1)
        G, D = gan.build_gan(config)
        before = distance_to_circle(G)
        history = gan.train_gan(G, D, ring8().sample, config, steps=300, quiet=True)
        return history, before, distance_to_circle(G)

    h1, before, after = run()
    h2, _, _ = run()
    assert h1["loss_D"] == h2["loss_D"] and h1["loss_G"] == h2["loss_G"]
    assert h1["step"] == list(range(1, 301))
    assert abs(h1["loss_D"][0] - 2 * LN2) < 0.2  # D starts near chance: ln 2 per term
    assert after < 0.5 * before  # the samples moved out to the ring


def test_history_is_plain_numbers_and_training_continues():
    seed_everything(0)
    G, D = gan.build_gan(TINY_RING)
    opt = gan.make_optimizers(G, D, TINY_RING)
    h = gan.train_gan(G, D, ring8().sample, TINY_RING, steps=3, optimizers=opt, quiet=True)
    h = gan.train_gan(G, D, ring8().sample, TINY_RING, steps=2, optimizers=opt, history=h, quiet=True)
    assert set(h) == {"step", "time", "loss_D", "loss_G", "D_real", "D_fake"}
    assert h["step"] == [1, 2, 3, 4, 5]
    assert all(type(v) in (int, float) for vals in h.values() for v in vals)
    assert h["time"] == sorted(h["time"])
    assert opt["G"].state_dict()["state"][0]["step"] == 5


def test_max_seconds_stops_the_run():
    seed_everything(0)
    G, D = gan.build_gan(TINY_RING)
    h = gan.train_gan(G, D, ring8().sample, TINY_RING, max_seconds=0.3, quiet=True)
    assert 1 <= len(h["step"]) and h["time"][-1] < 5
    h = gan.train_gan(G, D, ring8().sample, TINY_RING, steps=4, max_seconds=60, quiet=True)
    assert len(h["step"]) == 4


def test_nan_stops_training_before_any_parameter_changes(tmp_path):
    seed_everything(0)
    G, D = gan.build_gan(TINY_RING)
    good = torch.randn(100, 2)
    bad = good.clone()
    bad[:] = float("nan")
    gan.train_gan(G, D, good, TINY_RING, steps=2, quiet=True, checkpoint_path=tmp_path / "c.pt")
    d0 = [p.clone() for p in D.parameters()]
    with pytest.raises(TrainingDiverged, match="step 1.*loss_D=nan"):
        gan.train_gan(G, D, bad, TINY_RING, steps=2, quiet=True)
    assert all(torch.equal(a, b) for a, b in zip(d0, D.parameters()))
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 2  # the last good checkpoint is kept


def test_conv_training_checks_the_images():
    G, D = gan.build_gan(TINY_DIGITS)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gan.train_gan(G, D, 255 * torch.rand(10, 1, 28, 28), TINY_DIGITS, steps=1, quiet=True)
    with pytest.raises(ValueError, match="channel"):
        gan.train_gan(G, D, torch.rand(10, 28, 28), TINY_DIGITS, steps=1, quiet=True)


def test_checkpoint_every_and_load_gan(tmp_path):
    seed_everything(0)
    G, D = gan.build_gan(TINY_DIGITS)
    x = torch.rand(20, 1, 28, 28)
    path = tmp_path / "run" / "ckpt.pt"
    gan.train_gan(G, D, x, TINY_DIGITS, steps=2, checkpoint_path=path, checkpoint_every=2, quiet=True)
    assert load_checkpoint(path)["step"] == 2
    gan.train_gan(G, D, x, TINY_DIGITS, steps=3, checkpoint_path=path, checkpoint_every=100, quiet=True)
    ck = load_checkpoint(path)
    assert ck["step"] == 3 and len(ck["history"]["loss_D"]) == 3  # the final write
    G2, D2, config = gan.load_gan(path)
    assert config == TINY_DIGITS
    gen = torch.Generator()
    torch.testing.assert_close(gan.sample(G2, 4, generator=gen.manual_seed(5)),
                               gan.sample(G, 4, generator=gen.manual_seed(5)))


def test_sample_uses_the_generator_and_eval_mode():
    seed_everything(0)
    G, _ = gan.build_gan(TINY_DIGITS)
    a = gan.sample(G, 10, generator=torch.Generator().manual_seed(1), batch_size=3)
    b = gan.sample(G, 10, generator=torch.Generator().manual_seed(1))
    c = gan.sample(G, 10, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b)  # batch norm in eval mode: batching does not matter
    assert not torch.allclose(a, c)
    assert G.training and not a.requires_grad and a.shape == (10, 1, 28, 28)


def test_wrong_checkpoint_family(tmp_path):
    from minigen.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "v.pt", family="vae", models={"m": torch.nn.Linear(1, 1)})
    with pytest.raises(CheckpointError, match="gan"):
        gan.load_gan(tmp_path / "v.pt")


def test_sample_from_checkpoint_refuses_2d_models(tmp_path):
    seed_everything(0)
    G, D = gan.build_gan(TINY_RING)
    gan.train_gan(G, D, ring8().sample, TINY_RING, steps=1, checkpoint_path=tmp_path / "r.pt", quiet=True)
    with pytest.raises(ValueError, match="2-D"):
        gan.sample_from_checkpoint(tmp_path / "r.pt", 5)


# --------------------------------------------------------------------------------------------
# Command line: train, then sample
# --------------------------------------------------------------------------------------------
def test_cli_round_trip(tmp_path, capsys):
    from minigen.cli import main

    out = tmp_path / "gan"
    assert main(["train", "gan", "--out", str(out), "--steps", "3", "--seed", "7", "--quiet",
                 "--device", "cpu"]) == 0
    assert {p.name for p in out.iterdir()} == {"checkpoint.pt", "samples.png", "history.json"}
    assert json.loads((out / "history.json").read_text())["step"] == [1, 2, 3]
    assert load_checkpoint(out / "checkpoint.pt")["settings"]["net"] == "conv"
    assert main(["sample", str(out / "checkpoint.pt"), "-n", "12", "--out", str(tmp_path / "s.npy"),
                 "--device", "cpu"]) == 0
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (12, 1, 28, 28) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
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
    seed_everything(0)
    G, D = gan.build_gan(TINY_DIGITS, "cuda")
    x = torch.rand(32, 1, 28, 28, device="cuda")
    h = gan.train_gan(G, D, x, TINY_DIGITS, steps=5, quiet=True)
    assert len(h["loss_D"]) == 5 and all(math.isfinite(v) for v in h["loss_D"])
    s = gan.sample(G, 8, generator=torch.Generator().manual_seed(0))
    assert s.device.type == "cuda" and s.shape == (8, 1, 28, 28)


@pytest.mark.gpu
def test_same_samples_on_cpu_and_cuda():
    seed_everything(0)
    G, _ = gan.build_gan(TINY_DIGITS)
    on_cpu = gan.sample(G, 8, generator=torch.Generator().manual_seed(3))
    on_gpu = gan.sample(G.to("cuda"), 8, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
def test_cli_round_trip_on_cuda(tmp_path):
    from minigen.cli import main

    assert main(["train", "gan", "--out", str(tmp_path), "--steps", "2", "--quiet", "--device", "cuda"]) == 0
    x = gan.sample_from_checkpoint(load_checkpoint(tmp_path / "checkpoint.pt"), 3, device="cuda")
    assert x.device.type == "cuda" and x.shape == (3, 1, 28, 28)
