"""The contract the four model families share (minigen.training): one test, parametrised.

For gan, vae, cvae and cyclegan alike: build(config, seed=, device=), train(model, data, steps=,
max_seconds=, seed=, device=, checkpoint=, checkpoint_every=, resume=, progress=), load(path).
"""
import math
import random
import re

import pytest
import torch

from minigen import checkpoint, cvae, cyclegan, gan, training, vae
from minigen.data import digits, stroke_domains
from minigen.utils import TrainingDiverged

NAN = float("nan")


def _poisoned(fn, after: int, poison):
    """``fn`` that works for ``after`` calls, then returns ``poison(result)`` (a NaN)."""
    calls = {"n": 0}

    def wrapped(*args, **kwargs):
        calls["n"] += 1
        out = fn(*args, **kwargs)
        return poison(out) if calls["n"] > after else out
    return wrapped


def _nan_elbo(parts):
    return vae.ELBO(parts.elbo * NAN, parts.reconstruction * NAN, parts.kl)


@pytest.fixture(scope="module")
def small_digits():
    x, y = digits("train")
    idx = torch.arange(0, 4000, 100)  # 40 digits, 4 of each class
    return x[idx], y[idx]


def _family(name, small_digits):
    """(module, config, data, keyword that takes a loss function, a NaN-making wrapper of it)."""
    x, y = small_digits
    if name == "gan":
        config = gan.GANConfig(z_dim=4, width=4, batch_size=8, r1=1.0)
        fn = _poisoned(gan.generator_loss_nonsaturating, 9, lambda v: v * NAN)
        return gan, config, x, {"loss_G": fn}
    if name == "vae":
        config = vae.VAEConfig(hidden=16, latent_dim=2, batch_size=8, shift=1)
        return vae, config, x, {"elbo_fn": _poisoned(vae.elbo, 9, _nan_elbo)}
    if name == "cvae":
        config = cvae.CVAEConfig(hidden=16, latent_dim=2, batch_size=8, shift=1)
        return cvae, config, (x, y), {"elbo_fn": _poisoned(cvae.conditional_elbo, 9, _nan_elbo)}
    config = cyclegan.CycleGANConfig(channels=4, d_channels=4, batch_size=4, history_size=6,
                                     lambda_id=0.5)
    xd, yd = stroke_domains()
    return cyclegan, config, (xd[:40], yd[:40]), {"cycle_fn": _poisoned(cyclegan.cycle_loss, 9,
                                                                        lambda v: v * NAN)}


FAMILIES = ["gan", "vae", "cvae", "cyclegan"]


def _same_state(a: dict, b: dict) -> bool:
    """Two state dicts (of models or optimisers, nested) hold bit-identical tensors."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_state(u, v) for u, v in zip(a, b))
    return a == b


def _max_difference(m1, m2) -> float:
    return max((p - q).abs().max().item() for p, q in zip(m1.state_dict().values(), m2.state_dict().values())
               if p.is_floating_point())


def _without_time(history: dict) -> dict:
    return {k: v for k, v in history.items() if k != "time"}


@pytest.mark.parametrize("name", FAMILIES)
def test_same_seed_same_run_and_global_rng_untouched(name, small_digits):
    module, config, data, _ = _family(name, small_digits)
    torch.manual_seed(1234)
    random.seed(1234)
    before, before_py = torch.get_rng_state(), random.getstate()
    runs = []
    for seed in (3, 3, 4):
        model = module.build(config, seed=seed, device="cpu")
        history = module.train(model, data, steps=6, seed=seed, device="cpu")
        runs.append((model, history))
    assert torch.equal(before, torch.get_rng_state()) and before_py == random.getstate()
    (m1, h1), (m2, h2), (m3, h3) = runs
    assert _max_difference(m1, m2) == 0.0 and _without_time(h1) == _without_time(h2)
    assert _max_difference(m1, m3) > 0 and _without_time(h1) != _without_time(h3)
    # the weights come from build's seed alone
    assert _max_difference(module.build(config, seed=3, device="cpu"), module.build(config, seed=3)) == 0
    assert _max_difference(module.build(config, seed=3, device="cpu"),
                           module.build(config, seed=5, device="cpu")) > 0


@pytest.mark.parametrize("name", FAMILIES)
def test_history_models_in_eval_mode_and_steps_counted_from_one(name, small_digits):
    module, config, data, _ = _family(name, small_digits)
    model = module.build(config, device="cpu")
    history = module.train(model, data, steps=30, device="cpu")
    assert history["step"] == list(range(1, 31))
    assert all(len(v) == 30 and all(type(x) is float or type(x) is int for x in v) for v in history.values())
    assert all(math.isfinite(x) for v in history.values() for x in v)
    assert not any(m.training for m in model.modules())
    assert history["time"] == sorted(history["time"])


@pytest.mark.parametrize("name", FAMILIES)
def test_resume_is_bit_identical(name, small_digits, tmp_path):
    """N steps, save, resume for M steps == N + M steps straight (the data cross an epoch)."""
    module, config, data, _ = _family(name, small_digits)
    straight = module.build(config, seed=1, device="cpu")
    path_straight = tmp_path / "straight.pt"
    h_straight = module.train(straight, data, steps=13, seed=2, device="cpu",
                              checkpoint=path_straight, checkpoint_every=0)
    path = tmp_path / "first.pt"
    first = module.build(config, seed=1, device="cpu")
    module.train(first, data, steps=7, seed=2, device="cpu", checkpoint=path, checkpoint_every=0)
    resumed = module.load(path, device="cpu")
    assert checkpoint.load_checkpoint(path)["step"] == 7
    path_resumed = tmp_path / "resumed.pt"
    h_resumed = module.train(resumed, data, steps=6, seed=999, device="cpu", resume=path,
                             checkpoint=path_resumed, checkpoint_every=0)
    assert _max_difference(straight, resumed) == 0.0
    assert _same_state(straight.state_dict(), resumed.state_dict())
    assert _without_time(h_straight) == _without_time(h_resumed)
    a, b = checkpoint.load_checkpoint(path_straight), checkpoint.load_checkpoint(path_resumed)
    assert a["step"] == b["step"] == 13
    assert _same_state(a["optimizers"], b["optimizers"])  # Adam's moments and step counts
    assert _same_state(a["extra"], b["extra"])  # the generator, the loaders, the image buffers


@pytest.mark.parametrize("name", FAMILIES)
def test_resume_refuses_other_settings_or_family(name, small_digits, tmp_path):
    module, config, data, _ = _family(name, small_digits)
    path = tmp_path / "run.pt"
    module.train(module.build(config, device="cpu"), data, steps=2, checkpoint=path, device="cpu")
    other = module.build(type(config)(), device="cpu")
    with pytest.raises(checkpoint.CheckpointError, match="settings differ"):
        module.train(other, data, steps=1, resume=path, device="cpu")
    wrong = gan if module is not gan else vae
    with pytest.raises(checkpoint.CheckpointError, match=f"holds a '{name}' model"):
        wrong.load(path)


@pytest.mark.parametrize("name", FAMILIES)
def test_checkpoint_every(name, small_digits, tmp_path, monkeypatch):
    module, config, data, _ = _family(name, small_digits)
    saved = []
    real_save = training.save_checkpoint
    monkeypatch.setattr(training, "save_checkpoint",
                        lambda path, **kw: saved.append(kw["step"]) or real_save(path, **kw))
    module.train(module.build(config, device="cpu"), data, steps=7, checkpoint=tmp_path / "a.pt",
                 checkpoint_every=0, device="cpu")
    assert saved == [7]  # 0 = off: only the final checkpoint
    saved.clear()
    module.train(module.build(config, device="cpu"), data, steps=7, checkpoint=tmp_path / "b.pt",
                 checkpoint_every=3, device="cpu")
    assert saved == [3, 6, 7]
    saved.clear()
    module.train(module.build(config, device="cpu"), data, steps=3, device="cpu")  # no path: none
    assert saved == []
    for bad in (-1, 1.5, None):
        with pytest.raises(ValueError, match="checkpoint_every"):
            module.train(module.build(config, device="cpu"), data, steps=1, checkpoint_every=bad)


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("budget", [{"steps": 0}, {"steps": -3}, {"steps": NAN}, {"steps": math.inf},
                                    {"steps": 2.5}, {"max_seconds": 0}, {"max_seconds": -1.0},
                                    {"max_seconds": NAN}, {"max_seconds": math.inf}])
def test_bad_budgets_are_refused(name, budget, small_digits, tmp_path):
    module, config, data, _ = _family(name, small_digits)
    model = module.build(config, device="cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    key = next(iter(budget))
    with pytest.raises(ValueError, match=f"{key} must be a positive"):
        module.train(model, data, **budget, checkpoint=tmp_path / "x.pt", device="cpu")
    assert _same_state(before, model.state_dict()) and not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("name", FAMILIES)
def test_divergence_names_the_step_and_keeps_the_last_checkpoint(name, small_digits, tmp_path):
    """The loss turns NaN at step 10; checkpoints every 4 steps: the one at step 8 survives."""
    module, config, data, poison = _family(name, small_digits)
    path = tmp_path / "run.pt"
    model = module.build(config, device="cpu")
    with pytest.raises(TrainingDiverged) as err:
        module.train(model, data, steps=40, checkpoint=path, checkpoint_every=4, device="cpu", **poison)
    message = str(err.value)
    assert re.search(r"diverged at step 10\b", message), message
    assert "holds step 8" in message and str(path) in message and "resume" in message
    ckpt = checkpoint.load_checkpoint(path)
    assert ckpt["step"] == 8 and ckpt["history"]["step"][-1] == 8
    assert all(math.isfinite(v) for values in ckpt["history"].values() for v in values)
    restored = module.load(path, device="cpu")
    assert all(torch.isfinite(p).all() for p in restored.state_dict().values() if p.is_floating_point())
    history = module.train(restored, data, steps=3, resume=path, device="cpu")  # and it resumes
    assert history["step"][-1] == 11


def test_divergence_without_a_checkpoint_says_so(small_digits):
    module, config, data, poison = _family("vae", small_digits)
    with pytest.raises(TrainingDiverged, match="No checkpoint was being written"):
        module.train(module.build(config, device="cpu"), data, steps=30, device="cpu", **poison)


@pytest.mark.parametrize("name", FAMILIES)
def test_load_returns_the_saved_model_in_eval_mode(name, small_digits, tmp_path):
    module, config, data, _ = _family(name, small_digits)
    model = module.build(config, device="cpu")
    module.train(model, data, steps=3, checkpoint=tmp_path / "m.pt", device="cpu")
    loaded = module.load(tmp_path / "m.pt", device="cpu")
    assert type(loaded) is type(model) and loaded.config == model.config
    assert _same_state(model.state_dict(), loaded.state_dict())
    assert not any(m.training for m in loaded.modules())


def test_a_checkpoint_asking_for_a_huge_network_is_refused_before_allocation(small_digits, tmp_path):
    module, config, data, _ = _family("vae", small_digits)
    path = tmp_path / "v.pt"
    module.train(module.build(config, device="cpu"), data, steps=1, checkpoint=path, device="cpu")
    ckpt = checkpoint.load_checkpoint(path)
    ckpt["settings"]["hidden"] = 20_000_000  # 784 x 2e7 floats: about 60 GB for one layer
    # refused by the settings' cap (VAEConfig.hidden <= vae.MAX_HIDDEN) or the weights' shapes
    with pytest.raises(checkpoint.CheckpointError, match="has shape|hidden must be <= 16384"):
        vae.load(ckpt)


def test_device_none_means_the_best_available_device(small_digits):
    from minigen.utils import get_device

    model = vae.build(vae.VAEConfig(hidden=8, latent_dim=2))
    assert next(model.parameters()).device.type == get_device(None).type


def test_contract_has_the_same_shape_in_every_family():
    import inspect

    shapes = {m.__name__: (list(inspect.signature(m.train).parameters)[:2 + 9],
                           list(inspect.signature(m.build).parameters),
                           list(inspect.signature(m.load).parameters))
              for m in (gan, vae, cvae, cyclegan)}
    train_args = ["model", None, "steps", "max_seconds", "seed", "device", "checkpoint", "checkpoint_every",
                  "resume", "progress"]
    for name, (train, build, load) in shapes.items():
        assert [a for a in train[2:10]] == train_args[2:], name
        assert build == ["config", "seed", "device"], name
        assert load == ["checkpoint", "device"], name


def test_a_checkpoint_never_holds_non_finite_weights(small_digits, tmp_path):
    """The loss of step 10 is finite but its gradient is not: the step-10 weights are NaN, so the
    checkpoint due at step 10 is refused and the one of step 5 stays as it was."""
    _, config, data, _ = _family("vae", small_digits)
    calls = {"n": 0}

    def elbo_fn(x, x_logits, mu, log_var):
        calls["n"] += 1
        parts = vae.elbo(x, x_logits, mu, log_var)
        if calls["n"] == 10:  # value + 0, gradient NaN: d|t|^(1/2)/dt at t = 0
            total = x_logits.sum()
            parts = parts._replace(reconstruction=parts.reconstruction + (total - total.detach()).abs().sqrt())
        return parts

    path = tmp_path / "run.pt"
    with pytest.raises(TrainingDiverged, match=r"step 10: a weight is NaN.*holds step 5"):
        vae.train(vae.build(config, device="cpu"), data, steps=20, checkpoint=path, checkpoint_every=5,
                  device="cpu", elbo_fn=elbo_fn)
    ckpt = checkpoint.load_checkpoint(path)
    assert ckpt["step"] == 5
    assert all(torch.isfinite(t).all() for t in ckpt["models"]["model"].values())
