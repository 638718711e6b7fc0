"""CycleGAN: unpaired image-to-image translation (chapter "CycleGAN").

Two generators, ``G: X -> Y`` and ``F: Y -> X``, and two discriminators, ``D_X`` (real x versus
``F(y)``) and ``D_Y`` (real y versus ``G(x)``), trained with least-squares adversarial losses
(imported from :mod:`minigen.gan`) plus the cycle-consistency and identity losses (Zhu et al.
2017). The order of this module follows the chapter: the losses (the equations), the networks,
the history buffer of generated images, one training step, the training loop, translating and
loading a saved model. Training follows the contract of :mod:`minigen.training`.

Images are ``(B, 1, H, W)`` with values in [0, 1]: :func:`train` and :func:`translate` check
them once, values included, and refuse other ranges such as [0, 255] or [-1, 1]; a NumPy array
or float64/float16 is converted to the networks' dtype (float32). The networks check the type,
shape and dtype of every batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from minigen import checkpoint as _checkpoint
from minigen.checks import (
    InputError,
    InputTypeError,
    check_batch,
    check_config,
    check_count,
    check_generator,
    check_images,
    check_instance,
    check_labels,
    check_nonempty,
    check_real,
    check_weights,
    model_dtype,
)
from minigen.gan import (
    _check_loss_inputs,
    _losses_unchecked,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
)
from minigen.training import Batches, Run, check_seed, flush_denormals, place, seeded
from minigen.utils import get_device

__all__ = [
    "cycle_loss",
    "identity_loss",
    "generator_objective",
    "discriminator_objective",
    "ResidualBlock",
    "Generator",
    "PatchDiscriminator",
    "receptive_field",
    "ImageHistory",
    "CycleGANConfig",
    "CycleGAN",
    "build",
    "make_optimizers",
    "train_step",
    "train",
    "translate",
    "evaluate_translation",
    "load",
]


# --------------------------------------------------------------------------------------------
# Losses: the chapter's equations
# --------------------------------------------------------------------------------------------
def cycle_loss(
    x: torch.Tensor, x_cyc: torch.Tensor, y: torch.Tensor, y_cyc: torch.Tensor
) -> torch.Tensor:
    """Cycle-consistency loss L_cyc of chapter 5, the CycleGAN chapter:

    .. math:: L_{cyc}(G, F) = \\mathbb E_x \\lVert F(G(x)) - x \\rVert_1
                              + \\mathbb E_y \\lVert G(F(y)) - y \\rVert_1

    **Reduction**: each L1 norm is computed as the *mean* absolute difference
    over the pixels (not their sum), then averaged over the batch, as the
    official code's ``nn.L1Loss`` does; so the norm in the equation is read
    as ``mean_i |a_i - b_i|`` over an image's ``C * H * W`` pixels.

    Args:
        x: real images of domain X, ``(B, C, H, W)``.
        x_cyc: their round trips ``F(G(x))``, same shape as ``x``.
        y: real images of domain Y, ``(B', C, H, W)``.
        y_cyc: their round trips ``G(F(y))``, same shape as ``y``.
    Returns:
        A scalar: the mean absolute difference over all pixels and the batch,
        one term per domain (so the loss between all-zero and all-one images
        is 1 per term).
    """
    _check_pairs(x=x, x_cyc=x_cyc, y=y, y_cyc=y_cyc)
    return (x_cyc - x).abs().mean() + (y_cyc - y).abs().mean()


def _check_pairs(**tensors) -> None:
    """Four image tensors (a, a', b, b'): tensors, non-empty, floating point, finite (unless they
    carry a gradient: inside a training step NaN is a divergence), each pair of one shape."""
    check_nonempty(**tensors)
    _check_loss_inputs(**tensors)
    (na, a), (na2, a2), (nb, b), (nb2, b2) = tensors.items()
    for n1, t1, n2, t2 in ((na, a, na2, a2), (nb, b, nb2, b2)):
        if t1.shape != t2.shape:
            raise InputError(f"{n1} and {n2} must have the same shape, got {tuple(t1.shape)} and "
                             f"{tuple(t2.shape)}.")


def identity_loss(x: torch.Tensor, x_idt: torch.Tensor, y: torch.Tensor, y_idt: torch.Tensor
                  ) -> torch.Tensor:
    """Identity loss L_id of chapter 5: a generator fed an image of its own target
    domain should leave it alone.

    .. math:: L_{id}(G, F) = \\mathbb E_y \\lVert G(y) - y \\rVert_1
                             + \\mathbb E_x \\lVert F(x) - x \\rVert_1

    Args:
        x: real images of domain X, ``(B, C, H, W)``; ``x_idt = F(x)``, same shape.
        y: real images of domain Y, ``(B', C, H, W)``; ``y_idt = G(y)``, same shape.
    Returns:
        A scalar; each norm is the mean absolute difference over pixels and batch (the
        reduction of :func:`cycle_loss`: a per-pixel mean, not a sum).
    """
    _check_pairs(x=x, x_idt=x_idt, y=y, y_idt=y_idt)
    return (y_idt - y).abs().mean() + (x_idt - x).abs().mean()


def generator_objective(d_y_fake: torch.Tensor, d_x_fake: torch.Tensor, l_cyc: torch.Tensor,
                        l_id: torch.Tensor, *, lambda_cyc: float, lambda_id: float
                        ) -> torch.Tensor:
    """The full objective as the two generators minimise it (chapter 5): the least-squares
    generator terms of both directions plus the weighted cycle and identity losses, in the
    scaling of Zhu et al. 2017 and their official code:

    .. math:: L(G, F) = \\mathbb E_x[(D_Y(G(x)) - 1)^2] + \\mathbb E_y[(D_X(F(y)) - 1)^2]
                        + \\lambda_{cyc} L_{cyc}(G, F) + \\lambda_{id} L_{id}(G, F)

    The adversarial terms carry no factor 1/2 (the official code's ``MSELoss`` against the
    target 1; the 1/2 is only in the discriminators' loss), so ``lambda_cyc`` and ``lambda_id``
    weigh what the paper's do: its defaults are ``lambda_cyc=10`` and ``lambda_id=5``
    (``lambda_identity * lambda_A = 0.5 * 10``). Each adversarial term is twice chapter 3's
    least-squares generator loss :func:`minigen.gan.lsgan_generator_loss`, which carries the
    1/2 of Mao et al. 2017.

    Args:
        d_y_fake: raw outputs (no sigmoid) of ``D_Y`` on ``G(x)``, any shape (a patch map).
        d_x_fake: raw outputs of ``D_X`` on ``F(y)``, any shape.
        l_cyc: the scalar from :func:`cycle_loss`.
        l_id: the scalar from :func:`identity_loss`.
        lambda_cyc, lambda_id: the weights of the two reconstruction terms.
    Returns:
        A scalar; each expectation is the mean over all elements of a patch map (so all-zero
        outputs give 1 per adversarial term).
    """
    lambda_cyc = check_real(lambda_cyc, "lambda_cyc", minimum=0)
    lambda_id = check_real(lambda_id, "lambda_id", minimum=0)
    check_nonempty(l_cyc=l_cyc, l_id=l_id)
    # E[(D - 1)^2] = 2 * (1/2) E[(D - 1)^2]: the paper's term from chapter 3's loss
    l_gan = 2 * lsgan_generator_loss(d_y_fake) + 2 * lsgan_generator_loss(d_x_fake)
    return l_gan + lambda_cyc * l_cyc + lambda_id * l_id


def discriminator_objective(d_x_real: torch.Tensor, d_x_fake: torch.Tensor,
                            d_y_real: torch.Tensor, d_y_fake: torch.Tensor) -> torch.Tensor:
    """What the two discriminators minimise (chapter 5): the least-squares loss
    :func:`minigen.gan.lsgan_discriminator_loss` once for each domain,

    .. math:: L(D_X, D_Y) = \\tfrac12\\,\\mathbb E_x[(D_X(x) - 1)^2]
                            + \\tfrac12\\,\\mathbb E_y[D_X(F(y))^2]
                            + \\tfrac12\\,\\mathbb E_y[(D_Y(y) - 1)^2]
                            + \\tfrac12\\,\\mathbb E_x[D_Y(G(x))^2]

    Arguments are raw discriminator outputs (any shape): ``D_X`` on real x and on fake
    ``F(y)``, ``D_Y`` on real y and on fake ``G(x)`` (in training, the fakes come through the
    history buffers, :class:`ImageHistory`). Returns a scalar.
    """
    return lsgan_discriminator_loss(d_x_real, d_x_fake) + lsgan_discriminator_loss(d_y_real, d_y_fake)


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------
class ResidualBlock(nn.Module):
    """``relu(h + conv(relu(conv(h))))``: two 3x3 convolutions add a correction to their input."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.relu(h + self.body(h))


class Generator(nn.Module):
    """A small residual translator ``(B, 1, 28, 28) -> (B, 1, 28, 28)``, values in (0, 1).

    A 3x3 convolution to ``channels`` feature maps, ``n_blocks`` residual blocks at full
    resolution (28x28 is small enough to need no down-sampling) and a 3x3 convolution back to
    one channel give a correction :math:`r(x)` that is added to the logits of a soft copy of the
    input:

    .. math:: G(x) = \\sigma\\big(a\\,(2x - 1) + r(x)\\big), \\qquad a = \\text{input\\_gain}.

    With :math:`r \\approx 0` an untrained generator is already close to the identity map
    (:math:`\\sigma(\\pm 4) = 0.018, 0.982`), so training only has to learn the change. This is
    the residual idea applied to the whole network, and it lets a CycleGAN learn in a few hundred
    steps; ``input_gain=0`` gives the usual generator, which starts from grey images.
    """

    def __init__(self, channels: int = 16, n_blocks: int = 1, input_gain: float = 4.0):
        super().__init__()
        self.input_gain = input_gain
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            *[ResidualBlock(channels) for _ in range(n_blocks)],
            nn.Conv2d(channels, 1, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_batch(x, "x", tail=(1, None, None), dtype=self.net[0].weight.dtype)
        return torch.sigmoid(self.input_gain * (2 * x - 1) + self.net(x))


class PatchDiscriminator(nn.Module):
    """A patch discriminator: ``(B, in_channels, 28, 28) -> (B, 1, 7, 7)`` raw scores (no sigmoid).

    Each output scores one overlapping patch of the input (receptive field 18x18 pixels,
    :func:`receptive_field`), as in pix2pix's PatchGAN; the least-squares loss averages over all
    of them. ``in_channels=2`` makes a conditional discriminator for paired translation
    (pix2pix), fed an input image and its translation stacked as two channels.
    """

    def __init__(self, channels: int = 16, in_channels: int = 1):
        super().__init__()
        in_channels = check_count(in_channels, "in_channels")
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, channels, 4, stride=2, padding=1),   # 28 -> 14
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1),  # 14 -> 7
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * channels, 1, 3, padding=1),                   # 7 -> 7 scores
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.net[0]
        return self.net(check_batch(x, "x", tail=(first.in_channels, None, None),
                                    dtype=first.weight.dtype))


def receptive_field(net: nn.Module) -> int:
    """The side, in input pixels, of the square of input that one output of ``net`` sees.

    ``net`` is a chain of square convolutions and poolings, read in the order of
    ``net.modules()`` (other modules, such as activations, leave the field alone). Going forward,
    each layer of kernel ``k`` and stride ``s`` widens the field by ``(k - 1)`` times the product
    ``j`` of the strides before it, and multiplies ``j`` by ``s``:

    .. math:: r \\leftarrow r + (k - 1)\\,j, \\qquad j \\leftarrow j\\,s, \\qquad r = j = 1 \\text{ at the input.}

    A residual block counts as its convolution path (the skip connection sees less). For
    :class:`PatchDiscriminator` this gives 18, for :class:`Generator` with one block 9; pix2pix's
    and CycleGAN's 70x70 PatchGAN (kernels 4 with strides 2, 2, 2, 1, 1) gives 70. Transposed
    convolutions and dilations are refused.
    """
    check_instance(net, nn.Module, "net", "e.g. cyclegan.PatchDiscriminator()")
    r, j = 1, 1
    for m in net.modules():
        if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            raise InputError("receptive_field handles convolutions and poolings, not transposed "
                             f"convolutions, got {type(m).__name__}.")
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s = (m.kernel_size, m.stride)
            k, s = (k if isinstance(k, int) else k[0]), (s if isinstance(s, int) else s[0])
            if getattr(m, "dilation", 1) not in (1, (1, 1)):
                raise InputError(f"receptive_field does not handle dilated layers, got {m}.")
            r, j = r + (k - 1) * j, j * s
    return r


# --------------------------------------------------------------------------------------------
# The history buffer of generated images (Shrivastava et al. 2017)
# --------------------------------------------------------------------------------------------
MAX_HISTORY = 10_000  # ImageHistory: stored images
MAX_CHANNELS = 1024  # CycleGANConfig.channels, d_channels
MAX_BLOCKS = 64  # CycleGANConfig.n_blocks


class ImageHistory:
    """A buffer of up to ``size`` past generated images, shown to the discriminator.

    :meth:`query` takes a batch of freshly generated images and returns a batch of the same
    shape. While the buffer is not full, each new image is stored and returned as it is. Once it
    is full, each image in turn is, with probability 1/2, returned as it is, and otherwise swapped
    with a uniformly chosen stored image: the stored one is returned and the new one takes its
    place. The discriminator thus also sees what the generator produced a while ago, which damps
    oscillations. All random choices come from ``generator`` (drawn on its device, a whole batch at
    a time, so a GPU never waits); ``size=0`` turns the buffer off.
    """

    def __init__(self, size: int = 50, generator: torch.Generator | None = None):
        size, generator = check_count(size, "size", minimum=0), check_generator(generator)
        if size > MAX_HISTORY:
            raise InputError(f"size must be <= {MAX_HISTORY:,} images (the chapter's buffer holds "
                             f"50; more would exhaust memory), got {size:,}.")
        self.size = size
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.images: torch.Tensor | None = None  # (size, C, H, W) once the first batch arrives
        self.count = 0  # how many slots are filled

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return ``(B, ...)`` images for the discriminator; stores detached copies."""
        images = check_batch(images, "images").detach()
        if self.images is not None and images.shape[1:] != self.images.shape[1:]:
            raise InputError(f"images must have shape (B, {', '.join(map(str, self.images.shape[1:]))}) "
                             f"like those stored, got {tuple(images.shape)}.")
        if self.size == 0:
            return images
        if self.images is None:
            self.images = images.new_zeros((self.size, *images.shape[1:]))
        out = images.clone()
        n_fill = min(len(images), self.size - self.count)  # while not full: store, return as is
        self.images[self.count:self.count + n_fill] = images[:n_fill]
        self.count += n_fill
        new = images[n_fill:]
        if len(new):
            where, dev = self.generator.device, images.device
            swap = (torch.rand(len(new), generator=self.generator, device=where) < 0.5).to(dev)
            slot = torch.randint(self.size, (len(new),), generator=self.generator, device=where).to(dev)
            # Image i, in its turn, gets what slot[i] holds then: the newest earlier image j < i
            # swapped into the same slot, or else what the slot held before this batch.
            i = torch.arange(len(new), device=dev)
            same = swap[None, :] & (slot[None, :] == slot[:, None])  # [i, j]: j swapped into i's slot
            earlier = torch.where(same & (i[None, :] < i[:, None]), i[None, :], -1).max(1).values
            shape = (-1,) + (1,) * (images.dim() - 1)
            held = torch.where((earlier >= 0).view(shape), new[earlier.clamp(min=0)], self.images[slot])
            out[n_fill:] = torch.where(swap.view(shape), held, new)
            # each slot ends up holding the last image swapped into it (no boolean indexing, so
            # no device sync): writer[s] is the index of that image, -1 where none was swapped in
            writer = torch.full((self.size,), -1, device=dev).scatter_reduce(
                0, slot, torch.where(swap, i, -1), reduce="amax")
            self.images = torch.where((writer >= 0).view(shape), new[writer.clamp(min=0)], self.images)
        return out

    def state_dict(self) -> dict:
        """A copy of the stored images and their count (the generator is saved by its owner)."""
        return {"images": self.images.cpu().clone() if self.images is not None else torch.empty(0),
                "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        images, self.count = state["images"], int(state["count"])
        device = self.generator.device
        self.images = images.to(device).clone() if images.numel() or self.count else None


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CycleGANConfig:
    """Every setting of a CycleGAN run; the defaults are the chapter's main run.

    The weights are in the scaling of :func:`generator_objective`, the paper's. The default
    ``lambda_cyc=20`` weighs the cycle term twice as much as the paper's 10, relative to the
    adversarial terms (the balance of ``lambda_cyc=10`` with Mao et al.'s 1/2 on the adversarial
    terms, which the book's runs used before); chapter 5 measures the paper's 10 as an ablation.
    ``lambda_cyc=0`` switches the cycle loss off, ``lambda_id=0`` the identity loss
    (off by default: on thin versus thick strokes the right answer does not leave Y alone, see
    the chapter; the paper's value is 5) and ``history_size=0`` the history buffer.
    """

    channels: int = 16
    n_blocks: int = 1
    input_gain: float = 4.0
    d_channels: int = 16
    lambda_cyc: float = 20.0
    lambda_id: float = 0.0
    history_size: int = 50
    batch_size: int = 16
    lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    steps: int = 300

    def __post_init__(self):
        _checkpoint.make_plain(self)  # numpy numbers become plain Python numbers
        check_config(self, counts=("channels", "d_channels", "batch_size", "steps"),
                     naturals=("n_blocks", "history_size"),
                     nonnegatives=("lambda_cyc", "lambda_id", "lr"), fractions=("beta1", "beta2"))
        check_real(self.input_gain, "CycleGANConfig.input_gain")
        for field, cap in (("channels", MAX_CHANNELS), ("d_channels", MAX_CHANNELS),
                           ("n_blocks", MAX_BLOCKS), ("history_size", MAX_HISTORY)):
            if getattr(self, field) > cap:
                raise InputError(f"CycleGANConfig.{field} must be <= {cap} (a sane maximum for "
                                 f"these small networks: more exhausts memory), got "
                                 f"{getattr(self, field)}.")


class CycleGAN(nn.Module):
    """The four networks of one :class:`CycleGANConfig` (``config``): ``G: X -> Y``,
    ``F: Y -> X`` and the discriminators ``D_X``, ``D_Y``."""

    def __init__(self, config: CycleGANConfig = CycleGANConfig()):
        super().__init__()
        self.config = c = config
        self.G = Generator(c.channels, c.n_blocks, c.input_gain)
        self.F = Generator(c.channels, c.n_blocks, c.input_gain)
        self.D_X = PatchDiscriminator(c.d_channels)
        self.D_Y = PatchDiscriminator(c.d_channels)


def build(config: CycleGANConfig = CycleGANConfig(), *, seed: int = 0, device=None) -> CycleGAN:
    """A new :class:`CycleGAN` for ``config`` on ``device`` (``None``: the best available).

    The weights come from ``seed`` alone, the same on every device (:func:`minigen.training.seeded`).
    """
    check_instance(config, CycleGANConfig, "config", "e.g. CycleGANConfig()")
    seed, device = check_seed(seed), get_device(device)
    return seeded(lambda: CycleGAN(config), seed, device)


def make_optimizers(model: CycleGAN) -> dict:
    """Adam for ``G`` and ``F`` together (one objective) and for ``D_X`` and ``D_Y`` together."""
    check_instance(model, CycleGAN, "model", "from minigen.cyclegan.build")
    c = model.config
    betas = (c.beta1, c.beta2)
    gen = list(model.G.parameters()) + list(model.F.parameters())
    dis = list(model.D_X.parameters()) + list(model.D_Y.parameters())
    return {"GF": torch.optim.Adam(gen, lr=c.lr, betas=betas),
            "D": torch.optim.Adam(dis, lr=c.lr, betas=betas)}


def train_step(
    model: CycleGAN,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizers: dict,
    history_x: ImageHistory,
    history_y: ImageHistory,
    *,
    cycle_fn=None,
    identity_fn=None,
    _checked: bool = False,
) -> dict:
    """One CycleGAN step on a batch ``x`` of domain X and an unpaired batch
    ``y`` of domain Y.

    ``optimizers`` is ``{"GF": ..., "D": ...}`` (:func:`make_optimizers`);
    ``history_x`` and ``history_y`` buffer the generated ``F(y)`` and
    ``G(x)``. ``cycle_fn`` and ``identity_fn`` default to :func:`cycle_loss`
    and :func:`identity_loss` (same arguments): a reader's own losses plug in
    here. Returns the step's losses as 0-d tensors (no device sync). The
    batches (28x28, finite, in [0, 1]) and the weights are checked;
    :func:`train`, which checked its data once, skips that (``_checked``).
    """
    x, y = _check_step(model, x, y, optimizers, history_x, history_y,
                       cycle_fn, identity_fn, _checked)
    c = model.config
    G, F, D_X, D_Y = model.G, model.F, model.D_X, model.D_Y
    cycle_fn, identity_fn = (
        cycle_fn or cycle_loss,
        identity_fn or identity_loss,
    )

    # (1) update G and F together: fool both discriminators, come back after
    #     a round trip, and (when lambda_id > 0) leave images of the target
    #     domain alone.
    fake_y, fake_x = G(x), F(y)
    # with lambda_cyc = 0 (an ablation): only recorded. Its gradient would
    # be 0 times the term's, and adding zeros changes no weight.
    with torch.set_grad_enabled(c.lambda_cyc > 0):
        l_cyc = cycle_fn(x, F(fake_y), y, G(fake_x))
    # with lambda_id = 0: only recorded
    with torch.set_grad_enabled(c.lambda_id > 0):
        l_id = identity_fn(x, F(x), y, G(y))
    l_gen = generator_objective(
        D_Y(fake_y),
        D_X(fake_x),
        l_cyc,
        l_id,
        lambda_cyc=c.lambda_cyc,
        lambda_id=c.lambda_id,
    )
    optimizers["GF"].zero_grad(set_to_none=True)
    l_gen.backward()
    optimizers["GF"].step()

    # (2) update D_X and D_Y: real images towards 1, generated ones (fresh or
    #     from the history buffers) towards 0. The buffers return detached
    #     images: no gradient reaches G or F.
    old_x, old_y = history_x.query(fake_x), history_y.query(fake_y)
    l_dis = discriminator_objective(D_X(x), D_X(old_x), D_Y(y), D_Y(old_y))
    optimizers["D"].zero_grad(set_to_none=True)
    l_dis.backward()
    optimizers["D"].step()

    return {
        "generator": l_gen.detach(),
        "discriminator": l_dis.detach(),
        "cycle": l_cyc.detach(),
        "identity": l_id.detach(),
    }


def _check_step(model, x, y, optimizers, history_x, history_y, cycle_fn, identity_fn,
                checked):
    """The arguments of :func:`train_step`; returns ``(x, y)`` in the model's dtype."""
    check_instance(model, CycleGAN, "model", "from minigen.cyclegan.build")
    if not isinstance(optimizers, dict) or not {"GF", "D"} <= set(optimizers):
        raise InputTypeError("optimizers must be the dict {'GF': ..., 'D': ...} of "
                             "minigen.cyclegan.make_optimizers(model).")
    for name, h in (("history_x", history_x), ("history_y", history_y)):
        check_instance(h, ImageHistory, name, "ImageHistory(size); size=0 turns it off")
    for name, fn in (("cycle_fn", cycle_fn), ("identity_fn", identity_fn)):
        if fn is not None and not callable(fn):
            raise InputTypeError(f"{name} must be a loss function like cycle_loss, or None, got "
                                 f"{type(fn).__name__}.")
    if checked:
        return x, y
    dtype = model_dtype(model)
    x = check_batch(x, "x", tail=(1, 28, 28), dtype=dtype)
    y = check_batch(y, "y", tail=(1, 28, 28), dtype=dtype)
    (lo_x, hi_x), (lo_y, hi_y) = torch.aminmax(x.detach()), torch.aminmax(y.detach())
    ok = (torch.minimum(lo_x, lo_y) >= -1e-6) & (torch.maximum(hi_x, hi_y) <= 1 + 1e-6)
    if not bool(ok):  # NaN fails too; one sync
        check_images(x, "x")
        check_images(y, "y")
    check_weights(model, "cyclegan")
    return x, y


def train(model: CycleGAN, data, *, steps: int | None = None, max_seconds: float | None = None,
          seed: int = 0, device=None, checkpoint=None, checkpoint_every: int = 500, resume=None,
          progress: bool | None = None, cycle_fn=None, identity_fn=None) -> dict:
    """Train ``model`` on unpaired images ``data = (x_data, y_data)`` of domains X and Y.

    ``x_data``, ``y_data``: ``(N, 1, 28, 28)`` and ``(M, 1, 28, 28)`` in [0, 1], not paired. The
    keyword arguments are those of every family (:func:`minigen.gan.train`,
    :mod:`minigen.training`): ``seed`` seeds the batches and the history buffers; ``resume``
    restores the buffers too. Returns the history, one entry per step for ``step``, ``time`` and
    each loss of :func:`train_step`; the four networks are left in eval mode. Both image sets are
    checked once, before any work (at least one image each, values in [0, 1]; NaN is reported as
    NaN in the data, not as a divergence); NumPy arrays and float64/float16 are converted.
    """
    check_instance(model, CycleGAN, "model", "from minigen.cyclegan.build")
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise InputTypeError("data must be a pair (x_data, y_data) of unpaired images, e.g. "
                             "minigen.data.stroke_domains().")
    c = model.config
    dtype = model_dtype(model)
    x_data = check_images(data[0], "x_data", dtype=dtype)
    y_data = check_images(data[1], "y_data", dtype=dtype)
    _check_step(model, x_data, y_data, {"GF": None, "D": None}, ImageHistory(0), ImageHistory(0),
                cycle_fn, identity_fn, True)
    check_weights(model, "cyclegan")
    place(model, device)
    optimizers = make_optimizers(model)
    run = Run("cyclegan", model, optimizers, steps=steps, max_seconds=max_seconds,
              default_steps=c.steps, seed=seed, checkpoint=checkpoint,
              checkpoint_every=checkpoint_every, progress=progress)
    x_data, y_data = x_data.to(run.device), y_data.to(run.device)
    batches_x = run.track("batches_x", Batches(len(x_data), c.batch_size, run.generator))
    batches_y = run.track("batches_y", Batches(len(y_data), c.batch_size, run.generator))
    history_x = run.track("history_x", ImageHistory(c.history_size, run.generator))
    history_y = run.track("history_y", ImageHistory(c.history_size, run.generator))
    run.resume(resume)
    with _losses_unchecked(), flush_denormals():
        while run.going():
            run.record(**train_step(model, x_data[batches_x.next()], y_data[batches_y.next()],
                                    optimizers, history_x, history_y, cycle_fn=cycle_fn,
                                    identity_fn=identity_fn, _checked=True))
    return run.finish()


@torch.no_grad()
def translate(generator: nn.Module, x: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """Apply a generator (``G``, ``F`` or any image-to-image module) to ``x`` in batches, in
    eval mode (the module is left in eval mode).

    Runs on the device of the generator's parameters (the CPU for a module without any) and
    returns a CPU tensor. ``x``: at least one image ``(B, 1, H, W)`` with values in [0, 1],
    checked (other ranges such as [0, 255] or [-1, 1] are refused); a NumPy array or
    float64/float16 is converted to the generator's dtype (float32). ``batch_size`` >= 1.
    """
    if isinstance(generator, CycleGAN):
        raise InputTypeError("generator must be one translator, model.G (X -> Y) or model.F "
                             "(Y -> X), not the whole CycleGAN.")
    if isinstance(generator, PatchDiscriminator):
        raise InputTypeError("generator must be a translator (model.G or model.F), got a "
                             "discriminator (model.D_X or model.D_Y), which returns a patch map "
                             "of scores, not images.")
    check_instance(generator, nn.Module, "generator", "e.g. model.G or model.F")
    x = check_images(x, "x", size=None, dtype=model_dtype(generator))
    batch_size = check_count(batch_size, "batch_size")
    generator.eval()
    param = next(generator.parameters(), None)
    device = param.device if param is not None else x.device
    if param is not None and not bool(torch.isfinite(param).all()):
        check_weights(generator, "cyclegan")
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        try:
            yb = generator(xb.to(device))
        except (RuntimeError, NotImplementedError) as exc:
            raise InputError(f"generator must map images (B, 1, H, W) to images of the same shape "
                             f"(e.g. model.G or model.F); applying it to x failed: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        if not isinstance(yb, torch.Tensor) or yb.shape != xb.shape:
            raise InputError(f"generator must map images to images of the same shape (e.g. model.G "
                             f"or model.F), but it turned {tuple(xb.shape)} into "
                             f"{tuple(getattr(yb, 'shape', ())) or type(yb).__name__}.")
        out.append(yb.cpu())
    return torch.cat(out)


def evaluate_translation(G: nn.Module, F: nn.Module, x: torch.Tensor, y: torch.Tensor,
                         labels: torch.Tensor, *, device=None) -> dict[str, float]:
    """Measure a translator pair on paired ground truth ``y = T(x)`` with digit ``labels``.

    Returns plain numbers: ``label_x2y`` and ``label_y2x``, the share of ``G(x)`` and ``F(y)``
    that the digit classifier of :mod:`minigen.metrics` reads as the source digit;
    ``pixel_x2y = |G(x) - y|`` and ``pixel_y2x = |F(y) - x|``, the mean absolute error against
    the ground truth; ``cycle_x = |F(G(x)) - x|`` and ``cycle_y = |G(F(y)) - y|``. Passing
    ``nn.Identity()`` for both gives the identity baseline (output = input). ``x``, ``y`` and
    ``labels`` are checked first: the same number of 28x28 images in [0, 1] and of classes.
    """
    from minigen.metrics import label_preservation, pixel_error

    x, y = check_images(x, "x"), check_images(y, "y")
    if x.shape != y.shape:
        raise InputError(f"x and y must be paired images of the same shape (y = T(x) row for row), "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}.")
    labels = check_labels(labels, len(x))
    get_device(device)  # an unknown or missing device is refused before any work
    fake_y, fake_x = translate(G, x), translate(F, y)
    return {
        "label_x2y": label_preservation(fake_y, labels, device=device),
        "label_y2x": label_preservation(fake_x, labels, device=device),
        "pixel_x2y": pixel_error(fake_y, y),
        "pixel_y2x": pixel_error(fake_x, x),
        "cycle_x": pixel_error(translate(F, fake_y), x),
        "cycle_y": pixel_error(translate(G, fake_x), y),
    }


def load(checkpoint, *, device=None) -> CycleGAN:
    """Rebuild the :class:`CycleGAN` saved in ``checkpoint`` (a path or a loaded dict), in eval mode."""
    return _checkpoint.load(checkpoint, family="cyclegan", config_class=CycleGANConfig,
                            model_class=CycleGAN, build=build, device=device)
