"""Checkpoints: models, optimisers, history, settings and random states in one safe file.

Writing is atomic (a temporary file in the same folder, then ``os.replace``), so a run that is
interrupted or diverges never leaves a half-written checkpoint. Reading uses
``torch.load(weights_only=True)``, which refuses to run code hidden in a file: a checkpoint from
the internet can hold tensors and plain data, nothing else.
"""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError", "rng_state", "set_rng_state"]

FORMAT = "minigen-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A file could not be read as a minigen checkpoint."""


def rng_state() -> dict:
    """The states of Python's, NumPy's and PyTorch's (CPU and CUDA) generators, as plain data."""
    version, py_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": [version, list(py_state), gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos),
                  int(np_has_gauss), float(np_gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the generator states saved by :func:`rng_state`."""
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path, *, family: str, models: dict, optimizers: dict | None = None,
                    history: dict | None = None, settings: dict | None = None,
                    step: int = 0) -> Path:
    """Write a checkpoint atomically and return its path.

    Args:
        path: the file to write (parent folders are created).
        family: ``"gan"``, ``"vae"``, ``"cyclegan"`` (or another model family name); the CLI
            uses it to know how to rebuild the models.
        models: name -> ``nn.Module``; their ``state_dict`` is saved.
        optimizers: name -> ``torch.optim.Optimizer``.
        history: name -> list of plain numbers.
        settings: plain data (str, int, float, bool, None, lists and dicts of them) from which
            the models can be rebuilt, e.g. ``dataclasses.asdict(config)``.
        step: the number of training steps done.
    """
    from minigen import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "minigen_version": __version__,
        "family": family,
        "step": int(step),
        "models": {k: {n: t.detach().cpu() for n, t in m.state_dict().items()}
                   for k, m in models.items()},
        "optimizers": {k: o.state_dict() for k, o in (optimizers or {}).items()},
        "history": {k: [float(v) for v in vals] for k, vals in (history or {}).items()},
        "settings": dict(settings or {}),
        "rng": rng_state(),
    }
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, safely.

    Returns the dictionary with keys ``family``, ``step``, ``models``, ``optimizers``,
    ``history``, ``settings`` and ``rng``. Raises :class:`CheckpointError` for a missing,
    truncated or foreign file, and never executes code stored in the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}: the file does not exist.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for bad files (EOFError, KeyError, ...)
        raise CheckpointError(
            f"{path} could not be read as a minigen checkpoint: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}. The file may be truncated (an "
            "interrupted copy or download) or not a checkpoint at all; files with pickled code "
            "are refused on purpose. Re-create it with `python -m minigen train ...`."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a minigen checkpoint (no '{FORMAT}' marker). "
            "Checkpoints are written by minigen's training loops and `python -m minigen train`."
        )
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer minigen ({payload.get('minigen_version')}); "
            "upgrade minigen to read it."
        )
    return payload
