"""minigen's VAE and GAN against the pytorch/examples recipes, for the same CPU seconds (issue 16).

    python benchmarks/bench_recipes.py [--marks 60 120] [--seeds 0 1] [--device cpu]
                                       [--systems recipe-vae minigen-vae recipe-gan minigen-gan]
                                       [--threads N] [--k 100]

Four systems train, one after the other in this one process (so with the same torch threads),
on the 4,000 training digits of ``minigen.data.digits("train")`` (grey levels in [0, 1]):

* ``recipe-vae``: a re-implementation of pytorch/examples ``vae/main.py``: encoder fc1 784-400
  ReLU, fc21 and fc22 400-20 (mu, log sigma^2); decoder fc3 20-400 ReLU, fc4 400-784, sigmoid;
  loss the binary cross-entropy summed over the 784 pixels plus the Gaussian KL, summed over the
  batch; Adam, lr 1e-3; batch 128, shuffled each epoch, the last incomplete batch kept (as the
  recipe's DataLoader does); PyTorch's default initialisation. Unchanged from the recipe
  (for both recipes the batches are indexed from one tensor already in memory instead of a
  DataLoader that converts each image, which can only speed the recipes up).
* ``recipe-gan``: a re-implementation of pytorch/examples ``dcgan/main.py`` (nz = 100,
  ngf = ndf = 64, BCE loss, the generator trained to maximise log D(G(z)), Adam lr 2e-4, betas
  (0.5, 0.999), batch 64 with the last incomplete batch kept, bias-free convolutions, the
  recipe's ``weights_init``: conv weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02), shifts 0)
  with these changes, and no others:
  (1) nc = 1 (grey digits) instead of 3;
  (2) 32x32 images instead of 64x64: the digits are zero-padded by 2 pixels on each side
      (28 -> 32; no resizing, so no interpolation), then mapped to [-1, 1] by 2x - 1 (the
      recipe's Normalize((0.5,), (0.5,))). One layer is dropped from each network, the widest:
      the 64x64 generator nz -> 8ngf (4x4) -> 4ngf (8x8) -> 2ngf (16x16) -> ngf (32x32) -> nc
      (64x64) becomes nz -> 4ngf (4x4) -> 2ngf (8x8) -> ngf (16x16) -> nc (32x32): its first
      transposed convolution (4x4, stride 1) maps nz to 4ngf channels, and the 8ngf -> 4ngf layer
      is gone. The 64x64 discriminator nc -> ndf (32) -> 2ndf (16) -> 4ndf (8) -> 8ndf (4) -> 1
      becomes nc -> ndf (16) -> 2ndf (8) -> 4ndf (4) -> 1: the 4ndf -> 8ndf layer (with its batch
      norm) is gone and the last 4x4 convolution reads 4ndf channels. Every kept layer has the
      recipe's kernel 4, stride, padding, batch norm and activation.
  (3) For scoring, the samples (tanh outputs) are mapped back by (y + 1) / 2 and the central
      28x28 is cropped (the inverse of the padding). They are drawn as the recipe draws its own
      (``netG(fixed_noise)`` with the generator in training mode: batch-norm statistics of each
      batch of 64, not the running averages).
* ``minigen-vae``: ``minigen.vae.build(vae.DIGITS)`` trained by ``minigen.vae.train``, and
  sampled through its ex-post density: at each mark ``vae.fit_code_density`` (its default of 20
  Gaussians, on one posterior draw per training digit) is fitted afresh and the codes are drawn
  from it. The fit takes about 2 s; it is outside the training clock and printed beside each
  mark.
* ``minigen-gan``: ``minigen.gan.build(gan.DIGITS)`` trained by ``minigen.gan.train``.

Every run is seeded (weights from the seed inside ``torch.random.fork_rng``, batches and noise
from a ``torch.Generator`` of the seed) and continued across the marks: the recipes keep their
objects, minigen's runs are saved at each mark (``checkpoint=``) and continued (``resume=``), as in
``benchmarks/bench_gan.py``. The clock counts training only; it is paused for scoring. At each
mark (seconds of training) every run draws 1,000 samples, scored with
``minigen.metrics.evaluate_images(samples, "validation")``: the Frechet distance (FD) on the
digit classifier's features, the classes covered at >= 5 % and the smallest class share. The
VAEs also get the held-out -ELBO on the 500 validation digits in the recipe's convention: per
image, the binary cross-entropy of the decoder's probabilities on the grey pixels summed over the
784 pixels plus the KL in closed form, averaged over images, here with the reconstruction term
averaged over ``--k`` samples of z (the recipe's test loss uses one; the expectation is the
same). For minigen's VAE it is ``minigen.vae.evaluate(...)["neg_elbo"]``: its Bernoulli
log-likelihood is minus that summed BCE (``tests/test_bench_recipes.py`` checks that the two
agree on one model). A BCE score on grey levels, not a log-likelihood in nats.

The floor is the FD of 1,000 training digits (100 per class) against the validation digits.
It is 0.20 on minigen's classifier, while the issue's figures came from another classifier on
which real digits score about 10; the 5x-floor target below is judged as the issue states it,
so on this metric it asks for an FD of about 1.0 at 120 s.
Targets (issue 16), each judged on the worst seed at each mark: VAE: recipe FD / minigen FD >= 2,
all 10 classes at >= 5 %, -ELBO no worse than the recipe's (seed by seed); GAN: the ratio >= 6,
all 10 classes, and at 120 s (the last mark when 120 is not among ``--marks``) minigen's FD
within 5 times the floor. The defaults take 16 minutes of training (2 seeds x 4 systems x
120 s) plus a few minutes of scoring. ``--marks 1 2 --seeds 0`` checks that the script runs (``--samples 100 --k 5``
make its scoring quicker; FD depends on the number of samples, so the targets need 1,000).

**Record** (2026-11-29, one thread on a 2-core machine; FD on the validation digits, seeds 0 / 1):

* ``--systems recipe-vae minigen-vae`` (load 0.6 to 2): recipe FD 7.29 / 7.49 at 60 s and
  6.44 / 6.76 at 120 s; minigen 1.87 / 1.87 and 1.64 / 1.52; ratios 3.89 / 4.00 and 3.93 / 4.45;
  10 classes on every run; val -ELBO minigen - recipe -2.63 / -1.98 and -4.67 / -4.53. Every VAE
  target met.
* ``--systems recipe-gan minigen-gan`` (load 0.6 to 2): recipe FD 45.74 / 55.03 and 32.66 /
  30.62; minigen 5.90 / 8.78 and 3.22 / 3.45; ratios 7.75 / 6.27 and 10.13 / 8.86 (met);
  classes 6 / 7 and 9 / 9 (not met); 3.45 is 17 times the floor (not met).
* All four systems in one run (load 2.3 at the start): the VAE targets met again (ratios 4.08 to
  4.39); the GAN ratio 5.80 on seed 0 at 120 s, where minigen's GAN made 1,118 steps instead of
  about 1,950: under load its steps slow down more than the recipe's.
* ``--systems recipe-gan minigen-gan --gan-set betas=0,0.99`` (2026-11-30, a candidate from
  benchmarks/tune_gan_budget.py, not ``gan.DIGITS``; load 0.4 at the start, 1.0 at the end,
  nothing else running): recipe FD 52.48 / 55.03 and 35.15 / 32.27; minigen 3.28 / 3.12 and
  1.82 / 2.04; ratios 15.99 / 17.62 and 19.27 / 15.79 (met); classes 10 / 10 at both marks,
  smallest class 6.0 to 7.1 % (met); 2.04 is 10 times the floor (not met). These settings are
  ``gan.DIGITS`` since 2026-11-30, so plain ``--systems recipe-gan minigen-gan`` now runs them.
  The earlier ``minigen-gan`` records above are of ``gan.DIGITS`` with betas (0.5, 0.999).
* ``--systems recipe-gan minigen-gan`` (2026-11-30, ``gan.DIGITS`` with betas (0, 0.99); load 0.2
  at the start, 1.0 at the end, nothing else running): recipe FD 52.48 / 47.51 and 34.38 / 27.23;
  minigen 2.76 / 3.23 and 1.80 / 1.93; ratios 19.03 / 14.72 and 19.07 / 14.11 (met); classes
  10 / 9 at 60 s (seed 1's smallest class 3.9 %: not met) and 10 / 10 at 120 s (met); 1.93 is
  9.5 times the floor (not met). Against the run above with the same settings, seed 1 made 899
  steps by 60 s there: a wall-clock budget gives a different step count in each run, and the
  smallest class at 60 s sits near the 5 % line (3.9 % to 6.4 % over the two runs' seeds).
* ``--systems recipe-gan minigen-gan`` (2026-11-30, after ``gan.train_step`` stopped computing
  gradients nobody reads, about 10 % cheaper per step, benchmarks/bench_frozen.py; load 1.1 at the
  start, 1.0 at the end, nothing else running): recipe FD 52.95 / 54.42 and 34.38 / 36.22;
  minigen 2.83 / 2.60 and 1.61 / 1.59 after 1,003 / 1,217 and 2,086 / 2,371 steps; ratios
  18.73 / 20.97 and 21.38 / 22.80 (met); classes 10 / 10 at both marks, smallest class 5.7 % to
  7.9 % (met); 1.61 is 7.9 times the floor (not met). Over the eight recorded runs of
  ``gan.DIGITS``'s settings (two seeds in each of this script's last three records and in
  benchmarks/tune_gan_budget.py's), every class reached 5 % in 6 at 60 s and in all 8 at 120 s.
* The default run, ``--threads 1`` (2026-11-30, session 10, on a faster machine, an AMD
  EPYC with AVX-512, oneDNN not capped: minigen's GAN made 31.5 to 32.4 steps/s, against
  15 to 20 in the quiet records above; the recipe's 3.2 to 3.3; load 0.95 at the start,
  1.00 at the end; nothing else running but, in its first four minutes, a 4-s test run and
  one FD on the other core): VAE recipe FD 6.70 / 7.00 and 6.16 / 6.32, minigen 1.66 / 1.53 and
  1.39 / 1.46, ratios 4.03 / 4.58 and 4.43 / 4.34, 10 classes on every minigen run, val -ELBO
  minigen - recipe -3.34 / -3.41 and -6.11 / -6.51: every VAE target met. GAN recipe FD
  35.03 / 26.92 and 20.27 / 19.17; minigen 1.77 / 1.84 and 1.23 / 1.15 after 1,902 / 1,904 and
  3,779 / 3,885 steps; ratios 19.75 / 14.65 and 16.49 / 16.62 (met); 10 classes on both seeds at
  both marks, smallest class 6.6 % to 8.0 % (met); 1.23 is 6.0 times the floor (not met).
  So with 1.6 to 1.8 times the last record's steps the floor target is still missed;
  benchmarks/tune_gan_floor.py measures the FD at fixed step counts up to 12,000 (4.3 and
  4.5 times the floor at 12,000) and an average of the generator's weights (a small gain,
  not enough).
* ``--device cuda --marks 5 10`` (2026-11-30, session 11, one NVIDIA H200 through the device
  tool, torch 2.11.0+cu130; step 3 of ``benchmarks/run_on_gpu.sh`` as of commit 85ca36e; 86 s of
  training and scoring; the 60/120-s marks would need 16 minutes of a 15-minute lease; scored
  before the classifier ran in full float32, so with TF32 features (each feature off by up to 3.2e-4); not
  re-scored). Steps/s on the GPU: recipe VAE 348 to 436, minigen's VAE 285 to 344, recipe GAN
  134 to 142, minigen's GAN 124 to 135 (``benchmarks/bench_steps.py``: 2.9 to 4.5 times this CPU's
  one thread for the VAEs and minigen's GAN, about 40 times for the recipe's GAN). VAE recipe FD
  9.23 / 8.37 at 5 s and 7.54 / 7.11 at 10 s, minigen 2.82 / 2.33 and 2.03 / 2.01: ratios 3.27 /
  3.59 and 3.71 / 3.53; minigen's VAE covered all 10 classes on every run (the recipe's 8 or 9);
  val -ELBO minigen - recipe +1.59 / +0.54 at 5 s (after 1,427 / 1,722 steps: not met) and
  -1.04 / -1.14 at 10 s. GAN recipe FD 9.03 / 9.27 and 2.42 / 2.51, minigen 4.55 / 4.87 and
  1.98 / 2.40 after 675 / 633 and 1,341 / 1,239 steps; ratios 1.99 / 1.90 and 1.22 / 1.04, far
  below 6; minigen's classes 10 / 9 at both marks. So the GAN ratio of 6 is a claim about CPU
  budgets, where the recipe's wider networks make a tenth of minigen's steps. On this GPU a step
  of either costs about the same host-side overhead, the recipe makes as many steps as minigen,
  and minigen's lead shrinks to 1.2 and 1.04 times at 10 s; at about equal steps (5 s, 633 to
  708 each) minigen's FD was still half the recipe's, so the step rate explains only part of the
  CPU ratio. The VAE's lead on FD holds on the GPU too.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from minigen import gan, metrics, vae
from minigen.data import digits
from minigen.training import seeded
from minigen.utils import get_device

SYSTEMS = ("recipe-vae", "minigen-vae", "recipe-gan", "minigen-gan")
N_SAMPLES = 1000  # --samples
VAE_FD_RATIO, GAN_FD_RATIO, FLOOR_FACTOR, FLOOR_MARK = 2.0, 6.0, 5.0, 120


# --------------------------------------------------------------------------------------------
# The pytorch/examples VAE: networks, loss, the held-out -ELBO
# --------------------------------------------------------------------------------------------
class RecipeVAE(nn.Module):
    """``x (B, 784) -> (probabilities (B, 784), mu (B, 20), log_var (B, 20))``, as vae/main.py."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x.reshape(-1, 784)))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x, generator=None):
        mu, log_var = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        return self.decode(mu + eps * torch.exp(0.5 * log_var)), mu, log_var


def recipe_vae_loss(x_hat, x, mu, log_var):
    """BCE(x_hat, x) summed over pixels and batch + KL(N(mu, sigma^2) || N(0, I)) summed likewise.

    ``x_hat``: probabilities ``(B, 784)``; ``x``: images ``(B, 784)`` or ``(B, 1, 28, 28)``;
    ``mu``, ``log_var``: ``(B, 20)``. KL = -1/2 sum(1 + log sigma^2 - mu^2 - sigma^2).
    """
    bce = F.binary_cross_entropy(x_hat, x.reshape(-1, 784), reduction="sum")
    kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())
    return bce + kl


@torch.no_grad()
def neg_elbo(encode, decode, x, *, k=100, generator=None, batch_size=100):
    """-ELBO per image in the recipe's convention: E_q[BCE summed over 784 pixels] + KL, mean over images.

    ``encode(x (B, 784)) -> (mu, log_var)``; ``decode(z) -> probabilities (B, 784)``; the
    expectation is a mean over ``k`` draws of z (drawn on the CPU from ``generator``).
    """
    total = 0.0
    for xb in x.reshape(len(x), 784).split(batch_size):
        mu, log_var = encode(xb)
        kl = -0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum(1)
        bce = torch.zeros(len(xb), device=xb.device)
        for _ in range(k):
            eps = torch.randn(mu.shape, generator=generator).to(mu.device)
            bce += F.binary_cross_entropy(decode(mu + eps * torch.exp(0.5 * log_var)), xb,
                                          reduction="none").sum(1)
        total += (bce / k + kl).sum().item()
    return total / len(x)


# --------------------------------------------------------------------------------------------
# The pytorch/examples DCGAN, cut to 32x32 (see the module docstring for every change)
# --------------------------------------------------------------------------------------------
class RecipeG(nn.Module):
    """``z (B, nz, 1, 1) -> image (B, nc, 32, 32)`` in [-1, 1]."""

    def __init__(self, nz=100, ngf=64, nc=1):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),  # 4x4
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),  # 8
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),  # 16
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())  # 32x32

    def forward(self, z):
        return self.main(z)


class RecipeD(nn.Module):
    """``image (B, nc, 32, 32) -> D(x) (B,)``, a probability (the recipe ends in a sigmoid)."""

    def __init__(self, ndf=64, nc=1):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),  # 16x16
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),  # 8
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, True),  # 4
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False), nn.Sigmoid())  # 1x1

    def forward(self, x):
        return self.main(x).view(-1)


def recipe_weights_init(m):
    """The recipe's ``weights_init``: conv weights ~ N(0, 0.02); batch norm scale ~ N(1, 0.02), shift 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def to_recipe_images(x):
    """Digits ``(B, 1, 28, 28)`` in [0, 1] -> ``(B, 1, 32, 32)`` in [-1, 1]: zero-pad by 2, then 2x - 1."""
    return F.pad(x, (2, 2, 2, 2)) * 2 - 1


def from_recipe_images(y):
    """The inverse: ``(B, 1, 32, 32)`` in [-1, 1] -> the central ``(B, 1, 28, 28)`` in [0, 1]."""
    return ((y[:, :, 2:30, 2:30] + 1) / 2).clamp(0, 1)


# --------------------------------------------------------------------------------------------
# Runs continued across marks; the clock runs only inside train_until
# --------------------------------------------------------------------------------------------
class RecipeRun:
    """One recipe (``"vae"`` or ``"gan"``) training on ``x_train``; ``steps``, ``seconds`` so far."""

    def __init__(self, kind, x_train, seed, device):
        self.kind, self.device, self.steps, self.seconds = kind, device, 0, 0.0
        self.generator = torch.Generator(device=device).manual_seed(seed)
        if kind == "vae":
            self.model = seeded(RecipeVAE, seed, device)
            self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
            self.data, self.batch_size = x_train.to(device).reshape(-1, 784), 128
        else:
            # G then D from one seeded stream, as the recipe builds netG then netD after manual_seed
            nets = seeded(lambda: nn.ModuleDict({"G": RecipeG().apply(recipe_weights_init),
                                                 "D": RecipeD().apply(recipe_weights_init)}), seed, device)
            self.G, self.D = nets["G"], nets["D"]
            self.opt_G = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
            self.opt_D = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
            self.data, self.batch_size = to_recipe_images(x_train.to(device)), 64
        self.order = []  # the rest of this epoch's batches (index tensors)

    def next_batch(self):
        if not self.order:  # a new epoch: shuffle, keep the last incomplete batch (drop_last=False)
            perm = torch.randperm(len(self.data), generator=self.generator, device=self.device)
            self.order = list(perm.split(self.batch_size))
        return self.data[self.order.pop(0)]

    def vae_step(self, x):
        self.opt.zero_grad()
        x_hat, mu, log_var = self.model(x, self.generator)
        recipe_vae_loss(x_hat, x, mu, log_var).backward()
        self.opt.step()

    def gan_step(self, x):
        G, D, bce = self.G, self.D, nn.BCELoss()
        # (1) update D: maximise log D(x) + log(1 - D(G(z))), real and fake batches in two passes
        self.opt_D.zero_grad()
        d_real = D(x)
        bce(d_real, torch.ones_like(d_real)).backward()
        fake = G(torch.randn(len(x), 100, 1, 1, generator=self.generator, device=self.device))
        d_fake = D(fake.detach())  # D's step: no gradient into G
        bce(d_fake, torch.zeros_like(d_fake)).backward()
        self.opt_D.step()
        # (2) update G: maximise log D(G(z)) (fake labels are real for the generator's loss)
        self.opt_G.zero_grad()
        d_fake = D(fake)
        bce(d_fake, torch.ones_like(d_fake)).backward()
        self.opt_G.step()

    def train_until(self, seconds):
        """Train until ``seconds`` of training in total (at least one step per call)."""
        left, step = seconds - self.seconds, self.vae_step if self.kind == "vae" else self.gan_step
        if left <= 0:
            return
        start, first = time.perf_counter(), self.steps
        while self.steps == first or time.perf_counter() - start < left:
            step(self.next_batch())
            self.steps += 1
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.seconds += time.perf_counter() - start

    @torch.no_grad()
    def sample(self, n, seed):
        """``n`` images ``(n, 1, 28, 28)`` in [0, 1]; z drawn on the CPU from ``seed``."""
        g = torch.Generator().manual_seed(seed)
        if self.kind == "vae":
            return self.model.decode(torch.randn(n, 20, generator=g).to(self.device)).view(-1, 1, 28, 28)
        z = torch.randn(n, 100, 1, 1, generator=g)  # G stays in training mode, as in the recipe
        return from_recipe_images(torch.cat([self.G(zb.to(self.device)) for zb in z.split(64)]))

    def neg_elbo(self, x, k, seed):
        return neg_elbo(self.model.encode, self.model.decode, x.to(self.device), k=k,
                        generator=torch.Generator().manual_seed(seed))


class MinigenRun:
    """minigen's VAE (``vae.DIGITS``) or GAN (``gan.DIGITS``), continued through a checkpoint."""

    def __init__(self, kind, x_train, seed, device, workdir, config=None, tag=""):
        self.family = vae if kind == "vae" else gan
        config = config or (vae.DIGITS if kind == "vae" else gan.DIGITS)
        self.model = self.family.build(config, seed=seed, device=device)
        self.kind, self.x_train, self.seed, self.device = kind, x_train, seed, device
        self.path, self.history = Path(workdir) / f"minigen-{kind}{tag}-{seed}.pt", None

    @property
    def steps(self):
        return self.history["step"][-1] if self.history else 0

    @property
    def seconds(self):  # training wall time so far, from minigen's history
        return self.history["time"][-1] if self.history else 0.0

    def train_until(self, seconds):
        if seconds - self.seconds > 0:
            self.history = self.family.train(
                self.model, self.x_train, max_seconds=seconds - self.seconds, seed=self.seed,
                device=self.device, checkpoint=self.path, checkpoint_every=0,
                resume=self.path if self.history else None, progress=False)

    def sample(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        if self.kind == "gan":
            return gan.sample(self.model, n, generator=g)
        start = time.perf_counter()  # the ex-post density of vae.DIGITS, fitted afresh at each mark
        density = vae.fit_code_density(self.model, self.x_train, generator=g)
        self.fit_seconds = time.perf_counter() - start
        return vae.sample(self.model, n, generator=g, prior=density)

    def neg_elbo(self, x, k, seed):
        r = vae.evaluate(self.model, x, k=k, generator=torch.Generator().manual_seed(seed))
        if r["units"] != "bce":  # grey digits under the Bernoulli decoder: the recipe's convention
            raise RuntimeError(f"minigen's VAE is not scored in the recipe's BCE convention: {r['units']}")
        return r["neg_elbo"]


def make_run(system, x_train, seed, device, workdir, gan_config=None):
    maker, kind = system.split("-")
    return RecipeRun(kind, x_train, seed, device) if maker == "recipe" else \
        MinigenRun(kind, x_train, seed, device, workdir, config=gan_config if kind == "gan" else None)


def gan_settings(pairs) -> "gan.GANConfig":
    """``gan.DIGITS`` with the changes ``["betas=0,0.99", "batch_size=32"]`` (``--gan-set``)."""
    fields = [f.name for f in dataclasses.fields(gan.GANConfig)]
    changes = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in fields or not value:
            raise SystemExit(f"--gan-set takes NAME=VALUE with NAME a field of gan.GANConfig "
                             f"({', '.join(fields)}), got {pair!r}")
        default = getattr(gan.DIGITS, name)
        if isinstance(default, tuple):
            changes[name] = tuple(float(v) for v in value.split(","))
        else:
            changes[name] = type(default)(value)
    return dataclasses.replace(gan.DIGITS, **changes)


# --------------------------------------------------------------------------------------------
# Scoring, tables, targets
# --------------------------------------------------------------------------------------------
def score(run, x_val, seed, k, n_samples, device):
    m = metrics.evaluate_images(run.sample(n_samples, seed), "validation", device=device)
    row = {"steps": run.steps, "seconds": run.seconds, "fd": m["fd"], "classes": m["classes_covered"],
           "min_share": m["min_class_share"], "neg_elbo": None}
    if run.kind == "vae":
        row["neg_elbo"] = run.neg_elbo(x_val, k, seed)
    return row


def print_table(rows, systems, mark, seed):
    print(f"\n== {mark} s of training, seed {seed}")
    print(f"{'system':<12} {'train s':>7} {'steps':>6} {'steps/s':>7} {'FD':>8} {'classes':>7} "
          f"{'min share':>9} {'val -ELBO':>9}")
    for s in systems:
        r = rows[s, seed, mark]
        elbo = f"{r['neg_elbo']:9.2f}" if r["neg_elbo"] is not None else f"{'':>9}"
        print(f"{s:<12} {r['seconds']:7.1f} {r['steps']:6d} {r['steps'] / r['seconds']:7.1f} "
              f"{r['fd']:8.2f} {r['classes']:7d} {r['min_share']:9.3f} {elbo}")


def verdict(ok):
    return "met" if ok else "NOT met"


def judge(rows, systems, seeds, marks, floor):
    """Print one line per target and mark; return True when every judged target is met."""
    print("\n== targets (worst seed; recipe FD / minigen FD, higher is better for minigen)")
    all_ok, floor_mark = True, FLOOR_MARK if FLOOR_MARK in marks else marks[-1]
    for family, target in (("vae", VAE_FD_RATIO), ("gan", GAN_FD_RATIO)):
        ours, theirs, name = f"minigen-{family}", f"recipe-{family}", family.upper()
        if ours not in systems or theirs not in systems:
            print(f"{name}: not judged (--systems lacks {ours} or {theirs})")
            continue
        for mark in marks:
            ratio = [rows[theirs, s, mark]["fd"] / rows[ours, s, mark]["fd"] for s in seeds]
            classes = [rows[ours, s, mark]["classes"] for s in seeds]
            lines = [(f"FD ratio {', '.join(f'{r:.2f}' for r in ratio)}; worst {min(ratio):.2f} >= {target:g}",
                      min(ratio) >= target),
                     (f"minigen classes at >= 5 %: {', '.join(map(str, classes))}; all 10 every seed",
                      min(classes) == 10)]
            if family == "vae":
                gap = [rows[ours, s, mark]["neg_elbo"] - rows[theirs, s, mark]["neg_elbo"] for s in seeds]
                lines.append((f"val -ELBO minigen - recipe: {', '.join(f'{g:+.2f}' for g in gap)}; "
                              "<= 0 every seed", max(gap) <= 0))
            elif mark == floor_mark:
                fd = max(rows[ours, s, mark]["fd"] for s in seeds)
                lines.append((f"minigen FD {fd:.2f} (worst seed) / floor {floor:.2f} = {fd / floor:.2f} "
                              f"<= {FLOOR_FACTOR:g}" + ("" if mark == FLOOR_MARK else
                                                         f" (stated for {FLOOR_MARK} s; judged at the last mark)"),
                              fd <= FLOOR_FACTOR * floor))
            for text, ok in lines:
                print(f"{name} @{mark} s (seeds {', '.join(map(str, seeds))}): {text}: {verdict(ok)}")
                all_ok &= ok
    return all_ok


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--marks", type=float, nargs="+", default=[60, 120], help="seconds of training")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--device", default="cpu")
    p.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--k", type=int, default=100, help="samples of z per image in the -ELBO")
    p.add_argument("--gan-set", nargs="+", default=[], metavar="NAME=VALUE",
                   help="minigen's GAN as gan.DIGITS with these changes, e.g. betas=0,0.99 batch_size=32 "
                        "(a candidate, measured before it becomes the default)")
    p.add_argument("--samples", type=int, default=N_SAMPLES,
                   help="samples scored per run and mark (FD depends on it: keep 1,000 for the targets)")
    args = p.parse_args(argv)
    marks = [int(m) if float(m).is_integer() else m for m in sorted(args.marks)]
    systems = [s for s in SYSTEMS if s in args.systems]
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__} on {device}, {torch.get_num_threads()} thread(s), {os.cpu_count()} CPUs, "
          f"load average (1 min) {load:.2f} at the start")
    gan_config = gan_settings(args.gan_set)
    print(f"minigen vae.DIGITS = {vae.DIGITS}\nminigen gan.DIGITS = {gan.DIGITS}")
    if args.gan_set:
        print(f"minigen's GAN here is NOT gan.DIGITS but {gan_config}")
    x_train, x_val = digits("train", device="cpu")[0], digits("validation", device="cpu")[0]
    floor = metrics.evaluate_images(x_train[::4], "validation", device=device)["fd"]  # 100 per class
    print(f"real-vs-real floor: FD of 1,000 training digits against the 500 validation digits = {floor:.2f}")

    rows, start = {}, time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:  # minigen's checkpoints, between marks
        for seed in args.seeds:
            for system in systems:
                run = make_run(system, x_train, seed, device, workdir, gan_config)
                for mark in marks:
                    run.train_until(mark)
                    rows[system, seed, mark] = r = score(run, x_val, seed, args.k, args.samples, device)
                    fit = f" (code density fitted in {run.fit_seconds:.1f} s)" if hasattr(run, "fit_seconds") else ""
                    print(f"  {system} seed {seed} @{mark} s: {r['steps']} steps, FD {r['fd']:.2f}{fit}", flush=True)
    for mark in marks:
        for seed in args.seeds:
            print_table(rows, systems, mark, seed)
    ok = judge(rows, systems, args.seeds, marks, floor)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    busy = load > (os.cpu_count() or 1)
    print(f"\nwall time of training and scoring {time.perf_counter() - start:.0f} s; "
          f"load average (1 min) {load:.2f} at the end" + (
              f" (above {os.cpu_count()} CPUs: the CPU was shared and each system got fewer steps for its "
              "seconds)" if busy else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
