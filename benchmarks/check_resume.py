"""Resume is exact: for each model family, N + M steps straight against N steps, save, resume M.

    OMP_NUM_THREADS=1 python benchmarks/check_resume.py [--first 30] [--more 20]

Trains each family's chapter configuration on the CPU with one thread, and prints the largest
absolute difference between the straight and the resumed run in the parameters, in the
optimisers' state and in the history (all columns but the wall-clock ``time``). Every figure must
be 0; the script exits with 1 otherwise. The unit test ``tests/test_contract.py`` checks the same
on tiny models; this script checks it at the chapters' sizes.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from minigen import checkpoint, cvae, cyclegan, data, gan, vae


def largest_difference(a, b) -> float:
    """The largest |a - b| over two nested structures of tensors and numbers (0.0 if equal)."""
    if isinstance(a, torch.Tensor):
        return (a.double() - b.double()).abs().max().item() if a.numel() else 0.0
    if isinstance(a, dict):
        return max((largest_difference(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, (list, tuple)):
        return max((largest_difference(u, v) for u, v in zip(a, b)), default=0.0)
    return abs(a - b) if isinstance(a, (int, float)) else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=30)
    parser.add_argument("--more", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    x, y = data.digits("train", device="cpu")
    x_dom, y_dom = data.stroke_domains(device="cpu")
    cases = {"gan": (gan, gan.DIGITS, x), "vae": (vae, vae.VAEConfig(shift=1), x),
             "cvae": (cvae, cvae.CVAEConfig(), (x, y)),
             "cyclegan": (cyclegan, cyclegan.CycleGANConfig(), (x_dom, y_dom))}
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, (module, config, train_data) in cases.items():
            kw = dict(seed=0, device="cpu", checkpoint_every=0, progress=False)
            straight = module.build(config, seed=0, device="cpu")
            h_straight = module.train(straight, train_data, steps=args.first + args.more,
                                      checkpoint=tmp / "straight.pt", **kw)
            first = module.build(config, seed=0, device="cpu")
            module.train(first, train_data, steps=args.first, checkpoint=tmp / "first.pt", **kw)
            resumed = module.load(tmp / "first.pt", device="cpu")
            h_resumed = module.train(resumed, train_data, steps=args.more, resume=tmp / "first.pt",
                                     checkpoint=tmp / "resumed.pt", **kw)
            a, b = (checkpoint.load_checkpoint(tmp / f) for f in ("straight.pt", "resumed.pt"))
            diffs = (largest_difference(straight.state_dict(), resumed.state_dict()),
                     largest_difference(a["optimizers"], b["optimizers"]),
                     largest_difference({k: v for k, v in h_straight.items() if k != "time"},
                                        {k: v for k, v in h_resumed.items() if k != "time"}))
            worst = max(worst, *diffs)
            print(f"{name:9s} {args.first} + {args.more} steps vs {args.first + args.more}: max |difference| "
                  f"parameters {diffs[0]:.1e}, optimiser state {diffs[1]:.1e}, history {diffs[2]:.1e}")
    print("resume is exact" if worst == 0 else "resume is NOT exact")
    return 0 if worst == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
