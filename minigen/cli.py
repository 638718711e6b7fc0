"""Command line: ``python -m minigen info | train | sample | translate``.

Each model family module provides the functions the commands call:

* ``train_cli(out, *, steps, max_seconds, seed, device, quiet) -> dict`` trains with the
  chapter's default settings and writes ``checkpoint.pt``, ``samples.png`` and ``history.json``
  into ``out``;
* ``sample_from_checkpoint(checkpoint, n, *, generator, device) -> Tensor`` returns ``n`` images
  ``(n, 1, 28, 28)`` in [0, 1];
* ``translate_from_checkpoint(checkpoint, x, *, direction, device) -> Tensor`` (CycleGAN only).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

FAMILIES = ("gan", "vae", "cyclegan")


def _family_module(family: str):
    if family not in FAMILIES:
        raise SystemExit(f"error: unknown model family {family!r}; choose from {', '.join(FAMILIES)}.")
    return importlib.import_module(f"minigen.{family}")


def _version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return "not installed"


def cmd_info(args) -> int:
    import minigen
    from minigen.data import digits, mnist
    from minigen.utils import get_device

    print(f"minigen      {minigen.__version__}")
    print(f"python       {platform.python_version()} ({platform.platform()})")
    for name in ("torch", "numpy", "matplotlib", "pillow", "mlxtend", "ipywidgets", "torchvision"):
        print(f"{name:<12} {_version(name)}")
    print(f"device       {get_device()} (cuda available: {torch.cuda.is_available()}, "
          f"threads: {torch.get_num_threads()})")
    try:
        x, _ = digits("all")
        print(f"data digits  available: {len(x)} bundled MNIST digits (offline)")
    except Exception as exc:  # report, don't crash: this command is for diagnosing set-ups
        print(f"data digits  NOT available: {exc}")
    for kind in ("mnist", "fashion"):
        try:
            mnist("test", kind=kind)
            state = "available from the local cache"
        except FileNotFoundError:
            tv = importlib.util.find_spec("torchvision") is not None
            state = ("not cached; downloadable with download=True (needs internet)" if tv
                     else "not cached; needs IDX files or torchvision + internet")
        except Exception as exc:
            state = f"NOT available: {exc}"
        print(f"data {kind:<7} {state}")
    return 0


def cmd_train(args) -> int:
    from minigen.utils import get_device

    if args.steps is None and args.max_seconds is None:
        args.steps = None  # the family's default number of steps
    if args.steps is not None and args.steps <= 0:
        raise SystemExit("error: --steps must be positive.")
    if args.max_seconds is not None and args.max_seconds <= 0:
        raise SystemExit("error: --max-seconds must be positive.")
    module = _family_module(args.family)
    result = module.train_cli(Path(args.out), steps=args.steps, max_seconds=args.max_seconds,
                              seed=args.seed, device=get_device(args.device), quiet=args.quiet)
    print(json.dumps({k: str(v) for k, v in result.items()}, indent=2))
    return 0


def cmd_sample(args) -> int:
    from minigen.checkpoint import load_checkpoint
    from minigen.plotting import save_image_grid
    from minigen.utils import get_device

    if args.n <= 0:
        raise SystemExit("error: -n must be positive.")
    out = Path(args.out)
    if out.suffix not in (".npy", ".png"):
        raise SystemExit(f"error: --out must end in .npy (images) or .png (a grid), got {out.name!r}.")
    ckpt = load_checkpoint(args.checkpoint)
    module = _family_module(ckpt["family"])
    if not hasattr(module, "sample_from_checkpoint"):
        raise SystemExit(f"error: {ckpt['family']} checkpoints cannot be sampled; "
                         "use `python -m minigen translate` for CycleGAN.")
    generator = torch.Generator().manual_seed(args.seed)
    x = module.sample_from_checkpoint(ckpt, args.n, generator=generator, device=get_device(args.device))
    x = x.detach().float().clamp(0, 1).cpu()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".png":
        save_image_grid(x, out)
    else:
        np.save(out, x.numpy().astype(np.float32))
    print(f"wrote {len(x)} samples to {out}")
    return 0


def cmd_translate(args) -> int:
    from minigen.checkpoint import load_checkpoint
    from minigen.utils import check_images, get_device

    ckpt = load_checkpoint(args.checkpoint)
    if ckpt["family"] != "cyclegan":
        raise SystemExit(f"error: translate needs a cyclegan checkpoint, got a {ckpt['family']} one.")
    try:
        x = torch.from_numpy(np.load(args.inp, allow_pickle=False))
    except Exception as exc:
        raise SystemExit(f"error: could not read {args.inp} as a .npy array: {exc}") from exc
    check_images(x, f"images in {args.inp}")
    module = _family_module("cyclegan")
    y = module.translate_from_checkpoint(ckpt, x.float(), direction=args.direction,
                                         device=get_device(args.device))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, y.detach().float().clamp(0, 1).cpu().numpy().astype(np.float32))
    print(f"wrote {len(y)} translated images to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m minigen", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("info", help="versions, device and data sources").set_defaults(func=cmd_info)

    t = sub.add_parser("train", help="train a model with the chapter's default settings")
    t.add_argument("family", choices=FAMILIES)
    t.add_argument("--out", required=True, help="folder for checkpoint.pt, samples.png, history.json")
    t.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    t.add_argument("--max-seconds", type=float, default=None, help="stop after this much wall time")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw images from a GAN or VAE checkpoint")
    s.add_argument("checkpoint")
    s.add_argument("-n", type=int, default=64)
    s.add_argument("--out", required=True, help=".npy: float32 (N, 1, 28, 28) in [0, 1]; .png: a grid")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default=None)
    s.set_defaults(func=cmd_sample)

    r = sub.add_parser("translate", help="translate images with a CycleGAN checkpoint")
    r.add_argument("checkpoint")
    r.add_argument("--direction", choices=("x2y", "y2x"), required=True)
    r.add_argument("--in", dest="inp", required=True, help=".npy float32 (N, 1, 28, 28) in [0, 1]")
    r.add_argument("--out", required=True)
    r.add_argument("--device", default=None)
    r.set_defaults(func=cmd_translate)
    return p


def main(argv=None) -> int:
    from minigen.checkpoint import CheckpointError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CheckpointError, ValueError, TypeError, RuntimeError, ImportError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
