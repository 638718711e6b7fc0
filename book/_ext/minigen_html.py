"""Small fixes to the HTML book (loaded by _config.yml under sphinx.local_extensions).

- book/_static/ is served with the book: minigen.js (solution titles), minigen.css (code cells
  fit 79 characters) and the favicon.
- sphinx-thebe and sphinx-togglebutton add inline scripts after the HTML builder has started, so
  Sphinx lists each twice (once with no file name, once with an empty one): every page declared
  `const THEBE_JS_URL` twice, a SyntaxError in the console. Each page keeps one copy of each script.
- pydata-sphinx-theme sets the colour mode to `default_mode` from the page context, which is empty
  unless set ("Got invalid theme mode" on a first visit): `auto` follows the reader's system.
- The reference list is labelled author-year, as the citations in the text are ("Goodfellow et
  al., 2014" rather than "[17]"): the bibliography style `minigen_authoryear` (book/references.md).
- pybtex looks a backend up by name through the installed packages' entry points, about 30 ms
  each time, and did so about 360 times a build (once per author label, once per citation):
  10 of the build's 27 s. The labels render with one plain-text backend made once, and the
  plain-text backend that sphinxcontrib-bibtex asks for by name is registered at run time (the
  same class), which pybtex finds first.
"""
from __future__ import annotations

import string
from collections import Counter
from pathlib import Path

from pybtex.backends.plaintext import Backend as PlaintextBackend
from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle

STATIC = Path(__file__).resolve().parents[1] / "_static"


def _add_static(app) -> None:
    app.config.html_static_path.append(str(STATIC))
    app.add_js_file("minigen.js", defer="defer")
    app.add_css_file("minigen.css")


def _page_context(app, pagename, templatename, context, doctree) -> None:
    context.setdefault("default_mode", "auto")
    scripts = context.get("script_files")
    if scripts:
        seen, unique = set(), []
        for script in scripts:
            key = (str(script.filename or ""), tuple(sorted(script.attributes.items())))
            if key not in seen:
                seen.add(key)
                unique.append(script)
        context["script_files"] = unique


PLAINTEXT = PlaintextBackend()


class AuthorYearLabels(BaseLabelStyle):
    """"Kingma and Welling, 2014", "Goodfellow et al., 2014"; "2014a", "2014b" if two would clash."""

    def format_labels(self, sorted_entries):
        labels = [self._label(entry) for entry in sorted_entries]
        clashes, seen = Counter(labels), Counter()
        for label in labels:
            if clashes[label] > 1:
                seen[label] += 1
                label += string.ascii_lowercase[seen[label] - 1]
            yield label

    @staticmethod
    def _label(entry) -> str:
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [Text(*person.rich_last_names).render(PLAINTEXT) for person in persons]
        if not names:
            who = entry.fields.get("key") or entry.key
        elif len(names) == 1:
            who = names[0]
        elif len(names) == 2:
            who = f"{names[0]} and {names[1]}"
        else:
            who = f"{names[0]} et al."
        return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearStyle(PlainStyle):
    default_label_style = "minigen_authoryear"


def setup(app):
    register_plugin("pybtex.style.labels", "minigen_authoryear", AuthorYearLabels, force=True)
    register_plugin("pybtex.style.formatting", "minigen_authoryear", AuthorYearStyle, force=True)
    register_plugin("pybtex.backends", "plaintext", PlaintextBackend, force=True)
    app.connect("builder-inited", _add_static)
    app.connect("html-page-context", _page_context)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
