"""scripts/check_chapters_on_device.py: chapters executed as a reader runs them, every failure reported."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_chapters_on_device.py"


def test_reports_every_failing_cell_and_every_note_as_a_reader_sees_them(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from minigen.utils import book_claims\nx = 1"),
        nbformat.v4.new_code_cell("assert x == 2, 'an identity broke'"),  # an error: the book is wrong
        nbformat.v4.new_code_cell("with book_claims():\n    assert (\n        x > 5\n    ), 'run'"),
        nbformat.v4.new_code_cell("with book_claims():\n    assert x < 0"),
        nbformat.v4.new_code_cell("print('still running', x)"),  # cells go on after each
    ]
    path = tmp_path / "planted.ipynb"
    nbformat.write(nb, path)
    # the test session runs with MINIGEN_STRICT_CLAIMS=1 (conftest); the script drops it, as a
    # reader's machine has none: the claims give notes, the plain assert an error
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--save", str(tmp_path / "run"),
                             str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr  # a cell failed
    [report] = json.loads((tmp_path / "device_check.json").read_text())
    assert [(e["cell"], e["error"]) for e in report["errors"]] == [(1, "AssertionError: an identity broke")]
    assert [n["cell"] for n in report["notes"]] == [2, 3]
    assert report["notes"][0]["claim"] == "assert (\n    x > 5\n), 'run'\n(run)"
    assert report["notes"][1]["claim"] == "assert x < 0"
    executed = nbformat.read(tmp_path / "run" / "planted.ipynb", as_version=4)
    assert executed.cells[4].outputs[0]["text"] == "still running 1\n"
    assert "2 claim(s) about the book's run not holding" in result.stdout
