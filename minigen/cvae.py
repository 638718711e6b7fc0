"""A class-conditional VAE (chapter "Image extension in practice").

The VAE of :mod:`minigen.vae` with the digit's class y given to both networks, as in the
conditional VAE of Sohn et al. (2015) and the labelled part of Kingma et al.'s (2014) "M2" model:
the encoder is q(z | x, y), the decoder p(x | z, y), and the prior stays p(z) = N(0, I). y
enters each network as a one-hot vector concatenated to its input. The bound is the ELBO of
:mod:`minigen.vae` with every distribution conditioned on y, eq. ``cvae-elbo``:

.. math:: \\log p(x \\mid y) \\ge \\mathbb E_{q(z \\mid x, y)}[\\log p(x \\mid z, y)]
   - \\mathrm{KL}(q(z \\mid x, y) \\,\\|\\, p(z))

Because the class is given, z is free to carry what the class does not say: the slant, width and
thickness of the stroke, its "style". Decoding one z with other labels writes the same style as
other digits (:func:`change_label`); decoding random z with chosen labels draws digits of those
classes (:func:`sample`), which is what the chapter uses to add training images.

Nothing here re-derives the VAE: the reparameterised sample, the KL, the likelihood, the ELBO and
its reduction (summed over pixels and latent dimensions, averaged over the batch, in nats), the
log-variance clamp and the shift augmentation all come from :mod:`minigen.vae`.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from minigen import vae
from minigen.checkpoint import load_checkpoint, save_checkpoint
from minigen.utils import check_finite, check_images, progress

__all__ = ["N_CLASSES", "check_labels", "CVAEConfig", "CVAE", "build_cvae", "conditional_elbo",
           "training_step", "train", "sample", "change_label", "load_cvae"]

N_CLASSES = 10


def check_labels(labels, n: int | None = None, name: str = "labels") -> torch.Tensor:
    """Check that ``labels`` is a 1-D int64 tensor of digit classes 0..9 (of length ``n``, if given).

    Returns it unchanged; raises ``TypeError``/``ValueError`` saying what is wrong and how to fix it.
    """
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of int64 classes, got {type(labels).__name__}.")
    if labels.dtype != torch.int64:
        raise TypeError(f"{name} must have dtype torch.int64, got {labels.dtype}. Use `{name}.long()`.")
    if labels.dim() != 1:
        raise ValueError(f"{name} must be 1-D (one class per image), got shape {tuple(labels.shape)}.")
    if n is not None and len(labels) != n:
        raise ValueError(f"{name} must have one class per image: {len(labels)} labels for {n} images.")
    if labels.numel() and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise ValueError(f"{name} must be classes in 0..{N_CLASSES - 1}, got values "
                         f"from {labels.min().item()} to {labels.max().item()}.")
    return labels


# --------------------------------------------------------------------------------------------
# The networks
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CVAEConfig:
    """Settings of a class-conditional digit VAE (MLP encoder and decoder)."""

    latent_dim: int = 16
    hidden: int = 400  # width of the hidden layer of the encoder and of the decoder
    beta: float = 1.0  # weight of the KL term in the loss; 1 gives the ELBO
    lr: float = 1e-3
    batch_size: int = 64
    shift: int = 0  # training augmentation: random translation by up to this many pixels
    steps: int = 3000


class CVAE(nn.Module):
    """Encoder q(z | x, y) = N(mu, diag sigma^2), decoder p(x | z, y) (Bernoulli), prior N(0, I).

    ``encode(x, labels)`` returns ``(mu, log_var)``, each ``(B, d)``; ``decode(z, labels)``
    returns logits ``(B, 1, 28, 28)``; ``forward(x, labels)`` returns ``(x_logits, mu, log_var)``
    for one reparameterised z per image. ``labels`` are int64 classes ``(B,)``.
    """

    def __init__(self, config: CVAEConfig = CVAEConfig()):
        super().__init__()
        self.config = config
        c, k = config, N_CLASSES
        self.encoder = nn.Sequential(nn.Linear(784 + k, c.hidden), nn.ReLU(),
                                     nn.Linear(c.hidden, 2 * c.latent_dim))  # mu, log_var
        self.decoder = nn.Sequential(nn.Linear(c.latent_dim + k, c.hidden), nn.ReLU(),
                                     nn.Linear(c.hidden, 784), nn.Unflatten(1, (1, 28, 28)))

    def _with_class(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``[h, onehot(y)]``: the condition concatenated to a flat input ``(B, m)``."""
        return torch.cat([h, F.one_hot(labels, N_CLASSES).to(h.dtype)], dim=1)

    def encode(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_var = self.encoder(self._with_class(x.flatten(1), labels)).chunk(2, dim=1)
        return mu, log_var.clamp(vae.LOG_VAR_MIN, vae.LOG_VAR_MAX)  # see vae.LOG_VAR_MIN

    def decode(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.decoder(self._with_class(z, labels))

    def forward(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None):
        mu, log_var = self.encode(x, labels)
        z = vae.reparameterize(mu, log_var, generator)
        return self.decode(z, labels), mu, log_var


def build_cvae(config: CVAEConfig = CVAEConfig(), device=None) -> CVAE:
    """A freshly initialised :class:`CVAE` for ``config``, on ``device``."""
    return CVAE(config).to(device)


def conditional_elbo(model: CVAE, x: torch.Tensor, labels: torch.Tensor,
                     generator: torch.Generator | None = None) -> vae.ELBO:
    """The conditional ELBO of images ``x`` ``(B, 1, 28, 28)`` given ``labels`` ``(B,)``, eq. ``cvae-elbo``.

    One reparameterised z ~ q(z | x, y) per image; :func:`minigen.vae.elbo` of the result, so the
    parts are reduced as there (nats per image, averaged over the batch).
    """
    x_logits, mu, log_var = model(x, labels, generator)
    return vae.elbo(x, x_logits, mu, log_var)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
def training_step(model: CVAE, x: torch.Tensor, labels: torch.Tensor,
                  optimizer: torch.optim.Optimizer, *, generator: torch.Generator | None = None,
                  step: int = 0) -> vae.ELBO:
    """One gradient step on the (beta-weighted) negative conditional ELBO; returns its parts."""
    parts = conditional_elbo(model, x, labels, generator)
    loss = parts.kl * model.config.beta - parts.reconstruction  # beta = 1: minus the ELBO
    check_finite(step, loss=loss.item())  # NaN guard: raise before the parameters change
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return parts


def train(model: CVAE, x_train: torch.Tensor, labels: torch.Tensor, *, steps: int | None = None,
          max_seconds: float | None = None, generator: torch.Generator | None = None,
          checkpoint: str | Path | None = None, checkpoint_every: int = 1000,
          quiet: bool | None = None) -> dict:
    """Train on images ``x_train`` ``(N, 1, 28, 28)`` in [0, 1] with their classes ``labels`` ``(N,)``.

    As :func:`minigen.vae.train`: settings from ``model.config``; stops after ``steps`` (default
    ``config.steps``) or ``max_seconds``, whichever comes first; repeatable with fixed ``steps``
    and ``generator``; writes ``checkpoint`` every ``checkpoint_every`` steps and at the end.
    Returns ``{"step", "time", "loss", "elbo", "reconstruction", "kl"}``, one number per step.
    """
    c = model.config
    device = next(model.parameters()).device
    x_train = check_images(x_train, "x_train").to(device)
    labels = check_labels(labels, len(x_train)).to(device)
    if steps is None and max_seconds is None:
        steps = c.steps
    optimizer = torch.optim.Adam(model.parameters(), lr=c.lr)
    history = {k: [] for k in ("step", "time", "loss", "elbo", "reconstruction", "kl")}
    batch_size = min(c.batch_size, len(x_train))
    batches, step, start = iter(()), 0, time.perf_counter()
    model.train()
    bar = progress(total=steps, desc="CVAE", quiet=quiet)
    while steps is None or step < steps:
        if max_seconds is not None and time.perf_counter() - start >= max_seconds:
            break
        idx = next(batches, None)
        if idx is None:  # a new epoch: a fresh shuffle, cut into full batches
            perm = torch.randperm(len(x_train), generator=generator).to(device)
            batches = iter(perm[:len(perm) // batch_size * batch_size].view(-1, batch_size))
            idx = next(batches)
        x = vae.shift_images(x_train[idx], c.shift, generator)
        parts = training_step(model, x, labels[idx], optimizer, generator=generator, step=step)
        step += 1
        rec, kl = parts.reconstruction.item(), parts.kl.item()
        row = dict(step=step, time=time.perf_counter() - start, loss=c.beta * kl - rec,
                   elbo=rec - kl, reconstruction=rec, kl=kl)
        for k, v in row.items():
            history[k].append(v)
        bar.update(1)
        if step % checkpoint_every == 0:
            _save(checkpoint, model, optimizer, history, step)
    bar.close()
    _save(checkpoint, model, optimizer, history, step)  # the last state, whatever stopped the loop
    model.eval()
    return history


def _save(path, model: CVAE, optimizer, history: dict, step: int) -> Path | None:
    """Write a ``"cvae"`` checkpoint to ``path``; nothing when ``path`` is None."""
    if path is None:
        return None
    return save_checkpoint(path, family="cvae", models={"cvae": model}, optimizers={"adam": optimizer},
                           history=history, settings=asdict(model.config), step=step)


# --------------------------------------------------------------------------------------------
# Using a trained model
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def sample(model: CVAE, labels: torch.Tensor, *, generator: torch.Generator | None = None,
           device=None) -> torch.Tensor:
    """One digit of each class in ``labels`` ``(N,)``: z ~ N(0, I), decoder mean ``sigmoid(decode(z, y))``.

    Returns float32 ``(N, 1, 28, 28)`` in [0, 1]; the same ``generator`` state gives the same images.
    """
    device = device or next(model.parameters()).device
    labels = check_labels(labels).to(device)
    z = torch.randn(len(labels), model.config.latent_dim, generator=generator).to(device)
    return torch.sigmoid(model.decode(z, labels))


@torch.no_grad()
def change_label(model: CVAE, x: torch.Tensor, labels: torch.Tensor,
                 new_labels: torch.Tensor) -> torch.Tensor:
    """Keep the style, change the digit: decode the posterior mean of ``(x, labels)`` with ``new_labels``.

    ``x`` ``(B, 1, 28, 28)``; ``labels``, ``new_labels`` ``(B,)``. Returns ``(B, 1, 28, 28)`` in [0, 1].
    """
    device = next(model.parameters()).device
    x = check_images(x, "x").to(device)
    labels = check_labels(labels, len(x)).to(device)
    new_labels = check_labels(new_labels, len(x), "new_labels").to(device)
    mu, _ = model.encode(x, labels)
    return torch.sigmoid(model.decode(mu, new_labels))


def load_cvae(checkpoint, device=None) -> CVAE:
    """Rebuild the :class:`CVAE` saved in ``checkpoint`` (a path or a loaded dict), in eval mode."""
    ckpt = load_checkpoint(checkpoint) if isinstance(checkpoint, (str, Path)) else checkpoint
    if ckpt["family"] != "cvae":
        raise ValueError(f"expected a cvae checkpoint, got a {ckpt['family']} one.")
    model = CVAE(CVAEConfig(**ckpt["settings"]))
    model.load_state_dict(ckpt["models"]["cvae"])
    return model.to(device).eval()
