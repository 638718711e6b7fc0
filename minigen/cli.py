"""Command line: ``python -m minigen info | train | sample | translate``.

``train FAMILY`` trains one of the four model families (``gan``, ``vae``, ``cvae``,
``cyclegan``) with its chapter's default settings on the bundled digits, writing
``checkpoint.pt`` every ``--checkpoint-every`` steps (and at the end), ``samples.png`` and
``history.json`` into ``--out``; ``--resume CKPT`` continues a saved run exactly. ``sample``
draws images from a GAN, VAE or CVAE checkpoint; ``translate`` applies a CycleGAN checkpoint.
Everything here goes through the families' common contract (``build``, ``train``, ``load``;
see :mod:`minigen.training`); this module only adds files and messages.
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

FAMILIES = ("gan", "vae", "cvae", "cyclegan")
CHECKPOINT_EVERY = 200  # the command line's default interval, in steps


def _family_module(family: str):
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}.")
    return importlib.import_module(f"minigen.{family}")


def _default_config(family: str):
    module = _family_module(family)
    return {"gan": lambda: module.DIGITS, "vae": lambda: module.VAEConfig(),
            "cvae": lambda: module.CVAEConfig(), "cyclegan": lambda: module.CycleGANConfig()}[family]()


def _training_data(family: str, seed: int):
    """The data each family's chapter trains on."""
    from minigen.data import digits, stroke_domains

    if family == "cyclegan":
        return stroke_domains(seed=seed)
    images, labels = digits("train")
    return (images, labels) if family == "cvae" else images


def _draw(family: str, model, n: int, seed: int) -> torch.Tensor:
    """``n`` images ``(n, 1, 28, 28)`` in [0, 1] from a GAN, VAE or CVAE (CVAE: classes 0, 1, ... 9, 0, ...)."""
    module = _family_module(family)
    generator = torch.Generator().manual_seed(seed)
    if family == "cvae":
        labels = torch.arange(n, device=next(model.parameters()).device) % 10
        return module.sample(model, labels, generator=generator)
    if family == "gan" and model.config.net != "conv":
        raise ValueError("this checkpoint holds a 2-D (mlp) GAN, not an image model; draw its "
                         "points with minigen.gan.sample(minigen.gan.load(path), n).")
    return module.sample(model, n, generator=generator)


def _picture(family: str, model, seed: int) -> tuple[torch.Tensor, int]:
    """What ``samples.png`` shows: 64 samples, or for CycleGAN ten test digits, G(x), thick
    test digits and F(y), one row each."""
    if family != "cyclegan":
        return _draw(family, model, 64, seed), 8
    from minigen.cyclegan import translate
    from minigen.data import stroke_pairs

    x, y, _ = stroke_pairs("test")
    x, y = x[::100][:10], y[::100][:10]
    return torch.cat([x, translate(model.G, x), y, translate(model.F, y)]), len(x)


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
    from minigen.plotting import save_image_grid
    from minigen.training import check_budget

    check_budget(args.steps, args.max_seconds, 1)  # refuse a bad budget before any work
    module = _family_module(args.family)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "checkpoint.pt"
    if args.resume:
        model = module.load(args.resume, device=args.device)
    else:
        model = module.build(_default_config(args.family), seed=args.seed, device=args.device)
    history = module.train(model, _training_data(args.family, args.seed), steps=args.steps,
                           max_seconds=args.max_seconds, seed=args.seed, device=args.device,
                           checkpoint=path, checkpoint_every=args.checkpoint_every,
                           resume=args.resume, progress=False if args.quiet else None)
    images, nrow = _picture(args.family, model, args.seed)
    save_image_grid(images.detach().float().clamp(0, 1).cpu(), out / "samples.png", nrow=nrow)
    (out / "history.json").write_text(json.dumps(history))
    print(json.dumps({"checkpoint": str(path), "samples": str(out / "samples.png"),
                      "history": str(out / "history.json"), "steps": history["step"][-1],
                      "seconds": round(history["time"][-1], 1)}, indent=2))
    return 0


def cmd_sample(args) -> int:
    from minigen.checkpoint import load_checkpoint
    from minigen.plotting import save_image_grid

    if args.n <= 0:
        raise ValueError("-n must be positive.")
    out = Path(args.out)
    if out.suffix not in (".npy", ".png"):
        raise ValueError(f"--out must end in .npy (images) or .png (a grid), got {out.name!r}.")
    ckpt = load_checkpoint(args.checkpoint)
    family = ckpt.get("family")
    if family == "cyclegan":
        raise ValueError("CycleGAN checkpoints translate images rather than draw them; use "
                         "`python -m minigen translate`.")
    module = _family_module(family)
    model = module.load(ckpt, device=args.device)
    x = _draw(family, model, args.n, args.seed).detach().float().clamp(0, 1).cpu()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".png":
        save_image_grid(x, out)
    else:
        np.save(out, x.numpy().astype(np.float32))
    print(f"wrote {len(x)} samples to {out}")
    return 0


def cmd_translate(args) -> int:
    from minigen import cyclegan
    from minigen.utils import check_images

    model = cyclegan.load(args.checkpoint, device=args.device)
    try:
        x = torch.from_numpy(np.load(args.inp, allow_pickle=False))
    except Exception as exc:
        raise ValueError(f"could not read {args.inp} as a .npy array: {exc}") from exc
    check_images(x, f"images in {args.inp}")
    net = model.G if args.direction == "x2y" else model.F
    y = cyclegan.translate(net, x.float())
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
    t.add_argument("--steps", type=int, default=None,
                   help="stop after this many (more) steps (default: the family's config.steps)")
    t.add_argument("--max-seconds", type=float, default=None, help="stop after this much wall time")
    t.add_argument("--checkpoint-every", type=int, default=CHECKPOINT_EVERY,
                   help=f"write OUT/checkpoint.pt every this many steps, 0 = only at the end "
                        f"(default {CHECKPOINT_EVERY})")
    t.add_argument("--resume", default=None, metavar="CKPT",
                   help="continue the run saved in CKPT (same family) for --steps more steps")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw images from a GAN, VAE or CVAE checkpoint")
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
    """Run one command; a user error prints one line, ``error: ...``, and exits with 2."""
    from minigen.checkpoint import CheckpointError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CheckpointError, ValueError, TypeError, RuntimeError, ImportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
