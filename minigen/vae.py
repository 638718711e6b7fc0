"""Variational autoencoders (chapter "Variational autoencoders").

The module follows the chapter: the equations first (reparameterised sample, Gaussian KL,
log-likelihoods, ELBO, importance-weighted bound), then the networks, then one training step and
the training loop, then what a trained model is for (reconstruct, sample, interpolate, evaluate)
and loading a saved model.

**One reduction, everywhere.** Log-likelihoods and KL divergences are *summed* over the pixels of
an image and over the latent dimensions, giving one number per image in nats; the ELBO, its parts
and the IWAE bound are then *averaged over the batch*. A negative ELBO of 100 therefore means 100
nats per image, the convention of pytorch/examples' VAE (whose ``loss_function`` sums over the
batch instead, and divides by the data set size when it prints).

A VAE is trained by maximising this lower bound on log p(x) with gradient descent. There is no
discriminator and nothing adversarial in it.

**Nats only on binary images.** The Bernoulli decoder's log p(x | z) is a log-probability, and
the ELBO and IWAE bound are bounds on a log-likelihood in nats, only when every pixel of x is 0
or 1 (:func:`minigen.data.binarize`): then p(x | z) sums to 1 over the 2^784 binary images. On
grey levels in [0, 1] the same formula is minus a binary cross-entropy, not a log-density (the
integral of p^x (1 - p)^(1 - x) over [0, 1] is 0.364 at p = 0.1), so the numbers are a **BCE
score**: useful to compare runs on the same data, but no likelihood, no nats, no bits per pixel.
:func:`evaluate` says which of the two it returned (``"units"``). A Gaussian decoder is a
density on grey levels; its bound is in nats of that density.

**Inputs.** Functions that take images check them once, values included
(:func:`minigen.checks.check_images`), convert a NumPy array to a tensor and float64/float16 to
the model's dtype (float32); the networks check the type, shape and dtype of every batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from minigen import checkpoint as _checkpoint
from minigen.checks import (
    _LOSSES_UNCHECKED,
    InputError,
    InputTypeError,
    _losses_unchecked,
    check_batch,
    check_config,
    check_count,
    check_generator,
    check_images,
    check_instance,
    check_real,
    check_weights,
    model_dtype,
)
from minigen.training import Batches, Run, check_seed, flush_denormals, place, seeded
from minigen.utils import get_device

__all__ = [
    "reparameterize", "kl_terms", "gaussian_kl", "bernoulli_log_likelihood",
    "gaussian_log_likelihood", "ELBO", "elbo", "decoder_log_likelihood", "vae_loss", "iwae_bound",
    "VAEConfig", "VAE", "build", "make_optimizers",
    "shift_images", "train_step", "train", "log_weights", "evaluate", "kl_per_dimension",
    "reconstruct", "CodeDensity", "fit_code_density", "sample", "interpolate", "load", "DIGITS",
]

# The encoder's log-variance is clamped to this range. Without a bound, one unlucky step early in
# training can push log_var to +-100: above about 88, exp(log_var) overflows float32 (inf, then
# NaN in the KL and in z = mu + sigma * eps); far below, sigma underflows to 0 and the gradient
# through it vanishes. Standard deviations from exp(-5) = 0.007 to exp(5) = 148 cover every
# posterior width a digit VAE uses, so the clamp does not bind in a healthy run.
LOG_VAR_MIN, LOG_VAR_MAX = -10.0, 10.0
LOG_2PI = math.log(2 * math.pi)


# Sane maxima: larger settings or counts exhaust memory long before they could be useful, so
# they are refused with a clear message instead of a raw allocation error.
MAX_HIDDEN = 16384  # VAEConfig.hidden
MAX_LATENT = 1024  # VAEConfig.latent_dim
MAX_SAMPLES = 1_000_000  # sample(model, n)
MAX_K = 10_000  # evaluate / log_weights: importance samples per image
MAX_STEPS = 1000  # interpolate: images per row
MAX_COMPONENTS = 1000  # fit_code_density: mixture components
_MAX_K_BATCH = 1_000_000  # evaluate: at most this many (sample, image) pairs at once

def _check_tensors(*, same_shape: bool = True, values: bool = True, **tensors) -> None:
    """The arguments of an equation: float tensors (a NumPy array is refused with the fix),
    non-empty, of one shape (if ``same_shape``) and, when no argument carries a gradient (a call
    outside a training step; NaN inside one is a divergence, which the training loop reports),
    finite: one reduction each."""
    for label, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            hint = (f" Convert it with torch.from_numpy({label}).float()."
                    if hasattr(t, "__array__") else "")
            raise InputTypeError(f"{label} must be a torch.Tensor, got {type(t).__name__}.{hint}")
        if not t.is_floating_point():
            raise InputTypeError(f"{label} must be a floating-point tensor, got dtype {t.dtype}. "
                                 f"Convert it with `{label}.float()`.")
        if t.numel() == 0:
            raise InputError(f"{label} is empty (shape {tuple(t.shape)}): pass at least one value.")
    shapes = {label: tuple(t.shape) for label, t in tensors.items()}
    if same_shape and len(set(shapes.values())) > 1:
        raise InputError("the arguments must have the same shape, got "
                         + ", ".join(f"{k} {v}" for k, v in shapes.items()) + ".")
    if values and not _LOSSES_UNCHECKED.get() and not any(t.requires_grad
                                                           for t in tensors.values()):
        for label, t in tensors.items():
            if not bool(torch.isfinite(t).all()):
                raise InputError(f"{label} contains NaN or infinite values: the result would be "
                                 f"NaN. Pass finite values (find them with "
                                 f"`~torch.isfinite({label})`).")


def _check_unit_images(x: torch.Tensor, *others: torch.Tensor) -> None:
    """Refuse images ``x`` outside [0, 1] (one reduction) unless a tensor carries a gradient."""
    if _LOSSES_UNCHECKED.get() or any(t.requires_grad for t in (x, *others)):
        return
    lo, hi = torch.aminmax(x)
    if lo.item() < -1e-6 or hi.item() > 1 + 1e-6:
        check_images(x, "x", channels=None, size=None)  # raises, with the hint of train()
        raise InputError(f"x must have values in [0, 1], got [{lo.item():.3g}, {hi.item():.3g}].")


# --------------------------------------------------------------------------------------------
# The equations
# --------------------------------------------------------------------------------------------
def reparameterize(
    mu: torch.Tensor,
    log_var: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Reparameterised sample from q(z | x) = N(mu, diag sigma^2), the
    reparameterisation z = mu + sigma * eps of chapter 4.

    .. math:: z = \\mu + \\sigma \\odot \\varepsilon,
       \\quad \\sigma = \\exp(\\tfrac12 \\log\\sigma^2),
       \\quad \\varepsilon \\sim \\mathcal N(0, I)

    The randomness sits in eps, which does not depend on (mu, log_var), so
    gradients flow through mu and sigma. Args: ``mu`` and ``log_var`` of the
    same shape (e.g. ``(B, d)`` or ``(k, B, d)``); ``generator``, an optional
    ``torch.Generator`` for eps (a CPU generator also works for tensors on a
    GPU). Returns z, shaped like ``mu``.
    """
    _check_tensors(mu=mu, log_var=log_var)
    gen_device = generator.device if generator is not None else mu.device
    eps = torch.randn(
        mu.shape, generator=generator, device=gen_device, dtype=mu.dtype
    )
    return mu + torch.exp(0.5 * log_var) * eps.to(mu.device)


def kl_terms(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_j, sigma_j^2) || N(0, 1)) of each latent dimension j: the
    closed-form Gaussian KL of chapter 4, term by term.

    .. math:: \\mathrm{KL}_j = \\tfrac12 \\left(\\mu_j^2 + \\sigma_j^2
       - \\log\\sigma_j^2 - 1\\right)

    Args: ``mu``, ``log_var`` of the same shape, e.g. ``(B, d)``. Returns
    that shape, in nats; each term is 0 exactly when mu_j = 0 and
    log_var_j = 0, and positive otherwise.
    """
    _check_tensors(mu=mu, log_var=log_var)
    return 0.5 * (mu.pow(2) + log_var.exp() - log_var - 1)


def gaussian_kl(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Closed-form KL(N(mu, diag sigma^2) || N(0, I)) per example
    (chapter 4).

    .. math:: \\mathrm{KL} = \\tfrac12 \\sum_j \\left(\\mu_j^2
       + \\sigma_j^2 - \\log\\sigma_j^2 - 1\\right)

    Args: ``mu``, ``log_var`` of shape ``(B, d)``. Returns ``(B,)``:
    :func:`kl_terms` summed over the d latent dimensions, in nats. It is 0
    exactly when mu = 0 and log_var = 0.
    """
    return kl_terms(mu, log_var).flatten(1).sum(1)


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Bernoulli log-likelihood log p(x | z) of images per example (chapter 4).

    .. math:: \\log p(x \\mid z) = \\sum_i x_i \\log p_i + (1 - x_i) \\log (1 - p_i),
       \\quad p_i = \\sigma(\\ell_i)

    Args: ``x``, images ``(B, ...)`` with values in [0, 1]; ``logits`` l, decoder outputs of the
    same shape, *before* the sigmoid. Returns ``(B,)``, summed over pixels: minus the summed
    binary cross-entropy. For binary x (:func:`minigen.data.binarize`) it is a log-probability
    in nats (the pmf sums to 1 over {0, 1}^n); for grey levels it is only a BCE score, not a
    log-density (the formula integrates to less than 1 over [0, 1]).
    """
    _check_tensors(x=x, logits=logits, same_shape=False)
    _check_unit_images(x, logits)
    if x.shape != logits.shape:
        raise InputError(f"x and logits must be tensors of the same shape, got "
                         f"{tuple(getattr(x, 'shape', ()))} and {tuple(getattr(logits, 'shape', ()))}.")
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor,
                            log_var: torch.Tensor | float) -> torch.Tensor:
    """Diagonal Gaussian log-density log N(x; mean, diag sigma^2) per example (chapter 4).

    .. math:: \\log \\mathcal N(x; m, \\sigma^2) = -\\tfrac12 \\sum_i \\left(
       \\frac{(x_i - m_i)^2}{\\sigma_i^2} + \\log \\sigma_i^2 + \\log 2\\pi \\right)

    Used for an image under a Gaussian decoder, and for the latent densities log p(z) (mean 0,
    log_var 0) and log q(z | x) of the IWAE bound. Args: ``x`` ``(B, ...)``; ``mean`` and
    ``log_var`` broadcastable to it (``log_var`` may be a float). Returns ``(B,)``: summed over
    every dimension but the first, in nats.
    """
    if isinstance(log_var, (int, float)) and not isinstance(log_var, bool):
        log_var = torch.tensor(float(log_var), dtype=torch.float64)
    if isinstance(mean, (int, float)) and not isinstance(mean, bool):
        mean = torch.tensor(float(mean), dtype=torch.float64)
    _check_tensors(x=x, mean=mean, log_var=log_var, same_shape=False)
    if x.dim() < 2:
        raise InputError(f"x must have shape (B, ...) with a batch axis, got {tuple(x.shape)}.")
    for label, t in (("mean", mean), ("log_var", log_var)):
        try:
            torch.broadcast_shapes(t.shape, x.shape)
        except RuntimeError:
            raise InputError(f"{label} must broadcast to x's shape {tuple(x.shape)}, got "
                             f"{tuple(t.shape)}.") from None
    log_var = log_var.to(dtype=x.dtype, device=x.device)
    terms = (x - mean).pow(2) / log_var.exp() + log_var + LOG_2PI
    return -0.5 * terms.expand_as(x).flatten(1).sum(1)


class ELBO(NamedTuple):
    """The ELBO and its two parts, each a scalar averaged over the batch (nats per image on
    binary images; a BCE score on grey levels under the Bernoulli decoder)."""

    elbo: torch.Tensor
    reconstruction: torch.Tensor  # E_q[log p(x | z)], one sample of z per image
    kl: torch.Tensor  # KL(q(z | x) || p(z)), in closed form


def elbo(
    x: torch.Tensor,
    x_logits: torch.Tensor,
    mu: torch.Tensor,
    log_var: torch.Tensor,
    *,
    likelihood: str = "bernoulli",
    sigma_x: float = 0.1,
) -> ELBO:
    """Evidence lower bound (the ELBO of chapter 4) with one
    reparameterised sample.

    .. math:: \\mathrm{ELBO}(x) = \\mathbb E_{q(z \\mid x)}[\\log p(x \\mid z)]
       - \\mathrm{KL}(q(z \\mid x) \\,\\|\\, p(z)) \\le \\log p(x)

    Args:
        x: images ``(B, 1, 28, 28)`` in [0, 1].
        x_logits: decoder output for z = mu + sigma * eps, same shape as
            ``x``, before the sigmoid; the decoder mean is
            ``sigmoid(x_logits)``.
        mu, log_var: the encoder's q(z | x), ``(B, d)``.
        likelihood: ``"bernoulli"`` (:func:`bernoulli_log_likelihood`) or
            ``"gaussian"`` (:func:`gaussian_log_likelihood` with mean
            ``sigmoid(x_logits)`` and fixed std ``sigma_x``).
    Returns:
        ``ELBO(elbo, reconstruction, kl)``: the reconstruction term summed
        over pixels and the KL summed over latent dimensions, then each
        averaged over the batch, with ``elbo = reconstruction - kl``. The
        training loss is :func:`vae_loss` of it. A bound on log p(x) in
        nats for binary x (or the Gaussian decoder's density); for grey
        levels under the Bernoulli decoder, a BCE score.
    """
    _check_tensors(mu=mu, log_var=log_var)
    if len(mu) != len(x):
        raise InputError(
            f"mu and log_var must hold one row per image: {len(mu)} rows "
            f"for {len(x)} images."
        )
    rec = decoder_log_likelihood(
        x, x_logits, likelihood=likelihood, sigma_x=sigma_x
    ).mean()
    kl = gaussian_kl(mu, log_var).mean()
    return ELBO(rec - kl, rec, kl)


def decoder_log_likelihood(x: torch.Tensor, x_logits: torch.Tensor, *, likelihood: str = "bernoulli",
                           sigma_x: float = 0.1) -> torch.Tensor:
    """log p(x | z) per example, ``(B,)``: :func:`bernoulli_log_likelihood` of the logits, or
    :func:`gaussian_log_likelihood` with mean ``sigmoid(x_logits)`` and std ``sigma_x``."""
    if likelihood == "bernoulli":
        return bernoulli_log_likelihood(x, x_logits)
    if likelihood == "gaussian":
        sigma_x = check_real(sigma_x, "sigma_x", above=0)
        return gaussian_log_likelihood(x, torch.sigmoid(x_logits), 2 * math.log(sigma_x))
    raise InputError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}.")


def vae_loss(parts: ELBO, beta: float = 1.0) -> torch.Tensor:
    """The loss a VAE minimises, the beta-weighted loss L_beta of chapter 4:
    minus the reconstruction term plus beta KL.

    .. math:: L_\\beta = -\\mathbb E_{q(z \\mid x)}[\\log p(x \\mid z)]
       + \\beta\\, \\mathrm{KL}(q(z \\mid x) \\,\\|\\, p(z))

    ``parts`` is the :class:`ELBO` of a batch (batch means, nats per image).
    ``beta = 1`` gives minus the ELBO; other values give the beta-VAE of
    Higgins et al. (2017). Returns a scalar.
    """
    beta = check_real(beta, "beta", minimum=0)
    if not isinstance(parts, ELBO):
        raise InputTypeError(
            "parts must be an ELBO (from minigen.vae.elbo), got "
            f"{type(parts).__name__}."
        )
    return beta * parts.kl - parts.reconstruction


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """Importance-weighted bound (Burda et al. 2016) from k log-weights per image (chapter 4).

    .. math:: \\log p(x) \\ge \\mathcal L_k = \\mathbb E\\left[\\log \\frac1k \\sum_{i=1}^k
       \\frac{p(x, z_i)}{q(z_i \\mid x)}\\right], \\quad z_i \\sim q(z \\mid x)

    Args: ``log_w`` of shape ``(k, B)``, ``log_w[i, b] = log p(x_b | z_i) + log p(z_i) -
    log q(z_i | x_b)``. Returns a scalar: log-mean-exp over the k samples (computed stably as
    logsumexp - log k), averaged over the batch. With k = 1 it is a one-sample ELBO; it rises
    towards log p(x) as k grows. It bounds a log-likelihood, in nats, only if log p(x | z) is a
    normalised one (binary x under the Bernoulli decoder; a density); from grey-level x under
    the Bernoulli decoder it is a BCE score.
    """
    if not isinstance(log_w, torch.Tensor) or log_w.dim() != 2 or 0 in log_w.shape:
        raise InputError(f"log_w must be a tensor (k, B) with k >= 1 samples of B >= 1 images, got "
                         f"{type(log_w).__name__} {tuple(getattr(log_w, 'shape', ()))}.")
    _check_tensors(log_w=log_w)
    return (torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])).mean()


# --------------------------------------------------------------------------------------------
# The networks
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VAEConfig:
    """Settings of a digit VAE: the networks and the training defaults of the chapter."""

    arch: str = "mlp"  # "mlp" (784-400-20, as pytorch/examples' VAE) or "conv"
    latent_dim: int = 20
    hidden: int = 400  # width of the MLPs' hidden layer; the conv nets use 32 and 64 channels
    likelihood: str = "bernoulli"  # or "gaussian" (fixed std sigma_x)
    sigma_x: float = 0.1
    beta: float = 1.0  # weight of the KL term in the loss; 1 gives the ELBO
    lr: float = 1e-3
    batch_size: int = 32
    shift: int = 0  # training augmentation: random translation by up to this many pixels
    steps: int = 6000

    def __post_init__(self):
        _checkpoint.make_plain(self)
        if self.arch not in ("mlp", "conv"):
            raise InputError(f"arch must be 'mlp' or 'conv', got {self.arch!r}.")
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise InputError(f"likelihood must be 'bernoulli' or 'gaussian', got {self.likelihood!r}.")
        check_config(self, counts=("latent_dim", "hidden", "batch_size", "steps"), naturals=("shift",),
                     positives=("sigma_x",), nonnegatives=("beta", "lr"))
        _check_caps(self)


def _check_caps(config) -> None:
    """Refuse network sizes above the sane maxima :data:`MAX_HIDDEN` and :data:`MAX_LATENT`."""
    for field, cap in (("hidden", MAX_HIDDEN), ("latent_dim", MAX_LATENT)):
        if getattr(config, field) > cap:
            raise InputError(f"{type(config).__name__}.{field} must be <= {cap} (a sane maximum "
                             f"for these small networks: more exhausts memory), got "
                             f"{getattr(config, field)}.")


# The digit VAE of the recipe benchmark (benchmarks/bench_recipes.py, issue 16): the chapter's MLP
# with batches of 128 and a random shift of up to one pixel, sampled through an ex-post mixture of
# 20 Gaussians on the codes (fit_code_density's default). Both were chosen on the validation
# digits by benchmarks/tune_vae_digits.py, whose rules were fixed before its runs (seeds 0 and 1,
# 60 and 120 s): mean -ELBO summed over the two marks 228.0 (batch 32, shift 0), 227.1 (128, 0),
# 220.3 (128, 1) and 225.3 (128, 2); mean FD 7.40 with the prior, 6.00, 2.92, 1.97 and 1.80 with
# K = 1, 5, 10 and 20 Gaussians. The record is in that script's docstring.
DIGITS = VAEConfig(batch_size=128, shift=1)


def _mlp_encoder(c: VAEConfig) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, c.hidden), nn.ReLU(),
                         nn.Linear(c.hidden, 2 * c.latent_dim))  # mu and log_var, side by side


def _mlp_decoder(c: VAEConfig) -> nn.Module:
    return nn.Sequential(nn.Linear(c.latent_dim, c.hidden), nn.ReLU(), nn.Linear(c.hidden, 784),
                         nn.Unflatten(1, (1, 28, 28)))  # logits


def _conv_encoder(c: VAEConfig) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(),  # 28 -> 14
        nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),  # 14 -> 7
        nn.Flatten(), nn.Linear(64 * 7 * 7, 2 * c.latent_dim))


def _conv_decoder(c: VAEConfig) -> nn.Module:
    return nn.Sequential(
        nn.Linear(c.latent_dim, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),  # 7 -> 14
        nn.ConvTranspose2d(32, 1, 4, 2, 1))  # 14 -> 28, logits


class VAE(nn.Module):
    """Encoder q(z | x) = N(mu, diag sigma^2) and decoder p(x | z) with a N(0, I) prior.

    ``encode(x)`` returns ``(mu, log_var)``, each ``(B, d)``; ``decode(z)`` returns logits
    ``(B, 1, 28, 28)`` (the decoder mean is their sigmoid); ``forward(x)`` returns
    ``(x_logits, mu, log_var)`` for one reparameterised z per image.
    """

    def __init__(self, config: VAEConfig = VAEConfig()):
        super().__init__()
        self.config = config
        self.encoder = (_mlp_encoder if config.arch == "mlp" else _conv_encoder)(config)
        self.decoder = (_mlp_decoder if config.arch == "mlp" else _conv_decoder)(config)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_var = self.encoder(x).chunk(2, dim=1)
        # see LOG_VAR_MIN for why
        return mu, log_var.clamp(LOG_VAR_MIN, LOG_VAR_MAX)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(check_batch(z, "z", tail=(self.config.latent_dim,), dtype=model_dtype(self)))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        # the cheap check of every batch (type, shape; float64/float16 -> the model's dtype)
        x = check_batch(x, "x", tail=(1, 28, 28), dtype=model_dtype(self))
        mu, log_var = self.encode(x)
        z = reparameterize(mu, log_var, generator)
        return self.decode(z), mu, log_var


def build(config: VAEConfig = VAEConfig(), *, seed: int = 0, device=None) -> VAE:
    """A new :class:`VAE` for ``config`` on ``device`` (``None``: the best available).

    The weights come from ``seed`` alone, the same on every device (:func:`minigen.training.seeded`).
    """
    check_instance(config, VAEConfig, "config", "e.g. VAEConfig()")
    seed, device = check_seed(seed), get_device(device)
    return seeded(lambda: VAE(config), seed, device)


def make_optimizers(model: VAE) -> dict:
    """``{"vae": Adam}`` over the encoder and the decoder, with the model's learning rate."""
    check_instance(model, VAE, "model", "from minigen.vae.build")
    return {"vae": torch.optim.Adam(model.parameters(), lr=model.config.lr)}


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
def shift_images(x: torch.Tensor, max_shift: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate each image by its own random whole-pixel offset in [-max_shift, max_shift]^2.

    Data augmentation: with only 4,000 training digits a VAE starts to memorise them within a
    minute; a one-pixel jiggle shows it slightly new images every epoch. Pixels that move in
    at the border are 0 (background). ``x``: ``(B, 1, H, W)``; returns the same shape. The
    offsets are drawn on the generator's device (the CPU without one).
    """
    max_shift = check_count(max_shift, "max_shift", minimum=0)
    if max_shift == 0:
        return x
    x, generator = check_batch(x, "x", dim=4), check_generator(generator)
    b, _, h, w = x.shape
    if max_shift >= min(h, w):
        raise InputError(f"max_shift must be smaller than the images ({h}x{w}), got {max_shift}.")
    where = generator.device if generator is not None else torch.device("cpu")
    offsets = torch.randint(-max_shift, max_shift + 1, (2, b), generator=generator,
                            device=where).to(x.device)
    padded = F.pad(x, (max_shift,) * 4)
    rows = torch.arange(h, device=x.device) + max_shift - offsets[0][:, None]  # (B, H)
    cols = torch.arange(w, device=x.device) + max_shift - offsets[1][:, None]  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded[batch, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def train_step(
    model: VAE,
    x: torch.Tensor,
    optimizers: dict,
    *,
    generator: torch.Generator | None = None,
    elbo_fn=None,
    _checked: bool = False,
) -> dict:
    """One gradient step on the loss :func:`vae_loss` (minus the
    beta-weighted ELBO) of a batch.

    Args:
        model: the :class:`VAE`; ``optimizers``: ``{"vae": ...}``
            (:func:`make_optimizers`).
        x: images ``(B, 1, 28, 28)`` in [0, 1].
        generator: draws eps of the reparameterised z = mu + sigma * eps.
        elbo_fn: ``elbo_fn(x, x_logits, mu, log_var) -> ELBO``; by default
            :func:`elbo` with the model's likelihood. A reader's own ELBO
            plugs in here.
    Returns:
        0-d tensors (no device sync): ``loss`` (what was minimised),
        ``elbo``, ``reconstruction`` and ``kl`` of the batch, in nats per
        image.
    The batch's values (finite, in [0, 1]) and the weights are checked;
    :func:`train`, which checked its data once, skips that (``_checked``).
    """
    x = _check_step(model, x, optimizers, generator, elbo_fn, _checked)
    c = model.config
    if elbo_fn is None:
        def elbo_fn(x, x_logits, mu, log_var):
            return elbo(
                x,
                x_logits,
                mu,
                log_var,
                likelihood=c.likelihood,
                sigma_x=c.sigma_x,
            )
    # encode, z = mu + sigma * eps, decode
    x_logits, mu, log_var = model(x, generator)
    parts = elbo_fn(x, x_logits, mu, log_var)
    loss = vae_loss(parts, c.beta)  # beta = 1: minus the ELBO
    optimizers["vae"].zero_grad()
    loss.backward()
    optimizers["vae"].step()
    return {
        "loss": loss.detach(),
        **{k: v.detach() for k, v in parts._asdict().items()},
    }


def _check_step(model, x, optimizers, generator, elbo_fn, checked):
    """The arguments of :func:`train_step`; returns ``x`` (float64/float16 converted)."""
    check_instance(model, VAE, "model", "from minigen.vae.build")
    if not isinstance(optimizers, dict) or "vae" not in optimizers:
        raise InputTypeError("optimizers must be the dict {'vae': ...} of "
                             "minigen.vae.make_optimizers(model).")
    check_generator(generator)
    if elbo_fn is not None and not callable(elbo_fn):
        raise InputTypeError(f"elbo_fn must be a function elbo_fn(x, x_logits, mu, log_var) -> ELBO "
                             f"or None for minigen.vae.elbo, got {type(elbo_fn).__name__}.")
    if checked:
        return x
    x = check_batch(x, "x", tail=(1, 28, 28), dtype=model_dtype(model))
    _check_batch_values(x)
    check_weights(model, "vae")
    return x


def _check_batch_values(x: torch.Tensor, name: str = "x") -> None:
    """Finite values in [0, 1]: one reduction (``aminmax``) and one sync; only when that fails is
    the batch checked in full, for the message of :func:`train`."""
    lo, hi = torch.aminmax(x.detach())
    if not (lo.item() >= -1e-6 and hi.item() <= 1 + 1e-6):
        check_images(x, name)


def train(model: VAE, x_train: torch.Tensor, *, steps: int | None = None,
          max_seconds: float | None = None, seed: int = 0, device=None, checkpoint=None,
          checkpoint_every: int = 500, resume=None, progress: bool | None = None,
          elbo_fn=None) -> dict:
    """Train ``model`` on images ``x_train`` ``(N, 1, 28, 28)`` in [0, 1]; return the history.

    Settings come from ``model.config`` (batch size, learning rate, beta, shift augmentation).
    The keyword arguments are those of every family (see :mod:`minigen.training` and
    :func:`minigen.gan.train`): ``steps``/``max_seconds`` (default ``config.steps`` steps),
    ``seed`` (batch order, eps, shifts), ``device`` (``None``: the best available; the model is
    moved there), ``checkpoint``/``checkpoint_every`` (0: only at the end), ``resume``
    (continue a saved run exactly), ``progress``; ``elbo_fn`` goes to :func:`train_step`.

    Returns ``{"step", "time", "loss", "elbo", "reconstruction", "kl"}``: one plain number per
    step, the batch's values per image (``loss`` is what was minimised,
    ``-(reconstruction - beta kl)``): nats on binary images (:func:`minigen.data.binarize`), a
    BCE score on grey levels under the Bernoulli decoder. The model is left in eval mode.

    ``x_train`` is checked once, before any work (at least one image; NaN is reported as NaN in
    the data, not as a divergence); a NumPy array or float64/float16 is converted to the model's
    dtype (float32).
    """
    check_instance(model, VAE, "model", "from minigen.vae.build")
    c = model.config
    x_train = check_images(x_train, "x_train", dtype=model_dtype(model))
    _check_step(model, x_train, {"vae": None}, None, elbo_fn, True)
    check_weights(model, "vae")
    place(model, device)
    optimizers = make_optimizers(model)
    run = Run("vae", model, optimizers, steps=steps, max_seconds=max_seconds,
              default_steps=c.steps, seed=seed, checkpoint=checkpoint,
              checkpoint_every=checkpoint_every, progress=progress)
    x_train = x_train.to(run.device)
    batches = run.track("batches", Batches(len(x_train), c.batch_size, run.generator))
    run.resume(resume)
    with _losses_unchecked(), flush_denormals():
        _train_loop(model, run, x_train, batches, optimizers, elbo_fn)
    return run.finish()


def _train_loop(model, run, x_train, batches, optimizers, elbo_fn):
    c = model.config
    while run.going():
        x = shift_images(x_train[batches.next()], c.shift, run.generator)
        run.record(**train_step(model, x, optimizers, generator=run.generator, elbo_fn=elbo_fn,
                                _checked=True))


# --------------------------------------------------------------------------------------------
# Using a trained model: likelihood bounds, reconstructions, samples, interpolations
# --------------------------------------------------------------------------------------------
def _check_k(k) -> int:
    k = check_count(k, "k")
    if k > MAX_K:
        raise InputError(f"k must be <= {MAX_K:,} importance samples per image (more exhausts "
                         f"memory and barely tightens the bound), got {k:,}.")
    return k


@torch.no_grad()
def log_weights(model: VAE, x: torch.Tensor, k: int,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Importance log-weights of k samples z_i ~ q(z | x) per image, for :func:`iwae_bound`.

    Returns ``(log_w, log_px_z)``, each ``(k, B)``: ``log_w = log p(x | z_i) + log p(z_i) -
    log q(z_i | x)`` and its first term alone (log-probabilities for binary x; for grey levels
    under the Bernoulli decoder the first term is minus a BCE, see :func:`evaluate`). ``x``:
    images ``(B, 1, 28, 28)`` in [0, 1], moved to the model's device and dtype; ``k`` >= 1.
    """
    x = _images_for(model, x, "x")
    k, generator = _check_k(k), check_generator(generator)
    mu, log_var = model.encode(x)
    z = reparameterize(mu.expand(k, *mu.shape), log_var.expand(k, *log_var.shape), generator)
    z = z.flatten(0, 1)  # (k * B, d), sample-major: row i * B + b belongs to image b
    x_rep = x.expand(k, *x.shape).flatten(0, 1)
    c = model.config
    log_px_z = decoder_log_likelihood(x_rep, model.decode(z), likelihood=c.likelihood, sigma_x=c.sigma_x)
    log_pz = gaussian_log_likelihood(z, 0.0, 0.0)
    log_qz = gaussian_log_likelihood(z, mu.repeat(k, 1), log_var.repeat(k, 1))
    return (log_px_z + log_pz - log_qz).view(k, -1), log_px_z.view(k, -1)


@torch.no_grad()
def evaluate(model: VAE, x: torch.Tensor, *, k: int = 100, batch_size: int = 100,
             generator: torch.Generator | None = None) -> dict:
    """Held-out likelihood bounds of images ``x``, per image (lower is better).

    Returns ``{"neg_elbo", "neg_iwae", "reconstruction", "kl", "k", "units"}``: the negative
    ELBO (its reconstruction term averaged over the same k samples, the KL in closed form), the
    negative k-sample IWAE bound (an upper bound on -log p(x), tighter than -ELBO), the negative
    reconstruction term -E_q[log p(x | z)] and the KL, each averaged over the images, and what
    the first three are: ``"units": "nats"`` when every pixel of ``x`` is 0 or 1 (binarised
    digits, :func:`minigen.data.binarize`) or the decoder is Gaussian, so that they bound
    -log p(x) in nats; ``"bce"`` when a Bernoulli decoder scores grey levels, where they are
    binary cross-entropy scores and bound no likelihood (the KL is in nats either way).
    ``k`` and ``batch_size`` are whole numbers >= 1, ``k`` at most :data:`MAX_K` (when
    ``k * batch_size`` exceeds a million, fewer images are taken at a time); ``x`` is checked
    as in :func:`train`; a model whose weights hold NaN/inf is refused.
    """
    x = _images_for(model, x, "x")
    k, batch_size = _check_k(k), check_count(batch_size, "batch_size")
    batch_size = min(batch_size, max(1, _MAX_K_BATCH // k))
    generator = check_generator(generator)
    check_weights(model, "vae")
    was_training = model.training
    model.eval()
    totals = {"neg_elbo": 0.0, "neg_iwae": 0.0, "reconstruction": 0.0, "kl": 0.0}
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        log_w, log_px_z = log_weights(model, xb, k, generator)
        rec, kl = log_px_z.mean(0), gaussian_kl(*model.encode(xb))
        totals["neg_elbo"] -= (rec - kl).sum().item()
        totals["neg_iwae"] -= iwae_bound(log_w).item() * len(xb)
        totals["reconstruction"] -= rec.sum().item()
        totals["kl"] += kl.sum().item()
    model.train(was_training)
    binary = bool(((x == 0) | (x == 1)).all())
    units = "nats" if binary or model.config.likelihood == "gaussian" else "bce"
    return {**{key: v / len(x) for key, v in totals.items()}, "k": k, "units": units}


@torch.no_grad()
def kl_per_dimension(model: VAE, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Average KL(q(z_j | x) || N(0, 1)) of each latent dimension j over images ``x``: ``(d,)``, nats.

    A dimension whose KL is about 0 carries no information about x: its posterior equals the
    prior for every image ("posterior collapse" of that unit). ``batch_size`` >= 1.
    """
    x = _images_for(model, x, "x")
    batch_size = check_count(batch_size, "batch_size")
    total = 0.0
    for i in range(0, len(x), batch_size):
        mu, log_var = model.encode(x[i:i + batch_size])
        total = total + kl_terms(mu, log_var).sum(0)
    return total.cpu() / len(x)


@torch.no_grad()
def reconstruct(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """Decoder mean at the posterior mean, ``sigmoid(decode(mu(x)))``: ``(B, 1, 28, 28)`` in [0, 1]."""
    x = _images_for(model, x, "x")
    return torch.sigmoid(model.decode(model.encode(x)[0]))


class CodeDensity:
    """A mixture of K Gaussians with full covariances on R^d: an ex-post density for a VAE's codes.

    ``weights`` ``(K,)`` (positive, summing to 1), ``means`` ``(K, d)`` and ``scale_tril``
    ``(K, d, d)`` (lower-triangular Cholesky factors L_k of the covariances L_k L_k^T), all
    float64 on the CPU. Made by :func:`fit_code_density`; :func:`sample` draws codes from it
    instead of the prior. ``log_prob(z)`` is the normalised log-density, ``(B,)`` in nats;
    ``sample(n, generator)`` draws ``(n, d)`` codes, float64, from ``generator`` alone.
    """

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, scale_tril: torch.Tensor):
        if not all(isinstance(t, torch.Tensor) for t in (weights, means, scale_tril)):
            raise InputTypeError("CodeDensity takes three tensors: weights (K,), means (K, d) and "
                                 "scale_tril (K, d, d); fit_code_density makes them.")
        weights, means, scale_tril = (t.detach().to("cpu", torch.float64) for t in (weights, means, scale_tril))
        if weights.dim() != 1 or means.dim() != 2 or len(means) != len(weights) or \
                scale_tril.shape != (len(weights), means.shape[1], means.shape[1]):
            raise InputError(f"CodeDensity needs weights (K,), means (K, d) and scale_tril (K, d, d) "
                             f"of one K and d, got shapes {tuple(weights.shape)}, {tuple(means.shape)} "
                             f"and {tuple(scale_tril.shape)}.")
        diag = scale_tril.diagonal(dim1=-2, dim2=-1)
        if not (bool((weights > 0).all()) and abs(weights.sum().item() - 1) < 1e-6
                and bool(torch.isfinite(means).all()) and bool(torch.isfinite(scale_tril).all())
                and bool((diag > 0).all()) and bool((scale_tril.triu(1) == 0).all())):
            raise InputError("CodeDensity needs positive weights summing to 1, finite means, and "
                             "lower-triangular scale_tril with a positive diagonal (Cholesky "
                             "factors of the covariances).")
        self.weights, self.means, self.scale_tril = weights, means, scale_tril

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def __repr__(self) -> str:
        return f"CodeDensity({len(self.weights)} Gaussians on R^{self.dim})"

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        z = check_batch(z, "z", tail=(self.dim,), dtype=torch.float64).cpu()
        return torch.logsumexp(self.weights.log() + _component_log_probs(z, self.means, self.scale_tril), 1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        n, generator = check_count(n, "n"), check_generator(generator)
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, 1, generator=generator, dtype=torch.float64)
        return self.means[k] + (self.scale_tril[k] @ eps).squeeze(-1)


def _component_log_probs(z, means, scale_tril):
    """log N(z_b; m_k, L_k L_k^T) for every code b and component k: ``(B, K)``."""
    diff = z.T[None] - means[:, :, None]  # (K, d, B)
    white = torch.linalg.solve_triangular(scale_tril, diff, upper=False)  # L_k^{-1} (z_b - m_k)
    log_det = scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (K,): half the log-determinant
    return (-0.5 * white.pow(2).sum(1) - log_det[:, None]).T - 0.5 * means.shape[1] * LOG_2PI


@torch.no_grad()
def fit_code_density(model: VAE, x: torch.Tensor, *, components: int = 20, iters: int = 100,
                     generator: torch.Generator | None = None, batch_size: int = 500) -> CodeDensity:
    """Fit a mixture of ``components`` full-covariance Gaussians to the codes of images ``x``.

    The codes are one draw z ~ q(z | x) per image: a sample of the aggregate posterior
    q(z) = (1/N) sum_n q(z | x_n), the density of the codes the decoder was trained on. Drawing
    codes from the fitted density instead of the prior N(0, I) puts less of them where the prior
    has mass and the codes do not (the "prior hole"); this is the ex-post density estimation of
    Ghosh et al. (2020), here on posterior draws instead of the codes of a deterministic encoder.
    Expectation-maximisation runs ``iters`` rounds from K codes chosen at random (``generator``
    draws them and the codes), with ``1e-6`` times the codes' mean variance added to every
    covariance so that none collapses.
    ``components=1`` is one Gaussian: the codes' mean and (unbiased) covariance, with no EM.

    ``x``: images as in :func:`train`, at least ``components`` of them; ``components``, ``iters``
    and ``batch_size`` are whole numbers >= 1 (``components`` at most :data:`MAX_COMPONENTS`).
    Returns a :class:`CodeDensity` for ``sample(model, n, prior=density)``. The default of 20
    components was chosen on the validation digits (``benchmarks/tune_vae_digits.py``).
    """
    x = _images_for(model, x, "x")
    components = check_count(components, "components", maximum=MAX_COMPONENTS)
    iters, batch_size = check_count(iters, "iters"), check_count(batch_size, "batch_size")
    generator = check_generator(generator)
    if components > len(x):
        raise InputError(f"fit_code_density needs at least as many images as components: got "
                         f"{len(x)} images for {components} components; pass more images or fewer "
                         f"components.")
    check_weights(model, "vae")
    was_training = model.training
    model.eval()
    codes = []
    for i in range(0, len(x), batch_size):
        mu, log_var = (t.double().cpu() for t in model.encode(x[i:i + batch_size]))
        codes.append(reparameterize(mu, log_var, generator))
    model.train(was_training)
    return _em(torch.cat(codes), components, iters, generator)


# the per-code outer products z z^T that EM's M step weights, computed once when they take at
# most this many numbers (32 MiB), else again in slices of that size at every step
_OUTER_NUMBERS = 2 ** 22


def _em(z, K, iters, generator, outer_numbers=_OUTER_NUMBERS):
    """Expectation-maximisation for a K-component full-covariance Gaussian mixture on codes z (N, d).

    Each step computes what a step by hand does (``tests/test_code_density.py``): the E step's
    Mahalanobis distances as ``|L_k^{-1} z - L_k^{-1} m_k|^2`` (one batched matrix product), and
    the M step's covariances as ``sum_n r_nk z_n z_n^T / N_k - m_k m_k^T`` (one matrix product
    with the codes' outer products). That is the same quantity, in less time than forming every
    ``z_n - m_k``: 0.3 to 0.6 of it for 10 to 40 components (``benchmarks/bench_em.py``). The
    codes are centred first, so the subtraction loses only about ``|m_k|^2 / sigma_k^2`` times
    the rounding error, for a component's offset ``m_k`` from the codes' mean and its variance
    ``sigma_k^2``: negligible in float64 for a VAE's codes.
    """
    n, d = z.shape
    centre = z.mean(0)
    z = z - centre
    jitter = 1e-6 * z.var(0).mean() * torch.eye(d, dtype=z.dtype)
    means = z[torch.randperm(n, generator=generator)[:K]] if K > 1 else z.mean(0, keepdim=True)
    cov = (torch.cov(z.T).reshape(d, d) + jitter).expand(K, d, d)
    weights = torch.full((K,), 1.0 / K, dtype=z.dtype)
    zt, eye = z.T.contiguous(), torch.eye(d, dtype=z.dtype)
    rows = max(1, outer_numbers // (d * d))  # codes per slice of outer products
    outer = _outer(z) if n <= rows else None
    for _ in range(iters if K > 1 else 0):
        scale_tril = torch.linalg.cholesky(cov)  # E step: log r_nk = log w_k + log N(z_n; m_k, C_k) + c
        inv = torch.linalg.solve_triangular(scale_tril, eye.expand(K, d, d), upper=False)
        white = torch.baddbmm(-(inv @ means[:, :, None]), inv, zt.expand(K, d, n))  # (K, d, N)
        log_det = scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # half the log-determinant
        log_r = weights.log() + (-0.5 * white.square().sum(1) - log_det[:, None]).T
        r = (log_r - torch.logsumexp(log_r, 1, keepdim=True)).exp()  # (N, K) responsibilities
        nk = r.sum(0).clamp_min(1e-12)  # M step
        weights, means = nk / n, (r.T @ z) / nk[:, None]
        if outer is not None:
            second = r.T @ outer
        else:
            second = sum(r[i:i + rows].T @ _outer(z[i:i + rows]) for i in range(0, n, rows))
        cov = (second.view(K, d, d) / nk[:, None, None]
               - means[:, :, None] * means[:, None, :] + jitter)
    return CodeDensity(weights, means + centre, torch.linalg.cholesky(cov))


def _outer(z):
    """``z_n z_n^T`` for each row of ``z`` (N, d), flattened: ``(N, d * d)``."""
    return (z[:, :, None] * z[:, None, :]).flatten(1)


@torch.no_grad()
def sample(model: VAE, n: int, *, generator: torch.Generator | None = None,
           prior: CodeDensity | None = None) -> torch.Tensor:
    """Draw codes z and return the decoder means ``sigmoid(decode(z))``, ``(n, 1, 28, 28)``.

    The codes come from the model's prior N(0, I), or from ``prior``, a :class:`CodeDensity` of
    the model's latent dimension (:func:`fit_code_density`). The images are the mean images of
    p(x | z), as is usual when showing VAE samples; drawing pixels from the Bernoulli p(x | z)
    itself would add salt-and-pepper noise. z is drawn on the CPU from ``generator``, so the
    same seed gives the same samples on every device; they are returned on the model's device.
    ``n`` >= 1.
    """
    check_instance(model, VAE, "model", "from minigen.vae.build or load")
    n, generator = check_count(n, "n"), check_generator(generator)
    if n > MAX_SAMPLES:
        raise InputError(f"n must be <= {MAX_SAMPLES:,} samples per call (more would exhaust "
                         f"memory), got {n:,}; draw them in several calls.")
    if prior is not None:
        check_instance(prior, CodeDensity, "prior", "from minigen.vae.fit_code_density, or None")
        if prior.dim != model.config.latent_dim:
            raise InputError(f"prior is a density on R^{prior.dim} but the model's codes have "
                             f"latent_dim = {model.config.latent_dim}; fit it to this model's "
                             f"codes with fit_code_density(model, x).")
    check_weights(model, "vae")
    device = next(model.parameters()).device
    if prior is None:
        z = torch.randn(n, model.config.latent_dim, generator=generator)
    else:
        z = prior.sample(n, generator)
    return torch.sigmoid(model.decode(z.to(device, model_dtype(model))))


@torch.no_grad()
def interpolate(model: VAE, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 8) -> torch.Tensor:
    """Decode the straight line between the posterior means of ``x_a`` and ``x_b``.

    ``x_a``, ``x_b``: ``(B, 1, 28, 28)``. Returns ``(B, steps, 1, 28, 28)``: row b goes from
    the reconstruction of ``x_a[b]`` to that of ``x_b[b]``; ``steps`` >= 2 (both ends).
    """
    x_a, x_b = _images_for(model, x_a, "x_a"), _images_for(model, x_b, "x_b")
    if len(x_a) != len(x_b):
        raise InputError(f"x_a and x_b must hold the same number of images (one pair per row), "
                         f"got {len(x_a)} and {len(x_b)}.")
    steps = check_count(steps, "steps", minimum=2)
    if steps > MAX_STEPS:
        raise InputError(f"steps must be <= {MAX_STEPS} images per row, got {steps:,}.")
    mu_a, mu_b = model.encode(x_a)[0], model.encode(x_b)[0]
    t = torch.linspace(0, 1, steps, device=mu_a.device)[None, :, None]  # (1, steps, 1)
    z = mu_a[:, None] + t * (mu_b - mu_a)[:, None]  # (B, steps, d)
    return torch.sigmoid(model.decode(z.flatten(0, 1))).view(len(mu_a), steps, 1, 28, 28)


def _images_for(model: VAE, x, name: str) -> torch.Tensor:
    """``x`` checked (:func:`minigen.checks.check_images`) and moved to the model's device and dtype."""
    if not isinstance(model, VAE):
        raise InputTypeError(f"model must be a VAE (from minigen.vae.build or load), got "
                             f"{type(model).__name__}.")
    x = check_images(x, name, dtype=model_dtype(model))
    return x.to(next(model.parameters()).device)


def load(checkpoint, *, device=None) -> VAE:
    """Rebuild the :class:`VAE` saved in ``checkpoint`` (a path or a loaded dict), in eval mode."""
    return _checkpoint.load(checkpoint, family="vae", config_class=VAEConfig, model_class=VAE,
                            build=build, device=device)
