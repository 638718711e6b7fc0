"""Retrain the digit classifier behind minigen.metrics and overwrite its shipped weights.

    python scripts/train_classifier.py                 # seed 0, writes minigen/weights/digit_classifier.pt
    python scripts/train_classifier.py --seed 1 --out /tmp/clf.pt

Trains minigen.metrics.DigitClassifier on the 4,000 training digits of minigen.data.digits()
only (the 500 validation and the 500 test digits are never seen), with augmentation: every
image is rotated by up to 10 degrees, zoomed by up to 10 % and shifted by up to 2 pixels in each
direction, and a random half of each batch gets thick strokes (minigen.data.thick_strokes, a
3x3 dilation: the CycleGAN chapter's second domain), so that the classifier reads plain and
thick digits alike. Runs on one CPU thread in about a minute and is deterministic given the seed
(and the PyTorch build). Prints the accuracy on the 500 test digits, plain and dilated.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # use this checkout's minigen even when another one is installed

from minigen.data import digits, thick_strokes  # noqa: E402
from minigen.metrics import WEIGHTS_PATH, DigitClassifier  # noqa: E402
from minigen.utils import seed_everything  # noqa: E402


def random_affine(x: torch.Tensor, generator: torch.Generator, degrees: float = 10.0,
                  scale: float = 0.1, shift: float = 2.0) -> torch.Tensor:
    """Move each image of ``x`` ``(B, 1, H, W)`` by its own random affine map: a rotation by up
    to ``degrees``, a zoom by a factor in [1 - scale, 1 + scale] and a shift by up to ``shift``
    pixels along each axis (bilinear interpolation, background 0 outside the image)."""
    b, _, h, w = x.shape
    angle = (2 * torch.rand(b, generator=generator) - 1) * math.radians(degrees)
    zoom = 1 + (2 * torch.rand(b, generator=generator) - 1) * scale
    move = (2 * torch.rand(b, 2, generator=generator) - 1) * shift * 2 / torch.tensor([w, h])
    cos, sin = angle.cos() / zoom, angle.sin() / zoom  # affine_grid maps output to input
    theta = torch.stack([torch.stack([cos, -sin, move[:, 0]], 1),
                         torch.stack([sin, cos, move[:, 1]], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random small rotation, zoom and shift of every image, then a 3x3 dilation (thick
    strokes) of a random half of the batch."""
    x = random_affine(x, generator)
    thick = torch.randperm(len(x), generator=generator)[: len(x) // 2]
    x[thick] = thick_strokes(x[thick])
    return x


@torch.no_grad()
def accuracy(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return (model(x).argmax(1) == y).double().mean().item()


@torch.no_grad()
def normalise_features(model: DigitClassifier, x: torch.Tensor) -> float:
    """Rescale the features to a root-mean-square of 1 over the images ``x``; the logits stay
    the same. As ReLU(s z) = s ReLU(z) for s > 0, dividing fc1 by s and multiplying fc2's
    weights by s changes nothing but the feature scale, which puts KID's kernel
    (x.y / d + 1)^3 in its intended range (entries of order 1). Returns s."""
    model.eval()
    scale = model.features(x).square().mean().sqrt().item()
    model.fc1.weight /= scale
    model.fc1.bias /= scale
    model.fc2.weight *= scale
    return scale


def train(seed: int = 0, epochs: int = 20, batch_size: int = 64, lr: float = 2e-3) -> DigitClassifier:
    generator = seed_everything(seed)  # the initial weights come from the global torch RNG
    x_train, y_train = digits("train")
    model = DigitClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(x_train) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total = 0.0
        for i in range(len(x_train) // batch_size):
            idx = order[i * batch_size:(i + 1) * batch_size]
            x = augment(x_train[idx], generator)
            loss = F.cross_entropy(model(x), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        print(f"epoch {epoch + 1:2d}/{epochs}: mean training loss {total / (i + 1):.4f}", flush=True)
    normalise_features(model, x_train)
    return model.eval()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args(argv)

    # One thread: as fast as two for a network this small, and the result then does not depend
    # on how many cores the machine has.
    torch.set_num_threads(1)
    start = time.perf_counter()
    model = train(args.seed, args.epochs)
    x_test, y_test = digits("test")
    acc_plain, acc_thick = accuracy(model, x_test, y_test), accuracy(model, thick_strokes(x_test), y_test)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"seed": args.seed, "epochs": args.epochs, "test_accuracy": round(acc_plain, 4),
            "test_accuracy_dilated": round(acc_thick, 4), "torch": str(torch.__version__)}
    torch.save({"state_dict": model.state_dict(), "meta": meta}, args.out)
    print(f"trained in {time.perf_counter() - start:.0f} s; wrote {args.out} "
          f"({args.out.stat().st_size / 1024:.0f} KB)")
    print(f"test accuracy: plain digits {acc_plain:.2%}, dilated (thick) digits {acc_thick:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
