"""Execute the book's chapters into jupyter-book's cache, several at once, before the build.

    python scripts/execute_book.py                 # as many chapters at once as there are cores
    python scripts/execute_book.py --jobs 1        # one at a time, as jupyter-book itself would
    python scripts/execute_book.py chapters/03_gan.ipynb   # only these notebooks

jupyter-book 1.x executes the notebooks one after another, and every chapter runs torch on one
thread (scripts/build_book.sh), so on a machine with two cores one of them sits idle for the whole
build. This script runs the chapters that the cache does not hold yet in parallel, each in its
own fresh kernel with its folder as the working directory, exactly as jupyter-book's "cache" mode
does (the same executor, ``jupyter_cache.executors.utils.single_nb_execution``). The chapters are
split into one lane per job, each run in turn, so that the longest lane is as short as possible,
by the CPU time each chapter took at its last recorded execution (chapters/timings.json). Each
finished notebook goes into the cache (``_build/.jupyter_cache``) under the hash jupyter-book
looks it up by, with its execution time, so the build that follows renders every chapter from the
cache and executes nothing. A chapter whose execution fails is reported with its traceback and not cached, the other
chapters still run, and the script exits with status 1, so scripts/build_book.sh stops there.

The outputs are the same as a serial build's: each chapter is seeded, trains for a number of
steps (not of seconds) and runs on one thread whatever else the machine is doing. Only the times
the chapters print of themselves grow when two share a memory bus.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import sync_notebooks  # noqa: E402  (where the recorded execution times live)

CACHE = ROOT / "_build" / ".jupyter_cache"
TIMINGS = sync_notebooks.TIMINGS


def chapters() -> list[Path]:
    """The notebooks in _toc.yml, in reading order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [entry["file"] for part in toc.get("parts", []) for entry in part.get("chapters", [])]
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def expected_seconds(path: Path) -> float:
    """The CPU time the chapter's kernel used at its last recorded execution (chapters/timings.json;
    the wall time if that is missing, 0 if both are): unlike the wall time, it does not depend on
    how busy the machine was then."""
    try:
        run = json.loads(TIMINGS.read_text())["chapters"][path.stem]["cpu"] or {}
        return float(run.get("kernel_cpu_seconds") or run.get("seconds") or 0.0)
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def lanes(costs: list[float], jobs: int) -> list[list[int]]:
    """Split the items (by index) into ``jobs`` lanes run one after another, so that the longest
    lane is as short as possible: every split is tried when there are few (2 lanes and the book's
    nine chapters: 512), otherwise the longest item goes to the least loaded lane, in turn."""
    order = sorted(range(len(costs)), key=lambda i: -costs[i])
    if jobs ** len(costs) <= 100_000:
        def longest(a):  # the longest lane's time, then its number of items (unknown costs are 0)
            return max((sum(c for c, lane in zip(costs, a) if lane == j), a.count(j)) for j in range(jobs))
        best = min(itertools.product(range(jobs), repeat=len(costs)), key=longest)
        split = [[i for i in order if best[i] == j] for j in range(jobs)]
    else:
        split, load = [[] for _ in range(jobs)], [0.0] * jobs
        for i in order:
            j = load.index(min(load))
            split[j].append(i)
            load[j] += costs[i]
    return [lane for lane in split if lane]


def execute(path: str, timeout: int) -> tuple[str, object, float, str | None]:
    """Run one notebook in a fresh kernel (in a worker process); return it with its time and error."""
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False,
                                 meta_override=True)
    return path, nb, result.time, result.exc_string if result.err is not None else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to execute (default: every chapter in _toc.yml)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="chapters executed at once (default: the number of cores)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="jupyter-cache folder (default: %(default)s)")
    parser.add_argument("--timeout", type=int, default=None,
                        help="seconds per cell (default: _config.yml's execute.timeout)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    # as scripts/build_book.sh runs them: one torch thread per chapter (the stored outputs' setting,
    # and kernels with all threads each would fight over the cores), no progress bars in outputs
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MINIGEN_QUIET", "1")
    # oneDNN capped at AVX2, as the stored outputs were computed (see scripts/build_book.sh)
    os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
    # the chapters' checks of the text's claims about the book's run are errors here
    # (minigen.utils.book_claims; a reader's run on a GPU gets a note instead)
    os.environ["MINIGEN_STRICT_CLAIMS"] = "1"
    if args.timeout is None:
        args.timeout = int(yaml.safe_load((ROOT / "_config.yml").read_text())["execute"].get("timeout", 900))

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(args.cache))
    todo = []
    for path in args.notebooks or chapters():
        if not path.is_file():
            parser.error(f"no notebook at {path}")
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            todo.append(path)
    if not todo:
        print("execute_book: every chapter is already in the cache", flush=True)
        return 0
    plan = [[todo[i] for i in lane] for lane in lanes([expected_seconds(p) for p in todo], args.jobs)]
    print(f"execute_book: executing {len(todo)} chapters in {len(plan)} lanes at once: "
          + "; ".join(", ".join(p.stem for p in lane) for lane in plan), flush=True)
    start, failed = time.perf_counter(), []
    with ProcessPoolExecutor(max_workers=len(plan)) as pool:
        running = {pool.submit(execute, str(lane.pop(0)), args.timeout): lane for lane in plan}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                lane = running.pop(future)
                if lane:  # the lane's next chapter, on the worker that just became free
                    running[pool.submit(execute, str(lane.pop(0)), args.timeout)] = lane
                path, nb, seconds, error = future.result()
                name = Path(path).stem
                if error is not None:
                    failed.append(name)
                    print(f"execute_book: {name} FAILED after {seconds:.1f} s:\n{error}", flush=True)
                    continue
                cache.cache_notebook_bundle(CacheBundleIn(nb, str(Path(path).resolve()),
                                                          data={"execution_seconds": seconds}),
                                            check_validity=False, overwrite=True)
                print(f"execute_book: {name} executed in {seconds:.1f} s "
                      f"({time.perf_counter() - start:.0f} s since the start)", flush=True)
    print(f"execute_book: {len(todo) - len(failed)} of {len(todo)} chapters executed in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
