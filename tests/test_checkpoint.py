import pickle
import random

import numpy as np
import pytest
import torch

from minigen.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, set_rng_state


def _model_and_opt():
    torch.manual_seed(0)
    m = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m(torch.randn(4, 3)).sum().backward()
    opt.step()
    return m, opt


def test_round_trip(tmp_path):
    m, opt = _model_and_opt()
    path = save_checkpoint(tmp_path / "a" / "ckpt.pt", family="gan", models={"G": m},
                           optimizers={"G": opt}, history={"loss": [1.0, 0.5]},
                           settings={"lr": 1e-3, "hidden": [4, 4]}, step=2)
    ck = load_checkpoint(path)
    assert ck["family"] == "gan" and ck["step"] == 2
    assert ck["history"] == {"loss": [1.0, 0.5]}
    assert ck["settings"] == {"lr": 1e-3, "hidden": [4, 4]}
    m2 = torch.nn.Linear(3, 2)
    m2.load_state_dict(ck["models"]["G"])
    torch.testing.assert_close(m2.weight, m.weight)
    opt2 = torch.optim.Adam(m2.parameters(), lr=1e-3)
    opt2.load_state_dict(ck["optimizers"]["G"])
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]


def test_rng_states_restore(tmp_path):
    m, _ = _model_and_opt()
    path = save_checkpoint(tmp_path / "c.pt", family="gan", models={"G": m})
    after = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(load_checkpoint(path)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == after


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
