"""What flushing subnormal floats to zero saves in minigen's training loops, on this CPU.

    python benchmarks/bench_denormals.py [--threads 1] [--repeats 2]

Every family's ``train`` runs inside :func:`minigen.training.flush_denormals`. This script times,
side by side and alternating (so that other work on the machine slows both alike), the square
root of 313,600 ordinary and of 313,600 subnormal float32 numbers (the size of the VAE's first
layer), then 1,000 steps of the chapters' VAE (``VAEConfig()``) and 300 steps of the chapters' GAN
(``gan.DIGITS``) on the 4,000 training digits, with the mode on (as ``train`` runs) and off, and
prints each time, the ratio, and whether the trained weights are the same bit for bit.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import time

import torch

from minigen import gan, vae
from minigen.data import digits


def timed_sqrt(t: torch.Tensor, reps: int = 100) -> float:
    start = time.perf_counter()
    for _ in range(reps):
        torch.sqrt(t)
    return (time.perf_counter() - start) / reps


def train(module, config, x, steps: int, flush: bool):
    saved = module.flush_denormals
    if not flush:
        module.flush_denormals = contextlib.nullcontext
    try:
        model = module.build(config, seed=0, device="cpu")
        start = time.perf_counter()
        module.train(model, x, steps=steps, seed=0, device="cpu", progress=False)
        return time.perf_counter() - start, model
    finally:
        module.flush_denormals = saved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if not (torch.set_flush_denormal(True) and torch.set_flush_denormal(False) is not None):
        print("this CPU has no flush-to-zero mode: nothing to measure")
        return 0
    ordinary = torch.rand(313_600) + 0.5
    subnormal = torch.full((313_600,), 1e-40)
    print(f"sqrt of 313,600 floats: ordinary {timed_sqrt(ordinary) * 1e3:.2f} ms, "
          f"subnormal {timed_sqrt(subnormal) * 1e3:.2f} ms")
    x = digits("train", device="cpu")[0]
    for name, module, config, steps in (("VAE (VAEConfig())", vae, vae.VAEConfig(), 1000),
                                        ("GAN (gan.DIGITS)", gan, gan.DIGITS, 300)):
        times = {True: [], False: []}
        weights = {}
        for _ in range(args.repeats):
            for flush in (False, True):
                seconds, model = train(module, config, x, steps, flush)
                times[flush].append(seconds)
                weights[flush] = model.state_dict()
        same = all(torch.equal(a, b) for a, b in zip(weights[True].values(), weights[False].values()))
        on, off = min(times[True]), min(times[False])
        print(f"{name}, {steps} steps: {off:.1f} s without flushing, {on:.1f} s with "
              f"(best of {args.repeats}); {off / on:.2f}x; weights the same bit for bit: {same}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
