"""minigen.cvae: the conditional ELBO pinned to minigen.vae and to hand values, then behaviour."""
import math

import numpy as np
import pytest
import torch

from minigen import cvae, vae
from minigen.checkpoint import CheckpointError, load_checkpoint
from minigen.utils import TrainingDiverged

SMALL = dict(hidden=64, latent_dim=4, batch_size=32, steps=60)


def _build(seed=0, **changes):
    return cvae.build(cvae.CVAEConfig(**{**SMALL, **changes}), seed=seed, device="cpu")


def _digits(n=256):
    from minigen.data import digits

    x, y = digits("train", device="cpu")
    idx = torch.linspace(0, len(x) - 1, n).long()
    return x[idx], y[idx]


def test_shapes_and_condition_reaches_both_networks():
    model = _build()
    assert isinstance(model, cvae.CVAE) and set(cvae.make_optimizers(model)) == {"cvae"}
    x, y = torch.rand(5, 1, 28, 28), torch.tensor([0, 1, 2, 3, 9])
    logits, mu, log_var = model(x, y, torch.Generator().manual_seed(0))
    assert logits.shape == x.shape and mu.shape == log_var.shape == (5, 4)
    assert model.encoder[0].in_features == 784 + 10 and model.decoder[0].in_features == 4 + 10
    other = torch.tensor([1, 2, 3, 4, 0])
    assert not torch.allclose(model.encode(x, y)[0], model.encode(x, other)[0])
    z = torch.zeros(5, 4)
    assert not torch.allclose(model.decode(z, y), model.decode(z, other))


def test_build_is_seeded_and_leaves_the_global_random_state_alone():
    state = torch.get_rng_state()
    a, b, c = _build(seed=1), _build(seed=1), _build(seed=2)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.encoder[0].weight, c.encoder[0].weight)


def test_label_validation():
    model = _build()
    x = torch.rand(3, 1, 28, 28)
    with pytest.raises(TypeError, match="int64"):  # float labels are refused ...
        cvae.train(model, (x, torch.tensor([0.0, 1.0, 2.0])), steps=1, device="cpu")
    cvae.train(model, (x, torch.tensor([0, 1, 2], dtype=torch.int32)), steps=1, device="cpu")  # ... int32 converted
    with pytest.raises(TypeError, match="torch.Tensor"):
        cvae.sample(model, [0, 1])
    with pytest.raises(ValueError, match="0..9"):
        cvae.train(model, (x, torch.tensor([0, 1, 10])), steps=1, device="cpu")
    with pytest.raises(ValueError, match="0..9"):
        cvae.sample(model, torch.tensor([-1]))
    with pytest.raises(ValueError, match="3 labels for 2 images"):
        cvae.change_label(model, x[:2], torch.tensor([0, 1, 2]), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="2 labels for 3 images"):
        cvae.train(model, (x, torch.tensor([0, 1])), steps=1, device="cpu")
    with pytest.raises(ValueError, match="1-D"):
        cvae.sample(model, torch.zeros(2, 1, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        cvae.train(model, (2 * x, torch.tensor([0, 1, 2])), steps=1, device="cpu")
    with pytest.raises(TypeError, match="pair"):
        cvae.train(model, x, steps=1, device="cpu")  # the images without their labels


def test_log_variance_is_clamped_with_the_vae_bounds():
    model = _build()
    with torch.no_grad():
        model.encoder[-1].bias[4:] = 1e4
    assert model.encode(torch.rand(2, 1, 28, 28), torch.tensor([0, 1]))[1].max().item() == vae.LOG_VAR_MAX


@pytest.mark.equation
def test_elbo_of_a_zeroed_model_by_hand():
    # all weights 0: logits 0 (p = 1/2 per pixel), mu = 0, log_var = 0 -> rec = -784 ln 2, KL = 0
    model = _build()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([3, 1, 4, 1])
    parts = cvae.conditional_elbo(model, x, y, torch.Generator().manual_seed(0))
    torch.testing.assert_close(parts.reconstruction, torch.tensor(-784 * math.log(2)))
    torch.testing.assert_close(parts.kl, torch.tensor(0.0))
    torch.testing.assert_close(parts.elbo, parts.reconstruction - parts.kl)


@pytest.mark.equation
def test_elbo_equals_the_vae_parts_on_hand_made_inputs():
    model = _build()
    x, y = _digits(6)
    parts = cvae.conditional_elbo(model, x, y, torch.Generator().manual_seed(1))
    # the same computation spelled out: encode [x, onehot y], z = mu + sigma eps, decode [z, onehot y]
    onehot = torch.nn.functional.one_hot(y, 10).float()
    mu, log_var = model.encoder(torch.cat([x.flatten(1), onehot], 1)).chunk(2, 1)
    z = vae.reparameterize(mu, log_var, torch.Generator().manual_seed(1))
    logits = model.decoder(torch.cat([z, onehot], 1))
    rec = vae.bernoulli_log_likelihood(x, logits).mean()
    kl = vae.gaussian_kl(mu, log_var).mean()
    torch.testing.assert_close(parts.reconstruction, rec)
    torch.testing.assert_close(parts.kl, kl)
    torch.testing.assert_close(parts.elbo, rec - kl)


@pytest.mark.equation
def test_train_step_minimises_the_beta_weighted_loss():
    x, y = _digits(32)
    for beta in (1.0, 2.0):
        model = _build(beta=beta)
        expected = cvae.conditional_elbo(_build(beta=beta), x, y, torch.Generator().manual_seed(0))
        out = cvae.train_step(model, x, y, cvae.make_optimizers(model), generator=torch.Generator().manual_seed(0))
        assert set(out) == {"loss", "elbo", "reconstruction", "kl"}
        assert all(isinstance(v, torch.Tensor) and v.shape == () and not v.requires_grad for v in out.values())
        torch.testing.assert_close(out["elbo"], expected.elbo.detach())
        torch.testing.assert_close(out["loss"], beta * expected.kl.detach() - expected.reconstruction.detach())


def test_training_lowers_the_loss_and_is_repeatable():
    x, y = _digits()
    state = torch.get_rng_state()
    histories = [cvae.train(_build(seed=0), (x, y), seed=0, device="cpu") for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), state)
    h = histories[0]
    assert set(h) == {"step", "time", "loss", "elbo", "reconstruction", "kl"}
    assert h["step"] == list(range(1, 61))
    assert np.mean(h["loss"][-10:]) < np.mean(h["loss"][:10]) - 50
    torch.testing.assert_close(torch.tensor(h["loss"]), -torch.tensor(h["elbo"]))  # beta = 1
    assert h["loss"] == histories[1]["loss"]
    assert cvae.train(_build(seed=0), (x, y), steps=5, seed=1, device="cpu")["loss"] != h["loss"][:5]


def test_max_seconds_stops_training():
    x, y = _digits()
    model = _build()
    h = cvae.train(model, (x, y), steps=10**6, max_seconds=0.3, device="cpu")
    assert 0 < len(h["step"]) < 10**6 and h["time"][-1] < 5


def test_samples_are_reproducible_and_of_the_asked_class():
    from minigen.metrics import load_classifier

    x, y = _digits(4000)
    model = cvae.build(cvae.CVAEConfig(hidden=256, latent_dim=4, batch_size=64), seed=0, device="cpu")
    cvae.train(model, (x, y), steps=400, seed=0, device="cpu")
    labels = torch.arange(10).repeat_interleave(20)
    s1 = cvae.sample(model, labels, generator=torch.Generator().manual_seed(2))
    s2 = cvae.sample(model, labels, generator=torch.Generator().manual_seed(2))
    assert s1.dtype == torch.float32 and s1.shape == (200, 1, 28, 28)
    assert torch.equal(s1, s2) and 0 <= s1.min() and s1.max() <= 1
    with torch.no_grad():
        predicted = load_classifier("cpu")(s1).argmax(1)
    accuracy = (predicted == labels).float().mean().item()
    assert accuracy > 0.4, accuracy  # chance is 0.1; about 0.5 after 400 steps
    # one style, ten classes: the classifier reads the new label
    restyled = cvae.change_label(model, x[:10], y[:10], torch.arange(10))
    with torch.no_grad():
        assert (load_classifier("cpu")(restyled).argmax(1) == torch.arange(10)).float().mean() >= 0.4


def test_nan_guard_names_the_step_and_writes_no_diverged_checkpoint(tmp_path):
    model = _build()

    def nan_elbo(model, x, labels, generator):  # the loss turns NaN at the first step
        parts = cvae.conditional_elbo(model, x, labels, generator)
        return vae.ELBO(*(t * float("nan") for t in parts))
    x, y = _digits(64)
    with pytest.raises(TrainingDiverged, match=r"step 1: loss=nan") as err:
        cvae.train(model, (x, y), steps=3, device="cpu", checkpoint=tmp_path / "c.pt",
                   elbo_fn=nan_elbo)
    assert "No checkpoint had been written yet" in str(err.value)
    assert not (tmp_path / "c.pt").exists()


def test_nan_guard_on_a_poisoned_step_keeps_the_last_checkpoint(tmp_path):
    # the ELBO of step 7 is NaN (a poisoned batch); checkpoints every 5 steps
    calls = []

    def poisoned_elbo(model, x, labels, generator):
        calls.append(1)
        parts = cvae.conditional_elbo(model, x, labels, generator)
        return parts._replace(reconstruction=parts.reconstruction * float("nan")) if len(calls) == 7 else parts

    x, y = _digits(64)
    path = tmp_path / "c.pt"
    model = _build()
    with pytest.raises(TrainingDiverged, match=r"step 7: loss=nan, reconstruction=nan") as err:
        cvae.train(model, (x, y), steps=9, device="cpu", checkpoint=path, checkpoint_every=5,
                   elbo_fn=poisoned_elbo)
    assert len(calls) == 9  # the guard looks at the losses in batches, not at every step
    assert "holds step 5" in str(err.value) and f"resume='{path}'" in str(err.value)
    ckpt = load_checkpoint(path)
    assert ckpt["step"] == 5 and all(math.isfinite(v) for v in ckpt["history"]["loss"])
    assert all(torch.isfinite(t).all() for t in ckpt["models"]["model"].values())


def test_checkpoint_round_trip(tmp_path):
    x, y = _digits()
    model = _build()
    cvae.train(model, (x, y), steps=5, device="cpu", checkpoint=tmp_path / "c.pt", checkpoint_every=2)
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert ckpt["family"] == "cvae" and ckpt["step"] == 5 and len(ckpt["history"]["loss"]) == 5
    again = cvae.load(tmp_path / "c.pt", device="cpu")
    assert again.config == model.config and not again.training
    labels = torch.tensor([7, 2, 9])
    torch.testing.assert_close(cvae.sample(again, labels, generator=torch.Generator().manual_seed(0)),
                               cvae.sample(model, labels, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(CheckpointError, match="'vae' model, not a 'cvae'"):
        cvae.load({**ckpt, "family": "vae"})


@pytest.mark.gpu
def test_train_and_sample_on_cuda():
    x, y = _digits()
    model = cvae.build(cvae.CVAEConfig(**SMALL), device="cuda")
    h = cvae.train(model, (x, y), steps=20, seed=0, device="cuda")
    assert len(h["loss"]) == 20 and all(math.isfinite(v) for v in h["loss"])
    s = cvae.sample(model, torch.arange(5), generator=torch.Generator().manual_seed(0))
    assert s.device.type == "cuda" and s.shape == (5, 1, 28, 28)
