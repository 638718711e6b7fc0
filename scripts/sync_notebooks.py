"""Give every chapter notebook the same first cell: the Colab set-up, built from _config.yml.

The repository address is written once, in _config.yml; this script copies it into the set-up
cell of each notebook. ``--check`` only reports notebooks that differ (a test runs it).

    python scripts/sync_notebooks.py          # rewrite the first cell where it differs
    python scripts/sync_notebooks.py --check  # exit 1 if any notebook is out of date
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TAG = "colab-setup"


def setup_source(root: Path = ROOT) -> str:
    repo = yaml.safe_load((root / "_config.yml").read_text())["repository"]
    url = f"git+{repo['url']}@{repo.get('branch', 'main')}"
    return (
        "# Set-up. On Colab this installs minigen from the book's repository (once per session);\n"
        "# locally and in CI, where minigen is installed, it changes nothing. It then picks the\n"
        "# device: a CUDA GPU if there is one (Colab: Runtime > Change runtime type > GPU),\n"
        "# else Apple's MPS, else the CPU.\n"
        "import importlib.util, subprocess, sys\n"
        'if importlib.util.find_spec("minigen") is None:\n'
        f'    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "{url}"], check=True)\n'
        "import minigen\n"
        "\n"
        "device = minigen.get_device()"
    )


def setup_cell(root: Path = ROOT) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": "colab-setup",
            "metadata": {"tags": [TAG, "remove-cell"]}, "outputs": [], "source": setup_source(root)}


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def sync(path: Path, check: bool) -> bool:
    """Return True if ``path`` was (or, with ``check``, would be) changed."""
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    first = cells[0] if cells else None
    if first and TAG in first.get("metadata", {}).get("tags", []):
        if _source(first) == setup_source():
            return False
        if not check:
            first["source"] = setup_source()
            first["metadata"]["tags"] = [TAG, "remove-cell"]
    elif not check:
        cells.insert(0, setup_cell())
    if not check:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return True


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = [p for p in sorted((ROOT / "chapters").glob("*.ipynb")) if sync(p, check)]
    for p in stale:
        print(f"{'out of date' if check else 'updated'}: {p.relative_to(ROOT)}")
    if check and stale:
        print("Run `python scripts/sync_notebooks.py`, then re-execute those notebooks.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
