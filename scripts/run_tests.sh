#!/usr/bin/env bash
# Set up .venv and run every test: the book build from the stored notebook outputs (offline,
# warnings are errors), then in one pytest run the package tests, the built book in Chromium
# (tests/test_browser.py) and every chapter under nbval. Arguments go to pytest, e.g.
#   bash scripts/run_tests.sh -m browser     # build the book, then only the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_venv.sh
# The classroom extra (student editions, autograder) is tested too; pip only warns if it is absent.
python -m pip install --quiet ${CONSTRAINT[@]+"${CONSTRAINT[@]}"} -e ".[book,test,classroom]"
export MINIGEN_QUIET=1
# pytest-xdist runs one worker per core; one thread per worker avoids oversubscribing the CPU
# (two torch threads per worker on two cores ran the model tests up to 10x slower).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# oneDNN's AVX2 kernels, as the stored outputs were computed with (why: scripts/build_book.sh)
export ONEDNN_MAX_CPU_ISA="${ONEDNN_MAX_CPU_ISA:-AVX2}"
# the chapters' checks of what their text says about the book's own run fail here (elsewhere,
# on a GPU say, they print a note: minigen.utils.book_claims)
export MINIGEN_STRICT_CLAIMS=1
start=$SECONDS

# The browser tests drive Debian's chromium (Playwright's own browser download is not reachable).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's chromium for the browser tests (once)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: no chromium on PATH and not root: the browser tests will be skipped" >&2
    echo "         (install it with: sudo apt-get install chromium)" >&2
  fi
fi

echo "==> ruff: lint the package, tests, benchmarks and scripts"
ruff check minigen tests benchmarks scripts book/_ext

echo "==> building the book from the stored outputs, offline (warnings are errors)"
book_start=$SECONDS
offline=(--offline)
if ! bash scripts/fetch_offline_assets.sh; then
  if [ "${CI:-}" = true ]; then exit 1; fi
  echo "warning: no offline MathJax; building without it: the browser tests will be skipped" >&2
  offline=()
fi
python scripts/book_config.py --execute off "${offline[@]}" > _build_ci_config.yml
trap 'rm -f _build_ci_config.yml' EXIT
rm -rf _build/browser-screenshots
jupyter-book build . --config _build_ci_config.yml --warningiserror --keep-going --quiet \
  --path-output _build/ci
echo "    book built in $((SECONDS - book_start)) s: _build/ci/_build/html/index.html"

echo "==> pytest: the package, the built book (browser) and every chapter notebook (nbval)"
python -m pytest tests chapters --nbval --nbval-current-env \
  --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 600 \
  -n "${MINIGEN_TEST_WORKERS:-2}" --dist loadfile -p no:cacheprovider "$@"
echo "==> all tests passed in $((SECONDS - start)) s (browser screenshots: _build/browser-screenshots/)"
