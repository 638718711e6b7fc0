"""What the GAN step saves by not computing gradients that nobody reads, on this CPU.

    python benchmarks/bench_frozen.py [--threads 1] [--repeats 5] [--steps 100]

``gan.train_step`` skips two kinds of gradient. In the generator's update D's weights are frozen
(:func:`minigen.training.frozen`): the gradient passes through D to G, but D's own would be
cleared unread before D's next update. In D's update autograd is asked for D's weights only: the
real batch needs a gradient for the R1 penalty's dD/dx, and without ``inputs=`` its own gradient
would be computed too. :func:`plain_gan_step` below is the step as it was before, computing every
gradient. This script trains the chapters' GAN (``gan.DIGITS``) both ways from the same start on
the same batches, in pairs run one after the other (each going first in turn, so that other work
on the machine slows both alike), and prints the CPU seconds of each pair, the ratio within each
pair and their median, and whether the trained weights are the same bit for bit. Both run
without ``flush_denormals`` (which ``gan.train`` adds; it changes no result). ``tests/test_gan.py``
asserts that sameness with :func:`plain_gan_step`.

The same freezing in ``cyclegan.train_step`` (D_X and D_Y during G and F's update) was tried and
left out: its discriminators are small, and on this CPU it gave no measurable gain (150 steps,
wall seconds 14.7, 14.8 and 14.2 with it against 13.0, 13.7 and 14.4 without, alternating, with a
throwaway script; 2026-11-30).

**Record** (2026-11-30, ``python benchmarks/bench_frozen.py --repeats 9``, one thread, 2-core
machine, load 1.0 at the start and at the end, nothing else running; CPU seconds of 100 steps,
pair by pair, computing every gradient / as minigen trains): 6.71 / 5.75; 5.95 / 6.17; 6.30 /
5.17; 7.33 / 6.23; 7.56 / 6.85; 7.49 / 6.73; 7.71 / 6.84; 6.98 / 6.75; 6.21 / 5.82. Ratios 0.96
to 1.22, median 1.11, above 1 in 8 of the 9 pairs: a step about 10 % cheaper. The weights were
the same bit for bit. The spread between pairs shows how noisy this shared machine is.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from minigen import gan
from minigen.data import digits


def plain_gan_step(model, real, optimizers, generator):
    """``gan.train_step`` with the default losses, computing every gradient."""
    c, G, D = model.config, model.G, model.D
    device = next(G.parameters()).device
    for _ in range(c.d_steps):
        x = real().to(device).detach().requires_grad_(c.r1 > 0)
        z = torch.randn(len(x), c.z_dim, generator=generator, device=device)
        x_fake = G(z).detach()
        d_real, d_fake = D(x), D(x_fake)
        l_D = gan.discriminator_loss(d_real, d_fake)
        penalty = gan.r1_penalty(d_real, x, c.r1) if c.r1 > 0 else torch.zeros((), device=device)
        optimizers["D"].zero_grad()
        (l_D + penalty).backward()
        optimizers["D"].step()
    z = torch.randn(c.batch_size, c.z_dim, generator=generator, device=device)
    l_G = gan.generator_loss_nonsaturating(D(G(z)))
    optimizers["G"].zero_grad()
    l_G.backward()
    optimizers["G"].step()


def run_gan(plain: bool, x: torch.Tensor, steps: int):
    model = gan.build(gan.DIGITS, seed=0, device="cpu")
    optimizers, g = gan.make_optimizers(model), torch.Generator().manual_seed(0)
    order = torch.randint(len(x), (steps, gan.DIGITS.batch_size), generator=g)
    batches = iter(x[order])
    start = time.process_time()
    for _ in range(steps):
        if plain:
            plain_gan_step(model, lambda: next(batches), optimizers, g)
        else:  # as gan.train runs it: the data were checked once, before the loop
            gan.train_step(model, lambda: next(batches), optimizers, generator=g, _checked=True)
    return time.process_time() - start, model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    x = digits("train", device="cpu")[0]
    pairs, weights = [], {}
    for repeat in range(args.repeats):
        seconds = {}
        for plain in ((True, False) if repeat % 2 == 0 else (False, True)):  # each goes first in turn
            seconds[plain], model = run_gan(plain, x, args.steps)
            weights[plain] = model.state_dict()
        pairs.append((seconds[True], seconds[False]))
    same = all(torch.equal(a, b) for a, b in zip(weights[True].values(), weights[False].values()))
    ratios = sorted(before / now for before, now in pairs)
    print(f"GAN (gan.DIGITS), {args.steps} steps, CPU seconds of this process, pair by pair "
          f"(computing every gradient / as minigen trains): "
          f"{'; '.join(f'{before:.2f} / {now:.2f}' for before, now in pairs)}")
    print(f"ratios {', '.join(f'{r:.2f}' for r in ratios)}; median {ratios[len(ratios) // 2]:.2f}x; "
          f"weights the same bit for bit: {same}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
