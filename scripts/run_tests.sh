#!/usr/bin/env bash
# Set up .venv and run every test: the book build from the stored notebook outputs (warnings are
# errors), then the package tests and every chapter under nbval, in one pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_venv.sh
export MINIGEN_QUIET=1
# pytest-xdist runs one worker per core; one thread per worker avoids oversubscribing the CPU
# (two torch threads per worker on two cores ran the model tests up to 10x slower).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
start=$SECONDS

echo "==> ruff: lint the package, tests, benchmarks and scripts"
ruff check minigen tests benchmarks scripts

echo "==> building the book from the stored outputs (warnings are errors)"
python scripts/book_config.py --execute off > _build_ci_config.yml
trap 'rm -f _build_ci_config.yml' EXIT
jupyter-book build . --config _build_ci_config.yml --warningiserror --keep-going --quiet \
  --path-output _build/ci
echo "    book built in $((SECONDS - start)) s: _build/ci/_build/html/index.html"

echo "==> pytest: the package and every chapter notebook (nbval)"
python -m pytest tests chapters --nbval --nbval-current-env \
  --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 600 \
  -n "${MINIGEN_TEST_WORKERS:-2}" --dist loadfile -p no:cacheprovider "$@"
echo "==> all tests passed in $((SECONDS - start)) s"
