"""Print the configuration the book is built with: _config.yml, with the launch links pinned.

    python scripts/book_config.py                  # what scripts/build_book.sh builds with
    python scripts/book_config.py --execute off    # render the stored outputs (the CI build)
    python scripts/book_config.py --offline        # MathJax from local files (no CDN)

Every variant points the launch links (Colab) at the release tag the chapters' set-up cell
installs (``v`` + the version in pyproject.toml, scripts/sync_notebooks.py), not at a branch:
a reader opening a chapter in Colab gets the notebook that matches the book and the package.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ASSETS = "_offline"  # filled by scripts/fetch_offline_assets.sh; copied into the HTML's _static/
sys.path.insert(0, str(ROOT / "scripts"))
from sync_notebooks import release_tag  # noqa: E402  (the one place the tag is derived)


def variant(execute: str | None = None, offline: bool = False) -> dict:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["repository"]["branch"] = release_tag(ROOT)
    # Jupyter Book finds local extensions relative to the config file: make that wherever it is.
    extensions = config.get("sphinx", {}).get("local_extensions") or {}
    for name, path in extensions.items():
        extensions[name] = str((ROOT / path).resolve())
    if execute is not None:
        config["execute"]["execute_notebooks"] = execute
    if offline:
        sphinx = config.setdefault("sphinx", {}).setdefault("config", {})
        # Not "_static": Jupyter Book would add every .js file found there to every page.
        sphinx["html_static_path"] = [ASSETS]
        sphinx["mathjax_path"] = "mathjax/tex-chtml.js"
    return config


def main(argv: list[str]) -> int:
    execute = argv[argv.index("--execute") + 1] if "--execute" in argv else None
    sys.stdout.write(yaml.safe_dump(variant(execute, "--offline" in argv), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
