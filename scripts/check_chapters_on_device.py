"""Execute chapters as a reader would on this machine's device (a CUDA GPU, as on Colab) and report
every cell that raises, without stopping at the first or touching the stored notebooks.

    python scripts/check_chapters_on_device.py [--jobs N] [--out DIR] chapters/*.ipynb

Each chapter runs top to bottom in a fresh kernel from its own folder, ``--jobs`` at a time
(default 1: then each chapter's time is its own; with more they share the GPU and the times are
only upper bounds). The chapters pick the device themselves (``minigen.get_device()``: a CUDA GPU
when there is one). Cells keep running after an error (``allow_errors``), so one failing check
does not hide the next; the stored notebooks are left as they are. Prints, per chapter, the wall
time, each failing cell (its index, tags, the error's first line) and each note printed by
``minigen.utils.book_claims`` (a claim of the text about the book's run that does not hold on
this run: expected on a GPU, not an error), and writes the same as
JSON to ``DIR/device_check.json`` when ``--out`` is given. Exit status 1 when any cell failed.

**Record** (2026-11-30, one NVIDIA H200 through the device tool, torch 2.11.0+cu130, before the
chapters used ``book_claims``: their checks of claims about the book's runs were plain asserts).
``--jobs 9`` over the nine chapters: 01 21.7 s, 02 10.9, 03 99.3, 04 65.9, 05 39.5, 06 70.8,
07 103.6, 08 112.3, 09 15.1 (all at once, so upper bounds). Four cells failed, each an assert of
a claim about a training run, every other cell ran: chapter 3's cells 59 (the fast generator's
share of high-quality samples reached 0.22, the claim says < 0.2), 77 (the GAN's recall 0.69,
the claim says > 0.7) and 79 (the classifier read the middle frames less confidently than the
ends, 0.75 against 0.92: the text says other lines could reverse it), and chapter 7's cell 11
(the students at latent_dim 2 and 8 within 1 point: 75.3 and 74.5 %). Re-run with ``--jobs 2``
on chapters 3 and 7 and ``--save``: the same four cells, 88.6 s each.

After the chapters' claims about their runs went into ``book_claims`` blocks, the same script on
this 2-core CPU with oneDNN's AVX-512 kernels (``ONEDNN_MAX_CPU_ISA=DEFAULT OMP_NUM_THREADS=1``,
``--jobs 2``; without the cap the GAN runs differ from the stored ones): no cell failed in any
chapter, and chapter 3 printed two notes, in cells 77 (the GAN's classes: its first failing
assert) and 79 (which rows of the interpolation return to a class). Times: 01 13.0 s, 02 9.9,
03 159.8, 04 155.9, 05 153.6, 06 220.2, 07 139.3, 08 103.8, 09 16.8. The GPU was not available
to repeat the H200 run with the blocks.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

NOTE = "Note: on your run, this claim of the text about the book's run does not hold:"


def run_one(path: Path, save: Path | None = None) -> dict:
    """Execute one notebook in a fresh kernel; its time and the cells that raised (the executed
    notebook written into the folder ``save``, when given)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save / path.name)
    errors, notes = [], []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text = "".join(out.get("text", "")) if out.get("output_type") == "stream" else ""
            for note in text.split(NOTE)[1:]:  # minigen.utils.book_claims: a claim did not hold
                quoted = note.split("\nThe text describes")[0].strip("\n")
                notes.append({"cell": i, "claim": textwrap.dedent(quoted)})
            if out.get("output_type") == "error":
                errors.append({"cell": i, "tags": cell.get("metadata", {}).get("tags", []),
                               "error": f"{out.get('ename')}: {str(out.get('evalue'))[:300]}",
                               "source": "".join(cell.source)[:300]})
    return {"chapter": path.stem, "seconds": round(seconds, 1), "errors": errors, "notes": notes}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--save", type=Path, default=None, help="write the executed notebooks into this folder")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a worker: one chapter, JSON out
    args = p.parse_args(argv)
    os.environ.setdefault("MINIGEN_QUIET", "1")
    os.environ.pop("MINIGEN_STRICT_CLAIMS", None)  # as a reader runs them: book_claims print notes
    if args.one:
        print(json.dumps(run_one(args.paths[0], args.save)))
        return 0
    import torch

    where = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA GPU: the CPU"
    print(f"torch {torch.__version__}; {where}; {len(args.paths)} chapters, {args.jobs} at a time", flush=True)
    pending, running, results = list(args.paths), [], []
    while pending or running:
        while pending and len(running) < args.jobs:
            path = pending.pop(0)
            running.append((path, subprocess.Popen([sys.executable, __file__, "--one", str(path)]
                                                  + (["--save", str(args.save)] if args.save else []),
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        time.sleep(0.5)
        for path, proc in [r for r in running if r[1].poll() is not None]:
            running.remove((path, proc))
            out, err = proc.communicate()
            try:
                r = json.loads(out.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                r = {"chapter": path.stem, "seconds": None,
                     "errors": [{"cell": None, "tags": [], "error": f"the run itself failed: {err[-500:]}"}]}
            results.append(r)
            notes = r.get("notes", [])
            print(f"{r['chapter']}: {r['seconds']} s, {len(r['errors'])} failing cell(s), "
                  f"{len(notes)} claim(s) about the book's run not holding (notes)", flush=True)
            for n in notes:
                print(f"    note in cell {n['cell']}:\n{textwrap.indent(n['claim'], '        ')}", flush=True)
            for e in r["errors"]:
                print(f"    cell {e['cell']} {e['tags']}: {e['error'].splitlines()[0] if e['error'] else ''}",
                      flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "device_check.json").write_text(json.dumps(sorted(results, key=lambda r: r["chapter"]),
                                                              indent=1))
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
