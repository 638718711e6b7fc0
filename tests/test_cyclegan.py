"""minigen.cyclegan and the thin/thick-stroke domain pair of minigen.data."""
import dataclasses
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from minigen import cyclegan as cg
from minigen import data
from minigen.gan import lsgan_discriminator_loss, lsgan_generator_loss
from minigen.utils import TrainingDiverged

ROOT = Path(__file__).resolve().parents[1]
TINY = cg.CycleGANConfig(channels=4, d_channels=4, batch_size=4, history_size=6)


def _hashes(images):
    return [hashlib.sha1(im.numpy().tobytes()).hexdigest() for im in images]


# ------------------------------------------------------------------------------------------
# The domain pair
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size, pixels, blocks", [
    # (row, col, value) of single pixels, and the block each grows into; a pixel at the border
    # grows into a 3x3 block clipped by the image edge
    (5, [(2, 2, 0.7), (0, 4, 1.0)], [(slice(1, 4), slice(1, 4), 0.7), (slice(0, 2), slice(3, 5), 1.0)]),
    (28, [(10, 20, 0.7), (0, 0, 0.4)], [(slice(9, 12), slice(19, 22), 0.7), (slice(0, 2), slice(0, 2), 0.4)]),
])
def test_thick_strokes_grows_a_pixel_into_a_3x3_block(size, pixels, blocks):
    x = torch.zeros(1, 1, size, size)
    for r, c, v in pixels:
        x[0, 0, r, c] = v
    expected = torch.zeros(1, 1, size, size)
    for rows, cols, v in blocks:
        expected[0, 0, rows, cols] = v
    torch.testing.assert_close(data.thick_strokes(x), expected)


def test_stroke_domains_are_disjoint_balanced_shuffled_halves():
    x, y = data.stroke_domains(seed=0)
    assert x.shape == y.shape == (2000, 1, 28, 28) and x.dtype == y.dtype == torch.float32
    train, labels = data.digits("train")
    row_of = {h: i for i, h in enumerate(_hashes(train))}
    rows_x = [row_of[h] for h in _hashes(x)]                   # X is the digits as they are
    row_of_t = {h: i for i, h in enumerate(_hashes(data.thick_strokes(train)))}
    rows_y = [row_of_t[h] for h in _hashes(y)]                 # Y is T of other digits
    assert len(set(rows_x)) == len(set(rows_y)) == 2000
    assert not set(rows_x) & set(rows_y)
    assert torch.bincount(labels[rows_x]).tolist() == [200] * 10
    assert torch.bincount(labels[rows_y]).tolist() == [200] * 10
    assert rows_x != sorted(rows_x) and rows_y != sorted(rows_y)
    # the two halves are shuffled independently: the classes do not line up row by row
    assert (labels[rows_x] == labels[rows_y]).float().mean() < 0.2


def test_stroke_domains_are_deterministic_per_seed():
    x0, y0 = data.stroke_domains(seed=0)
    x0b, y0b = data.stroke_domains(seed=0)
    x1, _ = data.stroke_domains(seed=1)
    assert torch.equal(x0, x0b) and torch.equal(y0, y0b)
    assert not torch.equal(x0, x1)


def test_stroke_pairs_are_the_paired_ground_truth():
    x, y, labels = data.stroke_pairs("test")
    xt, lt = data.digits("test")
    assert torch.equal(x, xt) and torch.equal(labels, lt)
    assert torch.equal(y, data.thick_strokes(x))
    assert (y >= x).all() and y.mean() > 1.5 * x.mean()


def test_classifier_reads_both_domains():
    from minigen.metrics import label_preservation

    x, y, labels = data.stroke_pairs("test")
    assert label_preservation(x, labels) >= 0.95
    assert label_preservation(y, labels) >= 0.95


# ------------------------------------------------------------------------------------------
# Losses, pinned to hand-computed values
# ------------------------------------------------------------------------------------------
def test_cycle_loss_between_zeros_and_ones_is_one_per_term():
    zeros, ones = torch.zeros(3, 1, 4, 4), torch.ones(3, 1, 4, 4)
    assert cg.cycle_loss(zeros, ones, zeros, zeros).item() == 1.0
    assert cg.cycle_loss(zeros, zeros, ones, zeros).item() == 1.0
    assert cg.cycle_loss(zeros, ones, ones, zeros).item() == 2.0


def test_cycle_loss_by_hand_and_against_l1_loss():
    x = torch.tensor([0.0, 0.5, 1.0, 0.25]).reshape(1, 1, 2, 2)
    x_cyc = torch.tensor([0.25, 0.25, 0.5, 0.25]).reshape(1, 1, 2, 2)
    y = torch.tensor([1.0, 1.0]).reshape(2, 1, 1, 1)
    y_cyc = torch.tensor([0.0, 0.5]).reshape(2, 1, 1, 1)
    # (0.25 + 0.25 + 0.5 + 0) / 4 + (1 + 0.5) / 2 = 0.25 + 0.75
    assert cg.cycle_loss(x, x_cyc, y, y_cyc).item() == 1.0
    g = torch.Generator().manual_seed(0)
    a, b, c, d = (torch.rand(5, 1, 6, 6, generator=g, dtype=torch.float64) for _ in range(4))
    expected = nn.functional.l1_loss(b, a) + nn.functional.l1_loss(d, c)
    torch.testing.assert_close(cg.cycle_loss(a, b, c, d), expected)


def test_cycle_loss_is_exactly_zero_for_exact_inverse_maps():
    x, y = data.stroke_domains()
    x, y = x[:50], y[:50]
    G = lambda t: torch.rot90(t, 1, dims=(2, 3))    # noqa: E731
    F = lambda t: torch.rot90(t, -1, dims=(2, 3))   # noqa: E731
    assert cg.cycle_loss(x, F(G(x)), y, G(F(y))).item() == 0.0
    assert cg.cycle_loss(x, G(G(x)), y, G(G(y))).item() > 0.1   # G is not its own inverse


def test_identity_loss_by_hand():
    x = torch.zeros(2, 1, 2, 2)
    y = torch.ones(2, 1, 2, 2)
    assert cg.identity_loss(x, x, y, y).item() == 0.0
    # G(y) = 0.5 everywhere (error 0.5), F(x) = x (error 0)
    assert cg.identity_loss(x, x, y, torch.full_like(y, 0.5)).item() == 0.5
    assert cg.identity_loss(x, torch.ones_like(x), y, torch.zeros_like(y)).item() == 2.0


def test_generator_objective_by_hand():
    d_y_fake, d_x_fake = torch.zeros(2, 1, 7, 7), torch.ones(2, 1, 7, 7)
    l_cyc, l_id = torch.tensor(0.2), torch.tensor(0.1)
    # 1/2 (0 - 1)^2 + 1/2 (1 - 1)^2 + 10 * 0.2 + 5 * 0.1 = 0.5 + 0 + 2 + 0.5
    total = cg.generator_objective(d_y_fake, d_x_fake, l_cyc, l_id, lambda_cyc=10.0, lambda_id=5.0)
    torch.testing.assert_close(total, torch.tensor(3.0))
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(3, 1, 7, 7, generator=g), torch.randn(3, 1, 7, 7, generator=g)
    expected = lsgan_generator_loss(a) + lsgan_generator_loss(b) + 1.5 * l_cyc + 0.0 * l_id
    torch.testing.assert_close(cg.generator_objective(a, b, l_cyc, l_id, lambda_cyc=1.5,
                                                      lambda_id=0.0), expected)


def test_discriminator_objective_by_hand():
    zeros, ones = torch.zeros(4, 1, 7, 7), torch.ones(4, 1, 7, 7)
    assert cg.discriminator_objective(ones, zeros, ones, zeros).item() == 0.0   # perfect D
    assert cg.discriminator_objective(zeros, zeros, zeros, zeros).item() == 1.0  # 0.5 + 0.5
    assert cg.discriminator_objective(zeros, ones, zeros, ones).item() == 2.0
    g = torch.Generator().manual_seed(2)
    a, b, c, d = (torch.randn(3, 1, 7, 7, generator=g) for _ in range(4))
    torch.testing.assert_close(cg.discriminator_objective(a, b, c, d),
                               lsgan_discriminator_loss(a, b) + lsgan_discriminator_loss(c, d))


def test_losses_do_not_modify_their_inputs():
    g = torch.Generator().manual_seed(3)
    tensors = [torch.rand(2, 1, 4, 4, generator=g) for _ in range(4)]
    copies = [t.clone() for t in tensors]
    cg.cycle_loss(*tensors)
    cg.identity_loss(*tensors)
    cg.discriminator_objective(*tensors)
    for t, c in zip(tensors, copies):
        assert torch.equal(t, c)


# ------------------------------------------------------------------------------------------
# Networks
# ------------------------------------------------------------------------------------------
def test_generator_shapes_range_and_identity_start():
    G = cg.Generator(channels=8, n_blocks=2)
    x, _ = data.digits("test")
    out = G(x[:5])
    assert out.shape == (5, 1, 28, 28) and (out > 0).all() and (out < 1).all()
    nn.init.zeros_(G.net[-1].weight)
    nn.init.zeros_(G.net[-1].bias)
    # with r(x) = 0, G(x) = sigmoid(4 (2x - 1)): a soft copy of x
    torch.testing.assert_close(G(x[:5]), torch.sigmoid(4 * (2 * x[:5] - 1)))
    assert sum(isinstance(m, cg.ResidualBlock) for m in G.modules()) == 2


def test_residual_block_adds_to_its_input():
    block = cg.ResidualBlock(3)
    nn.init.zeros_(block.body[-1].weight)
    nn.init.zeros_(block.body[-1].bias)
    h = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(block(h), torch.relu(h))


def test_patch_discriminator_gives_a_7x7_map_of_raw_scores():
    D = cg.PatchDiscriminator(channels=8)
    out = D(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 1, 7, 7)
    x = torch.zeros(1, 1, 28, 28, requires_grad=True)
    D.eval()
    D(x)[0, 0, 0, 0].backward()
    seen = (x.grad[0, 0] != 0).nonzero()
    assert seen[:, 0].max() < 18 and seen[:, 1].max() < 18   # a patch, not the whole image


# ------------------------------------------------------------------------------------------
# The history buffer
# ------------------------------------------------------------------------------------------
def _batches(n_batches, b=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(b, 1, 2, 2, generator=g) for _ in range(n_batches)]


def test_history_of_size_zero_passes_images_through():
    h = cg.ImageHistory(0)
    x = torch.rand(5, 1, 2, 2, requires_grad=True)
    out = h.query(x)
    assert torch.equal(out, x) and not out.requires_grad and h.images == []


def test_history_returns_new_images_until_full_then_swaps_half():
    h = cg.ImageHistory(8, torch.Generator().manual_seed(0))
    first, second = _batches(2)
    assert torch.equal(h.query(first), first) and torch.equal(h.query(second), second)
    assert len(h.images) == 8
    fresh = swapped = 0
    for batch in _batches(250, seed=1):
        # a returned image that is not the new one was stored before: in an earlier query, or
        # earlier in this batch (swapped in, then swapped out again)
        stored = {tuple(im.flatten().tolist()) for im in h.images}
        out = h.query(batch)
        assert out.shape == batch.shape and len(h.images) == 8
        for new, got in zip(batch, out):
            if torch.equal(new, got):
                fresh += 1
            else:
                assert tuple(got.flatten().tolist()) in stored
                swapped += 1
            stored.add(tuple(new.flatten().tolist()))
    # 1,000 fair coin flips: 500 +- 5 standard deviations (16)
    assert 420 < swapped < 580 and fresh + swapped == 1000


def test_history_is_deterministic_and_uses_only_its_generator():
    state = torch.get_rng_state()
    outs = []
    for seed in (0, 0, 1):
        h = cg.ImageHistory(4, torch.Generator().manual_seed(seed))
        outs.append(torch.cat([h.query(b) for b in _batches(20, seed=5)]))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])


def test_history_stores_detached_copies():
    h = cg.ImageHistory(3)
    x = torch.rand(3, 1, 2, 2, requires_grad=True)
    y = x * 2
    out = h.query(y)
    assert not out.requires_grad and all(not im.requires_grad for im in h.images)
    before = [im.clone() for im in h.images]
    with torch.no_grad():
        y.add_(1.0)   # the caller changes its tensor afterwards
    assert all(torch.equal(a, b) for a, b in zip(h.images, before))
    with pytest.raises(ValueError):
        cg.ImageHistory(-1)


# ------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------
def _tiny_data(n=32):
    x, y = data.stroke_domains()
    return x[:n], y[:n]


def test_train_step_updates_all_four_networks_and_d_step_leaves_g_grads_alone():
    models = cg.build_models(TINY, seed=0)
    opts = cg.build_optimizers(models, TINY)
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in models.items()}
    x, y = _tiny_data(4)
    grads = {}
    step_g = opts["GF"].step

    def record_then_step(*a, **k):   # G and F's gradients as the GF step sees them
        grads.update({id(p): p.grad.clone() for p in models["G"].parameters()})
        return step_g(*a, **k)

    opts["GF"].step = record_then_step
    losses = cg.train_step(models, opts, x, y, TINY, cg.ImageHistory(6), cg.ImageHistory(6))
    assert set(losses) == {"generator", "discriminator", "cycle", "identity"}
    assert all(np.isfinite(v) for v in losses.values())
    for k, m in models.items():
        assert any(not torch.equal(p, q) for p, q in zip(m.parameters(), before[k])), k
    for p in models["G"].parameters():   # the D step added nothing to G's gradients
        torch.testing.assert_close(p.grad, grads[id(p)])


def test_lambda_id_zero_records_identity_without_training_on_it():
    x, y = _tiny_data(4)
    off = dataclasses.replace(TINY, lambda_id=0.0)
    models = cg.build_models(off, seed=0)
    losses = cg.train_step(models, cg.build_optimizers(models, off), x, y, off,
                           cg.ImageHistory(0), cg.ImageHistory(0))
    assert losses["identity"] > 0
    same = cg.build_models(off, seed=0)
    l_cyc = cg.cycle_loss(x, same["F"](same["G"](x)), y, same["G"](same["F"](y)))
    l_gan = lsgan_generator_loss(same["D_Y"](same["G"](x))) + lsgan_generator_loss(same["D_X"](same["F"](y)))
    assert losses["generator"] == pytest.approx((l_gan + 10 * l_cyc).item(), rel=1e-5)


def test_nan_guard_raises_before_any_parameter_changes():
    models = cg.build_models(TINY, seed=0)
    opts = cg.build_optimizers(models, TINY)
    before = [p.detach().clone() for m in models.values() for p in m.parameters()]
    x, y = _tiny_data(4)
    x = x.clone()
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match="step 7"):
        cg.train_step(models, opts, x, y, TINY, cg.ImageHistory(0), cg.ImageHistory(0), step=7)
    after = [p for m in models.values() for p in m.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(before, after))


def test_training_is_deterministic_and_leaves_global_random_state_alone():
    x, y = _tiny_data()
    state = torch.get_rng_state()
    m1, h1 = cg.train_cyclegan(x, y, TINY, steps=5, seed=3, quiet=True)
    m2, h2 = cg.train_cyclegan(x, y, TINY, steps=5, seed=3, quiet=True)
    m3, _ = cg.train_cyclegan(x, y, TINY, steps=5, seed=4, quiet=True)
    assert torch.equal(torch.get_rng_state(), state)
    assert h1["cycle"] == h2["cycle"] and h1["step"] == [1, 2, 3, 4, 5]
    assert set(h1) == {"step", "time", "generator", "discriminator", "cycle", "identity"}
    assert all(len(v) == 5 for v in h1.values())
    for a, b in zip(m1["G"].parameters(), m2["G"].parameters()):
        assert torch.equal(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(m1["G"].parameters(), m3["G"].parameters()))


def test_max_seconds_stops_early_and_checkpoint_is_written(tmp_path):
    from minigen.checkpoint import load_checkpoint

    x, y = _tiny_data()
    _, hist = cg.train_cyclegan(x, y, TINY, steps=10_000, max_seconds=0.5, quiet=True,
                                checkpoint=tmp_path / "ck.pt", checkpoint_every=2)
    assert 1 <= len(hist["step"]) < 10_000
    ck = load_checkpoint(tmp_path / "ck.pt")
    assert ck["family"] == "cyclegan" and ck["step"] == len(hist["step"])
    assert set(ck["models"]) == {"G", "F", "D_X", "D_Y"} and ck["settings"]["channels"] == 4


def test_step_count_defaults_to_the_config_unless_only_a_time_limit_is_given():
    x, y = _tiny_data()
    two = dataclasses.replace(TINY, steps=2)
    _, hist = cg.train_cyclegan(x, y, two, quiet=True)
    assert hist["step"] == [1, 2]
    _, hist = cg.train_cyclegan(x, y, two, max_seconds=1.0, quiet=True)
    assert len(hist["step"]) > 2 and hist["time"][-2] < 1.0


def test_short_training_moves_both_translators_towards_the_ground_truth():
    x_data, y_data = data.stroke_domains()
    x, y, labels = data.stroke_pairs("test")
    x, y, labels = x[::10], y[::10], labels[::10]
    config = cg.CycleGANConfig()
    fresh = cg.build_models(config, seed=0)
    before = cg.evaluate_translation(fresh["G"], fresh["F"], x, y, labels)
    models, hist = cg.train_cyclegan(x_data, y_data, config, steps=60, seed=0, quiet=True)
    after = cg.evaluate_translation(models["G"], models["F"], x, y, labels)
    assert after["pixel_x2y"] < 0.8 * before["pixel_x2y"]
    assert after["pixel_y2x"] < 0.8 * before["pixel_y2x"]
    assert after["label_x2y"] > 0.85 and after["label_y2x"] > 0.85


def test_evaluate_translation_of_the_identity_is_the_baseline():
    x, y, labels = data.stroke_pairs("test")
    r = cg.evaluate_translation(nn.Identity(), nn.Identity(), x, y, labels)
    assert r["cycle_x"] == r["cycle_y"] == 0.0
    assert r["pixel_x2y"] == r["pixel_y2x"] == pytest.approx((y - x).abs().double().mean().item())
    assert r["label_x2y"] > 0.95 and r["label_y2x"] > 0.95


# ------------------------------------------------------------------------------------------
# Checkpoints and the command line
# ------------------------------------------------------------------------------------------
def test_translate_from_checkpoint_matches_the_trained_generators(tmp_path):
    x, y = _tiny_data()
    models, _ = cg.train_cyclegan(x, y, TINY, steps=3, quiet=True, checkpoint=tmp_path / "c.pt")
    xt = x[:5]
    out = cg.translate_from_checkpoint(tmp_path / "c.pt", xt, direction="x2y")
    torch.testing.assert_close(out, cg.translate(models["G"], xt))
    out = cg.translate_from_checkpoint(tmp_path / "c.pt", xt, direction="y2x")
    torch.testing.assert_close(out, cg.translate(models["F"], xt))
    with pytest.raises(ValueError, match="direction"):
        cg.translate_from_checkpoint(tmp_path / "c.pt", xt, direction="sideways")
    with pytest.raises(ValueError):
        cg.translate_from_checkpoint(tmp_path / "c.pt", xt[:, :, :20], direction="x2y")


def test_cli_round_trip(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "minigen", *a], cwd=ROOT,  # noqa: E731
                                    capture_output=True, text=True, timeout=300)
    out = tmp_path / "run"
    r = run("train", "cyclegan", "--out", str(out), "--steps", "3", "--seed", "1", "--quiet",
            "--device", "cpu")
    assert r.returncode == 0, r.stderr
    for name in ("checkpoint.pt", "samples.png", "history.json"):
        assert (out / name).is_file()
    x, _ = data.digits("test")
    np.save(tmp_path / "a.npy", x[:7].numpy())
    for direction in ("x2y", "y2x"):
        r = run("translate", str(out / "checkpoint.pt"), "--direction", direction,
                "--in", str(tmp_path / "a.npy"), "--out", str(tmp_path / f"{direction}.npy"),
                "--device", "cpu")
        assert r.returncode == 0, r.stderr
        b = np.load(tmp_path / f"{direction}.npy")
        assert b.shape == (7, 1, 28, 28) and b.dtype == np.float32
        assert 0 <= b.min() and b.max() <= 1
        expected = cg.translate_from_checkpoint(out / "checkpoint.pt", x[:7], direction=direction)
        np.testing.assert_allclose(b, expected.numpy(), atol=1e-6)
    r = run("translate", str(out / "checkpoint.pt"), "--direction", "x2y",
            "--in", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "b.npy"))
    assert r.returncode != 0 and "error" in r.stderr


# ------------------------------------------------------------------------------------------
# CUDA
# ------------------------------------------------------------------------------------------
@pytest.mark.gpu
def test_training_and_translation_on_cuda(tmp_path):
    x, y = _tiny_data()
    models, hist = cg.train_cyclegan(x, y, TINY, steps=5, device="cuda", quiet=True,
                                     checkpoint=tmp_path / "c.pt")
    assert all(p.is_cuda for m in models.values() for p in m.parameters())
    assert all(np.isfinite(hist["cycle"]))
    out = cg.translate_from_checkpoint(tmp_path / "c.pt", x[:5], direction="x2y", device="cuda")
    assert out.device.type == "cpu"
    torch.testing.assert_close(out, cg.translate(models["G"], x[:5]), atol=1e-5, rtol=1e-4)


@pytest.mark.gpu
def test_cuda_and_cpu_start_from_the_same_weights():
    cpu = cg.build_models(TINY, seed=0)
    gpu = cg.build_models(TINY, "cuda", seed=0)
    for a, b in zip(cpu["G"].parameters(), gpu["G"].parameters()):
        torch.testing.assert_close(a, b.cpu())
