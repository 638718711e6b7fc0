"""Check that a built HTML book shows every figure its chapter notebooks produce.

    python scripts/book_figures.py _build/html              # after scripts/build_book.sh
    python scripts/book_figures.py _build/ci/_build/html    # the CI build (stored outputs)

A figure is one notebook output that the HTML renders as a picture: an output holding an image
(image/png, image/jpeg, image/svg+xml), or a text/html output holding an <img> (a precomputed
slider: all its frames are one figure). Outputs of cells tagged remove-output or remove-cell are
not shown and not counted. As myst-nb does, an output holding text/html is rendered as HTML even
when it also holds an image. In the HTML, a figure is an <img> inside a code cell's output, or
one text/html output holding <img> elements. Markdown images (the Colab logo) are not outputs.

It also checks the stored notebooks themselves: every shown cell that calls plt.show() has an
image output. A chapter executed with a non-interactive backend (MPLBACKEND=Agg) stores none.
Exit status 1 and a table of the differences when anything is missing.
"""
from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE_TYPES = ("image/svg+xml", "image/png", "image/jpeg")
HIDDEN_TAGS = {"remove-output", "remove-cell"}
SHOW_CALL = re.compile(r"\bplt\.show\(")


def _shown_code_cells(notebook: dict):
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        if HIDDEN_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        yield index, cell


def _is_figure(output: dict) -> bool:
    data = output.get("data", {})
    if "text/html" in data:
        html = data["text/html"]
        return "<img" in ("".join(html) if isinstance(html, list) else html)
    return any(kind in data for kind in IMAGE_TYPES)


def notebook_figures(path: Path) -> int:
    """The number of figures the HTML should show for this notebook's stored outputs."""
    notebook = json.loads(Path(path).read_text())
    return sum(_is_figure(output) for _, cell in _shown_code_cells(notebook) for output in cell.get("outputs", []))


def silent_show_cells(path: Path) -> list[int]:
    """Indices of shown cells that call plt.show() but store no image (an Agg-executed chapter)."""
    notebook = json.loads(Path(path).read_text())
    return [index for index, cell in _shown_code_cells(notebook)
            if SHOW_CALL.search("".join(cell["source"]))
            and not any(_is_figure(output) for output in cell.get("outputs", []))]


class _FigureParser(HTMLParser):
    """Counts <img> in cell outputs (one per text/html output that holds any) and their sources."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, set[str]]] = []
        self.count = 0
        self.sources: list[str] = []
        self._html_output_counted: list[bool] = []

    def handle_starttag(self, tag, attrs):
        classes = set((dict(attrs).get("class") or "").split())
        if tag == "img":
            inside_output = any("cell_output" in c for _, c in self.stack)
            html_outputs = [i for i, (_, c) in enumerate(self.stack) if {"output", "text_html"} <= c]
            if inside_output:
                self.sources.append(dict(attrs).get("src") or "")
                if not html_outputs:
                    self.count += 1
                elif not self._html_output_counted[-1]:
                    self._html_output_counted[-1] = True
                    self.count += 1
            return
        if tag in {"br", "hr", "input", "meta", "link", "source", "wbr", "area", "col", "embed", "param", "track"}:
            return
        self.stack.append((tag, classes))
        if {"output", "text_html"} <= classes:
            self._html_output_counted.append(False)

    def handle_endtag(self, tag):
        # Pop to the matching open tag (HTML in outputs is not always well nested).
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                for _, classes in self.stack[depth:]:
                    if {"output", "text_html"} <= classes:
                        self._html_output_counted.pop()
                del self.stack[depth:]
                return


def html_figures(path: Path) -> tuple[int, list[str]]:
    """The number of figures in a built chapter page, and the src of every <img> in its outputs."""
    parser = _FigureParser()
    parser.feed(Path(path).read_text())
    return parser.count, parser.sources


def chapter_notebooks() -> list[Path]:
    return sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))


def compare(html_root: Path) -> list[dict]:
    """One row per chapter: notebook and HTML figure counts, missing image files, silent cells."""
    rows = []
    for notebook in chapter_notebooks():
        page = Path(html_root) / "chapters" / f"{notebook.stem}.html"
        row = {"chapter": notebook.stem, "notebook": notebook_figures(notebook), "html": None,
               "missing_files": [], "silent_cells": silent_show_cells(notebook)}
        if page.is_file():
            row["html"], sources = html_figures(page)
            row["missing_files"] = [src for src in sources if not src.startswith("data:")
                                    and not (page.parent / src.split("#")[0].split("?")[0]).is_file()]
        rows.append(row)
    return rows


def problems(rows: list[dict]) -> list[str]:
    out = []
    for row in rows:
        name = row["chapter"]
        if row["html"] is None:
            out.append(f"{name}: no HTML page")
        elif row["html"] != row["notebook"]:
            out.append(f"{name}: the notebook has {row['notebook']} figures, the HTML shows {row['html']}")
        if row["missing_files"]:
            out.append(f"{name}: images not in the build: {row['missing_files'][:3]}")
        if row["silent_cells"]:
            out.append(f"{name}: cells {row['silent_cells']} call plt.show() but stored no image "
                       "(executed with MPLBACKEND=Agg? re-execute without it)")
    return out


def main(argv: list[str]) -> int:
    html_root = Path(argv[0]) if argv else ROOT / "_build" / "html"
    if not (html_root / "index.html").is_file():
        print(f"error: no built book at {html_root} (build it with scripts/build_book.sh)", file=sys.stderr)
        return 2
    rows = compare(html_root)
    for row in rows:
        print(f"    {row['chapter']:<22} notebook {row['notebook']:>3}   HTML {row['html']!s:>4}")
    found = problems(rows)
    for line in found:
        print(f"error: {line}", file=sys.stderr)
    total = sum(row["notebook"] for row in rows)
    print(f"==> figures: {'MISSING' if found else 'all'} {total} notebook figures checked in {html_root}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
