"""Retrain the digit classifier behind minigen.metrics and overwrite its shipped weights.

    python scripts/train_classifier.py                 # seed 0, writes minigen/weights/digit_classifier.pt
    python scripts/train_classifier.py --seed 1 --out /tmp/clf.pt

Trains minigen.metrics.DigitClassifier on the 4,000 training digits of minigen.data.digits()
only (the 1,000 test digits are never seen), with augmentation: every image is shifted by a
random -2..2 pixels in each direction, and a random half of each batch is dilated with a 3x3 max
filter (the CycleGAN chapter's "thick strokes" domain), so that the classifier reads plain and
thick digits alike. Runs on the CPU in about a minute and is deterministic given the seed (and
the PyTorch build). Prints the test accuracy on plain and on dilated digits.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # use this checkout's minigen even when another one is installed

from minigen.data import digits  # noqa: E402
from minigen.metrics import WEIGHTS_PATH, DigitClassifier, dilate  # noqa: E402
from minigen.utils import seed_everything  # noqa: E402


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image of ``x`` ``(B, 1, H, W)`` by its own random whole number of pixels in
    [-max_shift, max_shift] along each axis, filling with 0 (background)."""
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, b, 1), generator=generator)
    rows = (torch.arange(h) + dy)[:, :, None]  # (B, H, 1)
    cols = (torch.arange(w) + dx)[:, None, :]  # (B, 1, W)
    return padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 pixels, then a 3x3 dilation of a random half of the batch."""
    x = random_shift(x, 2, generator)
    thick = torch.randperm(len(x), generator=generator)[: len(x) // 2]
    x[thick] = dilate(x[thick])
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


def train(seed: int = 0, epochs: int = 15, batch_size: int = 64, lr: float = 2e-3) -> DigitClassifier:
    generator = seed_everything(seed)  # also seeds the dropout masks (global torch RNG)
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
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    model = train(args.seed, args.epochs)
    x_test, y_test = digits("test")
    acc_plain, acc_thick = accuracy(model, x_test, y_test), accuracy(model, dilate(x_test), y_test)
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
