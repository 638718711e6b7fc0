"""Speed and quality of minigen.gan with the chapter's default settings (issue: GANs).

    python benchmarks/bench_gan.py [--device cpu] [--seed 0] [--ring-seeds 0 1 2]
                                   [--digit-marks 30 60 120] [--ring-marks 10 20 30]

1. The digit GAN (``gan.DIGITS``) on the 4,000 bundled training digits, scored with
   ``minigen.metrics.evaluate_images`` (1,000 samples against the 500 validation digits; the test digits are kept
   for the chapters' final figures) after 30 s,
   60 s and 120 s of training wall time. Target: after 120 s every class >= 5 % of the samples
   and precision, recall >= 0.5.
2. The 8-Gaussian ring (``minigen.data.ring8()``, radius 2, std 0.05) with ``gan.RING``, scored
   with ``minigen.metrics.mode_coverage`` on 2,000 samples after 10 s, 20 s and 30 s, for a few
   seeds. Target: all 8 modes covered with >= 80 % high-quality samples within 30 s.

Each benchmark is one continuous run: at each mark the run is saved (``checkpoint=``) and then
continued from that checkpoint (``resume=``), which restores the optimisers, the history and the
random state, so the marks see the same run as one long call would. The marks can be changed
(``--digit-marks``, ``--ring-marks``: e.g. ``1 2`` for a quick check that the script runs; the
targets are then judged at the last mark). Evaluation time is not counted as training time.
The figures depend on the machine and on what else runs on it: the script prints the thread
count and the load average it started with.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

# OpenMP's wait policy is left as it is. On a CPU shared with other jobs, running the script with
# OMP_WAIT_POLICY=PASSIVE keeps waiting threads from spinning on cores the others need; on a quiet
# machine it makes small models slower (the ring GAN: 53 instead of 130 steps/s with 2 threads,
# measured), so it is not the default.
import torch  # noqa: E402

from minigen import gan, metrics  # noqa: E402
from minigen.data import digits, ring8  # noqa: E402
from minigen.utils import get_device  # noqa: E402


def train_until(model, real, seconds, seed, device, state):
    """Train until ``seconds`` of training wall time in total, continuing the run in ``state``.

    ``state`` holds the run's checkpoint path and its history so far. The first call starts the
    run with ``seed``; later calls resume from the checkpoint the previous call wrote at its end,
    so the optimisers, the history (its ``time`` column counts on) and the random state continue.
    """
    left = seconds - (state["history"]["time"][-1] if state["history"] else 0.0)
    if left > 0:
        state["history"] = gan.train(model, real, max_seconds=left, seed=seed, device=device,
                                     checkpoint=state["path"], checkpoint_every=0,
                                     resume=state["path"] if state["history"] else None,
                                     progress=False)
    return state["history"]


def bench_digits(device, seed, workdir, marks=(30, 60, 120)):
    print(f"\n== digit GAN: gan.DIGITS = {gan.DIGITS}")
    x, _ = digits("train", device=device)
    model = gan.build(gan.DIGITS, seed=seed, device=device)
    state = {"path": Path(workdir) / "digits.pt", "history": None}
    print(f"{'train s':>7} {'steps':>6} {'steps/s':>7} {'FD':>6} {'KID':>7} {'prec':>5} {'recall':>6} "
          f"{'classes':>7} {'min share':>9} {'eval s':>6}")
    rows = []
    for mark in marks:
        h = train_until(model, x, mark, seed, device, state)
        t = time.perf_counter()
        m = metrics.evaluate_images(gan.sample(model, 1000, generator=torch.Generator().manual_seed(seed)),
                                    "validation", device=device)
        steps, secs = h["step"][-1], h["time"][-1]
        print(f"{secs:7.1f} {steps:6d} {steps / secs:7.1f} {m['fd']:6.2f} {m['kid']:7.4f} "
              f"{m['precision']:5.2f} {m['recall']:6.2f} {m['classes_covered']:7d} "
              f"{m['min_class_share']:9.3f} {time.perf_counter() - t:6.1f}", flush=True)
        rows.append(m)
    m = rows[-1]
    ok = m["min_class_share"] >= 0.05 and m["precision"] >= 0.5 and m["recall"] >= 0.5
    print(f"class shares at {marks[-1]} s: {[round(100 * s, 1) for s in m['histogram']]} %")
    print(f"target (every class >= 5 %, precision and recall >= 0.5 at {marks[-1]} s): "
          f"{'MET' if ok else 'NOT MET'}")
    return ok


def bench_ring(device, seeds, workdir, marks=(10, 20, 30)):
    print(f"\n== 8-Gaussian ring: gan.RING = {gan.RING}")
    ring = ring8()
    print(f"{'seed':>4} " + " ".join(f"{f'{s} s: steps modes hq':>22}" for s in marks))
    ok_all = True
    for seed in seeds:
        model = gan.build(gan.RING, seed=seed, device=device)
        state = {"path": Path(workdir) / f"ring{seed}.pt", "history": None}
        cells, ok = [], False
        for mark in marks:
            h = train_until(model, ring.sample, mark, seed, device, state)
            m = metrics.mode_coverage(gan.sample(model, 2000, generator=torch.Generator().manual_seed(seed)), ring)
            ok = ok or (m["modes_covered"] == 8 and m["high_quality"] >= 0.8)
            cells.append(f"{h['step'][-1]:>10d} {m['modes_covered']:>5d} {m['high_quality']:5.2f}")
        print(f"{seed:>4} " + " ".join(cells), flush=True)
        ok_all = ok_all and ok
    print(f"target (8 modes, >= 80 % high quality within {marks[-1]} s, every seed): "
          f"{'MET' if ok_all else 'NOT MET'}")
    return ok_all


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ring-seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--skip-digits", action="store_true")
    p.add_argument("--skip-ring", action="store_true")
    p.add_argument("--digit-marks", type=int, nargs="+", default=[30, 60, 120],
                   help="seconds of training at which the digit GAN is scored")
    p.add_argument("--ring-marks", type=int, nargs="+", default=[10, 20, 30],
                   help="seconds of training at which the ring GAN is scored")
    args = p.parse_args()
    device = get_device(args.device)
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("n/a",)
    print(f"torch {torch.__version__} on {device} ({platform.processor() or platform.machine()}), "
          f"{torch.get_num_threads()} threads, load average at start {load[0]:.2f} "
          f"on {os.cpu_count()} CPUs")
    metrics.load_classifier(device)  # not part of any timing
    ok = True
    with tempfile.TemporaryDirectory() as workdir:  # the runs' checkpoints, between marks
        if not args.skip_ring:
            ok &= bench_ring(device, args.ring_seeds, workdir, marks=tuple(args.ring_marks))
        if not args.skip_digits:
            ok &= bench_digits(device, args.seed, workdir, marks=tuple(args.digit_marks))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
