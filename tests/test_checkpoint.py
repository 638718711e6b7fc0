"""minigen.checkpoint: the safe, atomic file format and the one loader every model family uses."""
import dataclasses
import pickle

import numpy as np
import pytest
import torch

from minigen import checkpoint, cvae, gan, vae
from minigen.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def _model_and_opt():
    torch.manual_seed(0)
    m = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m(torch.randn(4, 3)).sum().backward()
    opt.step()
    return m, opt


def test_round_trip(tmp_path):
    m, opt = _model_and_opt()
    g = torch.Generator().manual_seed(3)
    path = save_checkpoint(tmp_path / "a" / "ckpt.pt", family="gan", models={"G": m},
                           optimizers={"G": opt}, history={"loss": [1.0, 0.5]},
                           settings={"lr": 1e-3, "hidden": [4, 4]}, step=2,
                           extra={"generator": g.get_state(), "state": {"pos": 3}})
    ck = load_checkpoint(path)
    assert ck["family"] == "gan" and ck["step"] == 2 and ck["format_version"] == 2
    assert ck["history"] == {"loss": [1.0, 0.5]}
    assert ck["settings"] == {"lr": 1e-3, "hidden": [4, 4]}
    m2 = torch.nn.Linear(3, 2)
    m2.load_state_dict(ck["models"]["G"])
    torch.testing.assert_close(m2.weight, m.weight)
    opt2 = torch.optim.Adam(m2.parameters(), lr=1e-3)
    opt2.load_state_dict(ck["optimizers"]["G"])
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert ck["extra"]["state"] == {"pos": 3}
    # the run's generator comes back: it continues the stream where it was saved
    restored = torch.Generator().set_state(ck["extra"]["generator"])
    assert torch.equal(torch.rand(5, generator=restored), torch.rand(5, generator=g))


def test_the_global_random_state_is_neither_saved_nor_touched(tmp_path):
    m, _ = _model_and_opt()
    state = torch.get_rng_state()
    path = save_checkpoint(tmp_path / "c.pt", family="gan", models={"G": m})
    ck = load_checkpoint(path)
    assert torch.equal(torch.get_rng_state(), state)
    assert "rng" not in ck and ck["extra"] == {}
    assert not hasattr(checkpoint, "rng_state") and not hasattr(checkpoint, "set_rng_state")


def test_write_is_atomic_no_temp_left(tmp_path):
    m, _ = _model_and_opt()
    save_checkpoint(tmp_path / "c.pt", family="gan", models={"G": m})
    save_checkpoint(tmp_path / "c.pt", family="gan", models={"G": m}, step=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 5


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    m, _ = _model_and_opt()
    save_checkpoint(tmp_path / "c.pt", family="gan", models={"G": m}, step=1)

    def crash_midway(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. the user stops the run while it is writing

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "c.pt", family="gan", models={"G": m}, step=2)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


def test_truncated_file(tmp_path):
    m, _ = _model_and_opt()
    path = save_checkpoint(tmp_path / "c.pt", family="gan", models={"G": m})
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a minigen checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "text.pt")


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_code_is_refused(tmp_path, capsys):
    torch.save({"format": "minigen-checkpoint", "payload": _Evil()}, tmp_path / "evil.pt",
               pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(tmp_path / "evil.pt")
    assert "must never run" not in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# minigen.checkpoint.load: rebuild a model, checking everything first
# --------------------------------------------------------------------------------------------
SMALL_VAE = vae.VAEConfig(hidden=8, latent_dim=2, batch_size=4)


@pytest.fixture
def vae_checkpoint(tmp_path):
    """A one-step VAE checkpoint, loaded as a dict, and the model it holds."""
    from minigen.data import digits

    model = vae.build(SMALL_VAE, device="cpu")
    vae.train(model, digits("train", device="cpu")[0][:16], steps=1, device="cpu", checkpoint=tmp_path / "v.pt")
    return load_checkpoint(tmp_path / "v.pt"), model


def _load_vae(ckpt):
    return checkpoint.load(ckpt, family="vae", config_class=vae.VAEConfig, model_class=vae.VAE,
                           build=vae.build, device="cpu")


def test_load_rebuilds_the_saved_model_in_eval_mode(vae_checkpoint, tmp_path):
    ckpt, model = vae_checkpoint
    loaded = _load_vae(ckpt)
    assert isinstance(loaded, vae.VAE) and loaded.config == SMALL_VAE and not loaded.training
    for (name, p), q in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(p, q), name
    from_path = _load_vae(tmp_path / "v.pt")  # a path works as well as a loaded dict
    assert all(torch.equal(p, q) for p, q in zip(from_path.parameters(), loaded.parameters()))


def test_load_refuses_another_family(vae_checkpoint):
    ckpt, _ = vae_checkpoint
    with pytest.raises(CheckpointError, match=r"holds a 'vae' model, not a 'cvae' one.*minigen\.vae\.load"):
        cvae.load(ckpt)
    with pytest.raises(CheckpointError, match="'vae' model, not a 'gan'"):
        gan.load(ckpt)


def test_load_names_unknown_settings(vae_checkpoint):
    ckpt, _ = vae_checkpoint
    with pytest.raises(CheckpointError, match=r"settings \['dropout'\] that VAEConfig does not know"):
        _load_vae({**ckpt, "settings": {**ckpt["settings"], "dropout": 0.5}})


@pytest.mark.parametrize("name, value", [("hidden", "8"), ("hidden", 8.0), ("hidden", True), ("lr", "fast"),
                                         ("arch", 3)])
def test_load_refuses_settings_of_the_wrong_type(vae_checkpoint, name, value):
    ckpt, _ = vae_checkpoint
    with pytest.raises(CheckpointError, match=f"setting {name}="):
        _load_vae({**ckpt, "settings": {**ckpt["settings"], name: value}})


def test_load_refuses_invalid_settings(vae_checkpoint):
    ckpt, _ = vae_checkpoint
    with pytest.raises(CheckpointError, match="not valid.*arch"):
        _load_vae({**ckpt, "settings": {**ckpt["settings"], "arch": "transformer"}})


def test_load_accepts_an_int_where_a_float_is_expected(vae_checkpoint):
    ckpt, _ = vae_checkpoint
    loaded = _load_vae({**ckpt, "settings": {**ckpt["settings"], "beta": 2}})
    assert loaded.config.beta == 2


def test_load_refuses_a_weight_of_the_wrong_shape(vae_checkpoint):
    ckpt, _ = vae_checkpoint
    weights = dict(ckpt["models"]["model"])
    weights["decoder.0.weight"] = torch.zeros(8, 3)
    with pytest.raises(CheckpointError, match=r"weight 'decoder.0.weight' has shape \(8, 3\).*\(8, 2\)"):
        _load_vae({**ckpt, "models": {"model": weights}})
    # settings that describe another network than the saved weights
    with pytest.raises(CheckpointError, match="has shape"):
        _load_vae({**ckpt, "settings": {**ckpt["settings"], "hidden": 9}})


def test_load_refuses_missing_or_extra_weights(vae_checkpoint):
    ckpt, _ = vae_checkpoint
    weights = dict(ckpt["models"]["model"])
    del weights["encoder.1.bias"]
    with pytest.raises(CheckpointError, match=r"missing \['encoder.1.bias'\]"):
        _load_vae({**ckpt, "models": {"model": weights}})
    with pytest.raises(CheckpointError, match=r"unexpected \['extra.weight'\]"):
        _load_vae({**ckpt, "models": {"model": {**ckpt["models"]["model"], "extra.weight": torch.zeros(1)}}})
    with pytest.raises(CheckpointError, match="no model weights"):
        _load_vae({**ckpt, "models": {}})


def test_load_refuses_the_old_format(vae_checkpoint):
    ckpt, _ = vae_checkpoint
    with pytest.raises(CheckpointError, match="format 1"):
        _load_vae({**ckpt, "format_version": 1})




@pytest.mark.parametrize("name, value", [
    ("hidden", np.int64(8)),
    ("latent_dim", np.int32(2)),
    ("beta", np.float32(0.5)),
    ("sigma_x", np.float64(0.2)),
    ("batch_size", np.int64(4)),
    ("lr", np.float64(1e-3)),
])
def test_numpy_numbers_in_a_config_are_saved_as_plain_numbers_and_load(tmp_path, name, value):
    from minigen.data import digits

    config = dataclasses.replace(SMALL_VAE, **{name: value})
    plain = dataclasses.replace(SMALL_VAE, **{name: value.item()})
    model = vae.build(config, device="cpu")
    vae.train(model, digits("train", device="cpu")[0][:16], steps=2, device="cpu", checkpoint=tmp_path / "n.pt")
    settings = load_checkpoint(tmp_path / "n.pt")["settings"]  # weights_only: numpy would be refused
    assert type(settings[name]) is type(value.item()) and settings[name] == value.item()
    loaded = vae.load(tmp_path / "n.pt", device="cpu")
    assert loaded.config == plain
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), loaded.parameters()))


def test_save_checkpoint_stores_settings_as_plain_data(tmp_path):
    save_checkpoint(tmp_path / "s.pt", family="x", models={"m": torch.nn.Linear(1, 1)},
                    settings={"a": np.int64(3), "b": (np.float32(0.5), 1), "c": torch.tensor(2.5), "d": None})
    settings = load_checkpoint(tmp_path / "s.pt")["settings"]
    assert settings == {"a": 3, "b": [0.5, 1], "c": 2.5, "d": None}
    assert type(settings["a"]) is int and type(settings["b"][0]) is float and type(settings["c"]) is float
    with pytest.raises(TypeError, match="plain"):
        save_checkpoint(tmp_path / "t.pt", family="x", models={"m": torch.nn.Linear(1, 1)}, settings={"a": object()})
    assert not (tmp_path / "t.pt").exists()


def test_a_tuple_setting_comes_back_as_a_tuple(tmp_path):
    config = dataclasses.replace(gan.RING, width=4, depth=1, betas=(0.25, 0.75))
    model = gan.build(config, device="cpu")
    save_checkpoint(tmp_path / "g.pt", family="gan", models={"model": model},
                    settings=dataclasses.asdict(config))
    assert load_checkpoint(tmp_path / "g.pt")["settings"]["betas"] == [0.25, 0.75]
    loaded = gan.load(tmp_path / "g.pt", device="cpu")
    assert loaded.config == config and loaded.config.betas == (0.25, 0.75)
