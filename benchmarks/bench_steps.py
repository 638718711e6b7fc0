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
around a whole ``train(..., max_seconds=...)`` call, its set-up and final flush included.

Run it once per device; the ratio of two runs' steps/s is the speed-up. Quality is not measured
here: ``bench_recipes.py --device cuda`` measures it for a budget of seconds.

**Record** (2026-11-30; steps/s, each from 5 timed seconds after 1 s of warm-up, seed 0):

    system        this CPU, 1 thread   this CPU, 2 threads   H200 (two runs)   H200 / CPU 1 thread
    recipe-vae          107.1                182.8              408.2, 467.1        3.8 to 4.4
    minigen-vae         106.4                173.8              322.2, 311.1        2.9 to 3.0
    recipe-gan            3.2                  6.0              129.1, 141.1        40 to 44
    minigen-gan          32.6                 43.0              145.7, 134.4        4.1 to 4.5

* "This CPU": the 2-core AMD EPYC with AVX-512 of the book's commands, torch 2.13.0 CPU build,
  oneDNN not capped (load 0.12 at the start, 1.42 at the end of the four runs, nothing else
  running). With the book's cap (``ONEDNN_MAX_CPU_ISA=AVX2``) one thread gave 113.4, 103.9, 2.7
  and 30.9 steps/s, and two threads 132.8, 133.1, 4.6 and 38.6: within the noise of these
  5-second runs for the VAEs (which have no convolutions), 5 to 15 % slower for the GANs.
* "H200": one NVIDIA H200 through the device tool, torch 2.11.0+cu130, its host an Intel Xeon
  with 16 cores; ``benchmarks/run_on_gpu.sh`` (first run) and ``--profile 1`` (second). On that
  machine's own CPU, one thread, 3 timed seconds: 121.7, 122.7, 3.1 and 20.3 steps/s.
* Issue 16's goal of 10 times the CPU's steps/s is met by the recipe's DCGAN only. minigen's
  networks are small (the GAN's generator has 63,377 weights and its discriminator 10,065), and
  a step on the GPU is mostly Python launching kernels: ``--profile 1`` counted 217 kernels per
  step of minigen's GAN, which kept the GPU busy for 0.91 ms of each 7.4 ms step (12 %); 108 per
  step of its VAE, 0.35 ms of 3.2 ms (11 %); the recipe's DCGAN, 271 kernels, 1.38 ms of 7.1 ms
  (19 %).
  Removing the launch overhead (CUDA graphs, say) would bound minigen's GAN at about 1,100
  steps/s and its VAE at about 2,900 (34 and 27 times this CPU's one thread); not tried.
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
