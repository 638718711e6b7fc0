"""What every training loop of minigen shares: budgets, batches, the clock, history, checkpoints.

The four model families (:mod:`minigen.gan`, :mod:`minigen.vae`, :mod:`minigen.cvae`,
:mod:`minigen.cyclegan`) train under one contract:

* ``build(config, *, seed=0, device=None)`` returns one ``nn.Module`` holding the family's
  networks and its frozen ``config``; the initial weights come from ``seed`` alone.
* ``train(model, data, *, steps, max_seconds, seed, device, checkpoint, checkpoint_every,
  resume, progress)`` trains it in place, leaves it in **eval mode** and returns the history,
  ``{name: [plain numbers]}`` with one entry per step (``step`` counts from 1).
* Every random number of a run (batch order, noise, augmentation, history buffers) comes from
  one ``torch.Generator`` on the training device, seeded with ``seed``; the caller's global
  random state is never touched. Same seed, same run, bit for bit on one thread.
* ``checkpoint_every=0`` writes a checkpoint only at the end; ``resume=path`` continues a saved
  run so that N steps, save, M more steps give the same parameters, optimiser state and history
  (but for the wall-clock ``time`` column) as N + M steps straight.
* ``load(checkpoint, *, device=None)`` rebuilds the model through :func:`minigen.checkpoint.load`.

This module holds the bookkeeping that would otherwise be written four times: :class:`Batches`
(shuffled minibatches, epoch by epoch, with a state that can be saved) and :class:`Run` (the step
counter, the budget, the history, checkpoints, resuming and the divergence guard). The training
step itself, the part the chapters teach, stays in each family's module.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import numbers
import time

import numpy as np
import torch
from torch import nn

from minigen.checkpoint import CheckpointError, describe, load_checkpoint, plain, save_checkpoint
from minigen.checks import InputError, InputTypeError, check_path
from minigen.utils import TrainingDiverged, get_device
from minigen.utils import progress as progress_bar

__all__ = ["check_budget", "check_seed", "Batches", "Run", "seeded", "place", "settings_of",
           "flush_denormals", "frozen", "MAX_LOSS", "MAX_WEIGHT"]

# Divergence bounds (see :class:`Run`, item 7). A run stops with TrainingDiverged when a value a
# step records (a loss, an ELBO term, D's mean output) leaves [-MAX_LOSS, MAX_LOSS], or when an
# entry of the model's floating-point state (weights and buffers) leaves [-MAX_WEIGHT, MAX_WEIGHT].
# The book's runs stay far below both: with their default settings (and chapter 4's Gaussian
# likelihood, sigma_x = 0.1) the largest |value| recorded is 8.1e3 (that VAE's first steps), most
# are below 600, and the largest |weight| is 2.1 (measured on the CPU over full default runs of
# every family, issue 13). A run that crosses them has exploded, whatever it would print next.
# Run(max_loss=..., max_weight=...) changes them for one run; math.inf turns a bound off (NaN and
# infinity still stop the run).
MAX_LOSS = 1e6
MAX_WEIGHT = 1e6

# How often (in steps) the losses are copied from the device into the history. Between copies
# they stay tensors, so a GPU never waits for the host; a checkpoint and the end of a run copy
# them first, so a saved history is always complete and checked.
SYNC_EVERY = 25


def check_budget(steps, max_seconds, default_steps: int) -> tuple[int | None, float | None]:
    """Validate a training budget; with neither given, ``default_steps`` steps.

    ``steps`` must be a positive whole number and ``max_seconds`` a positive finite number of
    seconds; 0, negative, NaN or infinite budgets are refused with
    :class:`~minigen.checks.InputError` (a ``ValueError``; they would train nothing, or never
    stop), a value that is not a number with :class:`~minigen.checks.InputTypeError`. A
    ``max_seconds`` shorter than one step still runs one step (see :meth:`Run.going`).
    """
    if steps is not None:
        if not _is_number(steps):
            raise InputTypeError(f"steps must be a positive whole number, got {steps!r} "
                                 f"({type(steps).__name__}). Pass steps=None to train for "
                                 "max_seconds alone.")
        if not math.isfinite(float(steps)) or not float(steps).is_integer() or steps <= 0:
            raise InputError(f"steps must be a positive whole number, got {steps!r}. Pass "
                             "steps=None to train for max_seconds alone.")
        steps = int(steps)
    if max_seconds is not None:
        if not _is_number(max_seconds):
            raise InputTypeError(f"max_seconds must be a positive, finite number of seconds, got "
                                 f"{max_seconds!r} ({type(max_seconds).__name__}). Pass "
                                 "max_seconds=None to train for steps alone.")
        if not math.isfinite(max_seconds) or max_seconds <= 0:
            raise InputError(f"max_seconds must be a positive, finite number of seconds, got "
                             f"{max_seconds!r}. Pass max_seconds=None to train for steps alone.")
        max_seconds = float(max_seconds)
    if steps is None and max_seconds is None:
        steps = default_steps
    return steps, max_seconds


def _is_number(value) -> bool:
    """A real number (Python, NumPy or a 0-d tensor), not a bool or a string."""
    if isinstance(value, torch.Tensor):
        return value.ndim == 0 and not value.dtype.is_complex and value.dtype != torch.bool
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_seed(seed) -> int:
    """A seed must be a whole number in [0, 2**63)."""
    if isinstance(seed, bool) or not isinstance(seed, int) and not hasattr(seed, "__index__"):
        raise InputTypeError(f"seed must be an int, got {type(seed).__name__}. "
                             "Pass a seed such as seed=0.")
    seed = int(seed)
    if not 0 <= seed < 2**63:
        raise InputError(f"seed must be in [0, 2**63), got {seed}. Pass a non-negative seed such as seed=0.")
    return seed


class Batches:
    """Shuffled minibatch indices into ``n`` examples, one fresh permutation per epoch.

    Each epoch is a permutation of ``range(n)`` drawn from ``generator`` and cut into full
    batches of ``batch_size`` (the last, incomplete batch is dropped). ``next()`` returns the
    indices of the next batch, on the generator's device. :meth:`state_dict` and
    :meth:`load_state_dict` save and restore the position, so a resumed run sees the same batches.
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator):
        if n < 1:
            raise InputError("the training data are empty: pass at least one example.")
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}.")
        self.n, self.batch_size, self.generator = int(n), int(min(batch_size, n)), generator
        self.order = torch.empty(0, dtype=torch.int64, device=generator.device)
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.pos + self.batch_size > len(self.order):  # a new epoch
            self.order = torch.randperm(self.n, generator=self.generator, device=self.generator.device)
            self.pos = 0
        idx = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def state_dict(self) -> dict:
        return {"order": self.order.cpu(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.order, self.pos = state["order"].to(self.generator.device), int(state["pos"])


def settings_of(config) -> dict:
    """``dataclasses.asdict(config)`` as plain Python data (see :func:`minigen.checkpoint.plain`)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise InputTypeError(f"config must be a settings dataclass instance such as "
                             f"minigen.vae.VAEConfig() (a model's .config), got {type(config).__name__}.")
    return plain(dataclasses.asdict(config))


class Run:
    """The bookkeeping of one call of a family's ``train``: read it as a checklist.

    1. Where: the device of the model's parameters (the family's ``train`` moved it there).
    2. Budget: :func:`check_budget`; the run stops at ``steps`` more steps or ``max_seconds``,
       whichever comes first, but always after at least one step: a ``max_seconds`` that ends
       before the first step would otherwise save an untrained checkpoint without a word.
    3. Randomness: ``self.generator``, one ``torch.Generator`` on the device seeded with ``seed``.
    4. Resume (:meth:`resume`): the model, optimisers, history, generator and every object
       registered with :meth:`track` (loaders, buffers) come back from the checkpoint; the
       ``seed`` is then not used.
    5. Each step: the loop calls :meth:`record` with the step's losses (tensors or numbers).
    6. Checkpoints every ``checkpoint_every`` steps (0: only at the end) and at the end.
    7. Divergence: a recorded value that is NaN, infinite or beyond ``max_loss`` in absolute
       value (default :data:`MAX_LOSS`), or a weight (any floating-point entry of the model's
       ``state_dict``) beyond ``max_weight`` (default :data:`MAX_WEIGHT`) or not finite, raises
       :class:`~minigen.utils.TrainingDiverged` naming the step, the quantity and the last
       checkpoint. Values are checked every :data:`SYNC_EVERY` steps and before every
       checkpoint, weights too, so a checkpoint never holds a diverged state: the last one stays
       intact.
    """

    def __init__(self, family: str, model: nn.Module, optimizers: dict, *, steps, max_seconds,
                 default_steps: int, seed, checkpoint, checkpoint_every, progress,
                 max_loss: float | None = None, max_weight: float | None = None):
        self.max_loss = _check_bound(MAX_LOSS if max_loss is None else max_loss, "max_loss")
        self.max_weight = _check_bound(MAX_WEIGHT if max_weight is None else max_weight, "max_weight")
        if not isinstance(checkpoint_every, int) or isinstance(checkpoint_every, bool) \
                or checkpoint_every < 0:
            raise (InputError if isinstance(checkpoint_every, int) else InputTypeError)(
                f"checkpoint_every must be a whole number >= 0 (0 = only at the end), "
                f"got {checkpoint_every!r}.")
        self.family, self.model, self.optimizers = family, model, optimizers
        self.steps, self.max_seconds = check_budget(steps, max_seconds, default_steps)
        self.device = next(model.parameters()).device
        self.generator = torch.Generator(device=self.device).manual_seed(check_seed(seed))
        self.checkpoint = check_path(checkpoint, "checkpoint") if checkpoint is not None else None
        self.checkpoint_every, self.state = checkpoint_every, {}
        self.history: dict[str, list[float]] = {"step": [], "time": []}
        self.step, self.last_saved, self.time_offset = 0, None, 0.0
        self.pending: list[tuple[int, float, dict]] = []
        self.first, self.start = 0, time.perf_counter()
        self.bar = progress_bar(total=self.steps, desc=family,
                                quiet=None if progress is None else not progress)
        model.train()

    # -- set-up, the loop's two calls, the end ---------------------------------------------------
    def track(self, name: str, obj):
        """Save and restore ``obj`` (a loader, a buffer: anything with ``state_dict`` and
        ``load_state_dict``) with the run's checkpoints; returns ``obj``."""
        self.state[name] = obj
        return obj

    def resume(self, checkpoint) -> None:
        """Continue from ``checkpoint`` (path or loaded dict; ``None``: start afresh). Call it
        after :meth:`track`, before the loop."""
        if checkpoint is not None:
            self._resume(checkpoint)
        self.first, self.start = self.step, time.perf_counter()

    def going(self) -> bool:
        """True while the budget allows another step; the first step of a call always runs."""
        if self.step == self.first:
            return True
        if self.steps is not None and self.step - self.first >= self.steps:
            return False
        return self.max_seconds is None or time.perf_counter() - self.start < self.max_seconds

    def record(self, **values) -> None:
        """Count one step done and keep its values (0-d tensors or numbers) for the history."""
        self.step += 1
        values = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in values.items()}
        self.pending.append((self.step, self.time_offset + time.perf_counter() - self.start, values))
        self.bar.update(1)
        if len(self.pending) >= SYNC_EVERY:
            self._flush()
        if self.checkpoint_every and self.step % self.checkpoint_every == 0:
            self.save()

    def finish(self) -> dict:
        """Write the last checkpoint, put every network in eval mode, return the history."""
        self._flush()
        self.bar.close()
        if self.checkpoint is not None and self.last_saved != self.step:
            self.save()
        self.model.eval()
        return self.history

    # -- history, divergence and checkpoints ---------------------------------------------------
    def _flush(self) -> None:
        """Copy the pending losses into the history (one device sync), check them and the weights."""
        pending, self.pending = self.pending, []
        if pending:
            names = list(pending[0][2])
            dtype = torch.float64 if self.device.type == "cpu" else torch.float32  # MPS has no float64
            rows = torch.stack([torch.stack([torch.as_tensor(vals[k], device=self.device).to(dtype).reshape(())
                                             for k in names]) for _, _, vals in pending]).cpu().double()
            bad = ~(torch.isfinite(rows) & (rows.abs() <= self.max_loss)).all(1)
            if bad.any():
                i = int(bad.nonzero()[0])
                values = [(k, rows[i, j].item()) for j, k in enumerate(names)]
                what = ", ".join(f"{k}={v:.3g}" if math.isfinite(v) else f"{k}={v}"
                                 for k, v in values if not (math.isfinite(v) and abs(v) <= self.max_loss))
                if any(math.isfinite(v) and abs(v) > self.max_loss for _, v in values):
                    what += (f" (beyond the divergence bound: every recorded value must stay within "
                             f"+-{self.max_loss:.3g}, Run's max_loss, default "
                             f"minigen.training.MAX_LOSS)")
                raise TrainingDiverged(self._diverged_message(pending[i][0], what))
            for (step, seconds, _), row in zip(pending, rows.tolist()):
                self.history["step"].append(step)
                self.history["time"].append(seconds)
                for k, v in zip(names, row):
                    self.history.setdefault(k, []).append(v)
            self.bar.set_postfix({k: f"{self.history[k][-1]:.3g}" for k in names[:3]}, refresh=False)
        self._check_weights()

    def _check_weights(self) -> None:
        """Raise TrainingDiverged if a weight is NaN, infinite or beyond ``max_weight`` (one sync)."""
        state = {k: t for k, t in self.model.state_dict().items() if t.is_floating_point() and t.numel()}
        if not state:
            return
        dtype = torch.float64 if self.device.type == "cpu" else torch.float32  # MPS has no float64
        largest = torch.stack([t.detach().abs().max().to(dtype) for t in state.values()])
        if bool((torch.isfinite(largest) & (largest <= self.max_weight)).all()):
            return
        largest = largest.cpu().tolist()
        j = next(j for j, v in enumerate(largest) if not (math.isfinite(v) and v <= self.max_weight))
        name, value = list(state)[j], largest[j]
        if math.isfinite(value):
            what = (f"a weight is beyond the divergence bound after this step's update: max "
                    f"|{name}| = {value:.7g} > {self.max_weight:.3g} (Run's max_weight, default "
                    f"minigen.training.MAX_WEIGHT)")
        else:
            what = f"a weight is NaN or infinite after this step's update ({name!r})"
        raise TrainingDiverged(self._diverged_message(self.step, what))

    def _diverged_message(self, step: int, what: str) -> str:
        msg = f"Training diverged at step {step}: {what}. "
        if self.last_saved is not None:
            msg += (f"The last checkpoint, {self.checkpoint}, holds step {self.last_saved} and is "
                    f"intact: continue from it with resume='{self.checkpoint}' (command line: "
                    f"--resume {self.checkpoint}); a run that diverges again needs other settings. ")
        elif self.checkpoint is not None:
            msg += f"No checkpoint had been written yet to {self.checkpoint}. "
        else:
            msg += "No checkpoint was being written (pass checkpoint=path to keep one). "
        return msg + "To start again, try a smaller learning rate or another seed."

    def save(self) -> None:
        """Write the checkpoint (nothing without a path); the history is flushed and checked first."""
        if self.checkpoint is None:
            return
        self._flush()  # checks the losses and, as they were computed before the last update, the
        # weights themselves: a checkpoint never holds a diverged state (one device sync)
        save_checkpoint(
            self.checkpoint, family=self.family, models={"model": self.model},
            optimizers=self.optimizers, history=self.history,
            settings=settings_of(self.model.config), step=self.step,
            extra={"generator": self.generator.get_state(),
                   "state": {k: s.state_dict() for k, s in self.state.items()}},
        )
        self.last_saved = self.step

    def _resume(self, resume) -> None:
        # a dict is copied: the optimisers and loaders would otherwise share its tensors and
        # change them as training goes on, and a second resume from it would start elsewhere
        ckpt = copy.deepcopy(resume) if isinstance(resume, dict) else load_checkpoint(resume)
        where = describe(resume)
        if ckpt.get("family") != self.family:
            raise CheckpointError(f"cannot resume a {self.family} run from {where}: it holds a "
                                  f"{ckpt.get('family')!r} model. Pass a {self.family} checkpoint.")
        settings = settings_of(self.model.config)
        if ckpt["settings"] != settings:
            diff = sorted(k for k in set(settings) | set(ckpt["settings"])
                          if settings.get(k) != ckpt["settings"].get(k))
            raise CheckpointError(
                f"cannot resume from {where}: its settings differ from the model's in {diff}. "
                f"Rebuild the model from the checkpoint with {self.family}.load(path), or "
                "start a new run.")
        extra = ckpt.get("extra") or {}
        if "generator" not in extra:
            raise CheckpointError(f"{where} has no training state to resume from (it was not "
                                  "written by a minigen training loop).")
        self.model.load_state_dict(ckpt["models"]["model"])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(ckpt["optimizers"][name])
        self.history = {k: list(v) for k, v in ckpt["history"].items()}
        self.step = self.last_saved = int(ckpt["step"])
        self.time_offset = self.history["time"][-1] if self.history.get("time") else 0.0
        self.generator.set_state(extra["generator"])
        for name, obj in self.state.items():
            obj.load_state_dict(extra["state"][name])


def _flushing_denormals() -> bool:
    """Whether the CPU flushes subnormal floats to zero now (torch has a setter, no getter)."""
    return torch.tensor([1e-40], dtype=torch.float32).mul(2.0).item() == 0.0


@contextlib.contextmanager
def flush_denormals():
    """Inside the block the CPU treats subnormal floats (below 1.2e-38 in float32) as zero
    (``torch.set_flush_denormal``); the state before is restored on leaving, error or not.

    Every family's training loop runs inside it. Adam's running means of the gradients of weights
    that are rarely used (those fed by pixels that are almost never inked) decay by a factor of
    0.9 at each step without a gradient, and after several hundred such steps they are subnormal
    numbers, on which the CPU's arithmetic is tens of times slower. benchmarks/bench_denormals.py
    measures what flushing them saves. In Adam such a number is added to one of ordinary size
    (epsilon, 1e-8, or a weight), beside which it is below float32's resolution, so the update is
    the same: the VAE and GAN runs of tests/test_flush_denormals.py come out bit for bit the same
    either way, and so do the chapters' stored outputs (nbval). A computation that needed values
    below 1.2e-38 would differ; minigen's losses work on logits and need none. Where the
    processor has no such mode (``set_flush_denormal`` returns False) nothing changes.
    """
    before = _flushing_denormals()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


@contextlib.contextmanager
def frozen(*modules: nn.Module):
    """Inside the block the weights of ``modules`` need no gradient; each weight's own setting is
    restored on leaving, error or not.

    A generator's update back-propagates through its discriminator, which needs the gradients
    with respect to the discriminator's *inputs* but not its weights; without this block autograd
    also computes the weights' gradients, which the discriminator's optimiser then clears unread
    (the official CycleGAN code switches them off the same way, ``set_requires_grad``).
    ``gan.train_step`` uses it. The gradients that are computed are the same either way, bit for
    bit on the CPU (tests/test_gan.py trains with and without it); only the time differs
    (benchmarks/bench_frozen.py, which also records why the CycleGAN step does not use it).
    """
    params = [p for m in modules for p in m.parameters()]
    before = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, before):
            p.requires_grad_(flag)


def _check_bound(value, name: str) -> float:
    """A divergence bound: a positive number (``math.inf`` turns the bound off)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InputError(f"{name} must be a positive number (math.inf: no bound), got {value!r}.")
    return float(value)


def seeded(make, seed: int, device) -> nn.Module:
    """``make()`` (a new model) with its weights drawn from ``seed``, then moved to ``device``.

    The weights are drawn on the CPU from PyTorch's generator seeded with ``seed`` inside
    ``torch.random.fork_rng``: the same on every device, and the caller's random state untouched.
    Every family's ``build`` is this.
    """
    if not callable(make):
        raise InputTypeError(f"make must be a function that returns a new nn.Module, got "
                             f"{type(make).__name__}.")
    with torch.random.fork_rng(devices=[]):
        # the CPU generator only: torch.manual_seed would also reseed every CUDA and MPS
        # generator, which fork_rng(devices=[]) does not restore
        torch.default_generator.manual_seed(seed)
        model = make()
    if not isinstance(model, nn.Module):
        raise InputTypeError(f"make() must return an nn.Module, got {type(model).__name__}.")
    return place(model, device)


def place(model: nn.Module, device) -> nn.Module:
    """Move ``model`` to ``device``; ``None`` means :func:`minigen.utils.get_device` (the best)."""
    if not isinstance(model, nn.Module):
        raise InputTypeError(f"model must be an nn.Module, got {type(model).__name__}.")
    return model.to(get_device(device))
