"""Small shared pieces: choosing a device, seeding, progress bars, the divergence error, and
:func:`book_claims`, the chapters' checks of what their text says about the book's own run.

Everything here is a plain function. The input checks live in :mod:`minigen.checks`;
``check_images`` and ``InputError`` are re-exported here for the callers that import them from
this module. The device is always an argument; nothing is chosen at
import time, and the library never draws from Python's global ``random`` state.
"""
from __future__ import annotations

import ast
import contextlib
import linecache
import os
import random
import sys
import textwrap
import traceback

import numpy as np
import torch

from minigen.checks import DeviceError, InputError, InputTypeError, check_images

__all__ = [
    "get_device",
    "seed_everything",
    "progress",
    "check_images",
    "InputError",
    "TrainingDiverged",
    "book_claims",
    "STRICT_CLAIMS",
]

#: Set to ``1`` by the book's own commands (its build, its tests, nbval, the notebook executors):
#: then a claim of :func:`book_claims` that fails is an error.
STRICT_CLAIMS = "MINIGEN_STRICT_CLAIMS"

_ACCEPTED = ("'cpu', 'cuda', 'cuda:N' (N = the index of a GPU), 'mps', a torch.device of one of "
             "these types, or None (the best available: a CUDA GPU, then Apple's MPS, then the CPU)")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on; every ``device=`` argument of minigen goes through here.

    With ``prefer=None``: CUDA if available, then Apple's MPS, then the CPU.
    With ``prefer="cuda"``, ``"cuda:1"``, ``"mps"`` or ``"cpu"`` (or a ``torch.device``): that
    device. Anything else, or a device this machine does not have, raises
    :class:`minigen.checks.DeviceError` (a ``ValueError`` and a ``RuntimeError``) that lists what
    is accepted or says what to do instead.
    """
    if prefer is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not isinstance(prefer, (str, torch.device)):
        raise DeviceError(f"Unknown device {prefer!r} ({type(prefer).__name__}): a device is "
                          f"given by name. minigen accepts {_ACCEPTED}.")
    try:
        device = torch.device(prefer)
    except (RuntimeError, TypeError, ValueError):
        hint = (" For a GPU pass 'cuda' (NVIDIA) or 'mps' (Apple silicon)."
                if str(prefer).strip().lower() in ("gpu", "gpu:0", "nvidia", "metal") else "")
        raise DeviceError(f"Unknown device {prefer!r}. minigen accepts {_ACCEPTED}.{hint}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"Device {str(device)!r} was requested but PyTorch sees no CUDA GPU on this machine. "
                "On Colab choose Runtime > Change runtime type > GPU; locally install a CUDA build "
                "of torch, or pass device=None (or 'cpu') to run on the CPU."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"Device {str(device)!r} was requested but only {torch.cuda.device_count()} CUDA "
                f"device(s) exist: use an index from 0 to {torch.cuda.device_count() - 1}, or 'cuda'."
            )
    elif device.type == "mps":
        if not _mps_available():
            raise DeviceError(
                "Device 'mps' was requested but Apple's Metal backend is not available on this "
                "machine (it needs macOS 12.3+ on Apple silicon). Pass device=None or 'cpu'."
            )
    elif device.type != "cpu":
        raise DeviceError(f"Unknown device {prefer!r}: minigen does not support device type "
                          f"{device.type!r}. It accepts {_ACCEPTED}.")
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every CUDA device).

    Returns a fresh CPU ``torch.Generator`` seeded with ``seed`` for code that wants its
    own stream of random numbers (the sampling functions of minigen accept one).
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, (bool, np.bool_)):
        raise InputTypeError(f"seed must be a whole number in [0, 2**32), got {seed!r} "
                             f"({type(seed).__name__}).")
    if not 0 <= int(seed) < 2**32:
        raise InputError(f"seed must be a whole number in [0, 2**32), got {seed}.")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def progress(iterable=None, *, total=None, desc=None, quiet=None, **kwargs):
    """A ``tqdm.auto`` progress bar that stays silent when it should.

    It is silent when ``quiet=True``, or when ``quiet=None`` and the output is not
    interactive (CI, a log file) or ``MINIGEN_QUIET=1`` is set. ``iterable`` must be iterable
    (or ``None``, with ``total`` steps counted by ``update``); a number in its place is refused
    with the fix.
    """
    from tqdm.auto import tqdm

    if iterable is not None and not hasattr(iterable, "__iter__"):
        hint = (f" To count {iterable} steps, pass progress(range({iterable})) or "
                f"progress(total={iterable})." if isinstance(iterable, int) else "")
        raise InputTypeError(f"iterable must be iterable (a list, a range, a loader), got "
                             f"{type(iterable).__name__}.{hint}")

    if quiet is None:
        quiet = os.environ.get("MINIGEN_QUIET", "") not in ("", "0") or not _interactive()
    return tqdm(iterable, total=total, desc=desc, disable=quiet, leave=False, **kwargs)


def _interactive() -> bool:
    if "ipykernel" in sys.modules and os.environ.get("CI", "") in ("", "0", "false"):
        return True
    return sys.stderr is not None and sys.stderr.isatty()


@contextlib.contextmanager
def book_claims():
    """Check, with ``assert`` inside the block, what a chapter's text says about the book's own run.

    A chapter's prose quotes the numbers of the run stored in it: on a CPU with one thread, with
    the PyTorch the book was built with (chapter 1 names it). The book's commands set
    ``MINIGEN_STRICT_CLAIMS=1`` (:data:`STRICT_CLAIMS`), and there a failed ``assert`` in the block
    is raised as it is: the stored numbers would no longer say what the text says. Anywhere else
    (a GPU, as on Colab; another PyTorch version; a setting you changed) a run differs from the
    book's the way another seed's would (chapter 1, on seeds), so a claim about the book's run may
    not hold for yours: a failed ``assert`` then prints a note quoting the whole statement, skips
    the rest of the block, and the notebook goes on. Any other exception is raised in both cases.
    Use it only for claims about a training run, never for an identity or a derivation, which
    must hold everywhere.
    """
    try:
        yield
    except AssertionError as exc:
        if os.environ.get(STRICT_CLAIMS, "") not in ("", "0"):
            raise
        message = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        detail = f"\n    ({message})" if message else ""
        print(f"Note: on your run, this claim of the text about the book's run does not hold:\n"
              f"{textwrap.indent(_failed_statement(exc), '    ')}{detail}\n"
              f"The text describes the book's own run, on a CPU with one thread (chapter 1 names its "
              f"PyTorch). Yours, with PyTorch {torch.__version__}, can differ the way a run with "
              f"another seed would: expected on a GPU or with another PyTorch version (chapter 1, on "
              f"seeds), or after a change to a setting above. The rest of these checks were skipped "
              f"and the notebook goes on. (If your set-up is the book's and you changed nothing, "
              f"please report it.)")


def _failed_statement(exc: AssertionError) -> str:
    """The whole statement of the ``with`` block that raised ``exc`` (all its lines), from its source.

    The first frame of the traceback outside this module is the block's own: its line is the
    statement that failed there, an ``assert`` or a call (``torch.testing.assert_close``) that
    raised further down.
    """
    frames = traceback.extract_tb(exc.__traceback__)  # from book_claims' own yield downwards
    frame = next((f for f in frames if f.filename not in (__file__, contextlib.__file__)), frames[-1])
    fallback = (frame.line or "").strip() or f"line {frame.lineno} of {frame.filename}"
    source = "".join(linecache.getlines(frame.filename))
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return fallback
    column = getattr(frame, "colno", None)  # Python >= 3.11: picks one of two statements on a line
    simple = [node for node in ast.walk(tree)
              if isinstance(node, ast.stmt) and not hasattr(node, "body")
              and node.lineno <= frame.lineno <= node.end_lineno
              and (column is None or node.lineno != frame.lineno or node.col_offset <= column)]
    if not simple:
        return fallback
    node = max(simple, key=lambda n: (n.lineno, n.col_offset))  # the innermost, the last to start
    text = ast.get_source_segment(source, node) or fallback
    first, *rest = text.split("\n")
    return textwrap.dedent("\n".join([" " * node.col_offset + first.lstrip(), *rest]))


class TrainingDiverged(RuntimeError):
    """Raised by the training loops (:class:`minigen.training.Run`) when a loss, or a weight
    or a weight, is NaN, infinite or beyond the divergence bounds ``minigen.training.MAX_LOSS`` and
    ``MAX_WEIGHT``; the message names the step, the quantity and the last checkpoint."""
