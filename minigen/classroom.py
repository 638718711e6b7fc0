"""The classroom edition: student notebooks, an autograder with hidden tests, from the chapters.

``python -m minigen classroom build [chapter ...] --out DIR`` writes three editions of the chapters:

- ``DIR/student``: every answer of a graded "Your turn" cell (code cells tagged
  ``classroom-answer``) replaced by a stub that raises ``NotImplementedError`` naming the
  question and what to write; the sphinx-exercise ``solution`` blocks (and every cell between a
  ``solution-start`` and its ``solution-end``) removed; the outputs of the graded cells, of the
  cells that use an answer, and of any cell whose output shows a solution line cleared; the public
  checks and the Colab set-up cell kept.
- ``DIR/teacher``: the chapters as they are, with the solutions.
- ``DIR/autograder``: ``config.json`` (points, each chapter's set-up code) and the hidden tests,
  copied from the repository's ``classroom/hidden/`` (which is not part of the installed package).

``python -m minigen classroom grade SUBMISSIONS --autograder DIR --out DIR`` grades every
``.ipynb`` under ``SUBMISSIONS``: each in its own process, with a time limit, no network and fixed
seeds. The grader does not run the whole notebook: it runs the chapter's imports, then the
submission's answer cells (the cells that define the graded functions), then the hidden tests of
each question. It writes ``gradebook.csv`` and one feedback file per submission.
"""
from __future__ import annotations

import argparse
import ast
import copy
import csv
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANSWER_TAG = "classroom-answer"
SETUP_TAG = "colab-setup"
META_KEY = "minigen_classroom"
EDITIONS = ("student", "teacher", "autograder")
SUBMISSION_SECONDS = 300  # the whole grading of one submission
CHECK_SECONDS = 60  # one hidden check (one training run at most)
CELL_SECONDS = 30  # one answer cell of a submission


class ClassroomError(Exception):
    """A user error: the command line prints its message on one line and exits with status 2."""


# --------------------------------------------------------------------------------------------
# The questions: classroom/hidden/NN_name.py, one module per chapter
# --------------------------------------------------------------------------------------------
def load_hidden(path: Path):
    """Import one hidden-test module from its file (they are not part of the package)."""
    spec = importlib.util.spec_from_file_location(f"minigen_hidden_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hidden_dir(root: Path = ROOT) -> Path:
    path = root / "classroom" / "hidden"
    if not path.is_dir():
        raise ClassroomError(f"no hidden tests at {path}: build the classroom edition from a clone of "
                             "the book's repository (pip install -e '.[classroom]').")
    return path


def chapter_paths(names, root: Path = ROOT) -> list[Path]:
    """The chapter notebooks named (``03``, ``03_gan`` or a path), or all of them."""
    every = sorted((root / "chapters").glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return every
    picked = []
    for name in names:
        hits = [p for p in every if p.stem == Path(name).stem or p.stem.startswith(f"{name}_")]
        if len(hits) != 1:
            raise ClassroomError(f"unknown chapter {name!r}; choose from "
                                 f"{', '.join(p.stem for p in every)}.")
        picked.append(hits[0])
    return picked


# --------------------------------------------------------------------------------------------
# The student edition
# --------------------------------------------------------------------------------------------
def _source(cell) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def _set_source(cell, text: str) -> None:
    cell["source"] = text.splitlines(True)


def python_only(src: str) -> str:
    """A cell's source with its IPython lines (``!pip ...``, ``%time``) turned into ``pass``."""
    return "\n".join(re.sub(r"^(\s*)[!%].*$", r"\1pass  # an IPython line, not run by the grader", line)
                     for line in src.splitlines())


def defined_functions(src: str) -> list[str]:
    """The names of the functions a cell defines at its top level ([] if it does not parse)."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return []
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]


def stub_answers(src: str, tasks: dict) -> tuple[str, list[str]]:
    """Replace the body of each top-level function named in ``tasks`` by a "write this" stub.

    Returns the new source and the removed lines (the solution)."""
    lines = src.splitlines()
    nodes = [n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name in tasks]
    removed = []
    for node in sorted(nodes, key=lambda n: n.lineno, reverse=True):
        first = node.body[0].lineno - 1  # 0-based index of the first body statement
        start = first
        while start - 1 >= node.lineno and lines[start - 1].strip().startswith("#"):
            start -= 1  # comments between the signature and the body belong to the body
        indent = re.match(r"\s*", lines[first]).group(0)
        message = textwrap.wrap(f"Your turn ({node.name}): write this function. {tasks[node.name]}",
                                width=84 - len(indent), drop_whitespace=False)
        removed += [line for line in lines[start:node.end_lineno] if line.strip()]
        lines[start:node.end_lineno] = ([f"{indent}raise NotImplementedError("]
                                        + [f"{indent}    {part!r}" for part in message] + [f"{indent})"])
    return "\n".join(lines), removed


_OPEN = re.compile(r"^\s*(`{3,}|:{3,})\{(solution|solution-start|solution-end)\}")


def strip_exercise_solutions(cells: list) -> tuple[list, list[str]]:
    """Remove sphinx-exercise solutions: ``solution`` blocks inside markdown cells, and every line
    and cell from a ``solution-start`` directive to the end of its ``solution-end`` directive."""
    kept, removed, state = [], [], None  # None | "range" | [kind ("block"|"start"|"end"), fence, depth]
    for cell in cells:
        if cell["cell_type"] != "markdown":
            if state is None:
                kept.append(cell)
            else:
                removed += [line for line in _source(cell).splitlines() if line.strip()]
            continue
        out = []
        for line in _source(cell).splitlines(True):
            opening = _OPEN.match(line)
            if state is None and opening:
                kind = opening.group(2)
                state = ["block" if kind == "solution" else "start", opening.group(1), 0]
            elif state is None:
                out.append(line)
                continue
            elif state == "range":
                if opening and opening.group(2) == "solution-end":
                    state = ["end", opening.group(1), 0]
            elif line.strip() == state[1]:
                if state[2]:
                    state[2] -= 1  # the end of a code block inside the solution
                else:
                    state = "range" if state[0] == "start" else None
            elif line.strip().startswith(state[1]) and line.strip()[len(state[1]):len(state[1]) + 1] not in (
                    state[1][0], ""):
                state[2] += 1  # a code block (```python) inside the solution
            if line.strip():
                removed.append(line.rstrip("\n"))
        text = "".join(out).strip("\n").rstrip()
        if text.strip():
            new = copy.deepcopy(cell)
            _set_source(new, text)
            kept.append(new)
    if state is not None:
        raise ClassroomError(f"an exercise solution is not closed ({state}); check its directive's fence.")
    return kept, removed


def _mentions(src: str, names) -> bool:
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return any(n in src for n in names)
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(tree))


def _output_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append("".join(out.get("text", "")))
        for value in out.get("data", {}).values():
            if isinstance(value, (str, list)):
                parts.append("".join(value))
    return "\n".join(parts)


def _questions(module) -> dict:
    return module.QUESTIONS if module is not None else {}


def student_edition(nb: dict, module, stem: str, repo_url: str | None = None) -> tuple[dict, list[str]]:
    """The student edition of one chapter and the solution lines it leaves out."""
    questions = _questions(module)
    tasks = {name: q["task"] for name, q in questions.items()}
    nb = copy.deepcopy(nb)
    cells, solution = strip_exercise_solutions(nb["cells"])
    found = set()
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        src = _source(cell)
        if ANSWER_TAG in cell.get("metadata", {}).get("tags", []):
            names = set(defined_functions(src)) & set(tasks)
            if not names:
                raise ClassroomError(f"{stem}: a cell tagged {ANSWER_TAG} defines no graded function "
                                     f"({', '.join(defined_functions(src)) or 'none'}); add it to the "
                                     "chapter's hidden tests or remove the tag.")
            found |= names
            new, removed = stub_answers(src, tasks)
            _set_source(cell, new)
            solution += removed
        if ANSWER_TAG in cell.get("metadata", {}).get("tags", []) or _mentions(src, tasks):
            cell["outputs"], cell["execution_count"] = [], None
    if set(tasks) - found:
        raise ClassroomError(f"{stem}: no cell tagged {ANSWER_TAG} defines "
                             f"{', '.join(sorted(set(tasks) - found))}.")
    solution = _nontrivial(solution, nb["cells"], cells)
    for cell in cells:  # e.g. a listing of minigen's own function printed above a question
        if cell["cell_type"] == "code" and any(line in _output_text(cell) for line in solution):
            cell["outputs"], cell["execution_count"] = [], None
    if questions:
        cells.insert(_after_title(cells), _assignment_cell(questions))
    nb["cells"] = cells
    nb["metadata"][META_KEY] = {"chapter": stem, "edition": "student"}
    return nb, solution


def _nontrivial(lines: list[str], teacher_cells: list, student_cells: list) -> list[str]:
    """The solution lines worth searching for: not short, and not also in the rest of the chapter."""
    elsewhere = set()
    for cell in student_cells:
        if ANSWER_TAG not in cell.get("metadata", {}).get("tags", []):
            elsewhere |= {line.strip() for line in _source(cell).splitlines()}
    out = []
    for line in lines:
        s = line.strip()
        if len(s) >= 12 and s not in elsewhere and re.search(r"[A-Za-z0-9]", s) and s not in out:
            out.append(s)
    return out


def _after_title(cells: list) -> int:
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown" and re.search(r"^# ", _source(cell), re.M):
            return i + 1
    return 1


def _assignment_cell(questions: dict) -> dict:
    rows = "\n".join(f"| `{name}` | {q['points']} |" for name, q in questions.items())
    total = sum(q["points"] for q in questions.values())
    text = (
        "**Assignment (student edition).** Write the functions of the *Your turn* cells. Each one "
        "raises `NotImplementedError` until you replace that line with your code, and the cell "
        "after it checks your answer as you work. When you hand in this notebook, hidden tests "
        "check each function again on inputs you have not seen. Write each answer yourself: an "
        "answer that calls minigen's own function for the same job gets no points. The grader "
        "runs the chapter's imports and the cells that define your answers, so put any helper "
        "you need in the same cell.\n\n"
        f"| question | points |\n| --- | --- |\n{rows}\n| total | {total} |"
    )
    return {"cell_type": "markdown", "id": "classroom-assignment", "metadata": {},
            "source": text.splitlines(True)}


# --------------------------------------------------------------------------------------------
# Set-up code for the grader: the chapter's imports and constants
# --------------------------------------------------------------------------------------------
def _only_math_calls(node) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            if not (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "math"):
                return False
    return True


def _constant_names(targets) -> bool:
    """Every target an UPPER_CASE name: ``F64 = ...``, ``LOG2, LOG4 = ...``."""
    names = [t for target in targets for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
    return all(isinstance(t, ast.Name) and t.id.isupper() for t in names)


def setup_code(nb: dict) -> str:
    """The imports and UPPER_CASE constants (``F64 = torch.float64``, ``LOG2 = math.log(2)``) of the
    code cells before the first answer cell, skipping the Colab set-up cell; then ``device`` (CPU)."""
    keep = ["import torch", "import minigen"]
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] != "code" or SETUP_TAG in tags:
            continue
        if ANSWER_TAG in tags:
            break
        try:
            tree = ast.parse(_source(cell))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)) or (
                    isinstance(node, ast.Assign) and _constant_names(node.targets) and _only_math_calls(node.value)):
                keep.append(ast.unparse(node))
    keep.append('device = torch.device("cpu")')
    return "\n".join(dict.fromkeys(keep)) + "\n"


# --------------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------------
def repository_url(root: Path = ROOT) -> str | None:
    config = (root / "_config.yml")
    if not config.exists():
        return None
    m = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", config.read_text(), re.M)
    return m.group(1) if m else None


def colab_link(stem: str, root: Path = ROOT) -> str:
    """Colab address of a chapter's student edition at this release (the tag the book's own
    launch links and the chapters' set-up cell use: ``minigen.release_tag()``)."""
    from minigen import release_tag

    url = repository_url(root) or "https://github.com/OWNER/REPO"
    path = url.replace("https://github.com/", "")
    return (f"https://colab.research.google.com/github/{path}/blob/{release_tag()}"
            f"/classroom/student/{stem}.ipynb")


def _write_nb(nb: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def build(chapters=(), out: Path = Path("classroom-build"), editions=EDITIONS, root: Path = ROOT) -> dict:
    """Write the editions of the chapters under ``out``; returns ``{stem: solution lines}``."""
    out = Path(out)
    unknown = set(editions) - set(EDITIONS)
    if unknown:
        raise ClassroomError(f"unknown edition {sorted(unknown)[0]!r}; choose from {', '.join(EDITIONS)}.")
    hidden = hidden_dir(root)
    config, solutions = {"chapters": {}}, {}
    for path in chapter_paths(chapters, root):
        nb = json.loads(path.read_text())
        hidden_file = hidden / f"{path.stem}.py"
        module = load_hidden(hidden_file) if hidden_file.exists() else None
        student, solutions[path.stem] = student_edition(nb, module, path.stem)
        if "student" in editions:
            _write_nb(student, out / "student" / path.name)
        if "teacher" in editions:
            teacher = copy.deepcopy(nb)
            teacher["metadata"][META_KEY] = {"chapter": path.stem, "edition": "teacher"}
            _write_nb(teacher, out / "teacher" / path.name)
        if module is not None:
            config["chapters"][path.stem] = {
                "setup": setup_code(nb),
                "questions": {name: q["points"] for name, q in module.QUESTIONS.items()}}
            if "autograder" in editions:
                (out / "autograder" / "hidden").mkdir(parents=True, exist_ok=True)
                shutil.copy(hidden_file, out / "autograder" / "hidden" / hidden_file.name)
    if "autograder" in editions:
        (out / "autograder").mkdir(parents=True, exist_ok=True)
        (out / "autograder" / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    return solutions


# --------------------------------------------------------------------------------------------
# Grading one submission (in a child process)
# --------------------------------------------------------------------------------------------
def _no_network() -> None:
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled while grading")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse


class _Timeout(Exception):
    pass


def _alarm(seconds: int):
    def handler(signum, frame):
        raise _Timeout(f"took longer than {seconds} s")

    signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)


def _aliases(trees) -> dict:
    """Names bound by imports: ``{local name: dotted target}``."""
    out = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _dotted(node, aliases) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(aliases.get(node.id, node.id))
        return ".".join(reversed(parts))
    return None


def uses_forbidden(func: ast.FunctionDef, cell_tree, setup_tree, forbidden) -> str | None:
    """The forbidden function (dotted name) that an answer calls, imports or names, or None."""
    if not forbidden:
        return None
    aliases = _aliases([setup_tree, cell_tree])
    last = {f.rsplit(".", 1)[-1]: f for f in forbidden}
    for node in ast.walk(cell_tree):  # an import of it anywhere in the answer cell
        if isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                if f"{node.module}.{a.name}" in forbidden:
                    return f"{node.module}.{a.name}"
    for node in ast.walk(func):
        if isinstance(node, ast.Attribute) and node.attr in last:
            return last[node.attr]
        if isinstance(node, ast.Name) and aliases.get(node.id) in forbidden:
            return aliases[node.id]
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in last:
            return last[node.value]
    return None


class _Spies:
    """Wrap the forbidden functions so that a call from inside an answer is noticed at run time."""

    def __init__(self, questions: dict):
        self.depth, self.called, self.saved = 0, set(), []
        for q in questions.values():
            for name in q.get("forbidden", ()):
                module_name, attr = name.rsplit(".", 1)
                try:
                    module = importlib.import_module(module_name)
                    original = getattr(module, attr)
                except (ImportError, AttributeError):
                    continue
                if getattr(original, "_classroom_spy", False):
                    continue
                self.saved.append((module, attr, original))
                setattr(module, attr, self._spy(original, name))

    def _spy(self, original, name):
        def spy(*args, **kwargs):
            if self.depth:
                self.called.add(name)
            return original(*args, **kwargs)

        spy._classroom_spy = True
        return spy

    def watch(self, fn):
        def answer(*args, **kwargs):
            self.depth += 1
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1

        answer.__name__ = getattr(fn, "__name__", "answer")
        return answer


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _chapter_of(nb: dict, path: Path, config: dict) -> str:
    stem = nb.get("metadata", {}).get(META_KEY, {}).get("chapter")
    if stem in config["chapters"]:
        return stem
    for stem in config["chapters"]:
        if stem in path.name or path.name.startswith(stem[:3]):
            return stem
    defined = {n for c in nb.get("cells", []) if c.get("cell_type") == "code"
               for n in defined_functions(python_only(_source(c)))}
    best = max(config["chapters"], key=lambda s: len(defined & set(config["chapters"][s]["questions"])))
    if defined & set(config["chapters"][best]["questions"]):
        return best
    raise ClassroomError(f"{path.name}: cannot tell which chapter this is (no graded function defined).")


def grade_notebook(path: Path, autograder: Path) -> dict:
    """Grade one submission in this process. Returns the result as a dict (see :func:`grade`)."""
    import random

    import numpy as np
    import torch

    _no_network()
    torch.set_num_threads(1)
    config = json.loads((autograder / "config.json").read_text())
    nb = json.loads(path.read_text())
    chapter = _chapter_of(nb, path, config)
    module = load_hidden(autograder / "hidden" / f"{chapter}.py")
    questions = module.QUESTIONS
    spies = _Spies(questions)
    setup = config["chapters"][chapter]["setup"]
    namespace = {"__name__": "__submission__"}
    exec(compile(setup, "<chapter set-up>", "exec"), namespace)

    cells = {}  # question -> (cell index, source): the last cell that defines it
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") == "code":
            src = python_only(_source(cell))
            for name in set(defined_functions(src)) & set(questions):
                cells[name] = (i, src)
    cell_error = {}
    for i, src in sorted(set(cells.values())):
        random.seed(0), np.random.seed(0), torch.manual_seed(0)
        try:
            _alarm(CELL_SECONDS)
            exec(compile(src, f"<answer cell {i}>", "exec"), namespace)
        except BaseException as err:  # noqa: BLE001 (a submission may raise anything)
            cell_error[i] = _first_line(err)
        finally:
            signal.alarm(0)

    setup_tree = ast.parse(setup)
    results = {}
    for name, q in questions.items():
        messages, passed = [], False
        if name not in cells:
            messages.append(f"no cell defines {name}")
        elif cells[name][0] in cell_error:
            messages.append(f"its cell raised {cell_error[cells[name][0]]}")
        elif not callable(namespace.get(name)):
            messages.append(f"{name} is not a function after its cell ran")
        else:
            cell_tree = ast.parse(cells[name][1])
            func = next(n for n in cell_tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
            cheat = uses_forbidden(func, cell_tree, setup_tree, q.get("forbidden", ()))
            if cheat:
                messages.append(f"0 points: the answer uses {cheat}, the function this question asks you to "
                                "write yourself")
            else:
                messages, passed = _run_checks(namespace[name], q, spies)
        results[name] = {"points": q["points"] if passed else 0, "max": q["points"], "passed": passed,
                         "messages": messages}
    return {"chapter": chapter, "questions": results}


def _run_checks(fn, question: dict, spies: _Spies) -> tuple[list[str], bool]:
    import random

    import numpy as np
    import torch

    messages = []
    answer = spies.watch(fn)
    for check in question["checks"]:
        what = (check.__doc__ or check.__name__).strip().splitlines()[0]
        if messages and check in question.get("slow", ()):
            messages.append(f"skipped (an earlier check failed): {what}")
            continue
        random.seed(0), np.random.seed(0), torch.manual_seed(0)
        spies.called.clear()
        try:
            _alarm(question.get("seconds", CHECK_SECONDS))
            check(answer)
        except NotImplementedError:
            return ["not written yet: the function still raises NotImplementedError"], False
        except BaseException as err:  # noqa: BLE001
            messages.append(f"failed: {what}: {_first_line(err)}")
        finally:
            signal.alarm(0)
        if spies.called:
            return [f"0 points: the answer calls {sorted(spies.called)[0]}, the function this question "
                    "asks you to write yourself"], False
    return messages or ["passed every check"], not messages


# --------------------------------------------------------------------------------------------
# Grading a class
# --------------------------------------------------------------------------------------------
def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MINIGEN_QUIET="1", MPLBACKEND="Agg",
               PYTHONHASHSEED="0", CUDA_VISIBLE_DEVICES="")
    return env


def _grade_in_child(path: Path, autograder: Path, out: Path, timeout: float) -> dict:
    result_file = out / "results" / (path.stem + f".{os.getpid()}.{abs(hash(str(path)))}.json")
    result_file.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "minigen.classroom", "_grade-one", str(path), str(autograder), str(result_file)]
    try:
        proc = subprocess.run(cmd, env=_clean_env(), capture_output=True, text=True, timeout=timeout)
        if result_file.exists():
            result = json.loads(result_file.read_text())
        else:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            result = {"error": f"the grader's process failed: {tail}"}
    except subprocess.TimeoutExpired:
        result = {"error": f"grading took longer than {timeout:.0f} s and was stopped"}
    finally:
        result_file.unlink(missing_ok=True)
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def grade(submissions: Path, autograder: Path, out: Path, *, workers: int = 2,
          timeout: float = SUBMISSION_SECONDS) -> list[dict]:
    """Grade every ``.ipynb`` under ``submissions``; write ``out/gradebook.csv`` and
    ``out/feedback/STUDENT.txt``. Returns one row per submission: ``student``, ``chapter``,
    ``total``, ``max``, ``seconds``, ``questions`` (name -> points, passed, messages), ``error``."""
    submissions, autograder, out = Path(submissions), Path(autograder), Path(out)
    if not (autograder / "config.json").exists():
        raise ClassroomError(f"{autograder} is not an autograder folder (no config.json); "
                             "make one with: python -m minigen classroom build --out DIR")
    paths = sorted(p for p in submissions.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not paths:
        raise ClassroomError(f"no .ipynb files under {submissions}.")
    config = json.loads((autograder / "config.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(pool.map(lambda p: _grade_in_child(p, autograder.resolve(), out, timeout), paths))
    rows = []
    for path, result in zip(paths, results):
        student = str(path.relative_to(submissions).with_suffix("")).replace(os.sep, "__")
        chapter = result.get("chapter") or _guess_chapter(path, config)
        qs = result.get("questions") or {
            name: {"points": 0, "max": pts, "passed": False, "messages": [result.get("error", "not graded")]}
            for name, pts in config["chapters"].get(chapter, {}).get("questions", {}).items()}
        rows.append({"student": student, "chapter": chapter, "questions": qs,
                     "total": sum(q["points"] for q in qs.values()), "max": sum(q["max"] for q in qs.values()),
                     "seconds": result["seconds"], "cpu_seconds": result.get("cpu_seconds"),
                     "error": result.get("error", "")})
    _write_gradebook(rows, out)
    return rows


def _guess_chapter(path: Path, config: dict) -> str:
    for stem in config["chapters"]:
        if stem in path.name or path.name.startswith(stem[:3]):
            return stem
    return "unknown"


def _write_gradebook(rows: list[dict], out: Path) -> None:
    names = list(dict.fromkeys(name for row in rows for name in row["questions"]))
    with open(out / "gradebook.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "chapter", "total", "max", *names, "seconds", "cpu_seconds", "error"])
        for row in rows:
            writer.writerow([row["student"], row["chapter"], row["total"], row["max"],
                             *[row["questions"].get(n, {}).get("points", "") for n in names],
                             row["seconds"], row["cpu_seconds"], row["error"]])
    (out / "feedback").mkdir(exist_ok=True)
    for row in rows:
        lines = [f"{row['student']}: chapter {row['chapter']}, {row['total']} of {row['max']} points", ""]
        if row["error"]:
            lines += [row["error"], ""]
        for name, q in row["questions"].items():
            lines.append(f"{name}: {q['points']} of {q['max']}")
            lines += [f"  - {m}" for m in q["messages"]]
        (out / "feedback" / f"{row['student']}.txt").write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------------
# Checking a student edition: it runs, and only the stubs fail
# --------------------------------------------------------------------------------------------
def check_student(path: Path, *, full: bool = False, timeout: int = 1800) -> dict:
    """Execute a student notebook with nbclient and compare its errors with the expected ones:
    every cell that uses a graded function must fail with the stub's ``NotImplementedError``,
    and no other cell may fail. Without ``full`` it stops after the last cell that uses one.

    Returns ``{"unexpected": [...], "missing": [...], "cells": n, "seconds": s}``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    names = {n for c in nb.cells if c.cell_type == "code" and ANSWER_TAG in c.metadata.get("tags", [])
             for n in defined_functions(c.source)}
    expected = {i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                and ANSWER_TAG not in c.metadata.get("tags", []) and _mentions(c.source, names)}
    if not full and expected:
        nb.cells = nb.cells[:max(expected) + 1]
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "chapters")}})
    client.execute()
    failed = {}
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                failed[i] = (out.get("ename"), out.get("evalue", "").splitlines()[0] if out.get("evalue") else "")
    unexpected = [f"cell {i}: {e}: {v}" for i, (e, v) in sorted(failed.items())
                  if i not in expected or e != "NotImplementedError" or "Your turn" not in v]
    missing = [f"cell {i} should fail (it uses an unwritten answer) but ran" for i in sorted(expected - set(failed))]
    return {"unexpected": unexpected, "missing": missing, "cells": len(nb.cells),
            "seconds": round(time.perf_counter() - start, 1)}


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """Usage errors are user errors too: one line, status 2."""

    def error(self, message):
        raise ClassroomError(f"{message} (see: {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m minigen classroom", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the student, teacher and autograder editions")
    b.add_argument("chapters", nargs="*", help="chapters, e.g. 03 or 03_gan (default: all)")
    b.add_argument("--out", required=True, type=Path)
    b.add_argument("--editions", nargs="+", default=list(EDITIONS), choices=EDITIONS)
    g = sub.add_parser("grade", help="grade a folder of submitted notebooks")
    g.add_argument("submissions", type=Path)
    g.add_argument("--autograder", required=True, type=Path)
    g.add_argument("--out", required=True, type=Path)
    g.add_argument("--workers", type=int, default=2, help="submissions graded at once (default 2)")
    g.add_argument("--timeout", type=float, default=SUBMISSION_SECONDS,
                   help=f"seconds for one submission (default {SUBMISSION_SECONDS})")
    c = sub.add_parser("check", help="run student notebooks: only the stubs may fail")
    c.add_argument("notebooks", nargs="+", type=Path, help="student notebooks or a folder of them")
    c.add_argument("--full", action="store_true", help="run to the end (default: to the last graded cell)")
    one = sub.add_parser("_grade-one")  # internal: the child process of `grade`
    one.add_argument("notebook", type=Path)
    one.add_argument("autograder", type=Path)
    one.add_argument("result", type=Path)
    return p


def main(argv=None) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command == "_grade-one":
            result = grade_notebook(args.notebook, args.autograder)
            result["cpu_seconds"] = round(time.process_time(), 1)
            args.result.write_text(json.dumps(result))
            return 0
        if args.command == "build":
            solutions = build(args.chapters, args.out, args.editions)
            print(f"wrote {', '.join(args.editions)} editions of {len(solutions)} chapters to {args.out}")
            return 0
        if args.command == "check":
            return _check_command(args.notebooks, args.full)
        start = time.perf_counter()
        rows = grade(args.submissions, args.autograder, args.out, workers=args.workers, timeout=args.timeout)
        for row in rows:
            print(f"{row['student']:30s} {row['chapter']:16s} {row['total']:3d} / {row['max']:<3d}"
                  f" ({row['seconds']:.0f} s, {row['cpu_seconds']} s of CPU)"
                  f"{'  ' + row['error'] if row['error'] else ''}")
        print(f"graded {len(rows)} submissions in {time.perf_counter() - start:.0f} s: "
              f"{args.out / 'gradebook.csv'}, {args.out / 'feedback'}")
        return 0
    except ClassroomError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _check_command(paths, full: bool) -> int:
    notebooks = [q for p in paths for q in (sorted(p.glob("*.ipynb")) if p.is_dir() else [p])]
    if not notebooks:
        raise ClassroomError("no notebooks to check.")
    bad = 0
    for path in notebooks:
        report = check_student(path, full=full)
        problems = report["unexpected"] + report["missing"]
        bad += bool(problems)
        print(f"{path.name}: {report['cells']} cells in {report['seconds']:.0f} s, "
              f"{'only the stubs failed' if not problems else '; '.join(problems)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
