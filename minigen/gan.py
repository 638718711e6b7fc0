"""Generative adversarial networks (chapter "Generative adversarial networks").

Order of this module follows the chapter: losses (the equations), then networks, then one
training loop, sampling, and the two functions the command line calls.

Every discriminator here returns a **logit** ``t``; the probability "real" is ``sigmoid(t)``.
Every loss takes logits and is computed with ``logsigmoid``/``softplus``, which never overflow
(``log(sigmoid(t))`` in two steps gives ``-inf`` once ``sigmoid(t)`` rounds to 0).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "value_function",
    "discriminator_loss",
    "generator_loss_minimax",
    "generator_loss_nonsaturating",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "optimal_discriminator",
    "MLPGenerator",
    "MLPDiscriminator",
    "ConvGenerator",
    "ConvDiscriminator",
    "GANConfig",
    "dcgan_init",
    "DIGITS",
    "RING",
    "build_gan",
    "make_optimizers",
    "train_step",
    "train_gan",
    "sample",
    "load_gan",
    "train_cli",
    "sample_from_checkpoint",
]


# --------------------------------------------------------------------------------------------
# 1. The equations. All take raw discriminator outputs (logits) of any shape, e.g. (B,), and
#    average over all elements: "E" below is the mean over the batch.
# --------------------------------------------------------------------------------------------
def value_function(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Minibatch estimate of the GAN value function, eq. ``gan-value``.

    .. math:: V(D, G) = \\mathbb E_x[\\log D(x)] + \\mathbb E_z[\\log(1 - D(G(z)))]

    with :math:`D = \\sigma(t)`, so :math:`\\log D = \\log\\sigma(t)` and
    :math:`\\log(1 - D) = \\log\\sigma(-t)`.

    Args:
        d_real: logits ``t`` of the discriminator on real data, shape ``(B,)`` (any shape).
        d_fake: logits on generated data ``G(z)``, shape ``(B',)`` (any shape).
    Returns:
        A scalar, at most 0; ``-2 ln 2`` when every logit is 0 (D says 1/2 everywhere).
    """
    return F.logsigmoid(d_real).mean() + F.logsigmoid(-d_fake).mean()


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss ``L_D = -V(D, G)``, eq. ``gan-d-loss``: binary cross-entropy, real = 1, fake = 0.

    .. math:: L_D = -\\mathbb E_x[\\log \\sigma(D(x))] - \\mathbb E_z[\\log(1 - \\sigma(D(G(z))))]

    Args:
        d_real: logits on real data, any shape; d_fake: logits on generated data, any shape.
    Returns:
        A scalar (each expectation is a mean); ``2 ln 2`` at all-zero logits, ``ln 2`` per term.
    """
    return -value_function(d_real, d_fake)


def generator_loss_minimax(d_fake: torch.Tensor) -> torch.Tensor:
    """Minimax ("saturating") generator loss, eq. ``gan-g-minimax``: G minimises V's second term.

    .. math:: L_G^{\\text{mm}} = \\mathbb E_z[\\log(1 - \\sigma(D(G(z))))]

    Its gradient with respect to the logit is ``-sigmoid(t)``: it vanishes when D confidently
    rejects the fakes (``t -> -inf``), which is the situation early in training.

    Args:
        d_fake: logits of the discriminator on generated data, any shape.
    Returns:
        A scalar, at most 0 (mean over the elements); ``-ln 2`` at all-zero logits.
    """
    return F.logsigmoid(-d_fake).mean()


def generator_loss_nonsaturating(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss, eq. ``gan-g-ns``: G maximises ``log D(G(z))`` instead.

    .. math:: L_G^{\\text{ns}} = -\\mathbb E_z[\\log \\sigma(D(G(z)))]

    Same fixed point as the minimax loss, but its gradient with respect to the logit is
    ``-(1 - sigmoid(t))``: strongest exactly when D rejects the fakes.

    Args:
        d_fake: logits of the discriminator on generated data, any shape.
    Returns:
        A scalar, at least 0 (mean over the elements); ``ln 2`` at all-zero logits.
    """
    return -F.logsigmoid(d_fake).mean()


def lsgan_discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Least-squares discriminator loss (Mao et al. 2017), eq. ``lsgan-d`` of the GAN chapter.

    .. math:: L_D = \\tfrac12\\,\\mathbb E_x[(D(x) - 1)^2] + \\tfrac12\\,\\mathbb E_z[D(G(z))^2]

    Args:
        d_real: raw discriminator outputs on real images, any shape (e.g. ``(B,)`` or a
            patch map ``(B, 1, h, w)``); no sigmoid is applied.
        d_fake: raw outputs on generated images, any shape.
    Returns:
        A scalar: each expectation is the mean over all elements; ``1/2`` at all-zero outputs.
    """
    return 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake**2).mean()


def lsgan_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Least-squares generator loss, eq. ``lsgan-g``: :math:`L_G = \\tfrac12\\,\\mathbb E_z[(D(G(z)) - 1)^2]`.

    ``d_fake`` holds raw discriminator outputs on generated images (any shape); the mean is over
    all elements. Returns a scalar, ``1/2`` at all-zero outputs.
    """
    return 0.5 * ((d_fake - 1) ** 2).mean()


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """The best discriminator for a fixed generator, eq. ``gan-d-star``.

    .. math:: D^*(x) = \\frac{p_{\\text{data}}(x)}{p_{\\text{data}}(x) + p_g(x)}

    Args:
        p_data, p_g: the two densities evaluated at the same points, same shape, non-negative.
    Returns:
        ``D*`` at those points, a probability (not a logit). Where both densities are 0 it is
        undefined and returned as NaN.
    """
    if p_data.shape != p_g.shape:
        raise ValueError(f"p_data and p_g must have the same shape, got {tuple(p_data.shape)} "
                         f"and {tuple(p_g.shape)}.")
    if (p_data < 0).any() or (p_g < 0).any():
        raise ValueError("densities must be non-negative; pass p(x), not log p(x).")
    return p_data / (p_data + p_g)


# --------------------------------------------------------------------------------------------
# 2. Networks. Generators map z ~ N(0, I) to data; discriminators return one logit per input.
# --------------------------------------------------------------------------------------------
class MLPGenerator(nn.Module):
    """``z (B, z_dim) -> x (B, x_dim)``: an MLP with ``depth`` hidden ReLU layers of ``width``."""

    def __init__(self, z_dim: int = 2, x_dim: int = 2, width: int = 128, depth: int = 3):
        super().__init__()
        layers, d = [], z_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        self.net = nn.Sequential(*layers, nn.Linear(d, x_dim))
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """``x (B, x_dim) -> logit (B,)``: an MLP with ``depth`` hidden LeakyReLU layers."""

    def __init__(self, x_dim: int = 2, width: int = 128, depth: int = 3):
        super().__init__()
        layers, d = [], x_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.LeakyReLU(0.2)]
            d = width
        self.net = nn.Sequential(*layers, nn.Linear(d, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class ConvGenerator(nn.Module):
    """``z (B, z_dim) -> image (B, 1, 28, 28)`` in [0, 1]: a small DCGAN generator.

    Linear to ``2w x 7 x 7``, then two stride-2 transposed convolutions (7 -> 14 -> 28) with
    batch norm and ReLU between them, and a sigmoid at the end (images are in [0, 1]).
    """

    def __init__(self, z_dim: int = 32, width: int = 16):
        super().__init__()
        self.z_dim = z_dim
        self.fc = nn.Sequential(nn.Linear(z_dim, 2 * width * 49), nn.BatchNorm1d(2 * width * 49),
                                nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),  # 14x14
            nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Sigmoid(),  # 28x28
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z)
        return self.net(h.view(len(z), -1, 7, 7))


class ConvDiscriminator(nn.Module):
    """``image (B, 1, 28, 28) -> logit (B,)``: two stride-2 convolutions (28 -> 14 -> 7), LeakyReLU, linear."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),  # 14x14
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),  # 7x7
            nn.Flatten(), nn.Linear(2 * width * 49, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2016): conv weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# --------------------------------------------------------------------------------------------
# 3. Settings, training loop, sampling
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GANConfig:
    """Everything needed to rebuild and train a GAN. Change one field with ``dataclasses.replace``.

    ``net`` is ``"conv"`` (28x28 digits) or ``"mlp"`` (2-D points); ``loss`` is
    ``"nonsaturating"``, ``"minimax"`` or ``"lsgan"``; ``d_steps`` discriminator updates are made
    per generator update; ``r1`` is the weight gamma of the R1 penalty, eq. ``gan-r1``,
    ``gamma / 2 * E_x[|grad_x D(x)|^2]`` on real data, added to D's loss (0 switches it off).
    """

    net: str = "conv"
    z_dim: int = 32
    width: int = 16
    depth: int = 3
    x_dim: int = 2
    loss: str = "nonsaturating"
    batch_size: int = 64
    lr_g: float = 2e-3
    lr_d: float = 2e-3
    betas: tuple = (0.5, 0.999)
    d_steps: int = 1
    r1: float = 0.0
    steps: int = 2000


# The chapter's defaults, chosen with benchmarks/bench_gan.py. R1 on real digits (gamma = 1) made
# the digit GAN's class shares more even; a batch of 128 points (not 256) gives the ring GAN
# nearly the same progress per step at about 60 % of the cost, so more steps fit in 30 s.
DIGITS = GANConfig(r1=1.0)
RING = GANConfig(net="mlp", z_dim=2, width=128, depth=3, batch_size=128, lr_g=5e-4, lr_d=5e-4,
                 r1=0.1, steps=3000)


def build_gan(config: GANConfig = DIGITS, device=None) -> tuple[nn.Module, nn.Module]:
    """Make ``(G, D)`` for ``config`` on ``device``, initialised (uses the global torch seed)."""
    if config.net == "conv":
        G, D = ConvGenerator(config.z_dim, config.width), ConvDiscriminator(config.width)
        G.apply(dcgan_init)
        D.apply(dcgan_init)
    elif config.net == "mlp":
        G = MLPGenerator(config.z_dim, config.x_dim, config.width, config.depth)
        D = MLPDiscriminator(config.x_dim, config.width, config.depth)
    else:
        raise ValueError(f"config.net must be 'conv' or 'mlp', got {config.net!r}.")
    return G.to(device), D.to(device)


def make_optimizers(G: nn.Module, D: nn.Module, config: GANConfig = DIGITS) -> dict:
    """One Adam optimiser per network: ``{"G": ..., "D": ...}``."""
    return {"G": torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=tuple(config.betas)),
            "D": torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=tuple(config.betas))}


def _losses(name: str):
    if name == "nonsaturating":
        return discriminator_loss, generator_loss_nonsaturating
    if name == "minimax":
        return discriminator_loss, generator_loss_minimax
    if name == "lsgan":
        return lsgan_discriminator_loss, lsgan_generator_loss
    raise ValueError(f"loss must be 'nonsaturating', 'minimax' or 'lsgan', got {name!r}.")


def _real_batch(real, n: int, device) -> torch.Tensor:
    """A minibatch of real data: drawn with replacement from a tensor, or ``real(n)`` if callable."""
    if callable(real):
        return real(n).to(device)
    return real[torch.randint(len(real), (n,), device=real.device)].to(device)


def train_step(G: nn.Module, D: nn.Module, real, opt: dict, config: GANConfig = DIGITS, *,
               step: int = 0, device=None) -> dict:
    """One GAN step: ``config.d_steps`` updates of D, then one update of G. Returns plain numbers.

    ``real`` is a tensor of real data ``(N, ...)`` (minibatches are drawn from it with
    replacement) or a function ``n -> tensor`` such as ``minigen.data.ring8().sample``; ``opt``
    is ``{"G": ..., "D": ...}`` from :func:`make_optimizers`. Raises
    :class:`minigen.utils.TrainingDiverged` before an optimiser steps on a NaN or infinite loss.
    """
    from minigen.utils import check_finite

    device = torch.device(device) if device is not None else next(G.parameters()).device
    d_loss_fn, g_loss_fn = _losses(config.loss)
    B = config.batch_size
    # (1) update D: maximise V = E[log D(x)] + E[log(1 - D(G(z)))], i.e. minimise L_D = -V
    for _ in range(config.d_steps):
        x = _real_batch(real, B, device)
        z = torch.randn(B, config.z_dim, device=device)
        x_fake = G(z).detach()  # the one detach: L_D must not send gradients into G
        x = x.detach().requires_grad_(config.r1 > 0)  # R1 needs dD/dx on the real data
        d_real, d_fake = D(x), D(x_fake)
        loss_D = d_loss_fn(d_real, d_fake)
        if config.r1 > 0:
            (grad,) = torch.autograd.grad(d_real.sum(), x, create_graph=True)
            loss_D = loss_D + config.r1 / 2 * grad.pow(2).flatten(1).sum(1).mean()
        check_finite(step, loss_D=loss_D.item())
        opt["D"].zero_grad()
        loss_D.backward()
        opt["D"].step()
    # (2) update G: minimise L_G (non-saturating: -E[log D(G(z))]). The backward pass also fills
    # D's .grad, which opt["G"] never reads and opt["D"].zero_grad() clears before D's next step.
    z = torch.randn(B, config.z_dim, device=device)
    loss_G = g_loss_fn(D(G(z)))
    check_finite(step, loss_G=loss_G.item())
    opt["G"].zero_grad()
    loss_G.backward()
    opt["G"].step()
    return {"loss_D": loss_D.item(), "loss_G": loss_G.item(),
            "D_real": torch.sigmoid(d_real).mean().item(), "D_fake": torch.sigmoid(d_fake).mean().item()}


def train_gan(G: nn.Module, D: nn.Module, real, config: GANConfig = DIGITS, *,
              steps: int | None = None, max_seconds: float | None = None, device=None,
              optimizers: dict | None = None, history: dict | None = None,
              checkpoint_path=None, checkpoint_every: int | None = None,
              quiet: bool | None = None) -> dict:
    """Train ``G`` and ``D`` in place with :func:`train_step`; return the history ``{name: [numbers]}``.

    Args:
        G, D: the networks (e.g. from :func:`build_gan`), already on ``device``.
        real: the real data: a tensor ``(N, ...)`` or a function ``n -> tensor`` (see :func:`train_step`).
        config: losses, batch size, learning rates, ``d_steps``; ``config.steps`` is the number
            of steps when neither ``steps`` nor ``max_seconds`` is given.
        steps, max_seconds: stop after this many steps, or this much wall time, whichever
            comes first.
        device: where the batches go (default: where ``G`` is).
        optimizers, history: pass those of an earlier call to continue training; the history is
            extended in place and its steps are numbered on.
        checkpoint_path, checkpoint_every: write a checkpoint every that many steps and at the end.
        quiet: no progress bar (default: quiet when not interactive).

    The history holds, per step: ``step``, ``time`` (seconds since the first call), ``loss_D``,
    ``loss_G``, and ``D_real``/``D_fake``, the mean probability "real" D gave to real and to
    generated data in its last update.
    """
    from minigen.utils import check_images, progress

    if config.net == "conv" and isinstance(real, torch.Tensor):
        check_images(real, "real images")  # (N, 1, 28, 28) in [0, 1], like minigen.data.digits
    device = torch.device(device) if device is not None else next(G.parameters()).device
    opt = optimizers if optimizers is not None else make_optimizers(G, D, config)
    if history is None:
        history = {k: [] for k in ("step", "time", "loss_D", "loss_G", "D_real", "D_fake")}
    if steps is None and max_seconds is None:
        steps = config.steps
    step = int(history["step"][-1]) if history["step"] else 0
    last = step + steps if steps is not None else math.inf
    start = time.perf_counter()
    offset = history["time"][-1] if history["time"] else 0.0
    G.train()
    D.train()
    with progress(total=steps, desc="GAN", quiet=quiet) as bar:
        while step < last and (max_seconds is None or time.perf_counter() - start < max_seconds):
            step += 1
            numbers = train_step(G, D, real, opt, config, step=step, device=device)
            history["step"].append(step)
            history["time"].append(offset + time.perf_counter() - start)
            for k, v in numbers.items():
                history[k].append(v)
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss_D=f"{numbers['loss_D']:.3f}", loss_G=f"{numbers['loss_G']:.3f}")
            if checkpoint_path is not None and checkpoint_every and step % checkpoint_every == 0:
                _save(checkpoint_path, G, D, opt, history, config, step)
    if checkpoint_path is not None:
        _save(checkpoint_path, G, D, opt, history, config, step)
    return history


def _save(path, G, D, opt, history, config, step):
    from minigen.checkpoint import save_checkpoint

    return save_checkpoint(path, family="gan", models={"G": G, "D": D}, optimizers=opt,
                           history=history, settings=asdict(config), step=step)


@torch.no_grad()
def sample(G: nn.Module, n: int, *, generator: torch.Generator | None = None, device=None,
           batch_size: int = 1000) -> torch.Tensor:
    """Draw ``n`` samples ``G(z)``, ``z ~ N(0, I)``, in evaluation mode; returns them on ``device``.

    ``z`` is drawn on the CPU from ``generator`` (if given), so the same generator seed gives
    the same samples on every device. Images from the conv generator are in [0, 1].
    """
    device = torch.device(device) if device is not None else next(G.parameters()).device
    was_training = G.training
    G.eval()
    z = torch.randn(n, G.z_dim, generator=generator)
    out = torch.cat([G(zb.to(device)) for zb in z.split(batch_size)]) if n else G(z.to(device))
    G.train(was_training)
    return out


# --------------------------------------------------------------------------------------------
# 4. What the command line calls
# --------------------------------------------------------------------------------------------
def load_gan(checkpoint, device=None) -> tuple[nn.Module, nn.Module, GANConfig]:
    """Rebuild ``(G, D, config)`` from a checkpoint (a path, or the dict ``load_checkpoint`` returns)."""
    from minigen.checkpoint import CheckpointError, load_checkpoint

    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    if ckpt.get("family") != "gan":
        raise CheckpointError(f"expected a gan checkpoint, got a {ckpt.get('family')!r} one.")
    settings = dict(ckpt["settings"])
    settings["betas"] = tuple(settings.get("betas", DIGITS.betas))
    config = GANConfig(**settings)
    G, D = build_gan(config, device)
    G.load_state_dict(ckpt["models"]["G"])
    D.load_state_dict(ckpt["models"]["D"])
    return G.eval(), D.eval(), config


def train_cli(out, *, steps=None, max_seconds=None, seed=0, device=None, quiet=None) -> dict:
    """``python -m minigen train gan``: train the digit GAN with the chapter's settings.

    Writes ``checkpoint.pt``, ``samples.png`` (64 samples) and ``history.json`` into ``out``
    and returns their paths with the number of steps and seconds trained.
    """
    from minigen.data import digits
    from minigen.plotting import save_image_grid
    from minigen.utils import get_device, seed_everything

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = get_device(device)
    seed_everything(seed)
    x, _ = digits("train", device=device)
    G, D = build_gan(DIGITS, device)
    history = train_gan(G, D, x, DIGITS, steps=steps, max_seconds=max_seconds, device=device,
                        checkpoint_path=out / "checkpoint.pt", quiet=quiet)
    images = sample(G, 64, generator=torch.Generator().manual_seed(seed)).cpu()
    save_image_grid(images, out / "samples.png", nrow=8)
    (out / "history.json").write_text(json.dumps(history))
    return {"checkpoint": out / "checkpoint.pt", "samples": out / "samples.png",
            "history": out / "history.json", "steps": int(history["step"][-1]) if history["step"] else 0,
            "seconds": round(history["time"][-1], 1) if history["time"] else 0.0}


def sample_from_checkpoint(checkpoint, n: int, *, generator=None, device=None) -> torch.Tensor:
    """``python -m minigen sample``: ``n`` images ``(n, 1, 28, 28)`` in [0, 1] from a digit GAN checkpoint."""
    G, _, config = load_gan(checkpoint, device)
    if config.net != "conv":
        raise ValueError("this checkpoint holds a 2-D (mlp) GAN, not an image model; draw its "
                         "points with minigen.gan.sample(G, n) after minigen.gan.load_gan(path).")
    return sample(G, n, generator=generator, device=device)
