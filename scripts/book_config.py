"""Print a variant of _config.yml to standard output.

    python scripts/book_config.py --execute off   # render stored outputs (the CI build)
    python scripts/book_config.py --offline        # MathJax and widget JS from local files
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ASSETS = "_offline"  # filled by scripts/fetch_offline_assets.sh; copied into the HTML's _static/


def variant(execute: str | None = None, offline: bool = False) -> dict:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    if execute is not None:
        config["execute"]["execute_notebooks"] = execute
    if offline:
        sphinx = config.setdefault("sphinx", {}).setdefault("config", {})
        # Not "_static": Jupyter Book would add every .js file found there to every page.
        sphinx["html_static_path"] = [ASSETS]
        sphinx["mathjax_path"] = "mathjax/tex-chtml.js"
        sphinx["nb_ipywidgets_js"] = {
            "requirejs/require.min.js": {},
            "html-manager/embed-amd.js": {
                "data-jupyter-widgets-cdn": "html-manager/",
                "crossorigin": "anonymous",
            },
        }
    return config


def main(argv: list[str]) -> int:
    execute = argv[argv.index("--execute") + 1] if "--execute" in argv else None
    sys.stdout.write(yaml.safe_dump(variant(execute, "--offline" in argv), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
