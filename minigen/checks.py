"""The checks every public function of minigen runs on its arguments, and the errors they raise.

One bad input gets one message wherever it enters: what was wrong, what was expected, what to
do. The errors are minigen's own classes, subclasses of the built-in ones that callers already
catch: :class:`InputError` is a ``ValueError``; :class:`InputTypeError` is also a ``TypeError``,
:class:`DeviceError` also a ``RuntimeError`` and :class:`PathError` also an ``OSError``.

Conversions are made only where they cannot change what the caller meant, and each function that
makes one says so: a NumPy array becomes a tensor; float64/float16 images become the dtype of
the network they enter (float32); integer labels of another integer dtype become int64.
Everything else is refused.

Two costs are kept apart. The full image check (:func:`check_images`: values in range, no NaN)
reads every pixel and waits for the device, so it runs once, where data enter (``train``,
``evaluate``, the metrics). The networks' ``forward`` and the per-step functions run
:func:`check_batch`, which looks only at type, shape and dtype (no device sync).
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import os
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "InputError", "InputTypeError", "DeviceError", "PathError",
    "as_tensor", "check_images", "check_batch", "check_labels", "check_count", "check_real",
    "check_generator", "check_points", "check_path", "check_nonempty", "check_instance",
    "check_config", "check_weights", "model_dtype",
]

N_CLASSES = 10


class InputError(ValueError):
    """A bad argument to a minigen function; the message says what was wrong and what to do."""


class InputTypeError(InputError, TypeError):
    """An argument of the wrong type or dtype (also a ``TypeError``)."""


class DeviceError(InputError, RuntimeError):
    """A device that minigen does not know, or that this machine does not have (also a ``RuntimeError``)."""


class PathError(InputError, OSError):
    """A file or folder that is missing, unreadable or unwritable, truncated, or not in the
    expected format (also an ``OSError``)."""


# --------------------------------------------------------------------------------------------
# Tensors
# --------------------------------------------------------------------------------------------
def as_tensor(x, name: str, what: str = "a torch.Tensor or a NumPy array") -> torch.Tensor:
    """``x`` as a tensor: a NumPy array is converted (copied only when it must be); anything
    else but a tensor is refused with :class:`InputTypeError`."""
    if isinstance(x, np.ndarray):
        if x.dtype == object or x.dtype.kind in "USV":
            raise InputTypeError(f"{name} must hold numbers, got a NumPy array of dtype {x.dtype}. "
                                 f"Pass {what} of numbers.")
        x = np.ascontiguousarray(x)
        return torch.from_numpy(x if x.flags.writeable else x.copy())
    if not isinstance(x, torch.Tensor):
        hint = f" Convert it with torch.tensor({name})." if isinstance(x, (list, tuple)) else ""
        raise InputTypeError(f"{name} must be {what}, got {type(x).__name__}.{hint}")
    return x


def _dtype_hint(dtype: torch.dtype) -> str:
    if dtype == torch.uint8:
        return " Convert 8-bit images (0..255) with `x.float() / 255`."
    if dtype == torch.bool:
        return " Convert a mask with `x.float()`."
    if dtype.is_complex:
        return " Take the real part or the magnitude first."
    return " If they hold grey levels 0..255, use `x.float() / 255`; if 0..1, `x.float()`."


def check_images(x, name: str = "images", *, channels: int | None = 1, size: int | None = 28,
                 low: float = 0.0, high: float = 1.0, dtype: torch.dtype | None = None,
                 allow_empty: bool = False) -> torch.Tensor:
    """Check that ``x`` is a float image batch ``(B, C, H, W)`` with finite values in [low, high].

    A NumPy array is converted to a tensor. With ``dtype`` given, a float tensor of another
    dtype (float64, float16) is converted to it after the checks; without it, ``x`` is returned
    unchanged. ``channels``/``size`` of ``None`` skip that check; an empty batch is refused
    unless ``allow_empty``. Raises :class:`InputTypeError` or :class:`InputError` saying what
    was wrong and how to fix it. Reads every value once (one device sync).
    """
    x = as_tensor(x, name)
    if not torch.is_floating_point(x):
        raise InputTypeError(
            f"{name} must be floating point with values in [{low:g}, {high:g}], got dtype "
            f"{x.dtype}.{_dtype_hint(x.dtype)}"
        )
    _check_image_shape(x, name, channels, size)
    if not allow_empty and len(x) == 0:
        raise InputError(f"{name} is empty (shape {tuple(x.shape)}): pass at least one image.")
    if x.numel():
        finite = torch.isfinite(x)
        if not finite.all():
            bad = int((~finite).flatten(1).any(1).sum())
            raise InputError(
                f"{name} contains NaN or infinite values (in {bad} of {len(x)} images): NaN in the "
                f"data, not a problem of the model or its settings. Expected finite values in "
                f"[{low:g}, {high:g}]; find the bad images with "
                "`(~torch.isfinite(x)).flatten(1).any(1).nonzero()` and drop or fix them."
            )
        lo, hi = torch.aminmax(x)
        lo, hi = lo.item(), hi.item()
        if lo < low - 1e-6 or hi > high + 1e-6:
            if lo < 0:
                hint = " If they are in [-1, 1], map them with `(x + 1) / 2`."
            elif hi > 1.5:
                hint = " If they are grey levels 0..255, divide them by 255."
            else:
                hint = f" Clip them with `x.clamp({low:g}, {high:g})` if that is what you mean."
            raise InputError(
                f"{name} must have values in [{low:g}, {high:g}], got [{lo:.3g}, {hi:.3g}].{hint}"
            )
    if dtype is not None and x.dtype != dtype:
        x = x.to(dtype)
    return x


def _check_image_shape(x: torch.Tensor, name: str, channels, size) -> None:
    shape = tuple(x.shape)
    if x.dim() != 4:
        if x.dim() == 3:
            hint = " Add a channel axis with `x.unsqueeze(1)`."
        elif x.dim() == 2 and size is not None and x.shape[1] == (channels or 1) * size * size:
            hint = f" Reshape flat rows with `x.view(-1, {channels or 1}, {size}, {size})`."
        elif x.dim() == 2:
            hint = " For one image use `x[None, None]`."
        else:
            hint = ""
        raise InputError(f"{name} must have shape (B, C, H, W), got {shape}.{hint}")
    if channels is not None and x.shape[1] != channels:
        hint = (" For RGB images take the grey level with `x.mean(1, keepdim=True)`."
                if channels == 1 and x.shape[1] == 3 else "")
        raise InputError(f"{name} must have {channels} channel(s), got shape {shape}.{hint}")
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        raise InputError(
            f"{name} must be {size}x{size} images, got shape {shape}. Resize them with "
            f"`torch.nn.functional.interpolate(x, size={size})`."
        )


def check_batch(x, name: str, *, tail: tuple | None = None, dim: int | None = None,
                dtype: torch.dtype | None = None, min_batch: int = 1) -> torch.Tensor:
    """The cheap check of one batch on its way into a network: type, shape, dtype; no values.

    ``x`` must be a float tensor with ``dim`` axes whose trailing sizes are ``tail`` (e.g.
    ``(1, 28, 28)``; ``None`` in it: any size) and at least ``min_batch`` rows. A float tensor of another dtype is
    converted to ``dtype`` (a NumPy array is refused here: convert data once, at the entry).
    Costs a few microseconds and never waits for the device, so it runs at every step.
    """
    if not isinstance(x, torch.Tensor):
        raise InputTypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}."
                             + (" Convert it with torch.from_numpy(x)." if isinstance(x, np.ndarray) else ""))
    if not x.is_floating_point():
        raise InputTypeError(f"{name} must be floating point, got dtype {x.dtype}.{_dtype_hint(x.dtype)}")
    want = dim if dim is not None else (1 + len(tail) if tail is not None else None)
    if (want is not None and x.dim() != want) or (tail is not None and any(
            t is not None and s != t for s, t in zip(x.shape[1:], tail))):
        expected = ("(B, " + ", ".join("*" if t is None else str(t) for t in tail) + ")"
                    if tail is not None else f"{want} axes")
        raise InputError(f"{name} must have shape {expected}, got {tuple(x.shape)}.")
    if len(x) < min_batch:
        raise InputError(f"{name} must hold at least {min_batch} example(s), got shape {tuple(x.shape)}"
                         + (" (batch norm needs two examples to estimate a spread)." if min_batch == 2 else "."))
    if dtype is not None and x.dtype != dtype:
        x = x.to(dtype)
    return x


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype of a model's first floating-point parameter or buffer (float32 for a new one)."""
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def check_nonempty(**tensors) -> None:
    """Refuse tensor arguments (of a loss) that are not tensors, or are empty: their mean would
    be NaN. Called as ``check_nonempty(d_real=d_real, d_fake=d_fake)``; no device sync."""
    for label, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise InputTypeError(f"{label} must be a torch.Tensor, got {type(t).__name__}.")
        if t.numel() == 0:
            raise InputError(f"{label} is empty (shape {tuple(t.shape)}): a mean over no values "
                             "is undefined. Pass at least one value.")


def check_labels(labels, n: int | None = None, name: str = "labels") -> torch.Tensor:
    """Check that ``labels`` are digit classes 0..9, one per image (``n`` of them, if given).

    A NumPy array is converted to a tensor, and another integer dtype to int64; float or bool
    labels are refused. Returns a 1-D int64 tensor; raises :class:`InputTypeError` or
    :class:`InputError` saying what is wrong and how to fix it.
    """
    if isinstance(labels, (list, tuple)):
        raise InputTypeError(f"{name} must be a torch.Tensor of int64 classes, got "
                             f"{type(labels).__name__}. Convert it with torch.tensor({name}).")
    labels = as_tensor(labels, name, "a torch.Tensor of int64 classes")
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise InputTypeError(f"{name} must be integer classes (int64), got dtype {labels.dtype}. "
                             f"If they hold whole numbers, use `{name}.long()`.")
    if labels.dim() != 1:
        raise InputError(f"{name} must be 1-D (one class per image), got shape {tuple(labels.shape)}."
                         + (f" Use `{name}.flatten()`." if labels.numel() == len(labels) else ""))
    if n is not None and len(labels) != n:
        raise InputError(f"{name} must have one class per image: {len(labels)} labels for {n} images.")
    if labels.numel():
        lo, hi = torch.aminmax(labels)
        if lo < 0 or hi >= N_CLASSES:
            raise InputError(f"{name} must be classes in 0..{N_CLASSES - 1}, got values from "
                             f"{lo.item()} to {hi.item()}.")
    return labels if labels.dtype == torch.int64 else labels.long()


def check_points(x, name: str, *, dim: int = 2, allow_empty: bool = False,
                 dtype: torch.dtype | None = None) -> torch.Tensor:
    """Check that ``x`` holds points ``(N, dim)`` with finite float values (NumPy converted).

    Integer points are converted to float; with ``dtype`` given the result has that dtype.
    """
    x = as_tensor(x, name)
    if x.dtype == torch.bool or x.is_complex():
        raise InputTypeError(f"{name} must hold real coordinates, got dtype {x.dtype}.")
    if x.dim() != 2 or x.shape[1] != dim:
        raise InputError(f"{name} must have shape (n, {dim}), got {tuple(x.shape)}.")
    if not allow_empty and len(x) == 0:
        raise InputError(f"{name} is empty (shape {tuple(x.shape)}): pass at least one point.")
    if not x.is_floating_point():
        x = x.to(dtype or torch.get_default_dtype())
    if x.numel() and not torch.isfinite(x).all():
        raise InputError(f"{name} contains NaN or infinite values: NaN in the data. Expected "
                         "finite coordinates; drop the bad rows, e.g. `x[torch.isfinite(x).all(1)]`.")
    return x if dtype is None else x.to(dtype)


# --------------------------------------------------------------------------------------------
# Numbers, generators, paths, objects
# --------------------------------------------------------------------------------------------
def check_count(n, name: str = "n", *, minimum: int | None = 1, maximum: int | None = None,
                why: str = "") -> int:
    """A whole number in ``[minimum, maximum]`` (a Python or NumPy int; not a bool, not a
    float), as ``int``.

    ``minimum=None`` checks the type only (the caller checks the range with its own message);
    a ``minimum`` below ``-2**31`` is treated the same way in the message, which then never
    shows a meaningless bound. ``maximum`` caps a count that would otherwise exhaust memory or
    time; ``why`` (e.g. ``" (a larger grid would not fit in memory)"``) is added to the message
    of a value above it.
    """
    shown = minimum if minimum is not None and minimum >= -2**31 else None
    bound = "" if shown is None else f" >= {shown}"
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        hint = ""
        if isinstance(n, (float, np.floating)) and math.isfinite(n) and float(n).is_integer():
            hint = f" Pass {name}={int(n)}."
        raise InputTypeError(f"{name} must be a whole number{bound}, got {n!r} "
                             f"({type(n).__name__}).{hint}")
    if minimum is not None and n < minimum:
        raise InputError(f"{name} must be a whole number{bound}, got {n}.")
    if maximum is not None and n > maximum:
        raise InputError(f"{name} must be at most {maximum:,}, got {n:,}{why}.")
    return int(n)


def check_real(x, name: str, *, minimum: float | None = None, above: float | None = None,
               maximum: float | None = None, below: float | None = None) -> float:
    """A finite real number (not a bool) within the given bounds, as ``float``.

    ``minimum``/``maximum`` are inclusive bounds, ``above``/``below`` exclusive ones.
    """
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise InputTypeError(f"{name} must be a real number, got {x!r} ({type(x).__name__}).")
    x = float(x)
    bounds = []
    if minimum is not None:
        bounds.append(f">= {minimum:g}")
    if above is not None:
        bounds.append(f"> {above:g}")
    if maximum is not None:
        bounds.append(f"<= {maximum:g}")
    if below is not None:
        bounds.append(f"< {below:g}")
    ok = (math.isfinite(x) and (minimum is None or x >= minimum) and (above is None or x > above)
          and (maximum is None or x <= maximum) and (below is None or x < below))
    if not ok:
        what = " and ".join(bounds)
        raise InputError(f"{name} must be a finite number{' ' + what if what else ''}, got {x!r}.")
    return x


def check_generator(generator, name: str = "generator") -> torch.Generator | None:
    """``None`` or a ``torch.Generator``; a seed passed in its place is refused with the fix."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    hint = (f" To seed it, pass {name}=torch.Generator().manual_seed({generator})."
            if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool) else "")
    raise InputTypeError(f"{name} must be a torch.Generator or None, got "
                         f"{type(generator).__name__}.{hint}")


def check_path(path, name: str = "path") -> Path:
    """A file-system path given as a string or ``os.PathLike``, as a ``Path``."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"{name} must be a path (str or pathlib.Path), got {type(path).__name__}.")
    if str(path) == "":
        raise InputError(f"{name} is an empty string: pass the path of a file.")
    return Path(path)


def check_instance(obj, cls, name: str, how: str) -> None:
    """Refuse ``obj`` unless it is an instance of ``cls``; ``how`` says where one comes from."""
    if not isinstance(obj, cls):
        raise InputTypeError(f"{name} must be a {cls.__name__} ({how}), got {type(obj).__name__}.")


def check_config(config, *, counts=(), naturals=(), positives=(), nonnegatives=(),
                 fractions=()) -> None:
    """Check a frozen settings dataclass in its ``__post_init__``: ``counts`` are whole numbers
    >= 1, ``naturals`` whole numbers >= 0, ``positives`` finite numbers > 0, ``nonnegatives``
    finite numbers >= 0, ``fractions`` numbers in [0, 1). The message names the field."""
    cls = type(config).__name__
    for field in counts:
        check_count(getattr(config, field), f"{cls}.{field}")
    for field in naturals:
        check_count(getattr(config, field), f"{cls}.{field}", minimum=0)
    for field in positives:
        check_real(getattr(config, field), f"{cls}.{field}", above=0)
    for field in nonnegatives:
        check_real(getattr(config, field), f"{cls}.{field}", minimum=0)
    for field in fractions:
        check_real(getattr(config, field), f"{cls}.{field}", minimum=0, below=1)


# Set while a family's train() (gan, vae, cvae, cyclegan) runs its steps: the losses skip their
# value checks (one device sync each), since the data were checked once and NaN from the networks
# is a divergence, which the training loop reports as such.
_LOSSES_UNCHECKED: contextvars.ContextVar[bool] = contextvars.ContextVar("_LOSSES_UNCHECKED",
                                                                         default=False)


@contextlib.contextmanager
def _losses_unchecked():
    token = _LOSSES_UNCHECKED.set(True)
    try:
        yield
    finally:
        _LOSSES_UNCHECKED.reset(token)


WEIGHTS_NOT_FINITE = ("the model's weights contain NaN/inf (it diverged earlier or was loaded "
                      "from a damaged file): rebuild it with build(...) or load a good checkpoint")


def check_weights(model, family: str) -> None:
    """Refuse a model whose parameters or buffers hold NaN/inf (one pass over them, one sync);
    the message names ``minigen.<family>.build``."""
    ts = [t.detach() for t in list(model.parameters()) + list(model.buffers())
          if t.is_floating_point() and t.numel()]
    # a sum is NaN/inf whenever an element is (one fast pass); only then look element-wise
    if ts and not bool(torch.isfinite(torch.stack([t.sum() for t in ts])).all()) and not bool(
            torch.stack([torch.isfinite(t).all() for t in ts]).all()):
        raise InputError(WEIGHTS_NOT_FINITE.replace("build(...)", f"minigen.{family}.build(...)")
                         + ".")
