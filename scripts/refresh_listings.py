"""Refresh the stored output of every listing cell in the chapters, without re-executing them.

A listing cell is a code cell whose every line is ``print(inspect.getsource(<name>))``. Its output
is the current source of ``<name>``, so after a change that only re-wraps minigen's code or
comments, this writes exactly what executing the cell would print. Any other cell is left alone;
tests/test_listings.py checks every stored listing against today's source.

    python scripts/refresh_listings.py [chapters/NN_name.ipynb ...]   # default: every chapter
"""
from __future__ import annotations

import contextlib
import inspect
import io
import json
import re
import sys
from pathlib import Path

import minigen
from minigen import cvae, cyclegan, data, gan, metrics, training, utils, vae

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = {"inspect": inspect, "minigen": minigen, "cvae": cvae, "cyclegan": cyclegan,
             "data": data, "gan": gan, "metrics": metrics, "training": training, "utils": utils,
             "vae": vae}
LINE = re.compile(r"print\(inspect\.getsource\([A-Za-z_][\w.]*\)\)")


def refresh(path: Path) -> int:
    """Rewrite the listing outputs of one notebook; return how many cells changed."""
    notebook = json.loads(path.read_text())
    changed = 0
    for cell in notebook["cells"]:
        lines = "".join(cell["source"]).strip().splitlines() if cell["cell_type"] == "code" else []
        if not lines or not all(LINE.fullmatch(line.strip()) for line in lines):
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec("\n".join(lines), dict(NAMESPACE))  # only print(inspect.getsource(name)) lines
        text = out.getvalue()
        stream = {"name": "stdout", "output_type": "stream", "text": text.splitlines(keepends=True)}
        if cell["outputs"] != [stream]:
            cell["outputs"] = [stream]
            changed += 1
    if changed:
        path.write_text(json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n")
    return changed


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "chapters").glob("*.ipynb"))
    for path in paths:
        print(f"{path.name}: {refresh(path)} listing cell(s) refreshed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
