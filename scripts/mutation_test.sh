#!/usr/bin/env bash
# Mutation testing of the equation code (issue 18): a dev command, not part of CI (it is slow).
#
#   bash scripts/mutation_test.sh [--max-children N] [MUTANT_GLOB ...]
#
# Installs mutmut 3 into .venv if it is missing (it is not a dependency of minigen), stages a copy
# of the package and its tests in .mutmut-stage/ (scripts/mutation_helper.py says why), runs
# mutmut there over the equation functions only (the losses, bounds and metrics of gan, vae, cvae,
# cyclegan and metrics, and the training steps that backpropagate them), each mutant against the
# fast tests marked `equation` ([tool.mutmut] in pyproject.toml), and prints the kill rate, with
# the survivors and the mutants known to be equivalent. With MUTANT_GLOBs (e.g.
# 'minigen.vae.x_evaluate__mutmut_*', or exact mutant names) it runs only those mutants.
# Every mutant named runs afresh; all 1,247 took 38 minutes on a busy 2-core machine.
# Exit status 0 when the kill rate, equivalent mutants set aside, is at least 95 % (the bar of
# issue 18); `.venv/bin/mutmut show NAME`, run in .mutmut-stage/, shows one mutant.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || { echo "no .venv: run scripts/setup_venv.sh (or scripts/run_tests.sh) first" >&2; exit 2; }
# [tool.mutmut] uses settings of mutmut 3.8 (source_paths, only_mutate, process_isolation)
if ! "$PY" -c "import mutmut, sys; v = tuple(map(int, mutmut.__version__.split('.')[:2])); sys.exit(not (3, 8) <= v < (4, 0))" 2>/dev/null; then
  echo "==> installing mutmut 3 into .venv (a dev tool, not a dependency of minigen)"
  "$PY" -m pip install --quiet "mutmut>=3.8,<4"
fi

max_children=2
if [ "${1:-}" = "--max-children" ]; then max_children=$2; shift 2; fi
stage=.mutmut-stage
"$PY" scripts/mutation_helper.py stage "$stage"
if [ "$#" -gt 0 ]; then globs=("$@"); else mapfile -t globs < <("$PY" scripts/mutation_helper.py globs); fi

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MINIGEN_QUIET=1
echo "==> mutmut run over ${#globs[@]} mutant globs, $max_children at a time (in $stage/)"
start=$SECONDS
(cd "$stage" && "../.venv/bin/mutmut" run --max-children "$max_children" "${globs[@]}") > "$stage/mutmut-run.log" 2>&1 \
  || { tail -n 40 "$stage/mutmut-run.log"; echo "mutmut failed: see $stage/mutmut-run.log" >&2; exit 2; }
echo "    done in $((SECONDS - start)) s (log: $stage/mutmut-run.log)"
"$PY" scripts/mutation_helper.py report "$stage"
