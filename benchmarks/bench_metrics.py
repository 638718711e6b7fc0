"""How long minigen.metrics takes to score 1,000 images against 500 held-out digits.

    python benchmarks/bench_metrics.py [--device cpu] [--repeats 5]

Prints the wall time of ``evaluate_images`` on 1,000 generated-like images (1,000 training
digits, lightly blurred) against the 500 validation digits: first call (loads the classifier and
computes the reference features), then repeated calls with the reference features cached (the
default, what chapters do) and without (the reference passed explicitly, so its features are
recomputed every call). The issue asks for under 5 s on a 2-core CPU. Also prints the shipped
classifier's validation accuracy on plain and dilated digits.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minigen import metrics  # noqa: E402
from minigen.data import digits, thick_strokes  # noqa: E402
from minigen.utils import get_device  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, float, float]:
    """Median and max wall time, and median CPU time of this process, of ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), max(wall), statistics.median(cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    device = get_device(args.device)

    # on the CPU (data loaders default to the best device); evaluate_images moves batches to `device`
    train_x, _ = digits("train", device="cpu")
    test_x, test_y = digits("validation", device="cpu")  # benchmarks use validation
    pick = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(0))[:1000]
    kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]).div(16).view(1, 1, 3, 3)
    generated = F.conv2d(train_x[pick], kernel, padding=1).clamp(0, 1)  # "generated-like"

    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    start = time.perf_counter()
    result = metrics.evaluate_images(generated, "validation", device=device)
    first = time.perf_counter() - start
    cached, cached_max, cached_cpu = timed(
        lambda: metrics.evaluate_images(generated, "validation", device=device), args.repeats)
    uncached, uncached_max, uncached_cpu = timed(
        lambda: metrics.evaluate_images(generated, test_x, device=device), args.repeats)
    print("evaluate_images, 1,000 generated vs 500 validation images "
          "(wall time; CPU time of all threads in brackets):")
    print(f"  first call (loads the classifier, computes reference features): {first:6.2f} s")
    print(f"  reference features cached, median of {args.repeats}:    {cached:6.2f} s "
          f"(max {cached_max:.2f} s) [CPU {cached_cpu:.2f} s]")
    print(f"  reference features recomputed, median of {args.repeats}: {uncached:6.2f} s "
          f"(max {uncached_max:.2f} s) [CPU {uncached_cpu:.2f} s]")
    print(f"  budget 5 s: {'met' if max(cached_max, uncached_max) < 5 else 'NOT met'}")
    print(f"  (fd {result['fd']:.3f}, kid {result['kid']:.4f} +- {result['kid_se']:.4f}, "
          f"precision {result['precision']:.3f}, recall {result['recall']:.3f})")

    plain = metrics.label_preservation(test_x, test_y, device=device)
    thick = metrics.label_preservation(thick_strokes(test_x), test_y, device=device)
    print(f"classifier validation accuracy: plain digits {plain:.2%}, dilated digits {thick:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
