"""Execute chapter notebooks in place (outputs stored), the way the book and nbval run them, and
record how long each took in chapters/timings.json, the file each chapter's opening reads.

    python scripts/execute_notebooks.py chapters/02_foundations.ipynb [...]
    python scripts/execute_notebooks.py --time-only chapters/03_gan.ipynb   # record the time only
    python scripts/execute_notebooks.py --from-cache _build/.jupyter_cache --out _build/timings.json

Runs each notebook top to bottom in a fresh kernel with the working directory set to its
folder, stores the outputs, and prints the wall time. The time is recorded under "cpu", or
under "gpu" when a CUDA GPU is present (the chapters then run on it), with the processor, its
cores, the torch threads, the date, the load average before and after (other work on the
machine slows a run down) and the CPU time the kernel used. The chapter's execution-time cell
(scripts/sync_notebooks.py) is then refreshed from the file, so its stored output is what it
prints. Set MINIGEN_QUIET=1 (the default here) to keep progress bars out of outputs.
``--from-cache`` records the times of the notebooks jupyter-book executed (jupyter-cache keeps
each one's execution time) into ``--out``.
"""
from __future__ import annotations

import datetime
import fcntl
import json
import os
import platform
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sync_notebooks  # noqa: E402  (the execution-time cell)

ROOT = Path(__file__).resolve().parents[1]
TIMINGS = sync_notebooks.TIMINGS
ABOUT = ("Execution time of each chapter, written by scripts/execute_notebooks.py (do not edit by hand); "
         "each chapter's opening shows it. seconds: wall time of one execution in a fresh kernel; "
         "load: the 1-minute load average before and after; kernel_cpu_seconds: the CPU time the kernel used.")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine() -> tuple[str, dict]:
    """("gpu" or "cpu", what to record about the machine the chapters run on here)."""
    import torch

    common = {"threads": torch.get_num_threads(), "python": platform.python_version(),
              "torch": torch.__version__}
    if torch.cuda.is_available():
        return "gpu", {"model": torch.cuda.get_device_name(0), **common}
    if torch.backends.mps.is_available():  # recorded, not shown: the book states CPU and CUDA times
        return "mps", {"model": platform.processor() or "Apple MPS", **common}
    return "cpu", {"model": cpu_model(), "cores": os.cpu_count(), **common}


def record(chapter: str, kind: str, run: dict, path: Path = TIMINGS) -> None:
    """Put ``run`` into ``path`` under chapters/<chapter>/<kind>, locked against other writers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read()
        data = json.loads(text) if text.strip() else {}
        data["about"] = ABOUT
        chapters = data.setdefault("chapters", {})
        entry = chapters.setdefault(chapter, {"cpu": None, "gpu": None})
        entry[kind] = run
        data["chapters"] = dict(sorted(chapters.items()))
        f.seek(0)
        f.truncate()
        f.write(json.dumps(data, indent=1, sort_keys=False) + "\n")


def execute(path: Path, timeout: int = 900, save: bool = True) -> float:
    kind, info = machine()
    nb = nbformat.read(path, as_version=4)
    kernel = {}  # the kernel's process, and the CPU time it has used after each cell

    def started(**_):
        import psutil

        kernel["process"] = psutil.Process(client.km.provisioner.process.pid)

    def cell_done(**_):
        t = kernel["process"].cpu_times()
        kernel["cpu"] = t.user + t.system + t.children_user + t.children_system

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}},
                            on_notebook_start=started, on_cell_executed=cell_done)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    if save:
        nbformat.write(nb, path)
    run = {"seconds": round(elapsed, 1), "date": datetime.date.today().isoformat(), **info,
           "load": [round(load_before, 2), round(os.getloadavg()[0], 2)], "by": "scripts/execute_notebooks.py"}
    if "cpu" in kernel:  # what the kernel computed, whatever else ran on the machine
        run["kernel_cpu_seconds"] = round(kernel["cpu"], 1)
    if kind == "cpu" and str(info["model"]) == "unknown":
        print(f"{path}: processor unknown; time not recorded")
    else:
        record(path.stem, kind, run)
        if save:  # the execution-time cell shows the new time
            sync_notebooks.sync(path, check=False)
        else:
            print(f"{path}: notebook left as it was; `python scripts/sync_notebooks.py {path}` shows the new time")
    return elapsed


def from_cache(cache_dir: Path, out: Path) -> int:
    """Record the execution times jupyter-cache kept for the notebooks jupyter-book executed."""
    from jupyter_cache import get_cache

    kind, info = machine()
    latest = {}
    for rec in get_cache(str(cache_dir)).list_cache_records():
        seconds = (rec.data or {}).get("execution_seconds")
        if seconds is not None and (rec.uri not in latest or rec.created > latest[rec.uri].created):
            latest[rec.uri] = rec
    for uri, rec in sorted(latest.items()):
        chapter = Path(uri).stem
        seconds = rec.data["execution_seconds"]
        record(chapter, kind, {"seconds": round(seconds, 1), "date": rec.created.date().isoformat(), **info,
                               "by": "jupyter-book (jupyter-cache)"}, out)
        print(f"{chapter}: executed in {seconds:.1f} s ({kind}, {rec.created:%Y-%m-%d %H:%M})")
    print(f"{len(latest)} execution times written to {out}")
    return 0


def main(argv: list[str]) -> int:
    os.environ.setdefault("MINIGEN_QUIET", "1")
    # oneDNN capped at AVX2, as the stored outputs were computed (see scripts/build_book.sh)
    os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
    if "-h" in argv or "--help" in argv:
        print(__doc__)
        return 0
    if "--from-cache" in argv:
        out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else ROOT / "_build" / "timings.json"
        return from_cache(Path(argv[argv.index("--from-cache") + 1]), out)
    save = "--time-only" not in argv
    if save:  # the stored outputs must say what the text says: a failed claim is an error
        os.environ["MINIGEN_STRICT_CLAIMS"] = "1"
    # (--time-only, e.g. on a GPU, where a run differs from the book's: minigen.utils.book_claims
    # prints a note for a claim about the book's run that does not hold, and the timing goes on)
    paths = [a for a in argv if a != "--time-only"]
    if not paths:
        print(__doc__)
        return 2
    for p in paths:
        print(f"{p}: executed in {execute(Path(p), save=save):.1f} s (load average now "
              f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
