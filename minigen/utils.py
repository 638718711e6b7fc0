"""Small shared pieces: choosing a device, seeding, progress bars, input checks, the divergence error.

Everything here is a plain function. The device is always an argument; nothing is chosen at
import time, and the library never draws from Python's global ``random`` state.
"""
from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch

__all__ = [
    "get_device",
    "seed_everything",
    "progress",
    "check_images",
    "TrainingDiverged",
]

_KNOWN_DEVICES = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on.

    With ``prefer=None``: CUDA if available, then Apple's MPS, then the CPU.
    With ``prefer="cuda"``, ``"cuda:1"``, ``"mps"`` or ``"cpu"``: that device, or a
    ``RuntimeError`` that says why it is not available and what to do instead.
    """
    if prefer is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(prefer)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"Unknown device {prefer!r}. Use one of {', '.join(_KNOWN_DEVICES)} "
            "(optionally with an index, e.g. 'cuda:0'), or None to pick automatically."
        ) from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                "Device 'cuda' was requested but PyTorch sees no CUDA GPU. On Colab choose "
                "Runtime > Change runtime type > GPU; locally install a CUDA build of torch, "
                "or pass device=None (or 'cpu') to run on the CPU."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"Device {str(device)!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) exist."
            )
    elif device.type == "mps":
        if not _mps_available():
            raise RuntimeError(
                "Device 'mps' was requested but Apple's Metal backend is not available "
                "(it needs macOS 12.3+ on Apple silicon). Pass device=None or 'cpu'."
            )
    elif device.type != "cpu":
        raise ValueError(
            f"Device type {device.type!r} is not supported by minigen; use one of "
            f"{', '.join(_KNOWN_DEVICES)}."
        )
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every CUDA device).

    Returns a fresh CPU ``torch.Generator`` seeded with ``seed`` for code that wants its
    own stream of random numbers (the sampling functions of minigen accept one).
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}.")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}.")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def progress(iterable=None, *, total=None, desc=None, quiet=None, **kwargs):
    """A ``tqdm.auto`` progress bar that stays silent when it should.

    It is silent when ``quiet=True``, or when ``quiet=None`` and the output is not
    interactive (CI, a log file) or ``MINIGEN_QUIET=1`` is set.
    """
    from tqdm.auto import tqdm

    if quiet is None:
        quiet = os.environ.get("MINIGEN_QUIET", "") not in ("", "0") or not _interactive()
    return tqdm(iterable, total=total, desc=desc, disable=quiet, leave=False, **kwargs)


def _interactive() -> bool:
    if "ipykernel" in sys.modules and os.environ.get("CI", "") in ("", "0", "false"):
        return True
    return sys.stderr is not None and sys.stderr.isatty()


def check_images(x, name: str = "images", *, channels: int | None = 1, size: int | None = 28,
                 low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """Check that ``x`` is a float image batch of shape ``(B, C, H, W)`` with values in [low, high].

    Returns ``x`` unchanged (as a tensor). Raises ``TypeError``/``ValueError`` with a message that
    says what was wrong and how to fix it. ``channels``/``size`` of ``None`` skip that check.
    """
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}.")
    if not torch.is_floating_point(x):
        raise TypeError(
            f"{name} must be floating point with values in [{low:g}, {high:g}], got dtype "
            f"{x.dtype}. Convert uint8 images with `x.float() / 255`."
        )
    if x.dim() != 4:
        hint = " Add a channel axis with `x.unsqueeze(1)`." if x.dim() == 3 else ""
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}.{hint}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s), got shape {tuple(x.shape)}.")
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        raise ValueError(f"{name} must be {size}x{size} images, got shape {tuple(x.shape)}.")
    if x.numel():
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinite values.")
        lo, hi = x.min().item(), x.max().item()
        if lo < low - 1e-6 or hi > high + 1e-6:
            hint = " If they are in [-1, 1], map them with `(x + 1) / 2`." if lo < 0 else ""
            raise ValueError(
                f"{name} must have values in [{low:g}, {high:g}], got [{lo:.3g}, {hi:.3g}].{hint}"
            )
    return x


class TrainingDiverged(RuntimeError):
    """Raised by the training loops (:class:`minigen.training.Run`) when a loss, or a weight
    about to be saved, is NaN or infinite; the message names the step and the last checkpoint."""
