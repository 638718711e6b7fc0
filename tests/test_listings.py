"""Every listing a chapter prints with ``inspect.getsource`` is today's source, not a stale copy.

The chapters are committed with their outputs. When a function of minigen changes and a chapter
is not re-executed, the listing stored in the notebook still shows the old code: this test finds
every ``inspect.getsource(<name>)`` in the chapters' code cells and checks that the cell's stored
output contains the current source of ``<name>``.
"""
import inspect
import json
import re
from pathlib import Path

import pytest

import minigen
from minigen import cvae, cyclegan, data, gan, metrics, training, utils, vae

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = {"minigen": minigen, "cvae": cvae, "cyclegan": cyclegan, "data": data, "gan": gan,
             "metrics": metrics, "training": training, "utils": utils, "vae": vae}
PATTERN = re.compile(r"inspect\.getsource\(([A-Za-z_][\w.]*)\)")


def _listings():
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        for index, cell in enumerate(cells):
            if cell["cell_type"] != "code":
                continue
            for name in PATTERN.findall("".join(cell["source"])):
                yield pytest.param(cell, name, id=f"{path.stem}-cell{index}-{name}")


LISTINGS = list(_listings())


def test_the_chapters_show_listings():
    assert len(LISTINGS) >= 10  # the pattern still finds them


@pytest.mark.parametrize("cell, name", LISTINGS)
def test_stored_listing_is_current(cell, name):
    obj = eval(name, NAMESPACE)  # a dotted name such as vae.VAE.encode, nothing else
    source = inspect.getsource(obj)
    printed = "".join("".join(out.get("text", "")) for out in cell.get("outputs", [])
                      if out.get("output_type") == "stream")
    assert source in printed, (
        f"the stored output of the cell listing {name} is not its current source: re-execute the "
        "chapter (python scripts/execute_notebooks.py chapters/NN.ipynb), or, after a change that "
        "only re-wraps code or comments, python scripts/refresh_listings.py chapters/NN.ipynb")
