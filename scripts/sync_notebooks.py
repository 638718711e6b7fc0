"""Give every chapter notebook the same two generated cells, built from the project's own files.

1. The **Colab set-up cell** (the first cell, hidden in the web book). It installs the release of
   ``minigen`` that matches the book: the git tag ``v`` + the version in ``pyproject.toml`` (0.1.0 ->
   v0.1.0), from the repository address in ``_config.yml``; both are written only there. It
   installs minigen with ``--no-deps`` and then only those of its dependencies that are missing,
   with every installed distribution pinned to its installed version, so the torch, numpy,
   matplotlib, ... that Colab brings keep their versions (tests/test_colab_setup.py runs it).
2. The **execution-time cell**, right after the chapter's opening (its code hidden in the web
   book). It shows how long the chapter took to execute, read from ``chapters/timings.json``,
   which ``scripts/execute_notebooks.py`` writes each time it executes a chapter. Its stored
   output is refreshed here (and by execute_notebooks.py) from that file, so nbval sees the
   output the cell prints.

    python scripts/sync_notebooks.py                    # rewrite the cells where they differ
    python scripts/sync_notebooks.py chapters/03_gan.ipynb  # only these notebooks
    python scripts/sync_notebooks.py --check            # exit 1 if any notebook is out of date
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from unittest import mock

import yaml

ROOT = Path(__file__).resolve().parents[1]
TAG = "colab-setup"
TIMING_TAG = "chapter-timing"
TIMINGS = ROOT / "chapters" / "timings.json"


def release_tag(root: Path = ROOT) -> str:
    """The git tag of the release the book installs: ``v`` + pyproject's version."""
    text = (root / "pyproject.toml").read_text()
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # Python 3.10: the [project] table's version line
        return "v" + re.search(r'(?ms)^\[project\].*?^version\s*=\s*"([^"]+)"', text)[1]
    return "v" + tomllib.loads(text)["project"]["version"]


def install_url(root: Path = ROOT) -> str:
    """``git+<repository>@<release tag>``: what the Colab set-up cell installs."""
    repo = yaml.safe_load((root / "_config.yml").read_text())["repository"]
    return f"git+{repo['url']}@{release_tag(root)}"


def setup_source(root: Path = ROOT) -> str:
    return (
        f"# Set-up. On Colab this installs minigen {release_tag(root)}, the release this book was built\n"
        "# with (once per session), and only those of its dependencies that are missing: every\n"
        "# package already installed (Colab's torch, numpy, matplotlib, ...) keeps its version.\n"
        "# Locally and in CI, where minigen is installed, it installs nothing. It then picks the\n"
        "# device: a CUDA GPU if there is one (Colab: Runtime > Change runtime type > GPU),\n"
        "# else Apple's MPS, else the CPU. On x86 CPUs, PyTorch's convolutions keep to (at most) the\n"
        "# AVX2 kernels the book's numbers were computed with (chapter 1, on seeds).\n"
        "import importlib.metadata as md, importlib.util, os, re, subprocess, sys, tempfile\n"
        'os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")  # read at the first convolution\n'
        'if importlib.util.find_spec("minigen") is None:\n'
        '    pip = [sys.executable, "-m", "pip", "install", "-q"]\n'
        f'    subprocess.run(pip + ["--no-deps", "{install_url(root)}"], check=True)\n'
        '    norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()\n'
        '    have = {norm(d.metadata["Name"]): d.version for d in md.distributions() if d.metadata["Name"]}\n'
        '    missing = [r for r in md.requires("minigen") or [] if "extra ==" not in r\n'
        '               and norm(re.match(r"[\\w.-]+", r)[0]) not in have]\n'
        "    if missing:  # installed with everything already there pinned to its version\n"
        '        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pins:\n'
        '            pins.write("\\n".join(f"{n}=={v}" for n, v in have.items()\n'
        '                                  if re.fullmatch(r"[\\w.!+-]+", v)))\n'
        '        subprocess.run(pip + ["-c", pins.name, *missing], check=True)\n'
        "    importlib.invalidate_caches()\n"
        "import minigen\n"
        "\n"
        "device = minigen.get_device()"
    )


def setup_cell(root: Path = ROOT) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": TAG,
            "metadata": {"tags": [TAG, "remove-cell"]}, "outputs": [], "source": setup_source(root)}


def timing_source(chapter: str) -> str:
    return (
        "# How long this notebook takes to execute, from chapters/timings.json, which\n"
        "# scripts/execute_notebooks.py writes each time it executes a chapter (code hidden in the book).\n"
        "def _show_execution_time(chapter):\n"
        "    import json, pathlib\n"
        "    from IPython.display import Markdown, display\n"
        '    path = pathlib.Path("timings.json")\n'
        "    if not path.exists():  # a notebook opened on its own, e.g. on Colab\n"
        '        return display(Markdown("**Execution time**: see this chapter in the web book."))\n'
        '    runs = json.loads(path.read_text())["chapters"].get(chapter, {})\n'
        "\n"
        "    def fmt(s):\n"
        '        return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} minutes"\n'
        "\n"
        "    def took(kind):\n"
        "        run = runs.get(kind)\n"
        "        if not run:\n"
        '            return "not measured yet"\n'
        '        time, n = fmt(run["seconds"]), run["threads"]\n'
        '        if kind == "gpu":\n'
        '            return f"{time} on {run[\'model\']}, measured {run[\'date\']}"\n'
        '        threads = "one thread" if n == 1 else f"{n} threads"\n'
        '        text = f"{time} on a {run[\'cores\']}-core {run[\'model\']} ({threads}), measured {run[\'date\']}"\n'
        '        load = max(run.get("load") or [0])\n'
        '        if load > run["cores"]:  # other work slowed this run down\n'
        '            text += f" on a busy machine (load average {load:.0f} on {run[\'cores\']} cores"\n'
        '            if "kernel_cpu_seconds" in run:\n'
        '                text += f"; the kernel itself computed for {fmt(run[\'kernel_cpu_seconds\'])}"\n'
        '            text += ")"\n'
        '        return text\n'
        "\n"
        '    display(Markdown(f"**Execution time** of this notebook: on a CPU, {took(\'cpu\')}; "\n'
        '                     f"on a GPU, {took(\'gpu\')}."))\n'
        "\n"
        "\n"
        f'_show_execution_time("{chapter}")'
    )


def timing_outputs(source: str, folder: Path) -> list[dict]:
    """The outputs ``source`` (a timing cell) displays when run in ``folder``, as a kernel stores them.

    Runs the cell's own code here, with IPython's ``display`` caught, so the stored output is
    exactly what the cell shows (nbval checks it against a real kernel)."""
    from IPython.display import Markdown

    shown = []

    def display(obj):
        assert isinstance(obj, Markdown), obj
        shown.append({"output_type": "display_data", "metadata": {},
                      "data": {"text/markdown": obj.data, "text/plain": "<IPython.core.display.Markdown object>"}})

    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with mock.patch("IPython.display.display", display):
            exec(compile(source, "<timing cell>", "exec"), {"__name__": "__timing__"})
    finally:
        os.chdir(cwd)
    return shown


def timing_cell(chapter: str, folder: Path) -> dict:
    source = timing_source(chapter)
    # an execution count, as for a cell that ran: nbval refuses stored outputs of an unrun cell
    return {"cell_type": "code", "execution_count": 1, "id": TIMING_TAG,
            "metadata": {"tags": [TIMING_TAG, "remove-input"]},
            "outputs": timing_outputs(source, folder), "source": source}


def plain_outputs(outputs: list[dict]) -> list[dict]:
    """``outputs`` with every text as one string (nbformat stores multi-line text as a list of lines)."""
    def join(value):
        return "".join(value) if isinstance(value, list) else value
    return [{**o, **({"data": {k: join(v) for k, v in o["data"].items()}} if "data" in o else {}),
             **({"text": join(o["text"])} if "text" in o else {})} for o in outputs]


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _opening_index(cells: list[dict]) -> int:
    """Index of the chapter's opening: the first markdown cell with a level-1 heading."""
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown" and any(line.startswith("# ") for line in _source(cell).splitlines()):
            return i
    raise ValueError("no markdown cell with a '# ' title")


def sync_cells(nb: dict, chapter: str, folder: Path) -> list[str]:
    """Bring the two generated cells of ``nb`` up to date in place; return what differed."""
    problems = []
    cells = nb["cells"]
    first = cells[0] if cells else None
    if not (first and TAG in first.get("metadata", {}).get("tags", [])):
        problems.append("no Colab set-up cell first")
        cells.insert(0, setup_cell())
    elif _source(first) != setup_source() or first["metadata"]["tags"] != [TAG, "remove-cell"]:
        problems.append("the Colab set-up cell is not the generated one")
        first["source"] = setup_source()
        first["metadata"]["tags"] = [TAG, "remove-cell"]

    wanted = timing_cell(chapter, folder)
    where = [i for i, c in enumerate(cells) if TIMING_TAG in c.get("metadata", {}).get("tags", [])]
    opening = _opening_index(cells)
    if where != [opening + 1]:
        problems.append("the execution-time cell is missing or not right after the opening")
        for i in reversed(where):
            del cells[i]
        cells.insert(_opening_index(cells) + 1, wanted)
    else:
        cell = cells[opening + 1]
        if (_source(cell) != wanted["source"] or cell["metadata"].get("tags") != wanted["metadata"]["tags"]
                or plain_outputs(cell.get("outputs", [])) != wanted["outputs"] or cell.get("execution_count") is None):
            problems.append("the execution-time cell or its output differs from chapters/timings.json")
            cell["source"] = wanted["source"]
            cell["metadata"]["tags"] = wanted["metadata"]["tags"]
            cell["outputs"] = wanted["outputs"]
            cell["execution_count"] = cell.get("execution_count") or 1
    return problems


def write_notebook(nb: dict, path: Path) -> None:
    """Write as nbformat does (sorted keys, one-space indent), so diffs stay small."""
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def sync(path: Path, check: bool) -> list[str]:
    """Return what was (or, with ``check``, would be) changed in ``path``."""
    nb = json.loads(path.read_text())
    problems = sync_cells(nb, path.stem, path.parent)
    if problems and not check:
        write_notebook(nb, path)
    return problems


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [Path(a).resolve() for a in argv if a != "--check"] or sorted((ROOT / "chapters").glob("*.ipynb"))
    stale = {p: problems for p in paths if (problems := sync(p, check))}
    for p, problems in stale.items():
        print(f"{'out of date' if check else 'updated'}: {p.relative_to(ROOT)}: {'; '.join(problems)}")
    if check and stale:
        print("Run `python scripts/sync_notebooks.py` (it changes only these two cells; nothing needs re-executing).")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
