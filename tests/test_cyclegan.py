"""minigen.cyclegan and the thin/thick-stroke domain pair of minigen.data."""
import copy
import dataclasses
import hashlib
import io

import numpy as np
import pytest
import torch
from torch import nn

from minigen import cyclegan as cg
from minigen import data
from minigen.checkpoint import load_checkpoint
from minigen.gan import lsgan_discriminator_loss, lsgan_generator_loss
from minigen.utils import TrainingDiverged

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
    x, y = data.stroke_domains(seed=0, device="cpu")
    assert x.shape == y.shape == (2000, 1, 28, 28) and x.dtype == y.dtype == torch.float32
    train, labels = data.digits("train", device="cpu")
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
    x0, y0 = data.stroke_domains(seed=0, device="cpu")
    x0b, y0b = data.stroke_domains(seed=0, device="cpu")
    x1, _ = data.stroke_domains(seed=1, device="cpu")
    assert torch.equal(x0, x0b) and torch.equal(y0, y0b)
    assert not torch.equal(x0, x1)


def test_stroke_pairs_are_the_paired_ground_truth():
    x, y, labels = data.stroke_pairs("test", device="cpu")
    xt, lt = data.digits("test", device="cpu")
    assert torch.equal(x, xt) and torch.equal(labels, lt)
    assert torch.equal(y, data.thick_strokes(x))
    assert (y >= x).all() and y.mean() > 1.5 * x.mean()


def test_classifier_reads_both_domains():
    from minigen.metrics import label_preservation

    x, y, labels = data.stroke_pairs("test", device="cpu")
    assert label_preservation(x, labels) >= 0.95
    assert label_preservation(y, labels) >= 0.95


# ------------------------------------------------------------------------------------------
# Losses, pinned to hand-computed values
# ------------------------------------------------------------------------------------------
@pytest.mark.equation
def test_cycle_loss_between_zeros_and_ones_is_one_per_term():
    zeros, ones = torch.zeros(3, 1, 4, 4), torch.ones(3, 1, 4, 4)
    assert cg.cycle_loss(zeros, ones, zeros, zeros).item() == 1.0
    assert cg.cycle_loss(zeros, zeros, ones, zeros).item() == 1.0
    assert cg.cycle_loss(zeros, ones, ones, zeros).item() == 2.0


@pytest.mark.equation
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


@pytest.mark.equation
def test_cycle_loss_is_exactly_zero_for_exact_inverse_maps():
    x, y = data.stroke_domains(device="cpu")
    x, y = x[:50], y[:50]
    G = lambda t: torch.rot90(t, 1, dims=(2, 3))    # noqa: E731
    F = lambda t: torch.rot90(t, -1, dims=(2, 3))   # noqa: E731
    assert cg.cycle_loss(x, F(G(x)), y, G(F(y))).item() == 0.0
    assert cg.cycle_loss(x, G(G(x)), y, G(G(y))).item() > 0.1   # G is not its own inverse


@pytest.mark.equation
def test_identity_loss_by_hand():
    x = torch.zeros(2, 1, 2, 2)
    y = torch.ones(2, 1, 2, 2)
    assert cg.identity_loss(x, x, y, y).item() == 0.0
    # G(y) = 0.5 everywhere (error 0.5), F(x) = x (error 0)
    assert cg.identity_loss(x, x, y, torch.full_like(y, 0.5)).item() == 0.5
    assert cg.identity_loss(x, torch.ones_like(x), y, torch.zeros_like(y)).item() == 2.0


@pytest.mark.equation
def test_generator_objective_by_hand():
    d_y_fake, d_x_fake = torch.zeros(2, 1, 7, 7), torch.ones(2, 1, 7, 7)
    l_cyc, l_id = torch.tensor(0.2), torch.tensor(0.1)
    # the paper's scaling, no 1/2: (0 - 1)^2 + (1 - 1)^2 + 10 * 0.2 + 5 * 0.1 = 1 + 0 + 2 + 0.5
    total = cg.generator_objective(d_y_fake, d_x_fake, l_cyc, l_id, lambda_cyc=10.0, lambda_id=5.0)
    torch.testing.assert_close(total, torch.tensor(3.5))
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(3, 1, 7, 7, generator=g), torch.randn(3, 1, 7, 7, generator=g)
    # each adversarial term is twice chapter 3's LSGAN generator loss (which has the 1/2)
    expected = 2 * lsgan_generator_loss(a) + 2 * lsgan_generator_loss(b) + 1.5 * l_cyc + 0.0 * l_id
    torch.testing.assert_close(cg.generator_objective(a, b, l_cyc, l_id, lambda_cyc=1.5,
                                                      lambda_id=0.0), expected)


@pytest.mark.equation
def test_discriminator_objective_by_hand():
    zeros, ones = torch.zeros(4, 1, 7, 7), torch.ones(4, 1, 7, 7)
    assert cg.discriminator_objective(ones, zeros, ones, zeros).item() == 0.0   # perfect D
    assert cg.discriminator_objective(zeros, zeros, zeros, zeros).item() == 1.0  # 0.5 + 0.5
    assert cg.discriminator_objective(zeros, ones, zeros, ones).item() == 2.0
    g = torch.Generator().manual_seed(2)
    a, b, c, d = (torch.randn(3, 1, 7, 7, generator=g) for _ in range(4))
    torch.testing.assert_close(cg.discriminator_objective(a, b, c, d),
                               lsgan_discriminator_loss(a, b) + lsgan_discriminator_loss(c, d))


@pytest.mark.equation
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
    x, _ = data.digits("test", device="cpu")
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


def _field_by_gradient(net, channels=1, size=96):
    # an independent measure: the side of the input square on which the centre output depends
    # (weights made positive, so that no two paths cancel)
    net = copy.deepcopy(net).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.05 * p.abs() + 0.001)  # small too: a saturated sigmoid has no gradient
    x = torch.rand(1, channels, size, size, dtype=torch.float64, requires_grad=True)
    out = net(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows, cols = (x.grad[0].abs().sum(0) != 0).nonzero().unbind(1)
    assert rows.min() > 0 and cols.min() > 0  # the field lies inside the input: not clipped
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def _patchgan_70():
    # pix2pix / CycleGAN's PatchGAN layout (channels shrunk: they do not change the field)
    layers, c = [], 1
    for out, stride in ((2, 2), (2, 2), (2, 2), (2, 1), (1, 1)):
        layers += [nn.Conv2d(c, out, 4, stride=stride, padding=1), nn.LeakyReLU(0.2)]
        c = out
    return nn.Sequential(*layers[:-1])


@pytest.mark.equation
def test_receptive_field_agrees_with_the_gradient_of_one_output():
    cases = [(cg.PatchDiscriminator(4), 1, 18), (cg.PatchDiscriminator(4, in_channels=2), 2, 18),
             (cg.Generator(4, n_blocks=1), 1, 9), (cg.Generator(4, n_blocks=3), 1, 17),
             (_patchgan_70(), 1, 70)]
    for net, channels, side in cases:
        assert cg.receptive_field(net) == side
        assert _field_by_gradient(net, channels, size=160 if side == 70 else 64) == (side, side)
    with pytest.raises(ValueError, match="transposed"):
        cg.receptive_field(nn.ConvTranspose2d(1, 1, 3))


def test_conditional_patch_discriminator_takes_two_channels():
    D = cg.PatchDiscriminator(4, in_channels=2)
    assert D(torch.rand(3, 2, 28, 28)).shape == (3, 1, 7, 7)
    with pytest.raises(ValueError, match="x"):
        D(torch.rand(3, 1, 28, 28))


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
    assert torch.equal(out, x) and not out.requires_grad and h.images is None and h.count == 0


def test_history_returns_new_images_until_full_then_swaps_half():
    h = cg.ImageHistory(8, torch.Generator().manual_seed(0))
    first, second = _batches(2)
    assert torch.equal(h.query(first), first) and h.count == 4
    assert torch.equal(h.query(second), second) and h.count == 8
    assert torch.equal(h.images, torch.cat([first, second]))
    fresh = swapped = 0
    for batch in _batches(250, seed=1):
        # a returned image that is not the new one was stored before: in an earlier query, or
        # earlier in this batch (swapped in, then swapped out again)
        stored = {tuple(im.flatten().tolist()) for im in h.images}
        out = h.query(batch)
        assert out.shape == batch.shape and h.count == 8 and h.images.shape == (8, 1, 2, 2)
        for new, got in zip(batch, out):
            if torch.equal(new, got):
                fresh += 1
            else:
                assert tuple(got.flatten().tolist()) in stored
                swapped += 1
            stored.add(tuple(new.flatten().tolist()))
    # 1,000 fair coin flips: 500 +- 5 standard deviations (16)
    assert 420 < swapped < 580 and fresh + swapped == 1000


class _SequentialHistory:
    """The buffer written the straightforward way, one image at a time, for reference: it draws
    the same numbers as :class:`minigen.cyclegan.ImageHistory` (per query, for the n images that
    arrive once the buffer is full: u = rand(n), then slot = randint(size, (n,)))."""

    def __init__(self, size, generator):
        self.size, self.generator, self.images = size, generator, []

    def query(self, images):
        out, pending = [], []
        for im in images:
            if len(self.images) < self.size:
                self.images.append(im.clone())
                out.append(im.clone())
            else:
                pending.append(im)
        if pending:
            u = torch.rand(len(pending), generator=self.generator)
            slot = torch.randint(self.size, (len(pending),), generator=self.generator)
            for im, u_i, s in zip(pending, u.tolist(), slot.tolist()):
                if u_i < 0.5:  # swap: return the stored image, keep the new one in its place
                    out.append(self.images[s])
                    self.images[s] = im.clone()
                else:
                    out.append(im.clone())
        return torch.stack(out)


@pytest.mark.parametrize("size, batch_sizes", [
    (1, [1, 3, 1, 5, 2]),            # one slot: every swap in a batch hits the same slot
    (3, [2, 2, 7, 7, 1, 12, 3]),     # a batch that straddles "full", batches larger than the buffer
    (5, [5, 4, 9, 16, 16, 2, 20]),
    (50, [16] * 12),                 # the chapter's buffer and batch size
])
def test_batched_swaps_equal_a_sequential_reference(size, batch_sizes):
    # every image is unique (its value is its arrival number), so equal outputs mean equal choices
    fast = cg.ImageHistory(size, torch.Generator().manual_seed(size))
    slow = _SequentialHistory(size, torch.Generator().manual_seed(size))
    arrived = 0
    for b in batch_sizes:
        batch = (arrived + torch.arange(b, dtype=torch.float32)).view(b, 1, 1, 1).expand(b, 1, 2, 2)
        arrived += b
        expected = slow.query(batch)
        torch.testing.assert_close(fast.query(batch), expected, rtol=0, atol=0)
        torch.testing.assert_close(fast.images[:fast.count], torch.stack(slow.images), rtol=0, atol=0)
    # both consumed the same random numbers
    assert torch.equal(fast.generator.get_state(), slow.generator.get_state())
    assert arrived > size  # the swaps were exercised


def _saved_and_loaded(state):
    """``state`` written and read back as a checkpoint does: a copy that shares no memory."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_history_state_dict_restores_the_buffer():
    h = cg.ImageHistory(5, torch.Generator().manual_seed(0))
    empty = _saved_and_loaded(h.state_dict())
    for batch in _batches(3, b=3):
        h.query(batch)
    state, g_state = _saved_and_loaded(h.state_dict()), h.generator.get_state()
    assert state["count"] == 5 and state["images"].shape == (5, 1, 2, 2)
    again = cg.ImageHistory(5, torch.Generator().set_state(g_state))
    again.load_state_dict(state)
    assert again.count == 5 and torch.equal(again.images, h.images)
    for batch in _batches(4, b=3, seed=9):
        torch.testing.assert_close(again.query(batch), h.query(batch), rtol=0, atol=0)
    assert torch.equal(again.images, h.images)
    fresh = cg.ImageHistory(5, torch.Generator().manual_seed(0))
    fresh.load_state_dict(empty)
    assert fresh.images is None and fresh.count == 0


def test_history_state_dict_is_a_copy():
    h = cg.ImageHistory(3, torch.Generator().manual_seed(0))
    h.query(torch.rand(3, 1, 2, 2))
    state = h.state_dict()
    saved = state["images"].clone()
    again = cg.ImageHistory(3, torch.Generator().manual_seed(1))
    again.load_state_dict(state)
    for batch in _batches(5, b=3):
        h.query(batch)
    assert torch.equal(state["images"], saved)  # the saved state did not move on with the buffer
    assert torch.equal(again.images, saved)  # nor did the buffer restored from it


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
    assert not out.requires_grad and not h.images.requires_grad
    before = h.images.clone()
    with torch.no_grad():
        y.add_(1.0)   # the caller changes its tensor afterwards
    assert torch.equal(h.images, before)
    with pytest.raises(ValueError):
        cg.ImageHistory(-1)


# ------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------
def _tiny_data(n=32):
    x, y = data.stroke_domains(device="cpu")
    return x[:n], y[:n]


def _networks(model):
    return {"G": model.G, "F": model.F, "D_X": model.D_X, "D_Y": model.D_Y}


def test_build_is_seeded_and_leaves_the_global_random_state_alone():
    state = torch.get_rng_state()
    a, b, c = (cg.build(TINY, seed=s, device="cpu") for s in (0, 0, 1))
    assert torch.equal(torch.get_rng_state(), state)
    assert isinstance(a, cg.CycleGAN) and a.config == TINY
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.G.net[0].weight, c.G.net[0].weight)
    assert not torch.equal(a.G.net[0].weight, a.F.net[0].weight)  # four networks, four draws


@pytest.mark.equation
def test_train_step_updates_all_four_networks_and_d_step_leaves_g_grads_alone():
    model = cg.build(TINY, seed=0, device="cpu")
    opts = cg.make_optimizers(model)
    assert set(opts) == {"GF", "D"}
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in _networks(model).items()}
    x, y = _tiny_data(4)
    grads = {}
    step_g = opts["GF"].step

    def record_then_step(*a, **k):   # G and F's gradients as the GF step sees them
        grads.update({id(p): p.grad.clone() for p in model.G.parameters()})
        return step_g(*a, **k)

    opts["GF"].step = record_then_step
    losses = cg.train_step(model, x, y, opts, cg.ImageHistory(6), cg.ImageHistory(6))
    assert set(losses) == {"generator", "discriminator", "cycle", "identity"}
    assert all(isinstance(v, torch.Tensor) and v.shape == () and not v.requires_grad for v in losses.values())
    assert all(torch.isfinite(v) for v in losses.values())
    for k, m in _networks(model).items():
        assert any(not torch.equal(p, q) for p, q in zip(m.parameters(), before[k])), k
    for p in model.G.parameters():   # the D step added nothing to G's gradients
        torch.testing.assert_close(p.grad, grads[id(p)])


@pytest.mark.equation
def test_lambda_id_zero_records_identity_without_training_on_it():
    x, y = _tiny_data(4)
    off = dataclasses.replace(TINY, lambda_id=0.0)
    model = cg.build(off, seed=0, device="cpu")
    losses = cg.train_step(model, x, y, cg.make_optimizers(model), cg.ImageHistory(0), cg.ImageHistory(0))
    assert losses["identity"].item() > 0
    same = cg.build(off, seed=0, device="cpu")
    l_cyc = cg.cycle_loss(x, same.F(same.G(x)), y, same.G(same.F(y)))
    l_gan = 2 * lsgan_generator_loss(same.D_Y(same.G(x))) + 2 * lsgan_generator_loss(same.D_X(same.F(y)))
    assert losses["generator"].item() == pytest.approx((l_gan + TINY.lambda_cyc * l_cyc).item(), rel=1e-5)


def _step_with_every_gradient(model, x, y, opts):
    """The step as it was before lambda_cyc = 0 skipped the cycle term's backward pass: the
    term is always on the graph (history buffers of size 0)."""
    c, G, F, D_X, D_Y = model.config, model.G, model.F, model.D_X, model.D_Y
    fake_y, fake_x = G(x), F(y)
    l_cyc = cg.cycle_loss(x, F(fake_y), y, G(fake_x))
    with torch.no_grad():
        l_id = cg.identity_loss(x, F(x), y, G(y))
    l_gen = cg.generator_objective(D_Y(fake_y), D_X(fake_x), l_cyc, l_id,
                                   lambda_cyc=c.lambda_cyc, lambda_id=c.lambda_id)
    opts["GF"].zero_grad(set_to_none=True)
    l_gen.backward()
    opts["GF"].step()
    l_dis = cg.discriminator_objective(D_X(x), D_X(fake_x.detach()), D_Y(y), D_Y(fake_y.detach()))
    opts["D"].zero_grad(set_to_none=True)
    l_dis.backward()
    opts["D"].step()
    return l_cyc.detach()


@pytest.mark.equation
def test_lambda_cyc_zero_is_bit_for_bit_the_step_with_every_gradient():
    """The ablation without a cycle loss skips the term's backward pass (its gradient is 0 times
    the term's): after three steps every weight equals, bit for bit, that of the step that
    computes it, and the cycle loss is still recorded."""
    off = dataclasses.replace(TINY, lambda_cyc=0.0, lambda_id=0.0)
    fast, slow = cg.build(off, seed=0, device="cpu"), cg.build(off, seed=0, device="cpu")
    opts_fast, opts_slow = cg.make_optimizers(fast), cg.make_optimizers(slow)
    for step in range(3):
        x, y = _tiny_data(4 + step)
        losses = cg.train_step(fast, x, y, opts_fast, cg.ImageHistory(0), cg.ImageHistory(0))
        l_cyc = _step_with_every_gradient(slow, x, y, opts_slow)
        assert torch.equal(losses["cycle"], l_cyc) and l_cyc.item() > 0
    for p, q in zip(fast.parameters(), slow.parameters()):
        assert torch.equal(p, q)
    assert any(not torch.equal(p, q) for p, q in
               zip(fast.parameters(), cg.build(off, seed=0, device="cpu").parameters()))
    # the saving: F's passes in the step, F(y), F(G(x)) and F(x), build a graph only for F(y)
    # (and for F(G(x)) too when the cycle term is trained on)
    for lambda_cyc, graphs in ((0.0, [True, False, False]), (TINY.lambda_cyc, [True, True, False])):
        model = cg.build(dataclasses.replace(off, lambda_cyc=lambda_cyc), seed=0, device="cpu")
        seen = []
        model.F.register_forward_hook(lambda *_: seen.append(torch.is_grad_enabled()))
        cg.train_step(model, x, y, cg.make_optimizers(model), cg.ImageHistory(0), cg.ImageHistory(0))
        assert seen == graphs, lambda_cyc


@pytest.mark.equation
def test_loss_functions_plug_into_the_step():
    x, y = _tiny_data(4)
    on = dataclasses.replace(TINY, lambda_id=0.5)
    seen = []

    def doubled_cycle(*args):
        seen.append("cycle")
        return 2 * cg.cycle_loss(*args)

    def zero_identity(x, x_idt, y, y_idt):
        seen.append("identity")
        return 0 * cg.identity_loss(x, x_idt, y, y_idt)

    model = cg.build(on, seed=0, device="cpu")
    same = cg.build(on, seed=0, device="cpu")
    losses = cg.train_step(model, x, y, cg.make_optimizers(model), cg.ImageHistory(0), cg.ImageHistory(0),
                           cycle_fn=doubled_cycle, identity_fn=zero_identity)
    assert seen == ["cycle", "identity"]
    l_cyc = 2 * cg.cycle_loss(x, same.F(same.G(x)), y, same.G(same.F(y)))
    l_gan = 2 * lsgan_generator_loss(same.D_Y(same.G(x))) + 2 * lsgan_generator_loss(same.D_X(same.F(y)))
    assert losses["identity"].item() == 0.0
    assert losses["cycle"].item() == pytest.approx(l_cyc.item(), rel=1e-6)
    assert losses["generator"].item() == pytest.approx((l_gan + TINY.lambda_cyc * l_cyc).item(), rel=1e-5)


def test_nan_guard_names_the_step_and_the_missing_checkpoint():
    # the cycle loss of step 3 is NaN (so is the generators' objective; the discriminators' loss
    # of that step, computed from images made before the update, is not); no checkpoint path
    calls = []

    def poisoned_cycle(*args):
        calls.append(1)
        loss = cg.cycle_loss(*args)
        return loss * float("nan") if len(calls) == 3 else loss

    model = cg.build(TINY, seed=0, device="cpu")
    with pytest.raises(TrainingDiverged, match=r"step 3: generator=nan, cycle=nan\.") as err:
        cg.train(model, _tiny_data(), steps=4, device="cpu", cycle_fn=poisoned_cycle)
    assert "No checkpoint was being written" in str(err.value)


def test_training_is_deterministic_and_leaves_global_random_state_alone():
    x, y = _tiny_data()
    state = torch.get_rng_state()
    runs = []
    for seed in (3, 3, 4):
        model = cg.build(TINY, seed=seed, device="cpu")
        runs.append((model, cg.train(model, (x, y), steps=5, seed=seed, device="cpu")))
    (m1, h1), (m2, h2), (m3, _) = runs
    assert torch.equal(torch.get_rng_state(), state)
    assert h1["cycle"] == h2["cycle"] and h1["step"] == [1, 2, 3, 4, 5]
    assert set(h1) == {"step", "time", "generator", "discriminator", "cycle", "identity"}
    assert all(len(v) == 5 for v in h1.values())
    for a, b in zip(m1.G.parameters(), m2.G.parameters()):
        assert torch.equal(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(m1.G.parameters(), m3.G.parameters()))
    assert not any(m.training for m in _networks(m1).values())  # left in eval mode


def test_resumed_run_equals_a_straight_run(tmp_path):
    # the checkpoint carries the batch order and both history buffers (size 6 fills in 2 steps)
    x, y = _tiny_data()
    path = tmp_path / "c.pt"
    model = cg.build(TINY, seed=0, device="cpu")
    cg.train(model, (x, y), steps=3, seed=5, device="cpu", checkpoint=path)
    extra = load_checkpoint(path)["extra"]
    assert set(extra["state"]) == {"batches_x", "batches_y", "history_x", "history_y"}
    assert extra["state"]["history_x"]["count"] == 6
    h = cg.train(model, (x, y), steps=4, device="cpu", resume=path)
    straight = cg.build(TINY, seed=0, device="cpu")
    h7 = cg.train(straight, (x, y), steps=7, seed=5, device="cpu")
    assert {k: v for k, v in h.items() if k != "time"} == {k: v for k, v in h7.items() if k != "time"}
    for (name, p), q in zip(model.state_dict().items(), straight.state_dict().values()):
        assert torch.equal(p, q), name


def test_max_seconds_stops_early_and_checkpoint_is_written(tmp_path):
    x, y = _tiny_data()
    model = cg.build(TINY, device="cpu")
    hist = cg.train(model, (x, y), steps=10_000, max_seconds=0.5, device="cpu",
                    checkpoint=tmp_path / "ck.pt", checkpoint_every=2)
    assert 1 <= len(hist["step"]) < 10_000
    ck = load_checkpoint(tmp_path / "ck.pt")
    assert ck["family"] == "cyclegan" and ck["step"] == len(hist["step"])
    assert set(ck["models"]) == {"model"} and ck["settings"]["channels"] == 4
    assert {name.split(".")[0] for name in ck["models"]["model"]} == {"G", "F", "D_X", "D_Y"}


def test_step_count_defaults_to_the_config_unless_only_a_time_limit_is_given():
    x, y = _tiny_data()
    two = dataclasses.replace(TINY, steps=2)
    hist = cg.train(cg.build(two, device="cpu"), (x, y), device="cpu")
    assert hist["step"] == [1, 2]
    hist = cg.train(cg.build(two, device="cpu"), (x, y), max_seconds=1.0, device="cpu")
    assert len(hist["step"]) > 2 and hist["time"][-2] < 1.0


def test_train_checks_its_data():
    x, y = _tiny_data(8)
    model = cg.build(TINY, device="cpu")
    with pytest.raises(TypeError, match="pair"):
        cg.train(model, x, steps=1, device="cpu")
    with pytest.raises(ValueError, match="y_data"):
        cg.train(model, (x, 2 * y), steps=1, device="cpu")


def test_short_training_moves_both_translators_towards_the_ground_truth():
    x_data, y_data = data.stroke_domains(device="cpu")
    x, y, labels = data.stroke_pairs("test", device="cpu")
    x, y, labels = x[::10], y[::10], labels[::10]
    config = cg.CycleGANConfig()
    fresh = cg.build(config, seed=0, device="cpu")
    before = cg.evaluate_translation(fresh.G, fresh.F, x, y, labels)
    model = cg.build(config, seed=0, device="cpu")
    cg.train(model, (x_data, y_data), steps=60, seed=0, device="cpu")
    after = cg.evaluate_translation(model.G, model.F, x, y, labels)
    assert after["pixel_x2y"] < 0.8 * before["pixel_x2y"]
    assert after["pixel_y2x"] < 0.8 * before["pixel_y2x"]
    assert after["label_x2y"] > 0.85 and after["label_y2x"] > 0.85


def test_evaluate_translation_of_the_identity_is_the_baseline():
    x, y, labels = data.stroke_pairs("test", device="cpu")
    r = cg.evaluate_translation(nn.Identity(), nn.Identity(), x, y, labels)
    assert r["cycle_x"] == r["cycle_y"] == 0.0
    assert r["pixel_x2y"] == r["pixel_y2x"] == pytest.approx((y - x).abs().double().mean().item())
    assert r["label_x2y"] > 0.95 and r["label_y2x"] > 0.95


# ------------------------------------------------------------------------------------------
# Checkpoints and the command line
# ------------------------------------------------------------------------------------------
def test_loaded_checkpoint_translates_like_the_trained_generators(tmp_path):
    x, y = _tiny_data()
    model = cg.build(TINY, device="cpu")
    cg.train(model, (x, y), steps=3, device="cpu", checkpoint=tmp_path / "c.pt")
    again = cg.load(tmp_path / "c.pt", device="cpu")
    assert isinstance(again, cg.CycleGAN) and again.config == TINY and not again.training
    xt = x[:5]
    torch.testing.assert_close(cg.translate(again.G, xt), cg.translate(model.G, xt))
    torch.testing.assert_close(cg.translate(again.F, xt), cg.translate(model.F, xt))
    assert not torch.allclose(cg.translate(again.G, xt), cg.translate(again.F, xt))


def test_cli_translate_refuses_a_bad_direction_and_bad_images(tmp_path, capsys):
    from minigen.cli import main

    x, y = _tiny_data()
    cg.train(cg.build(TINY, device="cpu"), (x, y), steps=1, device="cpu", checkpoint=tmp_path / "c.pt")
    np.save(tmp_path / "a.npy", x[:5].numpy())
    with pytest.raises(SystemExit):
        main(["translate", str(tmp_path / "c.pt"), "--direction", "sideways", "--in", str(tmp_path / "a.npy"),
              "--out", str(tmp_path / "b.npy")])
    np.save(tmp_path / "small.npy", x[:5, :, :20].numpy())
    assert main(["translate", str(tmp_path / "c.pt"), "--direction", "x2y", "--in", str(tmp_path / "small.npy"),
                 "--out", str(tmp_path / "b.npy"), "--device", "cpu"]) == 2
    assert "28x28" in capsys.readouterr().err
    assert not (tmp_path / "b.npy").exists()


def test_cli_round_trip(tmp_path, capsys):
    from minigen.cli import main

    out = tmp_path / "run"
    assert main(["train", "cyclegan", "--out", str(out), "--steps", "3", "--seed", "1", "--quiet",
                 "--device", "cpu"]) == 0
    for name in ("checkpoint.pt", "samples.png", "history.json"):
        assert (out / name).is_file()
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3
    model = cg.load(out / "checkpoint.pt", device="cpu")
    assert model.config == cg.CycleGANConfig()  # the chapter's settings
    x, _ = data.digits("test", device="cpu")
    np.save(tmp_path / "a.npy", x[:7].numpy())
    for direction, net in (("x2y", model.G), ("y2x", model.F)):
        assert main(["translate", str(out / "checkpoint.pt"), "--direction", direction,
                     "--in", str(tmp_path / "a.npy"), "--out", str(tmp_path / f"{direction}.npy"),
                     "--device", "cpu"]) == 0
        b = np.load(tmp_path / f"{direction}.npy")
        assert b.shape == (7, 1, 28, 28) and b.dtype == np.float32
        assert 0 <= b.min() and b.max() <= 1
        np.testing.assert_allclose(b, cg.translate(net, x[:7]).numpy(), atol=1e-6)
    capsys.readouterr()
    assert main(["translate", str(out / "checkpoint.pt"), "--direction", "x2y",
                 "--in", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "b.npy")]) == 2
    assert capsys.readouterr().err.startswith("error: could not read")


# ------------------------------------------------------------------------------------------
# CUDA
# ------------------------------------------------------------------------------------------
@pytest.mark.gpu
def test_training_and_translation_on_cuda(tmp_path):
    x, y = _tiny_data()
    model = cg.build(TINY, seed=0, device="cuda")
    hist = cg.train(model, (x, y), steps=5, device="cuda", checkpoint=tmp_path / "c.pt")
    assert all(p.is_cuda for p in model.parameters())
    assert all(np.isfinite(hist["cycle"]))
    again = cg.load(tmp_path / "c.pt", device="cuda")
    out = cg.translate(again.G, x[:5])
    assert out.device.type == "cpu"
    torch.testing.assert_close(out, cg.translate(model.G, x[:5]), atol=1e-5, rtol=1e-4)


@pytest.mark.gpu
def test_cuda_and_cpu_start_from_the_same_weights():
    cpu = cg.build(TINY, seed=0, device="cpu")
    gpu = cg.build(TINY, seed=0, device="cuda")
    for a, b in zip(cpu.parameters(), gpu.parameters()):
        torch.testing.assert_close(a, b.cpu())
