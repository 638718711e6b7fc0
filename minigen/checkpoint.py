"""Checkpoints: models, optimisers, history, settings and the run's random state in one safe file.

Writing is atomic (a temporary file in the same folder, then ``os.replace``), so a run that is
interrupted or diverges never leaves a half-written checkpoint. Reading uses
``torch.load(weights_only=True)``, which refuses to run code hidden in a file: a checkpoint from
the internet can hold tensors and plain data, nothing else.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import torch

__all__ = ["save_checkpoint", "load_checkpoint", "load", "plain", "make_plain", "CheckpointError"]

FORMAT = "minigen-checkpoint"
FORMAT_VERSION = 2  # 2: one model per checkpoint, under models['model']; 'extra' resume state


class CheckpointError(RuntimeError):
    """A file could not be read as a minigen checkpoint."""


def plain(value):
    """Settings as plain Python data: numpy or torch numbers become int/float, tuples lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # a numpy or torch scalar
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"setting {value!r} of type {type(value).__name__} is not a plain number, "
                    "string, bool or list; configs hold plain data only.")


def make_plain(config) -> None:
    """Make a frozen config dataclass hold plain Python numbers (call from ``__post_init__``).

    ``VAEConfig(lr=np.float32(1e-3))`` then holds ``float``: numpy and torch numbers would
    otherwise reach the optimisers and the checkpoints, which ``weights_only`` loading refuses.
    A tuple stays a tuple (of plain numbers).
    """
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        new = tuple(plain(value)) if isinstance(value, tuple) else plain(value)
        object.__setattr__(config, field.name, new)


def save_checkpoint(path, *, family: str, models: dict, optimizers: dict | None = None,
                    history: dict | None = None, settings: dict | None = None,
                    step: int = 0, extra: dict | None = None) -> Path:
    """Write a checkpoint atomically and return its path.

    Args:
        path: the file to write (parent folders are created).
        family: ``"gan"``, ``"vae"``, ``"cyclegan"`` (or another model family name); the CLI
            uses it to know how to rebuild the models.
        models: name -> ``nn.Module``; their ``state_dict`` is saved.
        optimizers: name -> ``torch.optim.Optimizer``.
        history: name -> list of plain numbers.
        settings: data from which the models can be rebuilt, e.g. ``dataclasses.asdict(config)``;
            numpy and torch numbers are stored as plain Python numbers and tuples as lists
            (:func:`plain`), so the file always loads with ``weights_only=True``.
        step: the number of training steps done.
        extra: what a training loop needs to resume exactly (its random generator's state, the
            position of its data loader, ...): tensors and plain data.
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
        "history": {k: [v if type(v) is int else float(v) for v in vals]
                    for k, vals in (history or {}).items()},
        "settings": plain(dict(settings or {})),
        "extra": dict(extra or {}),
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
    ``history``, ``settings`` and ``extra``. Raises :class:`CheckpointError` for a missing,
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
    version = payload.get("format_version", 0)
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer minigen ({payload.get('minigen_version')}, format "
            f"{version}); this minigen reads format {FORMAT_VERSION}. Upgrade minigen to read it."
        )
    return payload


def load(checkpoint, *, family: str, config_class, model_class, build, device=None):
    """Rebuild the model saved in ``checkpoint``: the one loader every model family uses.

    ``checkpoint`` is a path or the dictionary :func:`load_checkpoint` returns; ``family`` the
    name the family saves under (``"gan"``, ``"vae"``, ``"cvae"``, ``"cyclegan"``);
    ``config_class`` its frozen settings dataclass, ``model_class`` its ``nn.Module`` (made from
    a config) and ``build(config, *, device)`` its ``build``.

    Everything is checked before anything large is made: the family, the format version, the
    settings (every key known, every value of the type the config expects) and the shape of every
    saved tensor against a copy of the model built on PyTorch's ``meta`` device, which allocates
    no memory. So a damaged or hand-edited file whose settings ask for a huge network is refused
    without allocating it. Returns the model, on ``device``, in eval mode. Every problem raises
    :class:`CheckpointError` saying what is wrong and what to do.
    """
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    where = "the checkpoint" if isinstance(checkpoint, dict) else str(checkpoint)
    if ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{where} is not a minigen checkpoint (no '{FORMAT}' marker).")
    if ckpt.get("family") != family:
        raise CheckpointError(
            f"{where} holds a {ckpt.get('family')!r} model, not a {family!r} one: load it with "
            f"minigen.{ckpt.get('family')}.load (python -m minigen reads any family).")
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{where} has checkpoint format {ckpt.get('format_version')}, written by minigen "
            f"{ckpt.get('minigen_version')}; this minigen reads format {FORMAT_VERSION}. "
            "Train the model again with this version (python -m minigen train ...).")
    config = _config_from_settings(ckpt.get("settings"), config_class, where)
    saved = (ckpt.get("models") or {}).get("model")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{where} holds no model weights (models['model'] is missing).")
    with torch.device("meta"):
        expected = model_class(config).state_dict()
    missing, unexpected = sorted(set(expected) - set(saved)), sorted(set(saved) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{where} does not match the {family} network its settings describe: missing "
            f"{missing[:5]}, unexpected {unexpected[:5]}. The file was edited or damaged; "
            "train the model again.")
    for name, tensor in expected.items():
        if not isinstance(saved[name], torch.Tensor) or saved[name].shape != tensor.shape:
            got = tuple(saved[name].shape) if isinstance(saved[name], torch.Tensor) else saved[name]
            raise CheckpointError(
                f"{where}: weight {name!r} has shape {got}, but the settings describe "
                f"{tuple(tensor.shape)}. The file was edited or damaged; train the model again.")
    model = build(config, device=device)
    model.load_state_dict(saved)
    return model.eval()


def _config_from_settings(settings, config_class, where: str):
    """The frozen config saved as plain data, checked field by field."""
    if not isinstance(settings, dict):
        raise CheckpointError(f"{where} has no settings to rebuild the model from.")
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        raise CheckpointError(
            f"{where} has settings {unknown} that {config_class.__name__} does not know (known: "
            f"{sorted(fields)}). It was written by another minigen version or edited; train the "
            "model again with this version.")
    defaults = config_class()
    values = {}
    for name, value in settings.items():
        default = getattr(defaults, name)
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        ok = (isinstance(value, type(default)) and not (isinstance(value, bool) and not isinstance(default, bool))
              or isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            raise CheckpointError(
                f"{where}: setting {name}={value!r} should be a {type(default).__name__} like "
                f"the default {default!r}. The file was edited or damaged; train the model again.")
        values[name] = value
    try:
        return config_class(**values)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: its settings are not valid: {exc}") from exc
