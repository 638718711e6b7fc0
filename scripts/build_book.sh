#!/usr/bin/env bash
# Set up .venv, build the HTML book executing every chapter, check that it shows every figure the
# chapters produce, and print where it is.
#   bash scripts/build_book.sh            # MathJax from its CDN
#   bash scripts/build_book.sh --offline  # MathJax served from the book folder (no internet
#                                         # needed to read it; fetches it once from npm)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_venv.sh
export MINIGEN_QUIET=1
# One torch thread, as the stored outputs, chapters/timings.json and the CI's nbval runs use: with
# more threads the floating-point sums run in another order, the trained models differ a little,
# and a chapter's measured claims may not hold for that run (chapter 8's detector check failed
# with torch's default threads on a fresh clone).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# oneDNN's AVX2 kernels, as the stored outputs were computed with: on a CPU with AVX-512 oneDNN
# otherwise picks convolution kernels that round differently, and the digit GAN's training
# amplifies that (on an AMD EPYC with AVX-512, chapter 3's 800-step GAN scored FD 3.87 against
# the stored 2.69, and nbval failed on chapters 3 and 6). A ceiling: CPUs without AVX-512 are
# unaffected. Set ONEDNN_MAX_CPU_ISA=DEFAULT for the widest kernels (and other numbers).
export ONEDNN_MAX_CPU_ISA="${ONEDNN_MAX_CPU_ISA:-AVX2}"
# the chapters' checks of what their text says about the book's own run fail here (elsewhere,
# on a GPU say, they print a note: minigen.utils.book_claims)
export MINIGEN_STRICT_CLAIMS=1
# A non-interactive matplotlib backend in the kernels silences plt.show(): no figures at all.
unset MPLBACKEND
start=$SECONDS
offline=()
if [ "${1:-}" = "--offline" ]; then
  bash scripts/fetch_offline_assets.sh
  offline=(--offline)
fi
# The launch links point at the release tag (scripts/book_config.py).
python scripts/book_config.py "${offline[@]}" > _build_book_config.yml
trap 'rm -f _build_book_config.yml' EXIT
# jupyter-book executes one chapter after another; the chapters run on one thread each, so they
# are executed first, as many at once as there are cores, into the cache the build reads.
echo "==> executing the chapters, $(python -c 'import os; print(os.cpu_count())') at a time (cached: unchanged chapters are not re-run)"
python scripts/execute_book.py
# The timings file only reads the cache, so it is written on the second core while jupyter-book
# renders on the first.
python scripts/execute_notebooks.py --from-cache _build/.jupyter_cache --out _build/timings.json \
  > _build/timings.log 2>&1 &
timings_pid=$!
echo "==> building the book from the executed chapters"
jupyter-book build . --config _build_book_config.yml --warningiserror --keep-going
echo "==> this machine's execution time of each chapter (from jupyter-book's cache): _build/timings.json"
wait "$timings_pid" || { cat _build/timings.log; exit 1; }
cat _build/timings.log
echo "==> checking that the book shows every figure the chapters produce"
python scripts/book_figures.py _build/html
echo "==> book built in $((SECONDS - start)) s. Open $PWD/_build/html/index.html in a browser."
