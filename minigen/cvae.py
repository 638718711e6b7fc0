"""A class-conditional VAE (chapter "Image extension in practice").

The VAE of :mod:`minigen.vae` with the digit's class y given to both networks, as in the
conditional VAE of Sohn et al. (2015) and the labelled part of Kingma et al.'s (2014) "M2" model:
the encoder is q(z | x, y), the decoder p(x | z, y), and the prior stays p(z) = N(0, I). y
enters each network as a one-hot vector concatenated to its input. The bound is the ELBO of
:mod:`minigen.vae` with every distribution conditioned on y:

.. math:: \\log p(x \\mid y) \\ge \\mathbb E_{q(z \\mid x, y)}[\\log p(x \\mid z, y)]
   - \\mathrm{KL}(q(z \\mid x, y) \\,\\|\\, p(z))

The left side is a log-likelihood only when the decoder p(x | z, y) is normalised, as the
Bernoulli decoder is on binarised digits (``minigen.data.binarize``). On the grey-level digits
the chapter trains on, minus the ELBO is a binary cross-entropy score (summed over the 784 pixels,
plus the KL), not a negative log-likelihood; see :mod:`minigen.vae` and chapter 4.

Because the class is given, z is free to carry what the class does not say: the slant, width and
thickness of the stroke, its "style". Decoding one z with other labels writes the same style as
other digits (:func:`change_label`); decoding random z with chosen labels draws digits of those
classes (:func:`sample`), which is what the chapter uses to add training images.

Nothing here re-derives the VAE: the reparameterised sample, the KL, the decoder's Bernoulli term,
the ELBO and its reduction (summed over pixels and latent dimensions, averaged over the batch), the
log-variance clamp, the shift augmentation and the loss :func:`minigen.vae.vae_loss` all come
from :mod:`minigen.vae`; training follows the contract of :mod:`minigen.training`.

Inputs are checked as in :mod:`minigen.vae`; labels by :func:`minigen.checks.check_labels`
(classes 0..9, one per image; a NumPy array or another integer dtype is converted to int64).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from minigen import checkpoint as _checkpoint
from minigen import vae
from minigen.checks import (
    N_CLASSES,
    InputError,
    InputTypeError,
    check_batch,
    check_config,
    check_generator,
    check_images,
    check_instance,
    check_labels,
    check_weights,
    model_dtype,
)
from minigen.training import Batches, Run, check_seed, flush_denormals, place, seeded
from minigen.utils import get_device

__all__ = ["N_CLASSES", "check_labels", "CVAEConfig", "CVAE", "build", "make_optimizers",
           "conditional_elbo", "train_step", "train", "sample", "change_label", "load"]

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

    def __post_init__(self):
        _checkpoint.make_plain(self)  # numpy numbers become plain Python numbers
        check_config(self, counts=("latent_dim", "hidden", "batch_size", "steps"), naturals=("shift",),
                     nonnegatives=("beta", "lr"))
        vae._check_caps(self)  # hidden <= vae.MAX_HIDDEN, latent_dim <= vae.MAX_LATENT


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

    def encode(
        self, x: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_var = self.encoder(
            self._with_class(x.flatten(1), labels)
        ).chunk(2, dim=1)
        # see vae.LOG_VAR_MIN
        return mu, log_var.clamp(vae.LOG_VAR_MIN, vae.LOG_VAR_MAX)

    def decode(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        z = check_batch(z, "z", tail=(self.config.latent_dim,), dtype=model_dtype(self))
        return self.decoder(self._with_class(z, check_labels(labels, len(z))))

    def forward(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None):
        # the cheap check of every batch (type, shape; float64/float16 -> the model's dtype)
        x = check_batch(x, "x", tail=(1, 28, 28), dtype=model_dtype(self))
        labels = check_labels(labels, len(x))
        mu, log_var = self.encode(x, labels)
        z = vae.reparameterize(mu, log_var, generator)
        return self.decode(z, labels), mu, log_var


def build(config: CVAEConfig = CVAEConfig(), *, seed: int = 0, device=None) -> CVAE:
    """A new :class:`CVAE` for ``config`` on ``device`` (``None``: the best available).

    The weights come from ``seed`` alone, the same on every device (:func:`minigen.training.seeded`).
    """
    check_instance(config, CVAEConfig, "config", "e.g. CVAEConfig()")
    seed, device = check_seed(seed), get_device(device)
    return seeded(lambda: CVAE(config), seed, device)


def make_optimizers(model: CVAE) -> dict:
    """``{"cvae": Adam}`` over both networks, with the model's learning rate."""
    check_instance(model, CVAE, "model", "from minigen.cvae.build")
    return {"cvae": torch.optim.Adam(model.parameters(), lr=model.config.lr)}


def conditional_elbo(
    model: CVAE,
    x: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator | None = None,
) -> vae.ELBO:
    """The conditional ELBO of chapter 7, of images ``x`` ``(B, 1, 28, 28)``
    given ``labels`` ``(B,)``.

    One reparameterised z ~ q(z | x, y) per image; :func:`minigen.vae.elbo`
    of the result, so the parts are reduced as there (summed over an
    image's pixels, averaged over the batch; on grey-level digits a binary
    cross-entropy score, not a log-likelihood). ``x`` must be in [0, 1],
    finite.
    """
    check_instance(model, CVAE, "model", "from minigen.cvae.build")
    x_logits, mu, log_var = model(x, labels, generator)
    # x carries no gradient, so its range is checked even when the network's
    # outputs do (vae.elbo skips them then; train() checked its data once)
    vae._check_unit_images(x)
    return vae.elbo(x, x_logits, mu, log_var)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
def train_step(model: CVAE, x: torch.Tensor, labels: torch.Tensor, optimizers: dict, *,
               generator: torch.Generator | None = None, elbo_fn=None,
               _checked: bool = False) -> dict:
    """One gradient step on :func:`minigen.vae.vae_loss` of the conditional ELBO of a batch.

    ``x`` ``(B, 1, 28, 28)`` in [0, 1] with classes ``labels`` ``(B,)``; ``optimizers``:
    ``{"cvae": ...}``; ``elbo_fn(model, x, labels, generator) -> ELBO`` defaults to
    :func:`conditional_elbo`. Returns 0-d tensors ``loss``, ``elbo``, ``reconstruction``, ``kl``.
    The model's ``forward`` checks ``x`` and ``labels`` (type, shape, classes 0..9); the
    batch's values (finite, in [0, 1]: one reduction) and the weights are checked here, except
    when :func:`train`, which checked its data once, calls it (``_checked``).
    """
    check_instance(model, CVAE, "model", "from minigen.cvae.build")
    if not isinstance(optimizers, dict) or "cvae" not in optimizers:
        raise InputTypeError("optimizers must be the dict {'cvae': ...} of "
                             "minigen.cvae.make_optimizers(model).")
    check_generator(generator)
    _check_elbo_fn(elbo_fn)
    if not _checked:
        x = check_batch(x, "x", tail=(1, 28, 28), dtype=model_dtype(model))
        vae._check_batch_values(x)
        check_weights(model, "cvae")
    parts = (elbo_fn or conditional_elbo)(model, x, labels, generator)
    loss = vae.vae_loss(parts, model.config.beta)  # beta = 1: minus the ELBO
    optimizers["cvae"].zero_grad()
    loss.backward()
    optimizers["cvae"].step()
    return {"loss": loss.detach(), **{k: v.detach() for k, v in parts._asdict().items()}}


def _check_elbo_fn(elbo_fn) -> None:
    if elbo_fn is not None and not callable(elbo_fn):
        raise InputTypeError(f"elbo_fn must be a function elbo_fn(model, x, labels, generator) -> "
                             f"ELBO or None for conditional_elbo, got {type(elbo_fn).__name__}.")


def train(model: CVAE, data, *, steps: int | None = None, max_seconds: float | None = None,
          seed: int = 0, device=None, checkpoint=None, checkpoint_every: int = 500, resume=None,
          progress: bool | None = None, elbo_fn=None) -> dict:
    """Train on ``data = (images, labels)``: ``(N, 1, 28, 28)`` in [0, 1] and int64 classes ``(N,)``.

    The keyword arguments are those of every family (:func:`minigen.vae.train`,
    :mod:`minigen.training`); settings come from ``model.config``. Returns
    ``{"step", "time", "loss", "elbo", "reconstruction", "kl"}``, one number per step; the model
    is left in eval mode. The data are checked once, before any work (NaN is reported as NaN in
    the data, not as a divergence); NumPy arrays and float64/float16 images are converted.
    """
    check_instance(model, CVAE, "model", "from minigen.cvae.build")
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise InputTypeError("data must be a pair (images, labels), e.g. minigen.data.digits('train').")
    c = model.config
    x_train = check_images(data[0], "images", dtype=model_dtype(model))
    labels = check_labels(data[1], len(x_train))
    _check_elbo_fn(elbo_fn)
    check_weights(model, "cvae")
    place(model, device)
    optimizers = make_optimizers(model)
    run = Run("cvae", model, optimizers, steps=steps, max_seconds=max_seconds,
              default_steps=c.steps, seed=seed, checkpoint=checkpoint,
              checkpoint_every=checkpoint_every, progress=progress)
    x_train, labels = x_train.to(run.device), labels.to(run.device)
    batches = run.track("batches", Batches(len(x_train), c.batch_size, run.generator))
    run.resume(resume)
    with vae._losses_unchecked(), flush_denormals():
        while run.going():
            idx = batches.next()
            x = vae.shift_images(x_train[idx], c.shift, run.generator)
            run.record(**train_step(model, x, labels[idx], optimizers, generator=run.generator,
                                    elbo_fn=elbo_fn, _checked=True))
    return run.finish()


# --------------------------------------------------------------------------------------------
# Using a trained model
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def sample(model: CVAE, labels: torch.Tensor, *, generator: torch.Generator | None = None
           ) -> torch.Tensor:
    """One digit of each class in ``labels`` ``(N,)``: z ~ N(0, I), decoder mean ``sigmoid(decode(z, y))``.

    Returns float32 ``(N, 1, 28, 28)`` in [0, 1] on the model's device; z is drawn on the CPU
    from ``generator``, so the same generator state gives the same images on every device.
    ``labels`` must hold at least one class.
    """
    check_instance(model, CVAE, "model", "from minigen.cvae.build or load")
    device = next(model.parameters()).device
    labels = check_labels(labels).to(device)
    if len(labels) == 0:
        raise InputError("labels is empty: pass at least one class to draw, e.g. torch.arange(10).")
    if len(labels) > vae.MAX_SAMPLES:
        raise InputError(f"labels must hold at most {vae.MAX_SAMPLES:,} classes per call (more "
                         f"would exhaust memory), got {len(labels):,}; draw in several calls.")
    generator = check_generator(generator)
    check_weights(model, "cvae")
    z = torch.randn(len(labels), model.config.latent_dim, generator=generator).to(device)
    return torch.sigmoid(model.decode(z, labels))


@torch.no_grad()
def change_label(model: CVAE, x: torch.Tensor, labels: torch.Tensor,
                 new_labels: torch.Tensor) -> torch.Tensor:
    """Keep the style, change the digit: decode the posterior mean of ``(x, labels)`` with ``new_labels``.

    ``x`` ``(B, 1, 28, 28)``; ``labels``, ``new_labels`` ``(B,)``. Returns ``(B, 1, 28, 28)`` in [0, 1].
    """
    check_instance(model, CVAE, "model", "from minigen.cvae.build or load")
    device = next(model.parameters()).device
    x = check_images(x, "x", dtype=model_dtype(model)).to(device)
    labels = check_labels(labels, len(x)).to(device)
    new_labels = check_labels(new_labels, len(x), "new_labels").to(device)
    mu, _ = model.encode(x, labels)
    return torch.sigmoid(model.decode(mu, new_labels))


def load(checkpoint, *, device=None) -> CVAE:
    """Rebuild the :class:`CVAE` saved in ``checkpoint`` (a path or a loaded dict), in eval mode."""
    return _checkpoint.load(checkpoint, family="cvae", config_class=CVAEConfig, model_class=CVAE,
                            build=build, device=device)
