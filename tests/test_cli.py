import subprocess
import sys

import numpy as np
import pytest
import torch

from minigen.checkpoint import save_checkpoint
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


def test_sample_rejects_unknown_output_type(tmp_path):
    with pytest.raises(SystemExit, match=r"\.npy.*\.png"):
        main(["sample", str(tmp_path / "c.pt"), "-n", "4", "--out", str(tmp_path / "x.txt")])


def test_translate_needs_a_cyclegan_checkpoint(tmp_path):
    ckpt = save_checkpoint(tmp_path / "c.pt", family="gan", models={"G": torch.nn.Linear(2, 2)})
    np.save(tmp_path / "a.npy", np.zeros((2, 1, 28, 28), np.float32))
    with pytest.raises(SystemExit, match="cyclegan checkpoint"):
        main(["translate", str(ckpt), "--direction", "x2y", "--in", str(tmp_path / "a.npy"),
              "--out", str(tmp_path / "b.npy")])


def test_train_rejects_bad_budget():
    with pytest.raises(SystemExit, match="--steps must be positive"):
        main(["train", "gan", "--out", "unused", "--steps", "0"])
