"""book/_ext/minigen_html.py: the reference list's author-year labels, made without pybtex's
plugin lookups (each one scans every installed package's entry points)."""
import sys
from pathlib import Path

import pytest

pybtex = pytest.importorskip("pybtex")
from pybtex.database import Entry, Person  # noqa: E402
from pybtex.plugin import find_plugin  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))
import minigen_html  # noqa: E402


def entry(key, year, *authors):
    e = Entry("article", fields={"year": year, "title": key})
    e.key = key
    for a in authors:
        e.add_person(Person(a), "author")
    return e


def test_author_year_labels():
    entries = [entry("kingma", "2014", "Kingma, Diederik", "Welling, Max"),
               entry("gan", "2014", "Goodfellow, Ian", "Pouget-Abadie, Jean", "Mirza, Mehdi"),
               entry("one", "2016", "Theis, Lucas"),
               entry("a", "2019", "Smith, A"), entry("b", "2019", "Smith, B"),
               entry("anon", "2020")]
    labels = list(minigen_html.AuthorYearLabels().format_labels(entries))
    assert labels == ["Kingma and Welling, 2014", "Goodfellow et al., 2014", "Theis, 2016",
                      "Smith, 2019a", "Smith, 2019b", "anon, 2020"]


def test_plaintext_backend_found_without_entry_points(monkeypatch):
    """After setup, the plain-text backend sphinxcontrib-bibtex asks for by name is the runtime
    registration: found with the entry-point scan disabled, and the class the scan would give."""
    class App:
        def connect(self, *args):
            pass
    scanned = find_plugin("pybtex.backends", "plaintext")
    minigen_html.setup(App())
    import pybtex.plugin as plugin
    monkeypatch.setattr(plugin, "entry_points", lambda **kw: pytest.fail("entry points scanned"))
    assert find_plugin("pybtex.backends", "plaintext") is scanned is minigen_html.PlaintextBackend
    assert minigen_html.AuthorYearLabels._label(entry("x", "2001", "Doe, Jane")) == "Doe, 2001"
