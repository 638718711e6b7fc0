import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from minigen import utils as U
from minigen.utils import check_images, get_device, seed_everything


def test_get_device_default_is_available():
    d = get_device()
    expected = "cuda" if torch.cuda.is_available() else d.type
    assert d.type == expected
    assert torch.zeros(1, device=d).device.type == d.type


def test_get_device_cpu_explicit():
    assert get_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the error when CUDA is missing")
def test_get_device_missing_cuda_says_what_to_do():
    with pytest.raises(RuntimeError, match="Change runtime type"):
        get_device("cuda")


def test_get_device_unknown():
    with pytest.raises(ValueError, match="Unknown device"):
        get_device("tpu-ish")


def test_seed_everything_repeats_all_generators():
    g1 = seed_everything(123)
    a = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g1).item())
    g2 = seed_everything(123)
    b = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g2).item())
    assert a == b
    seed_everything(124)
    assert random.random() != a[0]


@pytest.mark.parametrize("bad", [1.5, -1, 2**32, True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises((TypeError, ValueError)):
        seed_everything(bad)


def test_check_images_accepts_good_batch():
    x = torch.rand(3, 1, 28, 28)
    assert check_images(x) is x


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.zeros(3, 28, 28), "unsqueeze"),
        (torch.zeros(3, 3, 28, 28), "1 channel"),
        (torch.zeros(3, 1, 32, 32), "28x28"),
        (torch.zeros(3, 1, 28, 28, dtype=torch.uint8), "255"),
        (torch.full((3, 1, 28, 28), -1.0), r"\(x \+ 1\) / 2"),
        (torch.full((3, 1, 28, 28), float("nan")), "NaN"),
        ([1, 2, 3], "torch.Tensor"),
    ],
)
def test_check_images_explains_errors(x, match):
    with pytest.raises((TypeError, ValueError), match=match):
        check_images(x)


# -- book_claims: the chapters' checks of what their text says about the book's run -------------
def _claims_block(value):
    with U.book_claims():
        assert value > 1, "value too small"
        return "all held"
    return "skipped"


def test_book_claims_raise_in_the_books_commands(monkeypatch):
    monkeypatch.setenv("MINIGEN_STRICT_CLAIMS", "1")
    with pytest.raises(AssertionError, match="value too small"):
        _claims_block(0)
    assert _claims_block(2) == "all held"


@pytest.mark.parametrize("setting", [None, "0", ""])
def test_book_claims_print_a_note_and_go_on_elsewhere(monkeypatch, capsys, setting):
    if setting is None:
        monkeypatch.delenv("MINIGEN_STRICT_CLAIMS", raising=False)
    else:
        monkeypatch.setenv("MINIGEN_STRICT_CLAIMS", setting)
    assert _claims_block(2) == "all held" and capsys.readouterr().out == ""  # silent when it holds
    assert _claims_block(0) == "skipped"
    out = capsys.readouterr().out
    assert out.startswith("Note: on your run, this claim of the text about the book's run does not hold")
    assert '    assert value > 1, "value too small"\n    (value too small)\n' in out  # the statement, and why
    assert f"PyTorch {torch.__version__}" in out and "chapter 1" in out


def _claims_over_lines(x):
    with U.book_claims():
        assert (
            x["a"] > 5
            and x["b"] > 1
        )


def test_book_claims_quote_the_whole_statement_of_several_lines(monkeypatch, capsys):
    monkeypatch.delenv("MINIGEN_STRICT_CLAIMS", raising=False)
    _claims_over_lines({"a": 0, "b": 2})  # the first clause fails, on a line of its own
    out = capsys.readouterr().out
    assert 'assert (\n        x["a"] > 5\n        and x["b"] > 1\n    )' in out


@pytest.mark.parametrize("strict", ["1", "0"])
def test_book_claims_never_hide_other_errors(monkeypatch, strict):
    monkeypatch.setenv("MINIGEN_STRICT_CLAIMS", strict)
    with pytest.raises(ZeroDivisionError):
        with U.book_claims():
            1 / 0


def test_the_books_commands_make_the_claims_strict():
    """Where the stored chapters are executed or checked, a failed claim is an error."""
    root = Path(__file__).resolve().parents[1]
    for script, runs in (("run_tests.sh", "python -m pytest"), ("build_book.sh", "execute_book.py")):
        text = (root / "scripts" / script).read_text()
        assert "export MINIGEN_STRICT_CLAIMS=1\n" in text, script
        assert text.index("export MINIGEN_STRICT_CLAIMS=1") < text.index(runs), script
    for path in ("scripts/execute_book.py", "scripts/execute_notebooks.py", "tests/conftest.py"):
        assert 'os.environ["MINIGEN_STRICT_CLAIMS"] = "1"' in (root / path).read_text(), path
    # execute_notebooks.py: strict when it stores outputs, not with --time-only
    text = (root / "scripts" / "execute_notebooks.py").read_text()
    assert 'if save:  # the stored outputs' in text and text.index("if save:  # the stored outputs") < \
        text.index('os.environ["MINIGEN_STRICT_CLAIMS"] = "1"')
    assert os.environ.get("MINIGEN_STRICT_CLAIMS") == "1"  # conftest set it for this session's kernels


def _claims_two_on_a_line(x):
    with U.book_claims():
        assert x > 0; assert x > 5, "the second"  # noqa: E702


def _claims_through_a_library(a, b):
    with U.book_claims():
        torch.testing.assert_close(torch.tensor(a),
                                   torch.tensor(b))


def test_book_claims_quote_the_statement_that_failed(monkeypatch, capsys):
    monkeypatch.delenv("MINIGEN_STRICT_CLAIMS", raising=False)
    _claims_through_a_library(1.0, 2.0)  # raised inside torch: the block's own statement is quoted
    out = capsys.readouterr().out
    assert "    torch.testing.assert_close(torch.tensor(a),\n" in out and "(Scalars are not close!)" in out
    assert "raise" not in out.split("The text describes")[0]
    if sys.version_info >= (3, 11):  # the column of the failure picks one of two statements
        _claims_two_on_a_line(1)
        out = capsys.readouterr().out
        assert '    assert x > 5, "the second"\n    (the second)' in out and "assert x > 0" not in out
