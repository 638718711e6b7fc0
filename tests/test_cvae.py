"""minigen.cvae: the conditional ELBO pinned to minigen.vae and to hand values, then behaviour."""
import math

import numpy as np
import pytest
import torch

from minigen import cvae, vae
from minigen.checkpoint import load_checkpoint
from minigen.utils import TrainingDiverged

SMALL = dict(hidden=64, latent_dim=4, batch_size=32, steps=60)


def _digits(n=256):
    from minigen.data import digits

    x, y = digits("train")
    idx = torch.linspace(0, len(x) - 1, n).long()
    return x[idx], y[idx]


def test_shapes_and_condition_reaches_both_networks():
    model = cvae.build_cvae(cvae.CVAEConfig(**SMALL))
    x, y = torch.rand(5, 1, 28, 28), torch.tensor([0, 1, 2, 3, 9])
    logits, mu, log_var = model(x, y, torch.Generator().manual_seed(0))
    assert logits.shape == x.shape and mu.shape == log_var.shape == (5, 4)
    assert model.encoder[0].in_features == 784 + 10 and model.decoder[0].in_features == 4 + 10
    other = torch.tensor([1, 2, 3, 4, 0])
    assert not torch.allclose(model.encode(x, y)[0], model.encode(x, other)[0])
    z = torch.zeros(5, 4)
    assert not torch.allclose(model.decode(z, y), model.decode(z, other))


def test_label_validation():
    model = cvae.build_cvae(cvae.CVAEConfig(**SMALL))
    x = torch.rand(3, 1, 28, 28)
    with pytest.raises(TypeError, match="int64"):
        cvae.train(model, x, torch.tensor([0, 1, 2], dtype=torch.int32), steps=1, quiet=True)
    with pytest.raises(TypeError, match="torch.Tensor"):
        cvae.sample(model, [0, 1])
    with pytest.raises(ValueError, match="0..9"):
        cvae.train(model, x, torch.tensor([0, 1, 10]), steps=1, quiet=True)
    with pytest.raises(ValueError, match="0..9"):
        cvae.sample(model, torch.tensor([-1]))
    with pytest.raises(ValueError, match="3 labels for 2 images"):
        cvae.change_label(model, x[:2], torch.tensor([0, 1, 2]), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="1-D"):
        cvae.sample(model, torch.zeros(2, 1, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        cvae.train(model, 2 * x, torch.tensor([0, 1, 2]), steps=1, quiet=True)


def test_log_variance_is_clamped_with_the_vae_bounds():
    model = cvae.build_cvae(cvae.CVAEConfig(**SMALL))
    with torch.no_grad():
        model.encoder[-1].bias[4:] = 1e4
    assert model.encode(torch.rand(2, 1, 28, 28), torch.tensor([0, 1]))[1].max().item() == vae.LOG_VAR_MAX


def test_elbo_of_a_zeroed_model_by_hand():
    # all weights 0: logits 0 (p = 1/2 per pixel), mu = 0, log_var = 0 -> rec = -784 ln 2, KL = 0
    model = cvae.build_cvae(cvae.CVAEConfig(**SMALL))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([3, 1, 4, 1])
    parts = cvae.conditional_elbo(model, x, y, torch.Generator().manual_seed(0))
    torch.testing.assert_close(parts.reconstruction, torch.tensor(-784 * math.log(2)))
    torch.testing.assert_close(parts.kl, torch.tensor(0.0))
    torch.testing.assert_close(parts.elbo, parts.reconstruction - parts.kl)


def test_elbo_equals_the_vae_parts_on_hand_made_inputs():
    model = cvae.build_cvae(cvae.CVAEConfig(**SMALL))
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


def test_training_lowers_the_loss_and_is_repeatable():
    x, y = _digits()
    histories = []
    for _ in range(2):
        torch.manual_seed(0)
        model = cvae.build_cvae(cvae.CVAEConfig(**SMALL))
        histories.append(cvae.train(model, x, y, generator=torch.Generator().manual_seed(0), quiet=True))
    h = histories[0]
    assert set(h) == {"step", "time", "loss", "elbo", "reconstruction", "kl"}
    assert h["step"] == list(range(1, 61))
    assert np.mean(h["loss"][-10:]) < np.mean(h["loss"][:10]) - 50
    torch.testing.assert_close(torch.tensor(h["loss"]), -torch.tensor(h["elbo"]))  # beta = 1
    assert h["loss"] == histories[1]["loss"]


def test_max_seconds_stops_training():
    x, y = _digits()
    model = cvae.build_cvae(cvae.CVAEConfig(**SMALL))
    h = cvae.train(model, x, y, steps=10**6, max_seconds=0.3, quiet=True)
    assert 0 < len(h["step"]) < 10**6 and h["time"][-1] < 5


def test_samples_are_reproducible_and_of_the_asked_class():
    from minigen.metrics import load_classifier

    x, y = _digits(4000)
    torch.manual_seed(0)
    model = cvae.build_cvae(cvae.CVAEConfig(hidden=256, latent_dim=4, batch_size=64))
    cvae.train(model, x, y, steps=400, generator=torch.Generator().manual_seed(0), quiet=True)
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


def test_nan_guard_stops_before_the_step():
    model = cvae.build_cvae(cvae.CVAEConfig(**SMALL))
    with torch.no_grad():
        model.decoder[0].weight[0, 0] = float("nan")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = _digits(64)
    with pytest.raises(TrainingDiverged):
        cvae.train(model, x, y, steps=3, quiet=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]) or torch.isnan(v).any(), k


def test_nan_guard_on_a_poisoned_batch():
    model = cvae.build_cvae(cvae.CVAEConfig(**SMALL))
    optimizer = torch.optim.Adam(model.parameters())
    x, y = _digits(8)
    x = x.clone()
    x[0, 0, 0, 0] = float("nan")  # past check_images, straight into the step
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TrainingDiverged, match="step 7"):
        cvae.training_step(model, x, y, optimizer, step=7)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_checkpoint_round_trip(tmp_path):
    x, y = _digits()
    model = cvae.build_cvae(cvae.CVAEConfig(**SMALL))
    cvae.train(model, x, y, steps=5, checkpoint=tmp_path / "c.pt", checkpoint_every=2, quiet=True)
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert ckpt["family"] == "cvae" and ckpt["step"] == 5 and len(ckpt["history"]["loss"]) == 5
    again = cvae.load_cvae(tmp_path / "c.pt")
    assert again.config == model.config and not again.training
    labels = torch.tensor([7, 2, 9])
    torch.testing.assert_close(cvae.sample(again, labels, generator=torch.Generator().manual_seed(0)),
                               cvae.sample(model, labels, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="cvae checkpoint"):
        cvae.load_cvae({**ckpt, "family": "vae"})


@pytest.mark.gpu
def test_train_and_sample_on_cuda():
    x, y = _digits()
    model = cvae.build_cvae(cvae.CVAEConfig(**SMALL), device="cuda")
    h = cvae.train(model, x, y, steps=20, generator=torch.Generator().manual_seed(0), quiet=True)
    assert len(h["loss"]) == 20 and all(math.isfinite(v) for v in h["loss"])
    s = cvae.sample(model, torch.arange(5), generator=torch.Generator().manual_seed(0))
    assert s.device.type == "cuda" and s.shape == (5, 1, 28, 28)
