"""python -m minigen with bad input: every user error is one line ``error: <problem>. <fix>`` on
stderr with exit status 2, never a traceback; files are written exactly where the message says.
The commands run in-process through ``main([...])`` (fast); one case runs the real ``python -m``."""
import errno
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from minigen import cli, cvae, cyclegan, gan, training, vae
from minigen.checkpoint import load_checkpoint, save_checkpoint
from minigen.cli import GRID_MAX, MAX_SAMPLES, main
from minigen.data import digits, stroke_domains
from minigen.training import settings_of

CPU = ["--device", "cpu"]


def user_error(argv, capsys) -> str:
    """Run the command; it must fail as a user error, exit status 2 (returned, or through
    SystemExit for a usage mistake, as argparse does). Returns the one line on stderr."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as done:
        status = done.code
    assert status == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("error: ") and err.count("\n") == 1, err  # one line
    assert "Traceback" not in err and "Traceback" not in captured.out
    return err


# --------------------------------------------------------------------------------------------
# Checkpoints to work with: tiny, one step each
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpts")
    x, y = digits("train", device="cpu")
    x, y = x[:32], y[:32]
    xd, yd = stroke_domains(device="cpu")
    runs = {
        "vae": (vae, vae.VAEConfig(hidden=8, latent_dim=2, batch_size=4), x),
        "cvae": (cvae, cvae.CVAEConfig(hidden=8, latent_dim=2, batch_size=4), (x, y)),
        "gan": (gan, gan.GANConfig(z_dim=4, width=4, batch_size=4), x),
        "ring": (gan, gan.GANConfig(net="mlp", z_dim=2, width=4, depth=1, batch_size=4), x.flatten(1)[:, :2]),
        "cyclegan": (cyclegan, cyclegan.CycleGANConfig(channels=4, d_channels=4, batch_size=2, history_size=2),
                     (xd[:8], yd[:8])),
    }
    paths = {}
    for name, (module, config, data) in runs.items():
        paths[name] = folder / f"{name}.pt"
        module.train(module.build(config, device="cpu"), data, steps=1, checkpoint=paths[name], device="cpu",
                     progress=False)
    nan_model = vae.build(runs["vae"][1], device="cpu")
    with torch.no_grad():
        nan_model.decoder[0].weight.fill_(float("nan"))
    paths["nan"] = save_checkpoint(folder / "nan.pt", family="vae", models={"model": nan_model},
                                   settings=settings_of(runs["vae"][1]))
    paths["demo"] = save_checkpoint(folder / "demo.pt", family="demo", models={"net": torch.nn.Linear(2, 2)})
    (folder / "empty.pt").write_bytes(b"")
    paths["empty"] = folder / "empty.pt"
    raw = paths["vae"].read_bytes()
    (folder / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    paths["truncated"] = folder / "truncated.pt"
    torch.save(torch.zeros(3), folder / "tensor.pt")
    paths["tensor"] = folder / "tensor.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), folder / "sd.pt")
    paths["state_dict"] = folder / "sd.pt"
    (folder / "text.pt").write_text("not a checkpoint")
    paths["text"] = folder / "text.pt"
    paths["folder"] = folder
    images = digits("test", device="cpu")[0][:6].numpy()
    np.save(folder / "in.npy", images)
    paths["in"] = folder / "in.npy"
    return paths


# --------------------------------------------------------------------------------------------
# train: bad numbers and names, refused before any work
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "--steps must be at least 1, got 0. Pass a positive number of steps"),
    (["--steps", "-3"], "--steps must be at least 1, got -3"),
    (["--steps", "1.5"], "--steps must be a whole number, got '1.5'"),
    (["--steps", "ten"], "--steps must be a whole number, got 'ten'"),
    (["--max-seconds", "inf"], "--max-seconds must be a positive, finite number of seconds, got 'inf'"),
    (["--max-seconds", "1e400"], "--max-seconds must be a positive, finite number of seconds, got '1e400'"),
    (["--max-seconds", "nan"], "--max-seconds must be a positive, finite number of seconds, got 'nan'"),
    (["--max-seconds", "-1"], "--max-seconds must be a positive, finite number of seconds, got '-1'"),
    (["--max-seconds", "0"], "--max-seconds must be a positive, finite number of seconds, got '0'"),
    (["--max-seconds", "soon"], "--max-seconds must be a positive, finite number of seconds, got 'soon'"),
    (["--checkpoint-every", "-1"], "--checkpoint-every must be at least 0, got -1. Pass 0 to write"),
    (["--checkpoint-every", "x"], "--checkpoint-every must be a whole number, got 'x'"),
    (["--seed", "-1"], "--seed must be at least 0, got -1. Pass a seed in [0, 2**63)"),
    (["--seed", str(2**63)], "--seed must be below 2**63"),
    (["--device", "gpu"], "--device gpu: "),
    (["--device", "tpu"], "--device tpu: "),
    (["--bogus"], "unrecognized arguments: --bogus. See `python -m minigen --help`"),
])
def test_train_refuses_bad_settings_before_any_work(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    err = user_error(["train", "vae", "--out", out, "--quiet", *args], capsys)
    assert message in err
    if "--device" not in args:
        assert not out.exists()  # refused before the folder was made


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_train_on_cuda_without_cuda(tmp_path, capsys):
    err = user_error(["train", "vae", "--out", tmp_path / "o", "--steps", "1", "--device", "cuda"], capsys)
    assert "--device cuda: " in err and "CUDA" in err and not (tmp_path / "o" / "checkpoint.pt").exists()


@pytest.mark.parametrize("argv, message", [
    (["train", "diffusion", "--out", "x"], "argument family: invalid choice: 'diffusion'"),
    (["train", "vae"], "the following arguments are required: --out"),
    (["frobnicate"], "argument command: invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: command"),
    (["translate", "c.pt", "--direction", "up", "--in", "a.npy", "--out", "b.npy"],
     "argument --direction: invalid choice: 'up'"),
])
def test_usage_mistakes_are_one_line_too(capsys, argv, message):
    err = user_error(argv, capsys)
    assert message in err and "--help" in err


def test_train_out_is_an_existing_file(tmp_path, capsys):
    (tmp_path / "f").write_text("mine")
    err = user_error(["train", "vae", "--out", tmp_path / "f", "--steps", "1", *CPU], capsys)
    assert f"--out {tmp_path / 'f'} is a file, not a folder. Choose another path" in err
    assert (tmp_path / "f").read_text() == "mine"


def test_train_out_below_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("mine")
    err = user_error(["train", "vae", "--out", tmp_path / "f" / "run", "--steps", "1", *CPU], capsys)
    assert f"cannot write to --out {tmp_path / 'f' / 'run'}: " in err and "Choose a folder you can write to" in err


def test_train_out_not_writable_is_found_before_training(tmp_path, capsys, monkeypatch):
    def read_only(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(cli.tempfile, "TemporaryFile", read_only)
    monkeypatch.setattr(vae, "train", lambda *a, **k: pytest.fail("trained before checking --out"))
    err = user_error(["train", "vae", "--out", tmp_path / "ro", "--steps", "1", *CPU], capsys)
    assert f"cannot write to --out {tmp_path / 'ro'}: permission denied. Choose a folder" in err


def test_train_output_name_taken_by_a_folder(tmp_path, capsys):
    (tmp_path / "run" / "history.json").mkdir(parents=True)
    err = user_error(["train", "vae", "--out", tmp_path / "run", "--steps", "1", *CPU], capsys)
    assert "history.json is a folder, so train cannot write it" in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()  # found before training


def test_an_output_error_after_training_keeps_the_run(tmp_path, capsys, monkeypatch):
    import minigen.plotting

    def disk_full(images, path, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(minigen.plotting, "save_image_grid", disk_full)
    out = tmp_path / "run"
    err = user_error(["train", "vae", "--out", out, "--steps", "2", "--quiet", *CPU], capsys)
    assert f"the run finished and its checkpoint is saved in {out / 'checkpoint.pt'}" in err
    assert "no space left on device" in err and "minigen sample" in err
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2


@pytest.mark.parametrize("which, message", [
    ("missing", "No checkpoint at "),
    ("folder", "is a folder, not a checkpoint file"),
    ("empty", "the file is empty (0 bytes)"),
    ("truncated", "the file is truncated or damaged"),
    ("text", "it is not a PyTorch file"),
    ("tensor", "holds a Tensor of shape (3,), not a minigen checkpoint"),
    ("state_dict", "it holds a bare state_dict"),
    ("gan", "holds a 'gan' model, not a 'vae' one"),
    ("nan", "weight 'decoder.0.weight' holds NaN or infinite values"),
])
def test_train_resume_from_a_bad_checkpoint(tmp_path, capsys, ckpts, which, message):
    resume = ckpts[which] if which != "missing" else tmp_path / "none.pt"
    err = user_error(["train", "vae", "--out", tmp_path / "o", "--steps", "1", "--resume", resume, *CPU],
                     capsys)
    assert message in err and "\x1b[" not in err and "weights_only" not in err


def test_train_divergence_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(training, "MAX_LOSS", 1.0)  # any VAE loss is then past the bound
    err = user_error(["train", "vae", "--out", tmp_path / "o", "--steps", "3", "--quiet", *CPU], capsys)
    assert "error: Training diverged at step 1: loss=" in err and "divergence bound" in err


def test_interrupted_training_says_how_to_continue(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(vae, "train", interrupted)
    assert main(["train", "vae", "--out", str(tmp_path / "o"), "--steps", "3", *CPU]) == 130
    err = capsys.readouterr().err
    assert err.startswith("error: interrupted.") and err.count("\n") == 1
    assert f"continue it with --resume {tmp_path / 'o' / 'checkpoint.pt'}" in err


# --------------------------------------------------------------------------------------------
# sample
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, message", [
    ("0", "-n must be at least 1, got 0"),
    ("-3", "-n must be at least 1, got -3"),
    ("2.5", "-n must be a whole number, got '2.5'"),
    ("lots", "-n must be a whole number, got 'lots'"),
    (str(MAX_SAMPLES + 1), f"-n must be at most {MAX_SAMPLES:,}"),
    ("200000", "Run sample several times with different --seed values"),
    (str(10**12), "got 1,000,000,000,000"),
])
def test_sample_bad_counts(tmp_path, capsys, ckpts, n, message):
    err = user_error(["sample", ckpts["vae"], "-n", n, "--out", tmp_path / "x.npy", *CPU], capsys)
    assert message in err and not (tmp_path / "x.npy").exists()


@pytest.mark.parametrize("name", ["x.txt", "x", "x.npz", "x.jpg", "x.npy.bak"])
def test_sample_unknown_output_type(tmp_path, capsys, ckpts, name):
    err = user_error(["sample", ckpts["vae"], "-n", "4", "--out", tmp_path / name, *CPU], capsys)
    assert f"--out must end in .npy or .png, got {name!r}" in err
    assert list(tmp_path.iterdir()) == []


def test_sample_out_is_a_folder(tmp_path, capsys, ckpts):
    (tmp_path / "x.npy").mkdir()
    err = user_error(["sample", ckpts["vae"], "-n", "4", "--out", tmp_path / "x.npy", *CPU], capsys)
    assert f"--out {tmp_path / 'x.npy'} is a folder. Pass a file name" in err


def test_sample_out_below_a_file(tmp_path, capsys, ckpts):
    (tmp_path / "f").write_text("mine")
    err = user_error(["sample", ckpts["vae"], "-n", "4", "--out", tmp_path / "f" / "x.npy", *CPU], capsys)
    assert f"the folder of --out {tmp_path / 'f'} is a file, not a folder. Choose another path" in err


def test_sample_unwritable_output_is_found_before_loading(tmp_path, capsys, ckpts, monkeypatch):
    def read_only(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(cli.tempfile, "TemporaryFile", read_only)
    monkeypatch.setattr(vae, "load", lambda *a, **k: pytest.fail("loaded before checking --out"))
    err = user_error(["sample", ckpts["vae"], "-n", "4", "--out", tmp_path / "x.npy", *CPU], capsys)
    assert "permission denied. Choose a folder you can write to" in err


def test_sample_write_failure_names_the_file(tmp_path, capsys, ckpts, monkeypatch):
    def disk_full(f, array, **kwargs):
        f.write(b"half an array")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli.np, "save", disk_full)
    err = user_error(["sample", ckpts["vae"], "-n", "4", "--out", tmp_path / "x.npy", *CPU], capsys)
    assert f"cannot write {tmp_path / 'x.npy'}: no space left on device" in err
    assert list(tmp_path.iterdir()) == []  # no half-written file left behind


@pytest.mark.parametrize("which, message", [
    ("missing", "the file does not exist"),
    ("folder", "is a folder, not a checkpoint file"),
    ("empty", "the file is empty (0 bytes)"),
    ("truncated", "the file is truncated or damaged"),
    ("text", "it is not a PyTorch file"),
    ("tensor", "holds a Tensor of shape (3,), not a minigen checkpoint"),
    ("state_dict", "it holds a bare state_dict"),
    ("cyclegan", "is a CycleGAN checkpoint: it translates images rather than draws them. Use `python -m "
                 "minigen translate`"),
    ("ring", "holds a 2-D (mlp) GAN, not an image model"),
    ("demo", "holds a 'demo' model, which python -m minigen cannot rebuild"),
    ("nan", "weight 'decoder.0.weight' holds NaN or infinite values"),
])
@pytest.mark.parametrize("suffix", [".npy", ".png"])
def test_sample_from_a_bad_checkpoint(tmp_path, capsys, ckpts, which, message, suffix):
    path = ckpts[which] if which != "missing" else tmp_path / "none.pt"
    out = tmp_path / f"x{suffix}"
    err = user_error(["sample", path, "-n", "4", "--out", out, *CPU], capsys)
    assert message in err and "images contains NaN" not in err
    assert not out.exists()


def test_sample_from_a_model_that_makes_nan_images(tmp_path, capsys, ckpts, monkeypatch):
    """Finite but absurd weights can still overflow: the images are checked, not written."""
    monkeypatch.setattr(vae, "sample", lambda model, n, generator=None: torch.full((n, 1, 28, 28), float("nan")))
    err = user_error(["sample", ckpts["vae"], "-n", "4", "--out", tmp_path / "x.npy", *CPU], capsys)
    assert f"the model in {ckpts['vae']} produced NaN or infinite images" in err
    assert not (tmp_path / "x.npy").exists()


def test_sample_png_grid_is_capped_and_npy_holds_all(tmp_path, capsys, ckpts):
    n = GRID_MAX + 44
    assert main(["sample", str(ckpts["vae"]), "-n", str(n), "--out", str(tmp_path / "g.png"), *CPU]) == 0
    out = capsys.readouterr().out
    assert f"wrote {GRID_MAX} samples as a grid (16 per row) to {tmp_path / 'g.png'}" in out
    assert f"a grid shows at most {GRID_MAX} images, -n was {n}" in out
    width, height = Image.open(tmp_path / "g.png").size
    assert width == height == 2 * (16 * 30 + 2)  # 16 x 16 tiles of 28 + 2 pixels, doubled
    assert main(["sample", str(ckpts["vae"]), "-n", str(n), "--out", str(tmp_path / "all.npy"), *CPU]) == 0
    assert np.load(tmp_path / "all.npy").shape == (n, 1, 28, 28)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.npy", "g.png"]  # exactly these names


def test_sample_from_a_cvae_checkpoint_is_known(tmp_path, ckpts):
    assert main(["sample", str(ckpts["cvae"]), "-n", "3", "--out", str(tmp_path / "c.npy"), *CPU]) == 0
    assert np.load(tmp_path / "c.npy").shape == (3, 1, 28, 28)


@pytest.mark.parametrize("args, message", [
    (["--seed", "-5"], "--seed must be at least 0, got -5"),
    (["--device", "gpu"], "--device gpu: "),
])
def test_sample_bad_options(tmp_path, capsys, ckpts, args, message):
    err = user_error(["sample", ckpts["vae"], "-n", "4", "--out", tmp_path / "x.npy", *args], capsys)
    assert message in err


# --------------------------------------------------------------------------------------------
# translate
# --------------------------------------------------------------------------------------------
def _translate(ckpts, inp, out, *extra):
    return ["translate", ckpts["cyclegan"], "--direction", "x2y", "--in", inp, "--out", out, *CPU, *extra]


def _npy(tmp_path, array, name="a.npy"):
    np.save(tmp_path / name, array, allow_pickle=True)
    return tmp_path / name


BAD_INPUTS = [
    ("missing", None, "none.npy: the file does not exist. Check the path"),
    ("folder", None, "is a folder. Pass a .npy file of images"),
    ("text", None, "is not a readable .npy array of numbers"),
    ("objects", np.array([{"a": 1}], dtype=object), "is not a readable .npy array of numbers"),
    ("uint8", np.zeros((2, 1, 28, 28), np.uint8), "holds uint8 values; translate needs float images in [0, 1]. "
                                                  "Divide 8-bit images by 255 first"),
    ("int64", np.zeros((2, 1, 28, 28), np.int64), "holds int64 values"),
    ("bool", np.zeros((2, 1, 28, 28), bool), "holds bool values"),
    ("3-D", np.zeros((2, 28, 28), np.float32), "must have shape (B, C, H, W)"),
    ("size", np.zeros((2, 1, 32, 32), np.float32), "28x28"),
    ("channels", np.zeros((2, 3, 28, 28), np.float32), "channel"),
    ("0..255", np.full((2, 1, 28, 28), 255.0, np.float32), "[0, 1]"),
    ("-1..1", np.full((2, 1, 28, 28), -1.0, np.float32), "[0, 1]"),
    ("NaN", np.full((2, 1, 28, 28), np.nan, np.float32), "NaN"),
    ("empty", np.zeros((0, 1, 28, 28), np.float32), "holds no images"),
]


@pytest.mark.parametrize("kind, array, message", BAD_INPUTS, ids=[k for k, _, _ in BAD_INPUTS])
def test_translate_bad_input_images(tmp_path, capsys, ckpts, kind, array, message):
    if kind == "missing":
        inp = tmp_path / "none.npy"
    elif kind == "folder":
        inp = tmp_path / "d.npy"
        inp.mkdir()
    elif kind == "text":
        inp = tmp_path / "t.npy"
        inp.write_text("1, 2, 3")
    else:
        inp = _npy(tmp_path, array)
    err = user_error(_translate(ckpts, inp, tmp_path / "y.npy"), capsys)
    assert message in err and not (tmp_path / "y.npy").exists()


@pytest.mark.parametrize("name", ["y.txt", "y", "y.png", "y.npz"])
def test_translate_writes_only_npy_and_exactly_there(tmp_path, capsys, ckpts, name):
    err = user_error(_translate(ckpts, ckpts["in"], tmp_path / name), capsys)
    assert f"--out must end in .npy, got {name!r}. Name the file e.g." in err
    assert list(tmp_path.iterdir()) == []  # neither y.txt nor y.txt.npy


def test_translate_float64_is_read_as_float32_and_written_where_it_says(tmp_path, capsys, ckpts):
    inp = _npy(tmp_path, np.load(ckpts["in"]).astype(np.float64), "in64.npy")
    assert main([str(a) for a in _translate(ckpts, inp, tmp_path / "out" / "y.npy")]) == 0
    assert f"wrote 6 translated images to {tmp_path / 'out' / 'y.npy'}" in capsys.readouterr().out
    y = np.load(tmp_path / "out" / "y.npy")
    assert y.shape == (6, 1, 28, 28) and y.dtype == np.float32


@pytest.mark.parametrize("which, message", [
    ("vae", "holds a 'vae' model, not a 'cyclegan' one"),
    ("truncated", "the file is truncated or damaged"),
    ("empty", "the file is empty"),
    ("folder", "is a folder, not a checkpoint file"),
])
def test_translate_bad_checkpoint(tmp_path, capsys, ckpts, which, message):
    argv = _translate(ckpts, ckpts["in"], tmp_path / "y.npy")
    argv[1] = ckpts[which]
    err = user_error(argv, capsys)
    assert message in err and not (tmp_path / "y.npy").exists()


def test_translate_out_is_a_folder(tmp_path, capsys, ckpts):
    (tmp_path / "y.npy").mkdir()
    err = user_error(_translate(ckpts, ckpts["in"], tmp_path / "y.npy"), capsys)
    assert "is a folder. Pass a file name" in err


def test_translate_unwritable_output_is_found_before_work(tmp_path, capsys, ckpts, monkeypatch):
    def read_only(*args, **kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(cli.tempfile, "TemporaryFile", read_only)
    monkeypatch.setattr(cyclegan, "load", lambda *a, **k: pytest.fail("loaded before checking --out"))
    err = user_error(_translate(ckpts, ckpts["in"], tmp_path / "y.npy"), capsys)
    assert "read-only file system" in err


# --------------------------------------------------------------------------------------------
# the real entry point, and the documentation of the exit status
# --------------------------------------------------------------------------------------------
def test_python_dash_m_gives_one_line_and_status_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "minigen", "sample", str(tmp_path / "none.pt"), "-n", "0",
                           "--out", str(tmp_path / "x.npy")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: -n must be at least 1") and done.stderr.count("\n") == 1


def test_the_exit_status_is_documented(capsys):
    assert "Exit status: 0 on success; 2 for every user error" in " ".join(cli.__doc__.split())
    for argv in (["--help"], ["train", "--help"], ["sample", "--help"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "Exit status: 0 success; 2 user error" in text
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    assert f"at most {GRID_MAX}" in " ".join(capsys.readouterr().out.split())


def test_a_finished_train_prints_where_everything_is(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "vae", "--out", str(out), "--steps", "1", "--quiet", *CPU]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["checkpoint"] == str(out / "checkpoint.pt")
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "history.json", "samples.png"]


@pytest.mark.parametrize("error", [MemoryError(),
                                   getattr(torch, "OutOfMemoryError", MemoryError)("CUDA out of memory")])
def test_out_of_memory_is_one_line(tmp_path, capsys, ckpts, monkeypatch, error):
    def too_big(*args, **kwargs):
        raise error

    monkeypatch.setattr(vae, "sample", too_big)
    err = user_error(["sample", ckpts["vae"], "-n", "4", "--out", tmp_path / "x.npy", *CPU], capsys)
    assert "error: out of memory. Pass a smaller -n" in err


# --------------------------------------------------------------------------------------------
# Issue 13, probe findings: caps, empty paths, foreign input files, messages that name the file
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("steps", [str(cli.MAX_STEPS + 1), "99999999999999999999"])
def test_train_steps_are_capped_before_any_work(tmp_path, capsys, steps):
    out = tmp_path / "never"
    err = user_error(["train", "gan", "--out", out, "--steps", steps, "--quiet", *CPU], capsys)
    assert f"--steps must be at most {cli.MAX_STEPS:,}" in err and "--resume" in err
    assert not out.exists()


def test_train_steps_at_the_cap_parse():
    args = cli.build_parser().parse_args(["train", "gan", "--out", "o", "--steps", str(cli.MAX_STEPS)])
    assert args.steps == cli.MAX_STEPS == 10**7


def test_train_out_empty_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = user_error(["train", "gan", "--out", "", "--steps", "2", "--quiet", *CPU], capsys)
    assert "--out is empty. Pass the folder to write checkpoint.pt" in err
    assert list(tmp_path.iterdir()) == []  # nothing written into the current folder


@pytest.mark.parametrize("command", ["sample", "translate"])
def test_sample_and_translate_out_empty_is_refused(tmp_path, capsys, ckpts, command):
    argv = (["sample", ckpts["vae"], "--out", ""] if command == "sample"
            else _translate(ckpts, _npy(tmp_path, np.zeros((1, 1, 28, 28), np.float32)), ""))
    err = user_error(argv, capsys)
    assert "--out is empty. Pass a file name such as" in err and "PosixPath" not in err


@pytest.mark.parametrize("kind, message", [
    ("png", "it lacks NumPy's .npy header (an image or a text file?)"),
    ("npz", "it is a .npz (or other zip) archive"),
    ("objects", "it holds pickled Python objects, which are never loaded"),
])
def test_translate_foreign_input_files(tmp_path, capsys, ckpts, kind, message):
    if kind == "png":
        inp = tmp_path / "x.png"
        Image.new("L", (28, 28)).save(inp)
    elif kind == "npz":
        inp = tmp_path / "x.npz"
        np.savez(inp, images=np.zeros((1, 1, 28, 28), np.float32))
    else:
        inp = _npy(tmp_path, np.array([{"a": 1}], dtype=object))
    err = user_error(_translate(ckpts, inp, tmp_path / "y.npy"), capsys)
    assert f"--in {inp} is not a readable .npy array of numbers: {message}" in err
    assert "allow_pickle" not in err and "NpzFile" not in err and not (tmp_path / "y.npy").exists()


def test_sample_messages_name_the_checkpoint_file(tmp_path, capsys, ckpts):
    err = user_error(["sample", ckpts["nan"], "-n", "4", "--out", tmp_path / "x.npy", *CPU], capsys)
    assert f"error: {ckpts['nan']}: weight 'decoder.0.weight' holds NaN" in err
    assert "the checkpoint:" not in err
