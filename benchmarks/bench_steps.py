"""Training steps per second of the four systems of bench_recipes.py on one device (issue 16, part 5).

    python benchmarks/bench_steps.py [--device cpu|cuda] [--threads N] [--seconds 5] [--warmup 1]
                                     [--systems recipe-vae minigen-vae recipe-gan minigen-gan]

Each system of ``benchmarks/bench_recipes.py`` (the pytorch/examples VAE and DCGAN recipes and
minigen's ``vae.DIGITS`` and ``gan.DIGITS``, built and trained exactly as there, seed 0, on the
4,000 training digits) first trains for ``--warmup`` seconds, untimed, so that the first calls
(cuDNN's choice of kernels, the allocator's first blocks, Python's imports) are not counted.
It then trains for ``--seconds`` more, timed by the wall clock with the device synchronised at
both ends (``torch.cuda.synchronize``: a GPU runs behind the Python loop that queues its work,
so an unsynchronised clock counts steps queued, not steps done). minigen's systems are timed
around a whole ``train(..., max_seconds=...)`` call, its set-up, the resume from the
warm-up's checkpoint and the final save included.

Run it once per device; the ratio of two runs' steps/s is the speed-up. Quality is not measured
here: ``bench_recipes.py --device cuda`` measures it for a budget of seconds.

**Record** (2026-11-30; steps/s, each from 5 timed seconds after 1 s of warm-up, seed 0):

    system        this CPU,   this CPU,   H200           H200 / this CPU,  H200 host's CPU,  H200 / host CPU,
                  1 thread    2 threads   (two runs)     1 thread          1 thread          1 thread
    recipe-vae      107.1       182.8     408.2, 467.1   3.8 to 4.4        121.7             3.4 to 3.8
    minigen-vae     106.4       173.8     322.2, 311.1   2.9 to 3.0        122.7             2.5 to 2.6
    recipe-gan        3.2         6.0     129.1, 141.1   40 to 44            3.1             42 to 46
    minigen-gan      32.6        43.0     145.7, 134.4   4.1 to 4.5         20.3             6.6 to 7.2

* "This CPU": the 2-core AMD EPYC with AVX-512 of the book's commands, torch 2.13.0 CPU build,
  oneDNN not capped, one 5-s run per cell (load 0.12 at the start, 1.42 at the end of the four
  runs, nothing else running). The same runs with the book's cap (``ONEDNN_MAX_CPU_ISA=AVX2``)
  gave 113.4, 103.9, 2.7 and 30.9 steps/s with one thread and 132.8, 133.1, 4.6 and 38.6 with
  two. Single runs this short do not resolve the cap's cost: the two-thread VAEs, which have no
  convolutions, came out 23 to 27 % slower capped, which cannot be the cap, and the recipe GAN's
  figures are 14 to 31 steps, so one step moves them by 3 to 7 %. (Alternating 10-s runs in an
  earlier session measured the cap at about 11 % per step of minigen's GAN.)
* "H200": one NVIDIA H200 through the device tool, torch 2.11.0+cu130; its host an Intel Xeon with
  16 cores. The first run is step 2 of ``benchmarks/run_on_gpu.sh`` as of commit 85ca36e (without
  ``--profile``), which also measured the host's CPU (one thread, ``--seconds 3 --warmup 0.5``:
  single 3-s runs; the recipe GAN made 9 steps); the second is ``--profile 1``.
* Issue 16's goal, 10 times the CPU's steps/s, is met by the recipe's DCGAN only, against either
  CPU. minigen's GAN makes 4.1 to 4.5 times the steps of this CPU's one thread (6.6 to 7.2 times
  its host's), minigen's VAE 2.9 to 3.0 (2.5 to 2.6). Their networks are small (the GAN's
  generator has 63,377 weights and its discriminator 10,065), and on the GPU a step is mostly
  host-side work: Python, PyTorch's dispatch and autograd preparing and launching each GPU
  operation. In the profiled second (``--profile 1``; for minigen's systems it includes a fresh
  ``train`` call's set-up and final checkpoint), minigen's GAN ran 217 GPU events per step
  (kernels, and the few memory copies and fills among them) that kept the GPU busy for 0.91 ms
  of a step that took 7.4 ms unprofiled in the same run (12 %); its VAE 108 events, 0.35 ms of
  3.2 ms (11 %); the recipe's DCGAN 271 events, 1.38 ms of 7.1 ms (19 %). With no host-side cost
  at all (CUDA graphs come closest), the GPU time would allow at most about 1,100 steps/s for
  minigen's GAN and 2,900 for its VAE (34 and 27 times this CPU's one thread); not tried.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_recipes import SYSTEMS, make_run  # noqa: E402  (the same systems, built the same way)

from minigen.data import digits  # noqa: E402
from minigen.utils import get_device  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def steps_per_second(system: str, x_train, device, workdir, warmup: float, seconds: float,
                     profile: float = 0.0) -> dict:
    """Train ``system`` for ``warmup`` s untimed, then ``seconds`` more, timed: its steps and wall s.

    With ``profile`` > 0 (CUDA only), then ``profile`` s more under ``torch.profiler``: the GPU
    kernels launched per step and the GPU's busy time per step (the kernels' durations summed).
    """
    run = make_run(system, x_train, 0, device, workdir)
    run.train_until(warmup)
    synchronize(device)
    first, start = run.steps, time.perf_counter()
    run.train_until(warmup + seconds)
    synchronize(device)
    row = {"steps": run.steps - first, "wall": time.perf_counter() - start}
    if profile > 0 and device.type == "cuda":
        from torch.autograd import DeviceType
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as profiler
        first, start = run.steps, time.perf_counter()
        with profiler(activities=[ProfilerActivity.CUDA]) as prof:
            run.train_until(warmup + seconds + profile)
            synchronize(device)
        steps, wall = run.steps - first, time.perf_counter() - start
        kernels = [e for e in prof.events() if e.device_type == DeviceType.CUDA]
        row.update(kernels=len(kernels) / steps, gpu_ms=sum(e.time_range.elapsed_us() for e in kernels) / 1e3 / steps,
                   profiled_ms=wall * 1e3 / steps)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--seconds", type=float, default=5.0, help="timed seconds of training per system")
    p.add_argument("--warmup", type=float, default=1.0, help="untimed seconds of training first")
    p.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    p.add_argument("--profile", type=float, default=0.0,
                   help="CUDA only: seconds more under torch.profiler, for kernels and GPU busy time per step")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.warmup <= 0:
        raise SystemExit(f"--seconds and --warmup must be > 0, got {args.seconds} and {args.warmup}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__} on {device} ({name}), {torch.get_num_threads()} CPU thread(s), "
          f"{os.cpu_count()} CPUs, load average (1 min) {os.getloadavg()[0]:.2f}; oneDNN cap "
          f"{os.environ.get('ONEDNN_MAX_CPU_ISA', 'none')}")
    x_train = digits("train", device="cpu")[0]
    profiled = args.profile > 0 and device.type == "cuda"
    print(f"{'system':<12} {'steps':>6} {'wall s':>7} {'steps/s':>8}" + (
        f" {'kernels/step':>12} {'GPU busy ms/step':>16} {'wall ms/step profiled':>21}" if profiled else ""))
    with tempfile.TemporaryDirectory() as workdir:
        for system in [s for s in SYSTEMS if s in args.systems]:
            r = steps_per_second(system, x_train, device, workdir, args.warmup, args.seconds, args.profile)
            print(f"{system:<12} {r['steps']:6d} {r['wall']:7.2f} {r['steps'] / r['wall']:8.1f}" + (
                f" {r['kernels']:12.0f} {r['gpu_ms']:16.3f} {r['profiled_ms']:21.3f}" if profiled else ""),
                flush=True)
    print(f"load average (1 min) {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
