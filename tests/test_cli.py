"""python -m minigen: info, train (with --resume), sample and translate, and their error messages."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from minigen import cvae, vae
from minigen.checkpoint import load_checkpoint, save_checkpoint
from minigen.cli import main


def test_info_reports_versions_device_and_data(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"torch        {torch.__version__}" in out
    assert "device       cpu" in out or "device       cuda" in out or "device       mps" in out
    assert "data digits  available: 5000 bundled MNIST digits" in out
    assert "data mnist" in out and "data fashion" in out


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "minigen", "info"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("minigen")


def test_sample_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "none.pt"), "-n", "4", "--out", str(tmp_path / "x.npy")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_sample_rejects_unknown_output_type(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "c.pt"), "-n", "4", "--out", str(tmp_path / "x.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and ".npy" in err and ".png" in err and "'x.txt'" in err


def test_translate_needs_a_cyclegan_checkpoint(tmp_path, capsys):
    ckpt = save_checkpoint(tmp_path / "c.pt", family="gan", models={"model": torch.nn.Linear(2, 2)})
    np.save(tmp_path / "a.npy", np.zeros((2, 1, 28, 28), np.float32))
    assert main(["translate", str(ckpt), "--direction", "x2y", "--in", str(tmp_path / "a.npy"),
                 "--out", str(tmp_path / "b.npy")]) == 2
    assert "holds a 'gan' model, not a 'cyclegan' one" in capsys.readouterr().err
    assert not (tmp_path / "b.npy").exists()


def test_sample_refuses_a_cyclegan_checkpoint(tmp_path, capsys):
    ckpt = save_checkpoint(tmp_path / "c.pt", family="cyclegan", models={"model": torch.nn.Linear(2, 2)})
    assert main(["sample", str(ckpt), "-n", "4", "--out", str(tmp_path / "x.npy")]) == 2
    assert "minigen translate" in capsys.readouterr().err


@pytest.mark.parametrize("budget, message", [
    (["--steps", "0"], "--steps must be at least 1, got 0"),
    (["--steps", "-3"], "--steps must be at least 1, got -3"),
    (["--max-seconds", "nan"], "--max-seconds must be a positive, finite number of seconds, got 'nan'"),
    (["--max-seconds", "inf"], "--max-seconds must be a positive, finite number of seconds, got 'inf'"),
    (["--max-seconds", "0"], "--max-seconds must be a positive, finite number of seconds, got '0'"),
    (["--steps", "5", "--max-seconds", "-1"], "--max-seconds must be a positive"),
])
def test_train_rejects_a_bad_budget_before_any_work(tmp_path, capsys, budget, message):
    out = tmp_path / "unused"
    with pytest.raises(SystemExit) as exit_:  # a usage mistake, as argparse reports them
        main(["train", "gan", "--out", str(out), *budget])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not out.exists()  # refused before the folder, the data or the model were made


def test_train_rejects_a_negative_checkpoint_interval(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "vae", "--out", str(tmp_path / "o"), "--steps", "1", "--checkpoint-every", "-1",
              "--device", "cpu", "--quiet"])
    assert exit_.value.code == 2
    assert "--checkpoint-every must be at least 0, got -1" in capsys.readouterr().err
    assert not (tmp_path / "o" / "checkpoint.pt").exists()


def test_train_refuses_an_unknown_family(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "diffusion", "--out", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument family: invalid choice: 'diffusion'") and err.count("\n") == 1


def _train(out, *args):
    return main(["train", "vae", "--out", str(out), "--seed", "4", "--quiet", "--device", "cpu", *args])


def test_train_then_resume_equals_one_longer_run(tmp_path, capsys):
    first, resumed, straight = tmp_path / "first", tmp_path / "resumed", tmp_path / "straight"
    assert _train(first, "--steps", "20", "--checkpoint-every", "10") == 0
    assert load_checkpoint(first / "checkpoint.pt")["step"] == 20
    capsys.readouterr()
    assert _train(resumed, "--steps", "20", "--resume", str(first / "checkpoint.pt")) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["steps"] == 40 and printed["checkpoint"] == str(resumed / "checkpoint.pt")
    assert load_checkpoint(first / "checkpoint.pt")["step"] == 20  # the run resumed from is kept
    assert _train(straight, "--steps", "40") == 0
    h_resumed = json.loads((resumed / "history.json").read_text())
    h_straight = json.loads((straight / "history.json").read_text())
    assert h_resumed["step"] == list(range(1, 41))
    assert {k: v for k, v in h_resumed.items() if k != "time"} == {k: v for k, v in h_straight.items() if k != "time"}
    a, b = load_checkpoint(resumed / "checkpoint.pt"), load_checkpoint(straight / "checkpoint.pt")
    assert a["step"] == b["step"] == 40
    for name, tensor in a["models"]["model"].items():
        assert torch.equal(tensor, b["models"]["model"][name]), name
    torch.testing.assert_close(a["optimizers"]["vae"]["state"][0]["exp_avg"],
                               b["optimizers"]["vae"]["state"][0]["exp_avg"], rtol=0, atol=0)
    # resuming needs a checkpoint of the same family
    capsys.readouterr()
    assert main(["train", "cvae", "--out", str(tmp_path / "x"), "--steps", "1", "--quiet", "--device", "cpu",
                 "--resume", str(first / "checkpoint.pt")]) == 2
    assert "'vae' model, not a 'cvae'" in capsys.readouterr().err


def test_sample_from_a_cvae_checkpoint_draws_every_class_in_turn(tmp_path, capsys):
    out = tmp_path / "cvae"
    assert main(["train", "cvae", "--out", str(out), "--steps", "2", "--quiet", "--device", "cpu"]) == 0
    assert load_checkpoint(out / "checkpoint.pt")["family"] == "cvae"
    npy = tmp_path / "x.npy"
    assert main(["sample", str(out / "checkpoint.pt"), "-n", "12", "--out", str(npy), "--seed", "5",
                 "--device", "cpu"]) == 0
    assert "wrote 12 samples" in capsys.readouterr().out
    x = np.load(npy)
    assert x.shape == (12, 1, 28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    model = cvae.load(out / "checkpoint.pt", device="cpu")
    expected = cvae.sample(model, torch.arange(12) % 10, generator=torch.Generator().manual_seed(5))
    np.testing.assert_allclose(x, expected.numpy(), atol=1e-6)
    assert main(["sample", str(out / "checkpoint.pt"), "-n", "10", "--out", str(tmp_path / "g.png"),
                 "--device", "cpu"]) == 0
    assert (tmp_path / "g.png").stat().st_size > 0


def test_sample_from_a_vae_checkpoint_with_another_seed(tmp_path):
    out = tmp_path / "vae"
    assert _train(out, "--steps", "1") == 0
    for seed in ("0", "1"):
        assert main(["sample", str(out / "checkpoint.pt"), "-n", "3", "--out", str(tmp_path / f"{seed}.npy"),
                     "--seed", seed, "--device", "cpu"]) == 0
    model = vae.load(out / "checkpoint.pt", device="cpu")
    for seed in (0, 1):
        expected = vae.sample(model, 3, generator=torch.Generator().manual_seed(seed))
        np.testing.assert_allclose(np.load(tmp_path / f"{seed}.npy"), expected.numpy(), atol=1e-6)
    assert not np.array_equal(np.load(tmp_path / "0.npy"), np.load(tmp_path / "1.npy"))


def test_classroom_is_a_command_of_minigen(capsys):
    """`python -m minigen classroom ...` reaches minigen.classroom (its own parser, exit 2 on misuse)."""
    with pytest.raises(SystemExit) as info:
        main(["classroom", "--help"])
    assert info.value.code == 0
    assert "student" in capsys.readouterr().out
    assert main(["classroom", "no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err
