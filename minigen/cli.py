"""Command line: ``python -m minigen info | train | sample | translate | classroom``.

``train FAMILY`` trains one of the four model families (``gan``, ``vae``, ``cvae``,
``cyclegan``) with its chapter's default settings on the bundled digits, writing
``checkpoint.pt`` every ``--checkpoint-every`` steps (and at the end), ``samples.png`` and
``history.json`` into ``--out``; ``--resume CKPT`` continues a saved run exactly. ``sample``
draws images from a GAN, VAE or CVAE checkpoint; ``translate`` applies a CycleGAN checkpoint.
Everything here goes through the families' common contract (``build``, ``train``, ``load``;
see :mod:`minigen.training`); this module only adds files and messages. ``classroom`` (build
student, teacher and autograder editions of the chapters; grade submissions) is handed to
:mod:`minigen.classroom`, which has its own parser and the same one-line errors and exit status.

Exit status: 0 on success; 2 for every user error (a bad argument or number, a missing,
unreadable or unwritable path, a damaged, foreign or diverged checkpoint, a run that diverged),
reported as one line ``error: <problem>. <fix>`` on stderr and never a traceback; 130 when
interrupted with Ctrl-C. Anything else (1, with a traceback) is a bug in minigen: please report it.
Every output folder is checked for writing before any work, so a finished run is never lost to an
output error, and files are written exactly where the message says.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import platform
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

FAMILIES = ("gan", "vae", "cvae", "cyclegan")
CHECKPOINT_EVERY = 200  # the command line's default interval, in steps
EXIT_USER_ERROR = 2  # one exit status for every user error (argparse uses 2 as well)
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
MAX_SAMPLES = 100_000  # sample -n: at most this many images (.npy of 100,000 is 314 MB)
MAX_STEPS = 10**7  # train --steps: at most this many (the book's longest run is a few thousand)
GRID_MAX = 256  # a .png grid shows at most this many images (16 x 16)
DRAW_BATCH = 1000  # sample draws in batches of this many images (bounded memory)

_DEVICE_OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", MemoryError)  # a GPU's memory is full
EPILOG = (f"Exit status: 0 success; {EXIT_USER_ERROR} user error (one line 'error: <problem>. "
          f"<fix>' on stderr); {EXIT_INTERRUPTED} interrupted; 1 a bug in minigen (please report it).")


class UserError(Exception):
    """A mistake in the command line or its files; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is a :class:`UserError` (one line) rather than two lines."""

    def error(self, message):
        own = re.match(r"argument [^:]+: (-.*)$", message, re.S)  # our types name the option
        raise UserError(f"{own.group(1) if own else message}. See `{self.prog} --help`")


# -- argument types: a bad number is refused before any work ------------------------------------
def _whole(text: str, option: str, minimum: int, fix: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{option} must be a whole number, got {text!r}. {fix}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{option} must be at least {minimum}, got {value}. {fix}")
    return value


def _steps(text):
    value = _whole(text, "--steps", 1, "Pass a positive number of steps, or leave it out for the "
                   "family's default")
    if value > MAX_STEPS:
        raise argparse.ArgumentTypeError(
            f"--steps must be at most {MAX_STEPS:,} (the book's runs take a few thousand; more "
            f"would train for days), got {value:,}. Pass a smaller number, and --resume the "
            "checkpoint to go on")
    return value


def _every(text):
    return _whole(text, "--checkpoint-every", 0, "Pass 0 to write the checkpoint only at the end")


def _seed(text):
    value = _whole(text, "--seed", 0, "Pass a seed in [0, 2**63)")
    if value >= 2**63:
        raise argparse.ArgumentTypeError(f"--seed must be below 2**63, got {value}. Pass a smaller seed")
    return value


def _count(text):
    value = _whole(text, "-n", 1, f"Pass a number of samples from 1 to {MAX_SAMPLES:,}")
    if value > MAX_SAMPLES:
        raise argparse.ArgumentTypeError(
            f"-n must be at most {MAX_SAMPLES:,} (a .npy of that many images takes "
            f"{MAX_SAMPLES * 784 * 4 / 1e6:,.0f} MB), got {value:,}. Run sample several times with "
            "different --seed values for more")
    return value


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"--max-seconds must be a positive, finite number of seconds, got {text!r}. Pass e.g. "
            "600, or leave it out to train for --steps alone")
    return value


# -- paths: checked before any work ------------------------------------------------------------
def _writable_folder(folder: Path, what: str) -> None:
    """Make ``folder`` (and its parents) and prove that a file can be written in it."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{what} {folder} is a file, not a folder. Choose another path or move the file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UserError(f"cannot write to {what} {folder}: {_reason(exc)}. Choose a folder you can "
                        "write to") from exc


def _output_file(text: str, suffixes: tuple[str, ...], option: str = "--out") -> Path:
    """``--out`` of sample/translate: a known suffix, not a folder, in a writable folder."""
    if not text.strip():
        raise UserError(f"{option} is empty. Pass a file name such as samples{suffixes[0]}")
    path = Path(text)
    if path.suffix.lower() not in suffixes:
        kinds = " or ".join(suffixes)
        raise UserError(f"{option} must end in {kinds}, got {path.name!r}. Name the file e.g. "
                        f"{path.with_suffix(suffixes[0]).name!r}")
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder. Pass a file name such as {path / ('samples' + suffixes[0])}")
    _writable_folder(path.parent, f"the folder of {option}")
    return path


def _reason(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return reason[:1].lower() + reason[1:]


def _write_file(path: Path, write) -> None:
    """``write(path)``; on an OS error the partial file is removed and the message names ``path``."""
    try:
        write(path)
    except OSError as exc:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
        raise UserError(f"cannot write {path}: {_reason(exc)}. Free some disk space or choose "
                        "another folder") from exc


def _save_npy(path: Path, x: torch.Tensor) -> None:
    """float32 images into exactly ``path`` (``np.save`` given a name would append ``.npy``)."""
    with open(path, "wb") as f:
        np.save(f, x.numpy().astype(np.float32))


# -- families -----------------------------------------------------------------------------------
def _family_module(family):
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}.")
    return importlib.import_module(f"minigen.{family}")


def _checkpoint_family(ckpt: dict, path) -> str:
    family = ckpt.get("family")
    if family not in FAMILIES:
        raise UserError(f"{path} holds a {family!r} model, which python -m minigen cannot rebuild "
                        f"(it reads {', '.join(FAMILIES)} checkpoints). Load it in Python with the "
                        "code that wrote it")
    return family


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
    """``n`` images ``(n, 1, 28, 28)`` in [0, 1] from a GAN, VAE or CVAE (CVAE: classes 0, 1, ... 9, 0, ...),
    drawn in batches of :data:`DRAW_BATCH` from one generator seeded with ``seed``."""
    module = _family_module(family)
    if family == "gan" and model.config.net != "conv":
        raise UserError("this checkpoint holds a 2-D (mlp) GAN, not an image model. Draw its "
                        "points in Python with minigen.gan.sample(minigen.gan.load(path), n)")
    generator = torch.Generator().manual_seed(seed)
    parts = []
    with torch.no_grad():
        for start in range(0, n, DRAW_BATCH):
            size = min(DRAW_BATCH, n - start)
            if family == "cvae":
                labels = torch.arange(start, start + size, device=next(model.parameters()).device) % 10
                parts.append(module.sample(model, labels, generator=generator).float().cpu())
            else:
                parts.append(module.sample(model, size, generator=generator).float().cpu())
    return torch.cat(parts)


def _finite_output(x: torch.Tensor, checkpoint) -> torch.Tensor:
    """Images a model made: NaN or infinite values mean a broken model, not bad user input."""
    if not torch.isfinite(x).all():
        raise UserError(f"the model in {checkpoint} produced NaN or infinite images: its weights are "
                        "damaged or diverged. Train it again, or use an earlier checkpoint")
    return x.clamp(0, 1)


def _picture(family: str, model, seed: int) -> tuple[torch.Tensor, int]:
    """What ``samples.png`` shows: 64 samples, or for CycleGAN ten test digits, G(x), thick
    test digits and F(y), one row each."""
    if family != "cyclegan":
        return _draw(family, model, 64, seed), 8
    from minigen.cyclegan import translate
    from minigen.data import stroke_pairs

    x, y, _ = stroke_pairs("test")
    x, y = x[::50][:10], y[::50][:10]  # one of each class
    return torch.cat([x, translate(model.G, x), y, translate(model.F, y)]), len(x)


def _device(name):
    """``--device`` checked before any work (``None``: the best available)."""
    from minigen.utils import get_device

    try:
        return get_device(name)
    except (ValueError, RuntimeError) as exc:
        raise UserError(f"--device {name}: {exc}".rstrip(".")) from exc


def _version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return "not installed"


# -- commands -----------------------------------------------------------------------------------
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

    module = _family_module(args.family)
    device = _device(args.device)
    if not args.out.strip():
        raise UserError("--out is empty. Pass the folder to write checkpoint.pt, samples.png and "
                        "history.json into, e.g. --out runs/gan")
    out = Path(args.out)
    files = {name: out / name for name in ("checkpoint.pt", "samples.png", "history.json")}
    _writable_folder(out, "--out")  # before any work: a finished run is never lost to its folder
    for path in files.values():
        if path.is_dir():
            raise UserError(f"{path} is a folder, so train cannot write it. Move it away or choose "
                            "another --out")
    if args.resume:
        model = module.load(args.resume, device=device)
    else:
        model = module.build(_default_config(args.family), seed=args.seed, device=device)
    history = module.train(model, _training_data(args.family, args.seed), steps=args.steps,
                           max_seconds=args.max_seconds, seed=args.seed, device=device,
                           checkpoint=files["checkpoint.pt"], checkpoint_every=args.checkpoint_every,
                           resume=args.resume, progress=False if args.quiet else None)
    try:  # the checkpoint is written: what follows cannot lose the run
        images, nrow = _picture(args.family, model, args.seed)
        save_image_grid(_finite_output(images.detach().float().cpu(), files["checkpoint.pt"]),
                        files["samples.png"], nrow=nrow)
        files["history.json"].write_text(json.dumps(history))
    except OSError as exc:
        raise UserError(f"the run finished and its checkpoint is saved in {files['checkpoint.pt']}, "
                        f"but writing {exc.filename or 'the samples or history'} failed: "
                        f"{_reason(exc)}. Free some disk space; `python -m minigen sample "
                        f"{files['checkpoint.pt']} --out samples.png` redraws the samples") from exc
    print(json.dumps({"checkpoint": str(files["checkpoint.pt"]), "samples": str(files["samples.png"]),
                      "history": str(files["history.json"]), "steps": history["step"][-1],
                      "seconds": round(history["time"][-1], 1)}, indent=2))
    return 0


def cmd_sample(args) -> int:
    from minigen.checkpoint import CheckpointError, describe, load_checkpoint
    from minigen.plotting import save_image_grid

    out = _output_file(args.out, (".npy", ".png"))
    device = _device(args.device)
    ckpt = load_checkpoint(args.checkpoint)
    family = _checkpoint_family(ckpt, args.checkpoint)
    if family == "cyclegan":
        raise UserError(f"{args.checkpoint} is a CycleGAN checkpoint: it translates images rather "
                        "than draws them. Use `python -m minigen translate`")
    try:  # from the dict already read; a message names the file, not the dict
        model = _family_module(family).load(ckpt, device=device)
    except CheckpointError as exc:
        named = str(exc).replace(describe(ckpt), str(args.checkpoint), 1)
        raise CheckpointError(named) from exc
    n = min(args.n, GRID_MAX) if out.suffix.lower() == ".png" else args.n
    x = _finite_output(_draw(family, model, n, args.seed), args.checkpoint)
    if out.suffix.lower() == ".png":
        side = math.ceil(math.sqrt(len(x)))
        _write_file(out, lambda path: save_image_grid(x, path))  # exactly ``out``: it ends in .png
        capped = (f" (a grid shows at most {GRID_MAX} images, -n was {args.n}; write a .npy for "
                  "all of them)" if args.n > GRID_MAX else "")
        print(f"wrote {len(x)} samples as a grid ({side} per row) to {out}{capped}")
    else:
        _write_file(out, lambda path: _save_npy(path, x))
        print(f"wrote {len(x)} samples to {out}")
    return 0


def _read_images(path_text: str) -> torch.Tensor:
    """``--in``: a .npy of float images ``(N, 1, 28, 28)`` in [0, 1]; float64/float16 become float32."""
    from minigen.utils import check_images

    path = Path(path_text)
    if not path.exists():
        raise UserError(f"could not read --in {path}: the file does not exist. Check the path")
    if path.is_dir():
        raise UserError(f"--in {path} is a folder. Pass a .npy file of images")
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as exc:
        raise UserError(f"cannot read --in {path}: {_reason(exc)}. Check the file's permissions") from exc
    if head.startswith(b"PK"):
        raise UserError(f"--in {path} is not a readable .npy array of numbers: it is a .npz (or "
                        "other zip) archive. Save the images alone with "
                        "numpy.save(path, images.astype('float32')), or take one "
                        "array out of the archive first")
    if head != b"\x93NUMPY":
        raise UserError(f"--in {path} is not a readable .npy array of numbers: it lacks NumPy's "
                        ".npy header (an image or a text file?). Save the images with "
                        "numpy.save(path, images.astype('float32'))")
    try:
        array = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise UserError(f"cannot read --in {path}: {_reason(exc)}. Check the file's permissions") from exc
    except Exception as exc:  # not .npy, pickled objects, truncated: numpy's many errors
        first = str(exc).splitlines()[0] if str(exc) else "no details"
        why = (": it holds pickled Python objects, which are never loaded" if "pickle" in first.lower()
               else f" ({type(exc).__name__}: {first})")  # numpy's advice to unpickle: never passed on
        raise UserError(f"--in {path} is not a readable .npy array of numbers{why}. Save the images "
                        "with numpy.save(path, images) as float32") from exc
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        kind = getattr(array, "dtype", type(array).__name__)
        hint = " Divide 8-bit images by 255 first." if kind == np.uint8 else ""
        raise UserError(f"--in {path} holds {kind} values; translate needs float images in [0, 1]."
                        f"{hint} Save them with numpy.save(path, images.astype('float32'))")
    if array.ndim == 0 or len(array) == 0:
        raise UserError(f"--in {path} holds no images (shape {array.shape}). Pass at least one")
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    try:
        return check_images(x, f"the images in --in {path}")
    except (ValueError, TypeError) as exc:
        raise UserError(str(exc).rstrip(".")) from exc


def cmd_translate(args) -> int:
    from minigen import cyclegan

    out = _output_file(args.out, (".npy",))
    device = _device(args.device)
    x = _read_images(args.inp)
    model = cyclegan.load(args.checkpoint, device=device)
    net = model.G if args.direction == "x2y" else model.F
    with torch.no_grad():
        y = _finite_output(cyclegan.translate(net, x).detach().float().cpu(), args.checkpoint)
    _write_file(out, lambda path: _save_npy(path, y))
    print(f"wrote {len(y)} translated images to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m minigen", description=__doc__.splitlines()[0], epilog=EPILOG)
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("info", help="versions, device and data sources",
                   epilog=EPILOG).set_defaults(func=cmd_info)

    t = sub.add_parser("train", help="train a model with the chapter's default settings", epilog=EPILOG)
    t.add_argument("family", choices=FAMILIES)
    t.add_argument("--out", required=True,
                   help="folder for checkpoint.pt, samples.png, history.json (made if missing; "
                        "checked for writing before training)")
    t.add_argument("--steps", type=_steps, default=None,
                   help=f"stop after this many (more) steps, 1 to {MAX_STEPS:,} (default: the family's "
                        "config.steps)")
    t.add_argument("--max-seconds", type=_seconds, default=None,
                   help="stop after this much wall time, a positive finite number of seconds")
    t.add_argument("--checkpoint-every", type=_every, default=CHECKPOINT_EVERY,
                   help=f"write OUT/checkpoint.pt every this many steps, 0 = only at the end "
                        f"(default {CHECKPOINT_EVERY})")
    t.add_argument("--resume", default=None, metavar="CKPT",
                   help="continue the run saved in CKPT (same family) for --steps more steps")
    t.add_argument("--seed", type=_seed, default=0)
    t.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw images from a GAN, VAE or CVAE checkpoint", epilog=EPILOG)
    s.add_argument("checkpoint")
    s.add_argument("-n", type=_count, default=64, help=f"number of samples, 1 to {MAX_SAMPLES:,} "
                   f"(default 64); a .png grid shows at most {GRID_MAX}")
    s.add_argument("--out", required=True,
                   help=f".npy: all n images, float32 (n, 1, 28, 28) in [0, 1]; .png: a grid of at "
                        f"most {GRID_MAX} of them")
    s.add_argument("--seed", type=_seed, default=0)
    s.add_argument("--device", default=None)
    s.set_defaults(func=cmd_sample)

    r = sub.add_parser("translate", help="translate images with a CycleGAN checkpoint", epilog=EPILOG)
    r.add_argument("checkpoint")
    r.add_argument("--direction", choices=("x2y", "y2x"), required=True)
    r.add_argument("--in", dest="inp", required=True,
                   help=".npy of float images (N, 1, 28, 28) in [0, 1] (float64 is read as float32)")
    r.add_argument("--out", required=True, help=".npy file for the translated images (the name must "
                   "end in .npy)")
    r.add_argument("--device", default=None)
    # listed for --help only: main() hands `classroom ...` to minigen.classroom before parsing
    sub.add_parser("classroom", help="student and teacher editions of the chapters, and grading "
                   "(python -m minigen classroom --help)", add_help=False)
    r.set_defaults(func=cmd_translate)
    return p


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if text.endswith((".", "?", "!")) else text + "."


def main(argv=None) -> int:
    """Run one command and return its exit status.

    A user error (see the module docstring) prints one line, ``error: <problem>. <fix>``, on
    stderr and returns 2; Ctrl-C returns 130. As with argparse, a usage mistake (an unknown
    command or option, a bad number) exits through ``SystemExit(2)`` after its one line, and
    ``--help`` through ``SystemExit(0)``.
    """
    from minigen.checkpoint import CheckpointError
    from minigen.utils import TrainingDiverged

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["classroom"]:  # its own parser and one-line errors: minigen/classroom.py
        from minigen.classroom import main as classroom_main
        return classroom_main(argv[1:])
    try:
        args = build_parser().parse_args(argv)
    except UserError as exc:  # a usage mistake: one line, and SystemExit(2) as argparse does
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR) from None
    try:
        return args.func(args)
    except KeyboardInterrupt:
        hint = (f" The run's last checkpoint (written every --checkpoint-every steps) is in "
                f"{Path(args.out) / 'checkpoint.pt'}: continue it with --resume "
                f"{Path(args.out) / 'checkpoint.pt'}." if getattr(args, "command", None) == "train" else "")
        print(f"error: interrupted.{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UserError, CheckpointError, TrainingDiverged, ValueError, TypeError, OSError,
            EOFError, MemoryError, _DEVICE_OUT_OF_MEMORY) as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.strerror:  # a raw OS error: say which path
            where = f" {exc.filename}" if exc.filename else ""
            message = f"cannot use{where}: {_reason(exc)}. Check the path and its permissions"
        elif isinstance(exc, (MemoryError, _DEVICE_OUT_OF_MEMORY)):
            message = "out of memory. Pass a smaller -n or --steps, or use a machine with more memory"
        print(f"error: {_one_line(message)}", file=sys.stderr)
        return EXIT_USER_ERROR
