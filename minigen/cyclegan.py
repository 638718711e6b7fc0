"""CycleGAN: unpaired image-to-image translation (chapter "CycleGAN").

Two generators, ``G: X -> Y`` and ``F: Y -> X``, and two discriminators, ``D_X`` (real x versus
``F(y)``) and ``D_Y`` (real y versus ``G(x)``), trained with least-squares adversarial losses
(imported from :mod:`minigen.gan`) plus the cycle-consistency and identity losses (Zhu et al.
2017). The order of this module follows the chapter: the losses (the equations), the networks,
the history buffer of generated images, one training step, the training loop, then the command
line entry points.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from minigen.gan import lsgan_discriminator_loss, lsgan_generator_loss
from minigen.utils import check_finite, progress

__all__ = [
    "cycle_loss",
    "identity_loss",
    "generator_objective",
    "discriminator_objective",
    "ResidualBlock",
    "Generator",
    "PatchDiscriminator",
    "ImageHistory",
    "CycleGANConfig",
    "build_models",
    "build_optimizers",
    "train_step",
    "train_cyclegan",
    "translate",
    "evaluate_translation",
    "train_cli",
    "translate_from_checkpoint",
]


# --------------------------------------------------------------------------------------------
# Losses: the chapter's equations
# --------------------------------------------------------------------------------------------
def cycle_loss(x: torch.Tensor, x_cyc: torch.Tensor, y: torch.Tensor, y_cyc: torch.Tensor
               ) -> torch.Tensor:
    """Cycle-consistency loss, eq. ``cyc-cycle`` of the CycleGAN chapter:

    .. math:: L_{cyc}(G, F) = \\mathbb E_x \\lVert F(G(x)) - x \\rVert_1
                              + \\mathbb E_y \\lVert G(F(y)) - y \\rVert_1

    Args:
        x: real images of domain X, ``(B, C, H, W)``.
        x_cyc: their round trips ``F(G(x))``, same shape as ``x``.
        y: real images of domain Y, ``(B', C, H, W)``.
        y_cyc: their round trips ``G(F(y))``, same shape as ``y``.
    Returns:
        A scalar: each L1 norm is the mean absolute difference over all pixels and the batch
        (so the loss between all-zero and all-one images is 1 per term).
    """
    return (x_cyc - x).abs().mean() + (y_cyc - y).abs().mean()


def identity_loss(x: torch.Tensor, x_idt: torch.Tensor, y: torch.Tensor, y_idt: torch.Tensor
                  ) -> torch.Tensor:
    """Identity loss, eq. ``cyc-identity``: a generator fed an image of its own target
    domain should leave it alone.

    .. math:: L_{id}(G, F) = \\mathbb E_y \\lVert G(y) - y \\rVert_1
                             + \\mathbb E_x \\lVert F(x) - x \\rVert_1

    Args:
        x: real images of domain X, ``(B, C, H, W)``; ``x_idt = F(x)``, same shape.
        y: real images of domain Y, ``(B', C, H, W)``; ``y_idt = G(y)``, same shape.
    Returns:
        A scalar; each norm is the mean absolute difference over pixels and batch, as in
        :func:`cycle_loss`.
    """
    return (y_idt - y).abs().mean() + (x_idt - x).abs().mean()


def generator_objective(d_y_fake: torch.Tensor, d_x_fake: torch.Tensor, l_cyc: torch.Tensor,
                        l_id: torch.Tensor, *, lambda_cyc: float, lambda_id: float
                        ) -> torch.Tensor:
    """The full objective as the two generators minimise it, eq. ``cyc-full-g``:

    .. math:: L(G, F) = \\tfrac12\\,\\mathbb E_x[(D_Y(G(x)) - 1)^2]
                        + \\tfrac12\\,\\mathbb E_y[(D_X(F(y)) - 1)^2]
                        + \\lambda_{cyc} L_{cyc}(G, F) + \\lambda_{id} L_{id}(G, F)

    The first two terms are the least-squares generator losses of
    :func:`minigen.gan.lsgan_generator_loss`.

    Args:
        d_y_fake: raw outputs (no sigmoid) of ``D_Y`` on ``G(x)``, any shape (a patch map).
        d_x_fake: raw outputs of ``D_X`` on ``F(y)``, any shape.
        l_cyc: the scalar from :func:`cycle_loss`.
        l_id: the scalar from :func:`identity_loss`.
        lambda_cyc, lambda_id: the weights of the two reconstruction terms.
    Returns:
        A scalar.
    """
    l_gan = lsgan_generator_loss(d_y_fake) + lsgan_generator_loss(d_x_fake)
    return l_gan + lambda_cyc * l_cyc + lambda_id * l_id


def discriminator_objective(d_x_real: torch.Tensor, d_x_fake: torch.Tensor,
                            d_y_real: torch.Tensor, d_y_fake: torch.Tensor) -> torch.Tensor:
    """What the two discriminators minimise, eq. ``cyc-full-d``: the least-squares loss
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
        return torch.sigmoid(self.input_gain * (2 * x - 1) + self.net(x))


class PatchDiscriminator(nn.Module):
    """A patch discriminator: ``(B, 1, 28, 28) -> (B, 1, 7, 7)`` raw scores (no sigmoid).

    Each output scores one overlapping patch of the input (receptive field 18x18 pixels), as in
    pix2pix's PatchGAN; the least-squares loss averages over all of them.
    """

    def __init__(self, channels: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 4, stride=2, padding=1),             # 28 -> 14
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1),  # 14 -> 7
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * channels, 1, 3, padding=1),                   # 7 -> 7 scores
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# --------------------------------------------------------------------------------------------
# The history buffer of generated images (Shrivastava et al. 2017)
# --------------------------------------------------------------------------------------------
class ImageHistory:
    """A buffer of up to ``size`` past generated images, shown to the discriminator.

    :meth:`query` takes a batch of freshly generated images and returns a batch of the same
    shape. While the buffer is not full, each new image is stored and returned as it is. Once it
    is full, each image is, with probability 1/2, returned as it is, and otherwise swapped with a
    uniformly chosen stored image: the stored one is returned and the new one takes its place.
    The discriminator thus also sees what the generator produced a while ago, which damps
    oscillations. All random choices come from ``generator``; ``size=0`` turns the buffer off.
    """

    def __init__(self, size: int = 50, generator: torch.Generator | None = None):
        if size < 0:
            raise ValueError(f"size must be non-negative, got {size}.")
        self.size = size
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.images: list[torch.Tensor] = []

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return ``(B, ...)`` images for the discriminator; stores detached copies."""
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self.generator).item() < 0.5:
                k = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[k])
                self.images[k] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CycleGANConfig:
    """Every setting of a CycleGAN run; the defaults are the chapter's main run.

    ``lambda_cyc=0`` switches the cycle loss off, ``lambda_id=0`` the identity loss (off by
    default: on thin versus thick strokes the right answer does not leave Y alone, see the
    chapter) and ``history_size=0`` the history buffer.
    """

    channels: int = 16
    n_blocks: int = 1
    input_gain: float = 4.0
    d_channels: int = 16
    lambda_cyc: float = 10.0
    lambda_id: float = 0.0
    history_size: int = 50
    batch_size: int = 16
    lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    steps: int = 300


def build_models(config: CycleGANConfig, device=None, *, seed: int = 0) -> dict[str, nn.Module]:
    """The four networks ``{"G", "F", "D_X", "D_Y"}`` of ``config``, on ``device``.

    The initial weights are drawn on the CPU from PyTorch's generator seeded with ``seed``
    inside :func:`torch.random.fork_rng`, so they are the same on every device and the global
    random state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        models = {
            "G": Generator(config.channels, config.n_blocks, config.input_gain),
            "F": Generator(config.channels, config.n_blocks, config.input_gain),
            "D_X": PatchDiscriminator(config.d_channels),
            "D_Y": PatchDiscriminator(config.d_channels),
        }
    return {name: m.to(device) for name, m in models.items()}


def build_optimizers(models: dict[str, nn.Module], config: CycleGANConfig) -> dict:
    """Adam for ``G`` and ``F`` together (one objective) and for ``D_X`` and ``D_Y`` together."""
    betas = (config.beta1, config.beta2)
    gen = list(models["G"].parameters()) + list(models["F"].parameters())
    dis = list(models["D_X"].parameters()) + list(models["D_Y"].parameters())
    return {"GF": torch.optim.Adam(gen, lr=config.lr, betas=betas),
            "D": torch.optim.Adam(dis, lr=config.lr, betas=betas)}


def train_step(models: dict, optimizers: dict, x: torch.Tensor, y: torch.Tensor,
               config: CycleGANConfig, history_x: ImageHistory, history_y: ImageHistory,
               step: int = 0) -> dict[str, float]:
    """One CycleGAN step on a batch ``x`` of domain X and an unpaired batch ``y`` of domain Y.

    Returns the step's losses as plain numbers. Raises
    :class:`~minigen.utils.TrainingDiverged` before any optimiser step if a loss is not finite.
    """
    G, F, D_X, D_Y = models["G"], models["F"], models["D_X"], models["D_Y"]

    # (1) update G and F together: fool both discriminators, come back after a round trip,
    #     and (when lambda_id > 0) leave images of the target domain alone.
    fake_y, fake_x = G(x), F(y)
    l_cyc = cycle_loss(x, F(fake_y), y, G(fake_x))
    with torch.set_grad_enabled(config.lambda_id > 0):  # with lambda_id = 0: only recorded
        l_id = identity_loss(x, F(x), y, G(y))
    l_gen = generator_objective(D_Y(fake_y), D_X(fake_x), l_cyc, l_id,
                                lambda_cyc=config.lambda_cyc, lambda_id=config.lambda_id)
    check_finite(step, generator_objective=l_gen.item())
    optimizers["GF"].zero_grad(set_to_none=True)
    l_gen.backward()
    optimizers["GF"].step()

    # (2) update D_X and D_Y: real images towards 1, generated ones (fresh or from the history
    #     buffers) towards 0. The buffers return detached images: no gradient reaches G or F.
    old_x, old_y = history_x.query(fake_x), history_y.query(fake_y)
    l_dis = discriminator_objective(D_X(x), D_X(old_x), D_Y(y), D_Y(old_y))
    check_finite(step, discriminator_objective=l_dis.item())
    optimizers["D"].zero_grad(set_to_none=True)
    l_dis.backward()
    optimizers["D"].step()

    return {"generator": l_gen.item(), "discriminator": l_dis.item(),
            "cycle": l_cyc.item(), "identity": l_id.item()}


def train_cyclegan(x_data: torch.Tensor, y_data: torch.Tensor,
                   config: CycleGANConfig = CycleGANConfig(), *, steps: int | None = None,
                   max_seconds: float | None = None, seed: int = 0, device=None,
                   checkpoint: str | Path | None = None, checkpoint_every: int = 0,
                   quiet: bool | None = None) -> tuple[dict[str, nn.Module], dict[str, list[float]]]:
    """Train a CycleGAN on unpaired images ``x_data`` (domain X) and ``y_data`` (domain Y).

    Args:
        x_data, y_data: ``(N, 1, 28, 28)`` and ``(M, 1, 28, 28)`` in [0, 1], not paired.
        config: the settings.
        steps, max_seconds: stop after this many steps, or this much wall time, whichever comes
            first; with neither, after ``config.steps`` steps. A run stopped by the clock is not
            reproducible; one with a fixed number of steps is.
        seed: seeds the initial weights, the batches and the history buffers.
        device: where to train (default: CPU).
        checkpoint: where to write a checkpoint (every ``checkpoint_every`` steps when that is
            positive, and at the end).
        quiet: ``True`` hides the progress bar (``None``: see :func:`minigen.utils.progress`).

    Returns:
        ``(models, history)``: the four networks (in eval mode) and ``{name: [numbers]}`` with
        one entry per step for ``step``, ``time`` and each loss of :func:`train_step`.
    """
    if steps is None and max_seconds is None:
        steps = config.steps
    models = build_models(config, device, seed=seed)
    optimizers = build_optimizers(models, config)
    gen = torch.Generator().manual_seed(seed)
    history_x = ImageHistory(config.history_size, torch.Generator().manual_seed(seed + 1))
    history_y = ImageHistory(config.history_size, torch.Generator().manual_seed(seed + 2))
    x_data, y_data = x_data.to(device), y_data.to(device)
    history: dict[str, list[float]] = {"step": [], "time": []}
    for m in models.values():
        m.train()
    start, step = time.perf_counter(), 0
    bar = progress(total=steps, desc="CycleGAN", quiet=quiet)
    while ((steps is None or step < steps)
           and (max_seconds is None or time.perf_counter() - start < max_seconds)):
        step += 1
        ix = torch.randint(len(x_data), (config.batch_size,), generator=gen)
        iy = torch.randint(len(y_data), (config.batch_size,), generator=gen)
        losses = train_step(models, optimizers, x_data[ix], y_data[iy], config,
                            history_x, history_y, step)
        history["step"].append(step)
        history["time"].append(time.perf_counter() - start)
        for k, v in losses.items():
            history.setdefault(k, []).append(v)
        bar.update(1)
        if step % 25 == 0:
            bar.set_postfix(cycle=f"{losses['cycle']:.3f}", D=f"{losses['discriminator']:.3f}")
        if checkpoint is not None and checkpoint_every > 0 and step % checkpoint_every == 0:
            _save(checkpoint, models, optimizers, history, config, step)
    bar.close()
    for m in models.values():
        m.eval()
    if checkpoint is not None:
        _save(checkpoint, models, optimizers, history, config, step)
    return models, history


def _save(path, models, optimizers, history, config, step) -> Path:
    from minigen.checkpoint import save_checkpoint

    return save_checkpoint(path, family="cyclegan", models=models, optimizers=optimizers,
                           history=history, settings=dataclasses.asdict(config), step=step)


@torch.no_grad()
def translate(generator: nn.Module, x: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """Apply a generator (``G``, ``F`` or any image-to-image module) to ``x`` in batches, in
    eval mode (the module is left in eval mode).

    Runs on the device of the generator's parameters (the CPU for a module without any) and
    returns a CPU tensor.
    """
    generator.eval()
    param = next(generator.parameters(), None)
    device = param.device if param is not None else x.device
    out = [generator(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out) if out else x.new_zeros((0, *x.shape[1:]))


def evaluate_translation(G: nn.Module, F: nn.Module, x: torch.Tensor, y: torch.Tensor,
                         labels: torch.Tensor, *, device=None) -> dict[str, float]:
    """Measure a translator pair on paired ground truth ``y = T(x)`` with digit ``labels``.

    Returns plain numbers: ``label_x2y`` and ``label_y2x``, the share of ``G(x)`` and ``F(y)``
    that the digit classifier of :mod:`minigen.metrics` reads as the source digit;
    ``pixel_x2y = |G(x) - y|`` and ``pixel_y2x = |F(y) - x|``, the mean absolute error against
    the ground truth; ``cycle_x = |F(G(x)) - x|`` and ``cycle_y = |G(F(y)) - y|``. Passing
    ``nn.Identity()`` for both gives the identity baseline (output = input).
    """
    from minigen.metrics import label_preservation, pixel_error

    fake_y, fake_x = translate(G, x), translate(F, y)
    return {
        "label_x2y": label_preservation(fake_y, labels, device=device),
        "label_y2x": label_preservation(fake_x, labels, device=device),
        "pixel_x2y": pixel_error(fake_y, y),
        "pixel_y2x": pixel_error(fake_x, x),
        "cycle_x": pixel_error(translate(F, fake_y), x),
        "cycle_y": pixel_error(translate(G, fake_x), y),
    }


# --------------------------------------------------------------------------------------------
# Command line: `python -m minigen train cyclegan` and `python -m minigen translate`
# --------------------------------------------------------------------------------------------
def train_cli(out, *, steps=None, max_seconds=None, seed=0, device=None, quiet=None) -> dict:
    """Train the chapter's default CycleGAN on thin (X) versus thick (Y) strokes.

    Writes ``checkpoint.pt``, ``samples.png`` (test digits, their translations ``G(x)``, thick
    test digits and their translations ``F(y)``, one row each) and ``history.json`` into
    ``out``; returns their paths and the number of steps done.
    """
    from minigen.data import stroke_domains, stroke_pairs
    from minigen.plotting import save_image_grid

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = CycleGANConfig()
    x_data, y_data = stroke_domains(seed=seed)
    models, history = train_cyclegan(x_data, y_data, config, steps=steps, max_seconds=max_seconds,
                                     seed=seed, device=device, checkpoint=out / "checkpoint.pt",
                                     checkpoint_every=200, quiet=quiet)
    x, y, _ = stroke_pairs("test")
    x, y = x[::100][:10], y[::100][:10]
    rows = torch.cat([x, translate(models["G"], x), y, translate(models["F"], y)])
    save_image_grid(rows.clamp(0, 1), out / "samples.png", nrow=len(x))
    (out / "history.json").write_text(json.dumps(history))
    return {"checkpoint": out / "checkpoint.pt", "samples": out / "samples.png",
            "history": out / "history.json", "steps": len(history["step"])}


def translate_from_checkpoint(checkpoint, x: torch.Tensor, *, direction: str = "x2y",
                              device=None) -> torch.Tensor:
    """Translate images ``x`` ``(N, 1, 28, 28)`` in [0, 1] with a saved CycleGAN.

    ``checkpoint`` is a path or the dictionary returned by
    :func:`minigen.checkpoint.load_checkpoint`; ``direction`` is ``"x2y"`` (apply ``G``) or
    ``"y2x"`` (apply ``F``). Returns float32 ``(N, 1, 28, 28)`` in [0, 1] on the CPU.
    """
    from minigen.checkpoint import load_checkpoint
    from minigen.utils import check_images

    if direction not in ("x2y", "y2x"):
        raise ValueError(f"direction must be 'x2y' or 'y2x', got {direction!r}.")
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    if ckpt.get("family") != "cyclegan":
        raise ValueError(f"expected a cyclegan checkpoint, got a {ckpt.get('family')!r} one.")
    check_images(x, "x")
    names = {f.name for f in dataclasses.fields(CycleGANConfig)}
    config = CycleGANConfig(**{k: v for k, v in ckpt["settings"].items() if k in names})
    name = "G" if direction == "x2y" else "F"
    net = Generator(config.channels, config.n_blocks, config.input_gain)
    net.load_state_dict(ckpt["models"][name])
    net.to(device)
    return translate(net, x.float())
