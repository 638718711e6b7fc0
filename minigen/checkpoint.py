"""Checkpoints: models, optimisers, history, settings and the run's random state in one safe file.

Writing is atomic (a temporary file ``NAME.tmp-PID-RANDOM`` in the same folder, then
``os.replace``), so a run that is interrupted or diverges never leaves a half-written checkpoint;
the temporary file of a save that was killed outright is removed by the next save of the same
target. A new checkpoint gets the permissions of any new file (the umask decides), and saving onto
a symbolic link writes the file the link points to. Reading uses ``torch.load(weights_only=True)``,
which refuses to run code hidden in a file: a checkpoint from the internet can hold tensors and
plain data, nothing else. Every problem (a missing, empty, truncated or foreign file, a folder, a
file that cannot be written) raises :class:`CheckpointError` naming the file and what to do.
"""
from __future__ import annotations

import dataclasses
import errno
import os
import re
import secrets
import warnings
from pathlib import Path

import torch

from minigen.checks import InputError, InputTypeError, check_count, check_path

__all__ = ["save_checkpoint", "load_checkpoint", "load", "describe", "plain", "make_plain",
           "CheckpointError"]

FORMAT = "minigen-checkpoint"
FORMAT_VERSION = 2  # 2: one model per checkpoint, under models['model']; 'extra' resume state


class CheckpointError(RuntimeError):
    """A file could not be read, or written, as a minigen checkpoint; the message names the file
    (never a temporary one) and what to do. ``__cause__`` holds the underlying error, if any."""


TEMP_MARK = ".tmp-"  # a save writes NAME.tmp-PID-RANDOM next to NAME, then renames it
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


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
    raise InputTypeError(f"setting {value!r} of type {type(value).__name__} is not a plain number, "
                         "string, bool or list; configs hold plain data only.")


def make_plain(config) -> None:
    """Make a frozen config dataclass hold plain Python numbers (call from ``__post_init__``).

    ``VAEConfig(lr=np.float32(1e-3))`` then holds ``float``: numpy and torch numbers would
    otherwise reach the optimisers and the checkpoints, which ``weights_only`` loading refuses.
    A tuple stays a tuple (of plain numbers).
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise InputTypeError(f"config must be a config dataclass instance (e.g. VAEConfig()), got "
                             f"{type(config).__name__}.")
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

    Arguments that would make a file no loader can use (an empty ``family``, a model that is
    not an ``nn.Module``, a negative or fractional ``step``, a path that is not a path) raise
    :class:`~minigen.checks.InputError` or :class:`~minigen.checks.InputTypeError` before
    anything is written.
    """
    from minigen import __version__

    path = _write_target(check_path(path, "path"))
    _check_save_arguments(family, models, optimizers, history, settings, step, extra)
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temp_files(path)
        tmp, fd = _create_temp_file(path)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from exc
        raise
    return path


def _check_save_arguments(family, models, optimizers, history, settings, step, extra) -> None:
    """Refuse, before anything is written, what would make a checkpoint no loader can read."""
    if not isinstance(family, str) or not family.strip():
        raise InputError(f"family must be the name of a model family such as 'gan', 'vae', 'cvae' "
                         f"or 'cyclegan', got {family!r}: the loaders rebuild the model from it.")
    for label, group, kind, what in (("models", models, torch.nn.Module, "torch.nn.Module"),
                                     ("optimizers", optimizers or {}, torch.optim.Optimizer,
                                      "torch.optim.Optimizer")):
        if not isinstance(group, dict):
            raise InputTypeError(f"{label} must be a dict of name -> {what} (e.g. "
                                 f"{{'model': model}}), got {type(group).__name__}.")
        for name, obj in group.items():
            if not isinstance(obj, kind):
                raise InputTypeError(f"{label}[{name!r}] must be a {what}, "
                                     f"got {type(obj).__name__}.")
    if not models:
        raise InputError("models is empty: a checkpoint must hold at least one model to restore "
                         "(e.g. models={'model': model}).")
    for label, value in (("history", history), ("settings", settings), ("extra", extra)):
        if value is not None and not isinstance(value, dict):
            raise InputTypeError(f"{label} must be a dict or None, got {type(value).__name__}.")
    check_count(step, "step", minimum=0)


def _write_target(path: Path) -> Path:
    """The file a save writes: ``path``, or through a symbolic link the file it points to."""
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if path.is_dir():
        raise CheckpointError(f"cannot write checkpoint {path}: it is a folder. Pass a file path, "
                              f"e.g. {path / 'checkpoint.pt'}.")
    return path


def _create_temp_file(path: Path) -> tuple[Path, int]:
    """``NAME.tmp-PID-RANDOM`` next to ``path``, opened exclusively; its mode follows the umask."""
    for _ in range(100):
        tmp = path.with_name(f"{path.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                                0o666)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "could not find a free temporary file name", str(path))


def _remove_stale_temp_files(path: Path) -> None:
    """Remove the temporary files that killed saves of ``path`` left behind (none of a process
    that is still running: it may be saving right now)."""
    pattern = re.compile(re.escape(path.name + TEMP_MARK) + r"(\d+)-[0-9a-f]+")
    for entry in path.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if match and not _process_alive(int(match.group(1))) and entry.is_file():
            entry.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be saving the same file
    if os.name != "posix":
        return False  # os.kill(pid, 0) would send a signal on Windows: treat others as stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else
        return True
    return True


def _os_reason(exc: OSError) -> str:
    """``permission denied``, ``no space left on device``, ...: the OS's words, lower case."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return reason[:1].lower() + reason[1:]


def _write_error(path: Path, exc: OSError) -> CheckpointError:
    """An OSError of a save, told about the target (never the temporary file)."""
    fixes = {errno.EACCES: "choose a folder you can write to, or change its permissions",
             errno.EPERM: "choose a folder you can write to, or change its permissions",
             errno.EROFS: "the file system is read-only: choose another folder",
             errno.ENOSPC: "free some disk space or choose another disk",
             errno.ENOTDIR: "a part of the folder path is a file, not a folder: choose another path",
             errno.EEXIST: "a part of the folder path is a file, not a folder: choose another path",
             errno.EISDIR: "the target is a folder: pass a file path"}
    fix = fixes.get(exc.errno, "check the path and the disk")
    return CheckpointError(f"cannot write checkpoint {path}: {_os_reason(exc)}. {fix[:1].upper() + fix[1:]}.")


# torch.load(weights_only=True) had flaws that let a crafted file run code: CVE-2025-32434
# (torch < 2.6.0) and CVE-2026-24747 (torch < 2.10.0). minigen still installs beside an older
# torch (Colab brings its own), so loading warns there instead.
SAFE_TORCH = (2, 10)


def torch_release(version: str | None = None) -> tuple[int, int]:
    """``(major, minor)`` of a torch version string such as ``"2.13.0+cpu"`` (default: this
    torch's)."""
    parts = re.findall(r"\d+", torch.__version__ if version is None else version)[:2]
    return (int(parts[0]), int(parts[1])) if len(parts) == 2 else (0, 0)


def _warn_if_torch_load_is_unsafe() -> None:
    if torch_release() < SAFE_TORCH:
        warnings.warn(
            f"torch {torch.__version__} has known flaws in torch.load(weights_only=True) "
            "(CVE-2025-32434, fixed in torch 2.6; CVE-2026-24747, fixed in 2.10): a crafted "
            "checkpoint could run code on this machine. Load only checkpoints you made "
            "yourself, or upgrade torch to 2.10 or later.", UserWarning, stacklevel=3)


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns the dictionary with keys ``family``, ``step``, ``models``, ``optimizers``,
    ``history``, ``settings`` and ``extra``. Raises :class:`CheckpointError` for a missing,
    truncated or foreign file. The file is read with ``torch.load(weights_only=True)``, which
    refuses pickled code; with torch older than 2.10 that reader had known flaws
    (:data:`SAFE_TORCH`), and this function warns.
    """
    path = check_path(path, "path")
    _warn_if_torch_load_is_unsafe()
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}: the file does not exist. Check the path "
                              "(checkpoints are written by the training loops' checkpoint= and by "
                              "`python -m minigen train --out FOLDER`, as FOLDER/checkpoint.pt).")
    if path.is_dir():
        hint = (f" It holds {path / 'checkpoint.pt'}: pass that file."
                if (path / "checkpoint.pt").is_file() else " Pass the checkpoint file inside it.")
        raise CheckpointError(f"{path} is a folder, not a checkpoint file.{hint}")
    _check_map_location(path, map_location)
    cannot = f"{path} could not be read as a minigen checkpoint"
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {_os_reason(exc)}. Check the file's "
                              "permissions.") from exc
    if not head:
        raise CheckpointError(f"{cannot}: the file is empty (0 bytes), e.g. a save or a copy that "
                              "was cut off. Re-create it with `python -m minigen train ...` or "
                              "copy it again.")
    try:
        with warnings.catch_warnings():  # torch's note on a file's pickle protocol is noise here
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for bad files (EOFError, KeyError, ...)
        raise CheckpointError(f"{cannot}: {_load_failure(exc, head, map_location)}") from exc
    _check_payload(path, payload)
    return payload


def _check_map_location(path: Path, map_location) -> None:
    """A device string (or torch.device) that exists here, before torch reads a byte."""
    if isinstance(map_location, dict) or callable(map_location):
        return  # a dict or a function: torch's own business
    if not isinstance(map_location, (str, torch.device)):
        raise InputTypeError(f"map_location must be a device such as 'cpu' (the default), 'cuda' "
                             f"or torch.device('cuda'), got {map_location!r} "
                             f"({type(map_location).__name__}).")
    try:
        device = torch.device(map_location)
    except (RuntimeError, TypeError) as exc:
        raise CheckpointError(f"cannot load {path} onto map_location={map_location!r}: not a "
                              "device. Use 'cpu' (the default), 'cuda' or 'mps'.") from exc
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())}
    if not available.get(device.type, True):
        raise CheckpointError(
            f"cannot load {path} onto map_location={map_location!r}: PyTorch sees no "
            f"{device.type.upper()} device on this machine. Load it with map_location='cpu' (the "
            "default) and move the model with .to(device) afterwards.")


def _load_failure(exc: Exception, head: bytes, map_location) -> str:
    """What went wrong in torch.load, in a few words and what to do (torch's text cleaned)."""
    text = _ANSI.sub("", str(exc))
    again = "Re-create it with `python -m minigen train ...` or copy it again."
    refused = ("besides tensors and plain data. Files that could run code when loaded are refused "
               "on purpose; load only checkpoints written by minigen.")
    if "Unsupported global" in text:
        culprit = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        return f"it holds pickled Python objects{f' ({culprit.group(1)})' if culprit else ''} {refused}"
    if "Weights only load failed" in text and head.startswith(b"PK"):  # torch.save's zip format
        return f"it is a PyTorch file, but holds pickled Python objects {refused}"
    if "Weights only load failed" in text or isinstance(exc, KeyError) or "invalid load key" in text:
        kind = "a NumPy .npy file" if head.startswith(b"\x93NUMPY") else "not a PyTorch file"
        return (f"it is {kind}, or holds objects that safe loading refuses. A checkpoint is written "
                "by minigen's training loops or `python -m minigen train`.")
    if isinstance(exc, EOFError) or "central directory" in text or "failed reading zip" in text \
            or "unexpected EOF" in text.lower():
        return f"the file is truncated or damaged (e.g. an interrupted copy or download). {again}"
    if head.startswith(b"PK"):
        return ("it is a zip archive but not one written by torch.save. A checkpoint is written by "
                "minigen's training loops or `python -m minigen train`.")
    if "CUDA" in text or "restore data location" in text:
        return (f"its tensors cannot be placed with map_location={map_location!r} on this machine. "
                "Load it with map_location='cpu' (the default).")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if "weights_only" in first:
        first = ""  # torch's advice to load the file unsafely is never passed on
    return (f"{type(exc).__name__}{': ' + first if first else ''}. The file may be truncated or "
            f"not a checkpoint at all. {again}")


def _check_payload(path: Path, payload) -> None:
    """A loaded object is a minigen checkpoint of a format this minigen reads."""
    if not isinstance(payload, dict):
        shape = f" of shape {tuple(payload.shape)}" if isinstance(payload, torch.Tensor) else ""
        raise CheckpointError(
            f"{path} holds a {type(payload).__name__}{shape}, not a minigen checkpoint (a dict with "
            f"a '{FORMAT}' marker). Checkpoints are written by minigen's training loops and "
            "`python -m minigen train`.")
    if payload.get("format") != FORMAT:
        if payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
            what = (f"a bare state_dict ({len(payload)} tensors, e.g. {next(iter(payload))!r}): "
                    "weights without the settings needed to rebuild a model")
        else:
            what = f"a dict with keys {sorted(map(str, payload))[:6]} but no '{FORMAT}' marker"
        raise CheckpointError(
            f"{path} is a PyTorch file but not a minigen checkpoint: it holds {what}. "
            "Checkpoints are written by minigen's training loops and `python -m minigen train`.")
    version = payload.get("format_version", 0)
    if not isinstance(version, int):
        raise CheckpointError(f"{path} is damaged: its format_version is {version!r}, not a number. "
                              "Train the model again.")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer minigen ({payload.get('minigen_version')}, format "
            f"{version}); this minigen reads format {FORMAT_VERSION}. Upgrade minigen to read it."
        )
    for key, kind in (("family", str), ("models", dict)):
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(f"{path} is damaged: its {key!r} entry is missing or not a "
                                  f"{kind.__name__}. Train the model again.")


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
    if not isinstance(checkpoint, (dict, str, bytes, os.PathLike)):
        raise InputTypeError(f"checkpoint must be the path of a checkpoint file (str or "
                             f"pathlib.Path) or the dict load_checkpoint returns, got "
                             f"{type(checkpoint).__name__}.")
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    where = describe(checkpoint)
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
    for name, tensor in saved.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(
                f"{where}: weight {name!r} holds NaN or infinite values, so the model would produce "
                "NaN. The file was saved from a diverged run or damaged (minigen's training loops "
                "never save one); train again, or resume from an earlier checkpoint.")
    model = build(config, device=device)
    model.load_state_dict(saved)
    return model.eval()


def describe(checkpoint) -> str:
    """How messages name ``checkpoint``: its path, or for a dict its family and step."""
    if isinstance(checkpoint, dict):
        return (f"the checkpoint dict passed in (family {checkpoint.get('family')!r}, step "
                f"{checkpoint.get('step')!r})")
    return str(checkpoint)


def _config_from_settings(settings, config_class, where: str):
    """The frozen config saved as plain data, checked field by field."""
    if not isinstance(settings, dict) or not settings:
        raise CheckpointError(
            f"{where} has no settings to rebuild the model from: it was saved without "
            "settings=dataclasses.asdict(config). Save it again with its settings (minigen's "
            "train(..., checkpoint=path) does), or train the model again.")
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
