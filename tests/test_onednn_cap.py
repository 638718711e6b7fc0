"""The stored outputs came from oneDNN's AVX2 convolution kernels; every way the book runs its
chapters keeps to them, so that a CPU with AVX-512 reproduces the outputs (chapter 1's note on
seeds; without the cap, nbval failed on chapters 3 and 6 on an AMD EPYC with AVX-512)."""
import ast
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import sync_notebooks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CAP = 'os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")'


def test_each_chapter_caps_onednn_before_minigen_and_torch_are_imported():
    # a statement of the cell itself (not inside the Colab-only install block), before the
    # cell's `import minigen`, which imports torch
    body = ast.parse(sync_notebooks.setup_source()).body
    statements = [ast.unparse(node) for node in body]
    cap = ast.unparse(ast.parse(CAP).body[0])
    assert cap in statements, "the cap is not a top-level statement of the set-up cell"
    assert statements.index(cap) < statements.index("import minigen")


def test_the_book_and_test_commands_cap_onednn_before_running_chapters():
    export = 'export ONEDNN_MAX_CPU_ISA="${ONEDNN_MAX_CPU_ISA:-AVX2}"'
    for script, runs in (("run_tests.sh", "python -m pytest"), ("build_book.sh", "execute_book.py")):
        text = (ROOT / "scripts" / script).read_text()
        assert export in text and text.index(export) < text.index(runs), script
    for script in ("execute_book.py", "execute_notebooks.py"):
        assert CAP in (ROOT / "scripts" / script).read_text(), script
    assert CAP in (ROOT / "tests" / "conftest.py").read_text()  # nbval's kernels start from pytest


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64")
                    or not torch.backends.mkldnn.is_available(),
                    reason="oneDNN's x86 kernels only (no AVX2 or AVX-512 elsewhere)")
def test_the_cap_takes_effect_when_set_after_torch_is_imported():
    # the set-up cell may run after torch was imported (a re-run): oneDNN reads the variable at
    # its first use. It can only fail on a CPU with AVX-512, where the kernels would otherwise be
    # avx512 ones; on an AVX2 CPU it holds either way.
    code = ("import os, torch\n" + CAP + "\n"
            "torch.nn.Conv2d(1, 4, 4, 2, 1)(torch.randn(2, 1, 28, 28))\n")
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    env.update(ONEDNN_VERBOSE="1", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    convolutions = [line for line in out.splitlines() if ",exec,cpu,convolution," in line]
    assert convolutions, f"oneDNN ran no convolution (or printed nothing):\n{out[-2000:]}"
    assert not any("avx512" in line for line in convolutions), convolutions
