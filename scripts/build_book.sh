#!/usr/bin/env bash
# Set up .venv, build the HTML book executing every chapter, and print where it is.
#   bash scripts/build_book.sh            # MathJax and widget scripts from their CDN
#   bash scripts/build_book.sh --offline  # also serve them from the book folder (no internet
#                                         # needed to read it; fetches them once from npm)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_venv.sh
export MINIGEN_QUIET=1
start=$SECONDS
config=_config.yml
if [ "${1:-}" = "--offline" ]; then
  bash scripts/fetch_offline_assets.sh
  python scripts/book_config.py --offline > _build_offline_config.yml
  trap 'rm -f _build_offline_config.yml' EXIT
  config=_build_offline_config.yml
fi
echo "==> building the book, executing every chapter (cached: unchanged chapters are not re-run)"
jupyter-book build . --config "$config" --warningiserror --keep-going
echo "==> book built in $((SECONDS - start)) s. Open $PWD/_build/html/index.html in a browser."
