"""Execute chapter notebooks in place (outputs stored), the way the book and nbval run them.

    python scripts/execute_notebooks.py chapters/02_foundations.ipynb [...]

Runs each notebook top to bottom in a fresh kernel with the working directory set to its
folder, stores the outputs, and prints the wall time: the figure each chapter's time budget is
checked against. Set MINIGEN_QUIET=1 (the default here) to keep progress bars out of outputs.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int = 900) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    nbformat.write(nb, path)
    return elapsed


def main(paths: list[str]) -> int:
    os.environ.setdefault("MINIGEN_QUIET", "1")
    if not paths:
        print(__doc__)
        return 2
    for p in paths:
        print(f"{p}: executed in {execute(Path(p)):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
