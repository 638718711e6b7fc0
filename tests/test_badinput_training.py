"""minigen.training with bad input: impossible budgets, seeds and intervals, and runs that explode
past the divergence bounds. Every case asserts the message, not only the exception type."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from minigen import checkpoint, gan, training, vae
from minigen.data import digits
from minigen.training import MAX_LOSS, MAX_WEIGHT, Batches, Run, check_budget, check_seed
from minigen.utils import TrainingDiverged

TINY_VAE = vae.VAEConfig(hidden=16, latent_dim=2, batch_size=8)
TINY_GAN = gan.GANConfig(z_dim=4, width=4, batch_size=8)


@pytest.fixture(scope="module")
def x():
    return digits("train", device="cpu")[0][:64]


# --------------------------------------------------------------------------------------------
# Budgets, seeds, intervals
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("steps", [0, -1, 1.5, True, float("nan"), float("inf"), "10", torch.tensor([1, 2])])
def test_bad_steps(steps):
    with pytest.raises(ValueError, match=r"steps must be a positive whole number, got .*Pass steps=None"):
        check_budget(steps, None, 10)


@pytest.mark.parametrize("seconds", [0, -1.0, float("nan"), float("inf"), -float("inf"), True, "60", [60]])
def test_bad_max_seconds(seconds):
    with pytest.raises(ValueError, match=r"max_seconds must be a positive, finite number of seconds, got "
                                         r".*Pass max_seconds=None"):
        check_budget(None, seconds, 10)


@pytest.mark.parametrize("steps, seconds, expected", [
    (None, None, (10, None)), (np.int64(3), None, (3, None)), (torch.tensor(4), None, (4, None)),
    (5.0, np.float32(2.5), (5, 2.5)),
])
def test_numbers_of_any_kind_are_accepted(steps, seconds, expected):
    assert check_budget(steps, seconds, 10) == expected


@pytest.mark.parametrize("seed, error, message", [
    (-1, ValueError, r"seed must be in \[0, 2\*\*63\), got -1"),
    (2**63, ValueError, r"seed must be in \[0, 2\*\*63\)"),
    (1.5, TypeError, "seed must be an int, got float"),
    ("3", TypeError, "seed must be an int, got str"),
    (True, TypeError, "seed must be an int, got bool"),
    (None, TypeError, "seed must be an int, got NoneType"),
])
def test_bad_seeds(seed, error, message):
    with pytest.raises(error, match=message):
        check_seed(seed)


@pytest.mark.parametrize("every", [-1, 1.5, True, "5", None])
def test_bad_checkpoint_intervals(every):
    model = vae.build(TINY_VAE, device="cpu")
    with pytest.raises(ValueError, match=r"checkpoint_every must be a whole number >= 0 \(0 = only at the end\)"):
        Run("vae", model, {}, steps=1, max_seconds=None, default_steps=1, seed=0, checkpoint=None,
            checkpoint_every=every, progress=False)


@pytest.mark.parametrize("n, batch_size, message", [
    (0, 4, "the training data are empty"), (10, 0, "batch_size must be at least 1, got 0"),
    (10, -2, "batch_size must be at least 1, got -2"),
])
def test_bad_batches(n, batch_size, message):
    with pytest.raises(ValueError, match=message):
        Batches(n, batch_size, torch.Generator())


# --------------------------------------------------------------------------------------------
# The divergence bounds
# --------------------------------------------------------------------------------------------
def test_the_bounds_are_documented_constants():
    assert MAX_LOSS == 1e6 and MAX_WEIGHT == 1e6
    assert "MAX_LOSS" in training.__doc__ or "MAX_LOSS" in Run.__doc__
    assert "max_loss" in Run.__doc__ and "max_weight" in Run.__doc__


def test_a_vae_at_an_absurd_learning_rate_stops_and_keeps_the_last_good_checkpoint(x, tmp_path):
    """lr 100: step 1 is computed before any update (finite), its checkpoint is written; the
    loss of step 2 is about 1e14, far past the bound, and the run stops there."""
    path = tmp_path / "run.pt"
    model = vae.build(dataclasses.replace(TINY_VAE, lr=100.0), device="cpu")
    with pytest.raises(TrainingDiverged) as err:
        vae.train(model, x, steps=20, checkpoint=path, checkpoint_every=1, device="cpu", progress=False)
    message = str(err.value)
    assert message.startswith("Training diverged at step 2: loss=")
    assert "beyond the divergence bound: every recorded value must stay within +-1e+06" in message
    assert "minigen.training.MAX_LOSS" in message and "max_loss" in message
    assert f"The last checkpoint, {path}, holds step 1 and is intact" in message
    ckpt = checkpoint.load_checkpoint(path)
    assert ckpt["step"] == 1 and all(abs(v) <= MAX_LOSS for k, vals in ckpt["history"].items()
                                     if k != "time" for v in vals)
    restored = vae.load(path, device="cpu")
    weights = [t for t in restored.state_dict().values() if t.is_floating_point()]
    assert all(torch.isfinite(t).all() and t.abs().max() <= MAX_WEIGHT for t in weights)


def test_the_issues_vae_at_lr_1e6_no_longer_trains_20_steps_in_silence(x, tmp_path):
    model = vae.build(dataclasses.replace(TINY_VAE, lr=1e6), device="cpu")
    with pytest.raises(TrainingDiverged, match=r"diverged at step [12]: .*divergence bound") as err:
        vae.train(model, x, steps=20, checkpoint=tmp_path / "r.pt", checkpoint_every=1, device="cpu",
                  progress=False)
    assert "No checkpoint had been written yet" in str(err.value) or "holds step 1" in str(err.value)


def test_a_weight_past_the_bound_stops_the_run_with_its_name(x, tmp_path):
    """lr 1e7: one Adam step moves each weight by about 1e7, past MAX_WEIGHT, before any loss does."""
    model = vae.build(dataclasses.replace(TINY_VAE, lr=1e7), device="cpu")
    with pytest.raises(TrainingDiverged, match=r"step 1: a weight is beyond the divergence bound after this "
                                               r"step's update: max \|[\w.]+\| = [\d.e+]+ > 1e\+06 \(Run's "
                                               r"max_weight, default minigen.training.MAX_WEIGHT\)"):
        vae.train(model, x, steps=5, checkpoint=tmp_path / "r.pt", checkpoint_every=1, device="cpu",
                  progress=False)
    assert not (tmp_path / "r.pt").exists()  # never saved


def test_a_gan_at_an_absurd_learning_rate_stops(x):
    model = gan.build(dataclasses.replace(TINY_GAN, lr_g=1e4, lr_d=1e4), device="cpu")
    with pytest.raises(TrainingDiverged, match=r"diverged at step \d+: .*beyond the divergence bound.*"
                                               r"No checkpoint was being written"):
        gan.train(model, x, steps=30, device="cpu", progress=False)


def test_the_module_constant_is_read_when_a_run_starts(x, monkeypatch):
    monkeypatch.setattr(training, "MAX_LOSS", 1.0)  # a healthy VAE loss (a BCE score of ~500) is then "diverged"
    with pytest.raises(TrainingDiverged, match=r"step 1: loss=.*elbo=.*within \+-1, "):
        vae.train(vae.build(TINY_VAE, device="cpu"), x, steps=3, device="cpu", progress=False)


def _linear_run(**bounds):
    model = torch.nn.Linear(2, 1)
    model.config = TINY_VAE  # Run saves settings_of(model.config)
    with torch.no_grad():
        model.weight.fill_(0.75)
    return Run("demo", model, {}, steps=3, max_seconds=None, default_steps=3, seed=0, checkpoint=None,
               checkpoint_every=0, progress=False, **bounds)


def test_the_bounds_can_be_changed_per_run():
    run = _linear_run(max_loss=10.0)
    run.record(loss=torch.tensor(9.0))
    run.record(loss=torch.tensor(-11.0))
    with pytest.raises(TrainingDiverged, match=r"step 2: loss=-11 \(beyond the divergence bound: every recorded "
                                               r"value must stay within \+-10,"):
        run.finish()
    run = _linear_run(max_weight=0.5)
    run.record(loss=torch.tensor(1.0))
    with pytest.raises(TrainingDiverged, match=r"step 1: a weight is beyond the divergence bound after this "
                                               r"step's update: max \|weight\| = 0.75 > 0.5"):
        run.finish()


def test_an_infinite_bound_turns_the_check_off_but_not_the_nan_check():
    run = _linear_run(max_loss=math.inf, max_weight=math.inf)
    run.record(loss=torch.tensor(1e300, dtype=torch.float64))
    assert run.finish()["loss"] == [1e300]
    run = _linear_run(max_loss=math.inf)
    run.record(loss=torch.tensor(float("nan")), kl=torch.tensor(1.0))
    with pytest.raises(TrainingDiverged, match=r"step 1: loss=nan\. "):
        run.finish()
    run = _linear_run(max_loss=math.inf)
    run.record(loss=torch.tensor(float("inf")))
    with pytest.raises(TrainingDiverged, match=r"step 1: loss=inf\. "):
        run.finish()
    run = _linear_run(max_weight=math.inf)
    with torch.no_grad():
        run.model.weight.fill_(-float("inf"))
    run.record(loss=torch.tensor(1.0))
    with pytest.raises(TrainingDiverged, match=r"step 1: a weight is NaN or infinite after this step's update "
                                               r"\('weight'\)"):
        run.finish()


def test_a_nan_weight_is_named():
    run = _linear_run()
    with torch.no_grad():
        run.model.bias.fill_(float("nan"))
    run.record(loss=torch.tensor(1.0))
    with pytest.raises(TrainingDiverged, match=r"step 1: a weight is NaN or infinite after this step's update "
                                               r"\('bias'\)"):
        run.finish()


@pytest.mark.parametrize("keyword", ["max_loss", "max_weight"])
@pytest.mark.parametrize("value", [0, -1.0, float("nan"), "big", True])
def test_bad_bounds(keyword, value):
    with pytest.raises(ValueError, match=rf"{keyword} must be a positive number \(math.inf: no bound\), got"):
        _linear_run(**{keyword: value})


# --------------------------------------------------------------------------------------------
# Resuming from the wrong checkpoint
# --------------------------------------------------------------------------------------------
@pytest.fixture
def vae_run(x, tmp_path):
    path = tmp_path / "v.pt"
    vae.train(vae.build(TINY_VAE, device="cpu"), x, steps=2, checkpoint=path, device="cpu", progress=False)
    return path


def test_resume_from_another_family(vae_run, x):
    with pytest.raises(checkpoint.CheckpointError, match=r"cannot resume a gan run from .*'vae' model\. "
                                                         r"Pass a gan checkpoint"):
        gan.train(gan.build(TINY_GAN, device="cpu"), x, steps=1, resume=vae_run, device="cpu", progress=False)


def test_resume_with_other_settings(vae_run, x):
    other = vae.build(dataclasses.replace(TINY_VAE, lr=2e-3), device="cpu")
    with pytest.raises(checkpoint.CheckpointError, match=r"settings differ from the model's in \['lr'\]"):
        vae.train(other, x, steps=1, resume=vae_run, device="cpu", progress=False)


def test_resume_from_a_checkpoint_without_training_state(vae_run, x):
    ckpt = checkpoint.load_checkpoint(vae_run)
    ckpt["extra"] = {}
    with pytest.raises(checkpoint.CheckpointError, match="has no training state to resume from"):
        vae.train(vae.build(TINY_VAE, device="cpu"), x, steps=1, resume=ckpt, device="cpu", progress=False)


def test_resume_from_a_missing_file(tmp_path, x):
    with pytest.raises(checkpoint.CheckpointError, match="does not exist"):
        vae.train(vae.build(TINY_VAE, device="cpu"), x, steps=1, resume=tmp_path / "nope.pt", device="cpu",
                  progress=False)


# --------------------------------------------------------------------------------------------
# Issue 13, probe findings: minigen's own error classes, a budget shorter than one step, None
# --------------------------------------------------------------------------------------------
from minigen.checks import InputError, InputTypeError  # noqa: E402


@pytest.mark.parametrize("steps, seconds, error, match", [
    (0, None, InputError, r"steps must be a positive whole number, got 0\."),
    (2.5, None, InputError, r"steps must be a positive whole number, got 2\.5\."),
    ("10", None, InputTypeError, r"steps must be a positive whole number, got '10' \(str\)"),
    (None, float("nan"), InputError, r"max_seconds must be a positive, finite number of seconds, got nan\."),
    (None, "60", InputTypeError, r"max_seconds must be a positive, finite number of seconds, got '60' \(str\)"),
])
def test_budget_errors_are_minigens_own(steps, seconds, error, match):
    with pytest.raises(error, match=match) as info:
        check_budget(steps, seconds, 10)
    assert type(info.value) is error  # not a bare ValueError


@pytest.mark.parametrize("family", ["vae", "gan"])
def test_a_budget_shorter_than_one_step_still_runs_one_step(x, tmp_path, family):
    module, config = (vae, TINY_VAE) if family == "vae" else (gan, TINY_GAN)
    path = tmp_path / "c.pt"
    history = module.train(module.build(config, device="cpu"), x, max_seconds=1e-9, checkpoint=path,
                           device="cpu", progress=False)
    assert history["step"] == [1]
    assert checkpoint.load_checkpoint(path)["step"] == 1  # never an untrained (step 0) checkpoint


def test_checkpoint_every_and_checkpoint_of_the_wrong_type(x):
    model = vae.build(TINY_VAE, device="cpu")
    with pytest.raises(InputTypeError, match=r"checkpoint_every must be a whole number >= 0 .*got 1\.5"):
        vae.train(model, x, steps=1, checkpoint_every=1.5, device="cpu")
    with pytest.raises(InputError, match=r"checkpoint_every must be a whole number >= 0 .*got -1"):
        vae.train(model, x, steps=1, checkpoint_every=-1, device="cpu")
    with pytest.raises(InputTypeError, match=r"checkpoint must be a path \(str or pathlib\.Path\), got int"):
        vae.train(model, x, steps=1, checkpoint=5, device="cpu")


@pytest.mark.parametrize("call, match", [
    (lambda: training.settings_of(None), r"config must be a settings dataclass instance .*got NoneType"),
    (lambda: training.settings_of(vae.VAEConfig), r"config must be a settings dataclass instance .*got type"),
    (lambda: training.seeded("x", 0, "cpu"), r"make must be a function that returns a new nn\.Module, got str"),
    (lambda: training.seeded(lambda: None, 0, "cpu"), r"make\(\) must return an nn\.Module, got NoneType"),
    (lambda: training.place(None, "cpu"), r"model must be an nn\.Module, got NoneType"),
], ids=["settings None", "settings class", "seeded str", "seeded None", "place None"])
def test_helpers_refuse_none(call, match):
    with pytest.raises(InputTypeError, match=match):
        call()


def test_bad_divergence_bound_is_minigens_error(x):
    model = vae.build(TINY_VAE, device="cpu")
    with pytest.raises(InputError, match=r"max_loss must be a positive number \(math\.inf: no bound\), got 0"):
        Run("vae", model, {}, steps=1, max_seconds=None, default_steps=1, seed=0, checkpoint=None,
            checkpoint_every=0, progress=False, max_loss=0)
