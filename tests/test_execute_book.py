"""scripts/execute_book.py: the chapters executed in parallel land in jupyter-cache under the key
jupyter-book (myst-nb's "cache" mode) looks them up by, with their outputs, and a failure stops
the build instead of being cached."""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import execute_book  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def stamp(name: str) -> str:
    """A cell that records when it ran, waits, and records again: the runs' overlap is visible."""
    return (f"import os, time, pathlib\n"
            f"log = pathlib.Path('times.txt')\n"
            f"start = time.time(); time.sleep(2.0)\n"
            f"with open(log, 'a') as f: f.write(f'{name} {{start}} {{time.time()}}\\n')\n"
            f"print(os.getcwd())")


def test_chapters_are_the_toc_notebooks_in_order():
    names = [p.stem for p in execute_book.chapters()]
    assert names[:2] == ["01_getting_started", "02_foundations"] and "09_metrics" in names
    assert all(p.suffix == ".ipynb" and p.is_file() for p in execute_book.chapters())


def test_parallel_runs_are_cached_where_jupyter_book_looks(tmp_path, capsys):
    from jupyter_cache import get_cache

    a = notebook(tmp_path / "a.ipynb", stamp("a"), "6 * 7")
    b = notebook(tmp_path / "b.ipynb", stamp("b"))
    cache_dir = tmp_path / "cache"
    assert execute_book.main([str(a), str(b), "--jobs", "2", "--cache", str(cache_dir)]) == 0
    cache = get_cache(str(cache_dir))
    # myst-nb's lookup: the notebook as read from disk, unexecuted, matched by its code
    _, merged = cache.merge_match_into_notebook(nbformat.read(a, as_version=4))
    assert merged.cells[0].outputs[0]["text"].strip() == str(tmp_path)  # run in its own folder
    assert merged.cells[1].outputs[0]["data"]["text/plain"] == "42"
    assert cache.match_cache_notebook(nbformat.read(b, as_version=4)).data["execution_seconds"] >= 2.0
    # both ran at once: each started before the other finished
    (s1, e1), (s2, e2) = [tuple(map(float, line.split()[1:]))
                          for line in (tmp_path / "times.txt").read_text().splitlines()]
    assert s1 < e2 and s2 < e1
    # a second call finds both cached and executes nothing
    assert execute_book.main([str(a), str(b), "--cache", str(cache_dir)]) == 0
    assert "already in the cache" in capsys.readouterr().out


def test_a_failing_notebook_is_reported_and_not_cached(tmp_path, capsys):
    from jupyter_cache import get_cache

    good = notebook(tmp_path / "good.ipynb", "1 + 1")
    bad = notebook(tmp_path / "bad.ipynb", "raise ValueError('broken chapter')")
    cache_dir = tmp_path / "cache"
    assert execute_book.main([str(good), str(bad), "--cache", str(cache_dir)]) == 1
    out = capsys.readouterr().out
    assert "bad FAILED" in out and "broken chapter" in out and "1 of 2 chapters executed" in out
    cache = get_cache(str(cache_dir))
    cache.match_cache_notebook(nbformat.read(good, as_version=4))
    with pytest.raises(KeyError):
        cache.match_cache_notebook(nbformat.read(bad, as_version=4))


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        execute_book.main(["--jobs", "0", "--cache", str(tmp_path / "c")])
    with pytest.raises(SystemExit):
        execute_book.main([str(tmp_path / "missing.ipynb"), "--cache", str(tmp_path / "c")])


def test_lanes_make_the_longest_lane_as_short_as_possible():
    # greedy (longest first to the least loaded lane) would give 5+3+3 | 4+3 = 11 or 10; the best is 9
    split = execute_book.lanes([5.0, 4.0, 3.0, 3.0, 3.0], 2)
    assert sorted(sorted(lane) for lane in split) == [[0, 1], [2, 3, 4]]
    assert execute_book.lanes([1.0, 3.0, 2.0], 1) == [[1, 2, 0]]  # one lane: longest first
    many = [float(i % 7 + 1) for i in range(20)]  # too many splits to try: the greedy rule
    split = execute_book.lanes(many, 3)
    assert sorted(i for lane in split for i in lane) == list(range(20)) and len(split) == 3
    loads = [sum(many[i] for i in lane) for lane in split]
    assert max(loads) - min(loads) <= max(many)
