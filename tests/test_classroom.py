"""The classroom edition (minigen.classroom): student notebooks, autograder, hidden tests.

One build of every chapter and one grading run of a class of submissions, made up here from the
teacher edition: the teacher edition itself (full marks), the untouched student edition (zero,
without crashing the grader), one submission per question with one deliberate mistake in that
question only (a sign flip or a missing factor: it must lose exactly that question's points),
answers that call minigen's own function (0 for that question), and an answer that tries to
reach the network.
"""
import ast
import json
import os
from pathlib import Path

import pytest

from minigen import classroom

ROOT = Path(__file__).resolve().parent.parent
GRADED = ("02_foundations", "03_gan", "04_vae", "05_cyclegan", "09_metrics")

# one deliberate mistake per question: (chapter, function, text in its code, replacement)
MUTATIONS = [
    ("02_foundations", "my_kl_normal", "- 0.5", "+ 0.5"),
    ("02_foundations", "my_kl_bernoulli", "a / b", "b / a"),
    ("02_foundations", "my_jsd_bernoulli", "0.5 * kl_to_m(b)", "kl_to_m(b)"),
    ("02_foundations", "my_laplace_icdf", "mu - b", "mu + b"),
    ("03_gan", "my_discriminator_loss", "F.logsigmoid(-d_fake)", "F.logsigmoid(d_fake)"),
    ("03_gan", "my_generator_loss_minimax", "F.logsigmoid(-d_fake)", "F.logsigmoid(d_fake)"),
    ("03_gan", "my_generator_loss_nonsaturating", "-F.logsigmoid(d_fake)", "F.logsigmoid(d_fake)"),
    ("03_gan", "my_optimal_discriminator_logit", "log_p_data - log_p_g", "log_p_g - log_p_data"),
    ("04_vae", "my_elbo", "rec - kl", "rec + kl"),
    ("04_vae", "my_bernoulli_log_likelihood", "F.logsigmoid(-logits)", "F.logsigmoid(logits)"),
    ("04_vae", "my_gaussian_log_likelihood", "-0.5 * terms", "-terms"),
    ("04_vae", "my_iwae_bound", "- math.log(k)", ""),
    ("05_cyclegan", "my_cycle_loss", "(y_cyc - y).abs().mean()", "(y_cyc - y).abs().sum()"),
    ("05_cyclegan", "my_identity_loss", "(x_idt - x).abs().mean()", "(x_idt - x).abs().mean() / 2"),
    ("05_cyclegan", "my_generator_objective", "lambda_id * l_id", "l_id"),
    ("05_cyclegan", "my_discriminator_objective", "0.5 * (d_y_fake**2)", "(d_y_fake**2)"),
    ("09_metrics", "my_frechet_distance", "2 * root", "root"),
]

# answers that use minigen's (or torch's) function of the same job, directly or through an alias
CHEATS = [
    ("03_gan", "my_discriminator_loss", "    return gan.discriminator_loss(d_real, d_fake)"),
    ("03_gan", "my_generator_loss_nonsaturating",
     "    from minigen.gan import generator_loss_nonsaturating as ns\n    return ns(d_fake)"),
    ("02_foundations", "my_kl_normal", "    return kl_divergence(Normal(mu1, sigma1), Normal(mu2, sigma2))"),
    ("04_vae", "my_iwae_bound", "    f = getattr(vae, 'iwae_bound')\n    return f(log_w)"),
]
NETWORK = ("09_metrics", "my_frechet_distance",
           "    import urllib.request\n    urllib.request.urlopen('http://example.org', timeout=5)\n    return 0.0")


def _replace_body(src: str, name: str, body: str) -> str:
    lines = src.splitlines()
    node = next(n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == name)
    lines[node.body[0].lineno - 1:node.end_lineno] = body.splitlines()
    return "\n".join(lines)


def _mutate(src: str, name: str, old: str, new: str) -> str:
    """Replace ``old`` by ``new`` once, in the code (not the comments) of function ``name``."""
    lines = src.splitlines()
    node = next(n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == name)
    for i in range(node.lineno, node.end_lineno):
        code, hash_, comment = lines[i].partition("#")
        if old in code:
            lines[i] = code.replace(old, new, 1) + hash_ + comment
            return "\n".join(lines)
    raise AssertionError(f"{old!r} is not in the code of {name}: update MUTATIONS in this file")


def _edit_answer(nb: dict, name: str, edit) -> dict:
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and name in classroom.defined_functions("".join(cell["source"])):
            cell["source"] = edit("".join(cell["source"])).splitlines(True)
            return nb
    raise AssertionError(f"no cell defines {name}")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("classroom")
    solutions = classroom.build((), out)
    return out, solutions


@pytest.fixture(scope="module")
def graded(built, tmp_path_factory):
    out, _ = built
    subs = tmp_path_factory.mktemp("submissions")
    teacher = {stem: json.loads((out / "teacher" / f"{stem}.ipynb").read_text()) for stem in GRADED}
    expected = {}  # submission -> (chapter, {question: points expected})
    full = {stem: json.loads((out / "autograder" / "config.json").read_text())["chapters"][stem]["questions"]
            for stem in GRADED}

    def add(name, stem, nb, lost=()):
        (subs / f"{name}.ipynb").write_text(json.dumps(nb))
        expected[name] = (stem, {q: 0 if q in lost else p for q, p in full[stem].items()})

    for stem in GRADED:
        add(f"teacher__{stem}", stem, teacher[stem])
        student = json.loads((out / "student" / f"{stem}.ipynb").read_text())
        add(f"student__{stem}", stem, student, lost=full[stem])
    for stem, name, old, new in MUTATIONS:
        add(f"mistake__{name}", stem, _edit_answer(teacher[stem], name, lambda s: _mutate(s, name, old, new)),
            lost=[name])
    for i, (stem, name, body) in enumerate(CHEATS):
        add(f"cheat{i}__{name}", stem, _edit_answer(teacher[stem], name, lambda s: _replace_body(s, name, body)),
            lost=[name])
    stem, name, body = NETWORK
    add(f"network__{name}", stem, _edit_answer(teacher[stem], name, lambda s: _replace_body(s, name, body)),
        lost=[name])
    rows = classroom.grade(subs, out / "autograder", out / "graded", workers=2)
    return {row["student"]: row for row in rows}, expected, out / "graded"


def test_every_mutation_and_question_is_covered():
    names = {name for stem in GRADED for name in classroom.load_hidden(
        ROOT / "classroom" / "hidden" / f"{stem}.py").QUESTIONS}
    assert {m[1] for m in MUTATIONS} == names
    counts = {stem: len(classroom.load_hidden(ROOT / "classroom" / "hidden" / f"{stem}.py").QUESTIONS)
              for stem in GRADED}
    assert all(counts[s] >= 4 for s in ("02_foundations", "03_gan", "04_vae", "05_cyclegan")), counts


def test_grades_of_teacher_student_and_one_mistake_editions(graded):
    rows, expected, _ = graded
    assert set(rows) == set(expected)
    for name, (stem, points) in expected.items():
        row = rows[name]
        assert row["chapter"] == stem, name
        assert row["error"] == "", (name, row["error"])
        got = {q: r["points"] for q, r in row["questions"].items()}
        assert got == points, (name, {q: r["messages"] for q, r in row["questions"].items() if not r["passed"]})


def test_feedback_says_why(graded):
    rows, _, out = graded
    assert "not written yet" in (out / "feedback" / "student__03_gan.txt").read_text()
    cheat = (out / "feedback" / "cheat1__my_generator_loss_nonsaturating.txt").read_text()
    assert "0 points: the answer uses minigen.gan.generator_loss_nonsaturating" in cheat
    assert "0 points" in (out / "feedback" / "cheat3__my_iwae_bound.txt").read_text()
    assert "network access is disabled" in (out / "feedback" / "network__my_frechet_distance.txt").read_text()
    mistake = (out / "feedback" / "mistake__my_generator_loss_nonsaturating.txt").read_text()
    assert "failed: " in mistake and "skipped (an earlier check failed)" in mistake
    header = (out / "gradebook.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["student", "chapter", "total", "max"] and "my_elbo" in header


def test_student_edition_has_no_solution_line(built):
    out, solutions = built
    for stem in GRADED:
        assert len(solutions[stem]) >= 4, stem  # the search below has something to find
    for stem, lines in solutions.items():  # each chapter's solution lines, in its student edition
        cells = json.loads((out / "student" / f"{stem}.ipynb").read_text())["cells"]
        sources = "\n".join("".join(c["source"]) for c in cells)
        text = sources + "\n" + "\n".join(classroom._output_text(c) for c in cells)
        student_lines = {line.strip() for line in text.splitlines()}
        for line in lines:
            assert line not in student_lines, (stem, line)
        assert "{solution" not in sources  # every sphinx-exercise solution is gone


def test_student_edition_stubs_and_keeps_what_it_should(built):
    out, _ = built
    for stem in GRADED:
        teacher = json.loads((out / "teacher" / f"{stem}.ipynb").read_text())
        student = json.loads((out / "student" / f"{stem}.ipynb").read_text())
        assert student["cells"][0]["metadata"]["tags"][0] == "colab-setup"
        assert student["cells"][0]["source"] == teacher["cells"][0]["source"]
        answers = [c for c in student["cells"] if classroom.ANSWER_TAG in c["metadata"].get("tags", [])]
        assert answers and all(not c["outputs"] and "raise NotImplementedError(" in "".join(c["source"])
                               for c in answers)
        ex_teacher = sum("{exercise}" in "".join(c["source"]) for c in teacher["cells"])
        ex_student = sum("{exercise}" in "".join(c["source"]) for c in student["cells"])
        assert ex_student == ex_teacher  # the exercises stay, only their solutions go
        assert student["metadata"]["minigen_classroom"] == {"chapter": stem, "edition": "student"}


def test_committed_student_edition_is_up_to_date(built):
    out, _ = built
    committed = ROOT / "classroom" / "student"
    fresh = sorted(p.name for p in (out / "student").glob("*.ipynb"))
    assert sorted(p.name for p in committed.glob("*.ipynb")) == fresh
    for name in fresh:
        assert json.loads((committed / name).read_text()) == json.loads((out / "student" / name).read_text()), (
            f"classroom/student/{name} is out of date; regenerate it with: "
            "python -m minigen classroom build --editions student --out classroom")


def test_teaching_page_lists_a_colab_link_per_student_notebook():
    page = (ROOT / "book" / "teaching.md").read_text()
    for path in (ROOT / "classroom" / "student").glob("*.ipynb"):
        assert classroom.colab_link(path.stem) in page, path.stem


def test_strip_exercise_solutions_handles_every_form():
    md = lambda s: {"cell_type": "markdown", "metadata": {}, "source": s}  # noqa: E731
    code = {"cell_type": "code", "metadata": {}, "outputs": [], "source": "print('solution code')"}
    cells = [md("text\n```{exercise} E\n:label: e\nQ?\n```\n\n```{solution} e\n:class: dropdown\n\nA.\n"
                "```python\nx = 1\n```\n```\nafter"),
             md("::::{solution-start} e\n:class: dropdown\n::::\nhidden text"), code,
             md("more hidden\n::::{solution-end}\n::::\n\nkept")]
    kept, removed = classroom.strip_exercise_solutions(cells)
    assert ["".join(c["source"]) for c in kept] == ["text\n```{exercise} E\n:label: e\nQ?\n```\n\nafter", "kept"]
    assert "x = 1" in removed and "print('solution code')" in removed and "hidden text" in removed
    with pytest.raises(classroom.ClassroomError, match="not closed"):
        classroom.strip_exercise_solutions([md("```{solution} e\nA.")])


@pytest.mark.parametrize("stem", ["02_foundations", "05_cyclegan", "09_metrics"])
def test_student_notebook_runs_with_stubs_failing_only_where_they_should(built, stem):
    """Up to its last graded cell; `python -m minigen classroom check DIR --full` runs every
    chapter to the end (too slow for CI: see book/teaching.md)."""
    out, _ = built
    report = classroom.check_student(out / "student" / f"{stem}.ipynb", full=False)
    assert report["unexpected"] == [] and report["missing"] == [], report


def test_command_line_errors_are_one_line(tmp_path, capsys):
    assert classroom.main(["grade", str(tmp_path), "--autograder", str(tmp_path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert classroom.main(["build", "99", "--out", str(tmp_path)]) == 2
    assert "unknown chapter" in capsys.readouterr().err


def test_grader_has_no_proxy_in_its_environment(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:1")
    env = classroom._clean_env()
    assert not any("proxy" in k.lower() for k in env) and env["CUDA_VISIBLE_DEVICES"] == ""
    assert os.environ["HTTPS_PROXY"]  # the caller's environment is left alone


def test_ipython_lines_of_a_submission_are_not_run():
    src = classroom.python_only("!pip install something\ndef my_f(x):\n    %time y = x\n    return x")
    assert classroom.defined_functions(src) == ["my_f"] and "pip" not in src.split("#")[0]
