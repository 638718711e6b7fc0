"""minigen.checkpoint with bad input: damaged, foreign or unsafe files, impossible devices, and
saves that fail or are killed. Every case asserts the message (the words a user reads), not only
the exception type."""
import errno
import os
import pickle
import stat
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
import torch

from minigen import checkpoint, gan, vae
from minigen.checkpoint import TEMP_MARK, CheckpointError, load_checkpoint, save_checkpoint
from minigen.training import settings_of

TINY = vae.VAEConfig(hidden=8, latent_dim=2, batch_size=4)


def _linear():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2)


def _good(path):
    return save_checkpoint(path, family="gan", models={"G": _linear()}, step=3)


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


# --------------------------------------------------------------------------------------------
# Reading: each kind of bad file gets its own message
# --------------------------------------------------------------------------------------------
def _missing(p):
    return p / "none.pt"


def _folder(p):
    (p / "run").mkdir()
    return p / "run"


def _folder_with_checkpoint(p):
    _good(p / "run" / "checkpoint.pt")
    return p / "run"


def _empty(p):
    (p / "e.pt").write_bytes(b"")
    return p / "e.pt"


def _text(p):
    (p / "t.pt").write_text("hello, I am not a checkpoint")
    return p / "t.pt"


def _plain_pickle(p):
    (p / "p.pt").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    return p / "p.pt"


def _numpy_file(p):
    np.save(p / "a.npy", np.zeros(3))
    return p / "a.npy"


def _foreign_zip(p):
    with zipfile.ZipFile(p / "z.pt", "w") as z:
        z.writestr("notes.txt", "hello")
    return p / "z.pt"


def _truncated_half(p):
    raw = _good(p / "c.pt").read_bytes()
    (p / "c.pt").write_bytes(raw[: len(raw) // 2])
    return p / "c.pt"


def _truncated_head(p):
    raw = _good(p / "c.pt").read_bytes()
    (p / "c.pt").write_bytes(raw[:200])
    return p / "c.pt"


def _truncated_legacy(p):
    torch.save({"a": torch.zeros(2)}, p / "l.pt", _use_new_zipfile_serialization=False)
    (p / "l.pt").write_bytes((p / "l.pt").read_bytes()[:60])
    return p / "l.pt"


def _plain_tensor(p):
    torch.save(torch.zeros(3, 4), p / "x.pt")
    return p / "x.pt"


def _a_list(p):
    torch.save([1, 2, 3], p / "x.pt")
    return p / "x.pt"


def _state_dict(p):
    torch.save(torch.nn.Linear(2, 2).state_dict(), p / "sd.pt")
    return p / "sd.pt"


def _other_dict(p):
    torch.save({"epoch": 3, "model": {"w": torch.zeros(1)}}, p / "d.pt")
    return p / "d.pt"


def _newer_format(p):
    torch.save({"format": "minigen-checkpoint", "format_version": 99, "minigen_version": "9.0"}, p / "n.pt")
    return p / "n.pt"


def _bad_version(p):
    torch.save({"format": "minigen-checkpoint", "format_version": "two"}, p / "n.pt")
    return p / "n.pt"


def _no_family(p):
    torch.save({"format": "minigen-checkpoint", "format_version": 2, "models": {}}, p / "n.pt")
    return p / "n.pt"


def _models_not_dict(p):
    torch.save({"format": "minigen-checkpoint", "format_version": 2, "family": "vae", "models": [1]}, p / "n.pt")
    return p / "n.pt"


def _pickled_code(p):
    torch.save({"format": "minigen-checkpoint", "payload": _Evil()}, p / "evil.pt",
               pickle_protocol=pickle.HIGHEST_PROTOCOL)
    return p / "evil.pt"


def _pickled_code_protocol_2(p):
    torch.save({"format": "minigen-checkpoint", "payload": _Evil()}, p / "evil2.pt")
    return p / "evil2.pt"


BAD_FILES = [
    (_missing, r"No checkpoint at .*none\.pt: the file does not exist\. Check the path"),
    (_folder, r"run is a folder, not a checkpoint file\. Pass the checkpoint file inside it"),
    (_folder_with_checkpoint, r"run is a folder.*It holds .*checkpoint\.pt: pass that file"),
    (_empty, r"could not be read as a minigen checkpoint: the file is empty \(0 bytes\)"),
    (_text, r"could not be read as a minigen checkpoint: it is not a PyTorch file"),
    (_plain_pickle, r"could not be read as a minigen checkpoint: it is not a PyTorch file, or holds objects"),
    (_numpy_file, r"could not be read as a minigen checkpoint: it is a NumPy \.npy file"),
    (_foreign_zip, r"could not be read as a minigen checkpoint: it is a zip archive but not one written by "
                   r"torch\.save"),
    (_truncated_half, r"could not be read as a minigen checkpoint: the file is truncated or damaged"),
    (_truncated_head, r"could not be read as a minigen checkpoint: the file is truncated or damaged"),
    (_truncated_legacy, r"could not be read as a minigen checkpoint: the file is truncated or damaged"),
    (_plain_tensor, r"holds a Tensor of shape \(3, 4\), not a minigen checkpoint"),
    (_a_list, r"holds a list, not a minigen checkpoint"),
    (_state_dict, r"not a minigen checkpoint: it holds a bare state_dict \(2 tensors, e\.g\. 'weight'\)"),
    (_other_dict, r"not a minigen checkpoint: it holds a dict with keys \['epoch', 'model'\] but no "
                  r"'minigen-checkpoint' marker"),
    (_newer_format, r"written by a newer minigen \(9\.0, format 99\).*Upgrade minigen"),
    (_bad_version, r"is damaged: its format_version is 'two', not a number"),
    (_no_family, r"is damaged: its 'family' entry is missing or not a str"),
    (_models_not_dict, r"is damaged: its 'models' entry is missing or not a dict"),
    (_pickled_code, r"it is a PyTorch file, but holds pickled Python objects besides tensors and plain "
                    r"data\. Files that could run code when loaded are refused on purpose"),
    (_pickled_code_protocol_2, r"it holds pickled Python objects \(print\) besides tensors and plain data\. "
                               r"Files that could run code when loaded are refused on purpose"),
]


@pytest.mark.parametrize("make, message", BAD_FILES, ids=[f.__name__.strip("_") for f, _ in BAD_FILES])
def test_a_bad_file_gets_its_own_message(tmp_path, capsys, make, message):
    path = make(tmp_path)
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(path)
    text = str(err.value)
    assert str(path) in text  # it names the file
    assert "\x1b[" not in text  # torch's terminal colour codes are not passed on
    assert "weights_only" not in text and "False" not in text  # nor its advice to load unsafely
    assert "must never run" not in capsys.readouterr().out


@pytest.mark.parametrize("make", [_truncated_half, _pickled_code, _text])
def test_the_cause_is_kept_for_whoever_wants_torchs_details(tmp_path, make):
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(make(tmp_path))
    assert err.value.__cause__ is not None


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("where", ["cuda", "cuda:0", torch.device("cuda")])
def test_map_location_cuda_without_cuda_is_not_called_truncated(tmp_path, where):
    path = _good(tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match=r"onto map_location=.*cuda.*: PyTorch sees no CUDA device "
                                              r"on this machine\. Load it with map_location='cpu'") as err:
        load_checkpoint(path, map_location=where)
    assert "truncated" not in str(err.value)


@pytest.mark.parametrize("where", ["gpu", "cuda:x", "", "nvidia"],
                         ids=["gpu-word", "bad-index", "empty", "vendor"])  # an id "gpu" means "skip on CPUs"
def test_map_location_that_is_not_a_device(tmp_path, where):
    path = _good(tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match=r"map_location=.*: not a device\. Use 'cpu'"):
        load_checkpoint(path, map_location=where)


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True,
                    reason="root reads files whatever their mode")
def test_an_unreadable_file(tmp_path):
    path = _good(tmp_path / "c.pt")
    path.chmod(0)
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*c\.pt: permission denied"):
        load_checkpoint(path)


# --------------------------------------------------------------------------------------------
# minigen.checkpoint.load (every family's load): NaN weights are refused
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_load_refuses_non_finite_weights(tmp_path, value):
    model = vae.build(TINY, device="cpu")
    with torch.no_grad():
        model.decoder[0].weight[0, 0] = value
    save_checkpoint(tmp_path / "v.pt", family="vae", models={"model": model}, settings=settings_of(TINY))
    with pytest.raises(CheckpointError, match=r"weight 'decoder\.0\.weight' holds NaN or infinite values.*"
                                              r"diverged run or damaged.*train again"):
        vae.load(tmp_path / "v.pt", device="cpu")


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def _temp_files(folder):
    return sorted(p.name for p in folder.iterdir() if TEMP_MARK in p.name)


KILLED_SAVE = """
import os, sys, torch
from minigen.checkpoint import save_checkpoint
real_save = torch.save
def killed(obj, f, *a, **k):
    f.write(b"x" * 1000)
    f.flush()
    os._exit(9)  # killed mid-write: no except, no finally runs
torch.save = killed
save_checkpoint(sys.argv[1], family="gan", models={"G": torch.nn.Linear(2, 2)})
"""


def test_a_save_killed_mid_write_leaves_a_temp_file_that_the_next_save_removes(tmp_path):
    target = tmp_path / "c.pt"
    _good(target)
    done = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(target)], timeout=120)
    assert done.returncode == 9
    stale = _temp_files(tmp_path)
    assert len(stale) == 1 and stale[0].startswith("c.pt" + TEMP_MARK)  # recognisable name
    assert load_checkpoint(target)["step"] == 3  # the old checkpoint is intact
    (tmp_path / "other.pt.tmp-1-abcd").write_bytes(b"another target's file")
    save_checkpoint(target, family="gan", models={"G": _linear()}, step=4)
    assert _temp_files(tmp_path) == ["other.pt.tmp-1-abcd"]  # only this target's stale file went
    assert load_checkpoint(target)["step"] == 4


def test_a_temp_file_of_a_running_process_is_left_alone(tmp_path):
    target = tmp_path / "c.pt"
    mine = tmp_path / f"c.pt{TEMP_MARK}{os.getpid()}-0000"  # this process: maybe another thread's save
    mine.write_bytes(b"in progress")
    _good(target)
    assert mine.exists()


@pytest.mark.parametrize("failure, reason, fix", [
    (errno.EACCES, "permission denied", "choose a folder you can write to"),
    (errno.EROFS, "read-only file system", "the file system is read-only"),
    (errno.ENOSPC, "no space left on device", "free some disk space"),
])
@pytest.mark.parametrize("stage", ["create", "write", "rename"])
def test_a_failed_save_names_the_target_not_the_temp_file(tmp_path, monkeypatch, failure, reason, fix, stage):
    target = tmp_path / "c.pt"
    _good(target)

    def fail(*args, **kwargs):
        raise OSError(failure, os.strerror(failure), str(args[0]) if args else None)

    if stage == "create":
        monkeypatch.setattr(checkpoint.os, "open", fail)
    elif stage == "write":
        monkeypatch.setattr(torch, "save", lambda obj, f, *a, **k: fail(f.name))
    else:
        monkeypatch.setattr(checkpoint.os, "replace", fail)
    with pytest.raises(CheckpointError, match=rf"cannot write checkpoint {target}: {reason}\. ") as err:
        save_checkpoint(target, family="gan", models={"G": _linear()}, step=9)
    assert TEMP_MARK not in str(err.value) and fix in str(err.value).lower()
    monkeypatch.undo()
    assert _temp_files(tmp_path) == [] and load_checkpoint(target)["step"] == 3


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True,
                    reason="root writes into read-only folders")
def test_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*ro/c\.pt: permission denied"):
            _good(folder / "c.pt")
    finally:
        folder.chmod(0o755)


def test_the_target_is_a_folder(tmp_path):
    (tmp_path / "c.pt").mkdir()
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*c\.pt: it is a folder\. Pass a file path"):
        _good(tmp_path / "c.pt")


def test_a_parent_is_a_file(tmp_path):
    (tmp_path / "f").write_text("a file")
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*f/c\.pt: .*A part of the folder "
                                              r"path is a file, not a folder"):
        _good(tmp_path / "f" / "c.pt")


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_the_file_mode_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = _good(tmp_path / "c.pt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_saving_onto_a_symlink_writes_its_target(tmp_path):
    real = tmp_path / "store" / "real.pt"
    save_checkpoint(real, family="gan", models={"G": _linear()}, step=1)
    link = tmp_path / "latest.pt"
    link.symlink_to(real)
    save_checkpoint(link, family="gan", models={"G": _linear()}, step=2)
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert load_checkpoint(real)["step"] == 2 and load_checkpoint(link)["step"] == 2
    assert _temp_files(tmp_path) == [] and _temp_files(real.parent) == []


def test_saving_onto_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "latest.pt"
    link.symlink_to(tmp_path / "runs" / "new.pt")
    save_checkpoint(link, family="gan", models={"G": _linear()}, step=5)
    assert link.is_symlink() and load_checkpoint(tmp_path / "runs" / "new.pt")["step"] == 5


def test_malicious_files_are_still_refused_and_writes_still_atomic(tmp_path, monkeypatch):
    with pytest.raises(CheckpointError, match="refused on purpose"):
        load_checkpoint(_pickled_code(tmp_path))
    target = _good(tmp_path / "c.pt")

    def interrupted(obj, f, *args, **kwargs):
        f.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(target, family="gan", models={"G": _linear()}, step=7)
    monkeypatch.undo()
    assert load_checkpoint(target)["step"] == 3 and _temp_files(tmp_path) == []


# --------------------------------------------------------------------------------------------
# Issue 13, probe findings: save_checkpoint's arguments, paths that are not paths, map_location
# --------------------------------------------------------------------------------------------
from minigen.checks import InputError, InputTypeError  # noqa: E402


@pytest.mark.parametrize("kwargs, error, match", [
    ({"family": None}, InputError, r"family must be the name of a model family such as 'gan'.*got None"),
    ({"family": ""}, InputError, r"family must be the name of a model family .*got ''"),
    ({"step": -1}, InputError, r"step must be a whole number >= 0, got -1"),
    ({"step": 1.5}, InputTypeError, r"step must be a whole number >= 0, got 1\.5"),
    ({"models": {"model": None}}, InputTypeError, r"models\['model'\] must be a torch\.nn\.Module, got NoneType"),
    ({"models": torch.nn.Linear(2, 2)}, InputTypeError, r"models must be a dict of name -> torch\.nn\.Module"),
    ({"optimizers": {"x": 1}}, InputTypeError, r"optimizers\['x'\] must be a torch\.optim\.Optimizer, got int"),
    ({"settings": {"f": lambda: 1}}, InputTypeError, r"is not a plain number, string, bool or list"),
    ({"settings": [1]}, InputTypeError, r"settings must be a dict or None, got list"),
], ids=["family None", "family empty", "step -1", "step 1.5", "model None", "models module", "optimizer int",
        "settings lambda", "settings list"])
def test_save_checkpoint_refuses_bad_arguments_before_writing(tmp_path, kwargs, error, match):
    args = {"family": "gan", "models": {"model": _linear()}, **kwargs}
    with pytest.raises(error, match=match):
        save_checkpoint(tmp_path / "c.pt", **args)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path, error, match", [
    (None, InputTypeError, r"path must be a path \(str or pathlib\.Path\), got NoneType"),
    (5, InputTypeError, r"path must be a path \(str or pathlib\.Path\), got int"),
    ("", InputError, r"path is an empty string: pass the path of a file"),
])
def test_paths_that_are_not_paths(tmp_path, path, error, match):
    with pytest.raises(error, match=match):
        load_checkpoint(path)
    with pytest.raises(error, match=match):
        save_checkpoint(path, family="gan", models={"model": _linear()})


@pytest.mark.parametrize("loader", [gan.load, vae.load], ids=["gan", "vae"])
@pytest.mark.parametrize("bad", [None, 5])
def test_family_load_of_none_or_a_number(loader, bad):
    with pytest.raises(InputTypeError, match=r"checkpoint must be the path of a checkpoint file \(str or "
                                             r"pathlib\.Path\) or the dict load_checkpoint returns, got"):
        loader(bad)


def test_map_location_of_the_wrong_type(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", family="gan", models={"model": _linear()})
    with pytest.raises(InputTypeError, match=r"map_location must be a device such as 'cpu' .*got 5 \(int\)"):
        load_checkpoint(path, map_location=5)
    assert load_checkpoint(path, map_location=lambda s, loc: s)["family"] == "gan"  # a function: allowed


def test_plain_and_make_plain_raise_minigens_type_error():
    with pytest.raises(InputTypeError, match=r"is not a plain number, string, bool or list"):
        checkpoint.plain(object())
    with pytest.raises(InputTypeError, match=r"config must be a config dataclass instance .*got NoneType"):
        checkpoint.make_plain(None)


def test_a_checkpoint_without_models_is_refused_before_writing(tmp_path):
    with pytest.raises(checkpoint.InputError, match=r"models is empty: a checkpoint must hold at least one"):
        save_checkpoint(tmp_path / "e.pt", family="gan", models={})
    assert not (tmp_path / "e.pt").exists()


@pytest.mark.parametrize("family, loader", [("gan", gan.load), ("vae", vae.load)], ids=["gan", "vae"])
def test_loading_a_checkpoint_saved_without_settings_names_the_cause(tmp_path, family, loader):
    path = save_checkpoint(tmp_path / "n.pt", family=family, models={"model": _linear()})
    with pytest.raises(CheckpointError, match=r"n\.pt has no settings to rebuild the model from: it was "
                                              r"saved without settings=dataclasses\.asdict\(config\)"):
        loader(path)


def test_messages_name_a_checkpoint_passed_as_a_dict(tmp_path):
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "d.pt", family="vae", models={"model": _linear()},
                                           step=7))
    with pytest.raises(CheckpointError, match=r"the checkpoint dict passed in \(family 'vae', step 7\) holds "
                                              r"a 'vae' model, not a 'gan' one"):
        gan.load(ckpt)
    model = gan.build(gan.RING, device="cpu")
    with pytest.raises(CheckpointError, match=r"cannot resume a gan run from the checkpoint dict passed in "
                                              r"\(family 'vae', step 7\)"):
        gan.train(model, torch.zeros(8, 2), steps=1, device="cpu", resume=ckpt)


@pytest.mark.parametrize("version, release", [("2.13.0+cpu", (2, 13)), ("2.9.1", (2, 9)), ("2.10.0a0+git12ab", (2, 10)),
                                              ("10.0", (10, 0)), ("nightly", (0, 0))])
def test_torch_release_reads_major_and_minor_as_numbers(version, release):
    assert checkpoint.torch_release(version) == release  # 2.9 < 2.10 as numbers, not as strings


@pytest.mark.parametrize("version, warns", [("2.5.1", True), ("2.9.0+cu126", True), ("2.10.0", False),
                                            ("2.13.0+cpu", False)])
def test_loading_warns_on_a_torch_whose_safe_loader_had_known_flaws(tmp_path, monkeypatch, version, warns):
    path = save_checkpoint(tmp_path / "c.pt", family="gan", models={"model": _linear()})
    monkeypatch.setattr(checkpoint.torch, "__version__", version)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_checkpoint(path)
    messages = [str(w.message) for w in caught if "CVE-2025-32434" in str(w.message)]
    assert len(messages) == int(warns)
    if warns:
        assert f"torch {version} has known flaws" in messages[0] and "upgrade torch to 2.10" in messages[0]
