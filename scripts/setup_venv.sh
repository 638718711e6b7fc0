# Sourced by build_book.sh and run_tests.sh: create .venv (if needed) and install minigen into it.
# Environment knobs:
#   PYTHON=python3.12          the interpreter that creates the environment (default: python3)
#   MINIGEN_VENV=path          where the environment lives (default: .venv)
#   MINIGEN_TORCH=any          don't pin torch (default: the tested CPU build, constraints/cpu.txt)
set -euo pipefail
VENV="${MINIGEN_VENV:-.venv}"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "error: minigen needs Python 3.10 or newer; '$PY' is $("$PY" --version 2>&1 || echo missing)." >&2
  echo "       Run with PYTHON=/path/to/python3.11 (for example) in front of the command." >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating the virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
CONSTRAINT=(-c constraints/cpu.txt)
[ "${MINIGEN_TORCH:-}" = "any" ] && CONSTRAINT=()
echo "==> installing minigen and its book and test dependencies into $VENV (first time: a few minutes)"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "${CONSTRAINT[@]}" -e ".[book,test]"
export PATH="$PWD/$VENV/bin:$PATH"
# No MPLBACKEND here: an exported Agg backend silences plt.show() in the executed chapters (no figures).
