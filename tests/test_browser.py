"""The built HTML book in a real browser: Playwright driving Debian's Chromium.

scripts/run_tests.sh builds the book offline from the stored outputs into _build/ci first
(MINIGEN_BOOK_HTML points elsewhere). The book is served from 127.0.0.1 and every other request
is blocked, so a page that needs the internet fails here. Each page is opened once, at 1280 px,
and everything is read from it; then the same page is narrowed to 375 px for the maths, then its
solutions are clicked. One screenshot per chapter goes to _build/browser-screenshots/NN.png.

    bash scripts/run_tests.sh -m browser              # build the book, then only these tests
    python -m pytest tests/test_browser.py -m browser  # on an existing _build/ci book

Without the built book, Chromium or Playwright they are skipped with the reason, except under
CI=true, where they fail: CI must run them (.ci/run installs Chromium with apt-get).
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = Path(os.environ.get("MINIGEN_BOOK_HTML", ROOT / "_build" / "ci" / "_build" / "html"))
SHOTS = ROOT / "_build" / "browser-screenshots"
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 375, "height": 800}
CHROMIUM_ARGS = [  # no background connections to Google (they fail on a closed network)
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
]

pytestmark = pytest.mark.browser


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


book_figures = _load_script("book_figures")


def _toc_pages() -> list[str]:
    """The book's pages in reading order, from _toc.yml (known before the book is built)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part.get("chapters", [])]
    return pages


PAGES = _toc_pages()
CHAPTERS = [page for page in PAGES if page.startswith("chapters/")]


def _unavailable(reason: str):
    """Skip with the reason; under CI=true fail instead: CI must run the browser tests."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run; .ci/run installs what they need)")
    pytest.skip(reason)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def book_url():
    if not (BOOK / "index.html").is_file():
        _unavailable(f"no built book at {BOOK}: scripts/run_tests.sh builds it first")
    if not (BOOK / "_static" / "mathjax" / "tex-chtml.js").is_file():
        _unavailable(f"the book at {BOOK} is not an offline build (no _static/mathjax): "
                     "scripts/run_tests.sh builds it with scripts/book_config.py --offline")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(BOOK)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(book_url):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -e '.[test]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        _unavailable("no chromium on PATH (Debian: apt-get install chromium; scripts/run_tests.sh does it as root)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# What a page looks like to a reader, read in the page once it has loaded and MathJax has finished.
READ_PAGE = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  for (const img of document.images) img.loading = "eager";
  await Promise.all([...document.images].map((img) => img.decode().catch(() => null)));
  const out = {};
  // Raw TeX in text a reader sees (not code, not MathJax's own output, not scripts).
  const skip = "code, pre, script, style, textarea, mjx-container, mjx-assistive-mml, .highlight, .MathJax";
  const commands = "begin|end|frac|mathbb|mathcal|mathrm|text|left|right|sum|int|sqrt|log|theta|mu|sigma|partial"
                   + "|nabla|hat|tilde|operatorname";
  const tex = new RegExp(String.raw`\$[^$\s][^$]*\$|\\(${commands})\b|\\\(|\\\[|\\\)|\\\]`);
  const walker = document.createTreeWalker(document.querySelector("main") || document.body, NodeFilter.SHOW_TEXT);
  out.rawTex = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest(skip)) continue;
    const match = node.textContent.match(tex);
    if (match) out.rawTex.push(node.textContent.trim().slice(0, 120));
  }
  out.mathErrors = [...document.querySelectorAll("mjx-merror, .MathJax_Error")].map((e) => e.textContent.slice(0, 120));
  out.mathCount = document.querySelectorAll("mjx-container").length;
  // Internal links: the target file and anchor are checked in Python against the built files.
  out.links = [...document.querySelectorAll("a[href]")].map((a) => ({
    href: a.href, text: a.textContent.trim().slice(0, 60),
    equation: a.classList.contains("reference") && a.getAttribute("href").includes("#equation-"),
  }));
  out.ids = [...document.querySelectorAll("[id]")].map((e) => e.id);
  out.images = [...document.images].map((img) => ({src: img.currentSrc || img.src, width: img.naturalWidth,
                                                    complete: img.complete}));
  // Figures: an <img> in a cell's output, or one text/html output holding any (scripts/book_figures.py).
  let figures = 0;
  for (const output of document.querySelectorAll(".cell_output")) {
    for (const img of output.querySelectorAll("img")) if (!img.closest(".output.text_html")) figures += 1;
    for (const html of output.querySelectorAll(".output.text_html")) if (html.querySelector("img")) figures += 1;
  }
  out.figures = figures;
  // Code and outputs wider than the text column: any scroll container inside a cell whose content
  // is wider than its box (the reader must scroll sideways), or a cell sticking out of the column.
  const column = document.querySelector("article.bd-article") || document.querySelector("main");
  const right = column.getBoundingClientRect().right;
  out.columnWidth = Math.round(column.getBoundingClientRect().width);
  const pre = document.querySelector(".cell_input pre");  // how many characters of code fit
  if (pre) {
    const probe = document.createElement("span");
    probe.textContent = "x".repeat(100);
    pre.appendChild(probe);
    const style = getComputedStyle(pre);
    const room = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    out.codeChars = Math.floor(room / (probe.getBoundingClientRect().width / 100));
    probe.remove();
  }
  out.wide = [];
  for (const cell of document.querySelectorAll("div.cell")) {
    if (cell.closest(".toggle-hidden") || cell.offsetParent === null) continue;  // not shown (hidden cells)
    const parts = [...cell.querySelectorAll(".cell_input, .cell_output")];
    for (const part of parts) {
      const kind = part.classList.contains("cell_input") ? "code" : "output";
      for (const el of [part, ...part.querySelectorAll("*")]) {
        if (el.closest("mjx-container")) continue;
        const style = getComputedStyle(el);
        const scrolls = /(auto|scroll|hidden|clip)/.test(style.overflowX);
        const box = el.getBoundingClientRect();
        if ((scrolls && el.scrollWidth > el.clientWidth + 1) || box.right > right + 1) {
          const text = (el.innerText || "").split("\n").reduce((a, b) => (b.length > a.length ? b : a), "");
          out.wide.push({kind, scrollWidth: el.scrollWidth, clientWidth: el.clientWidth,
                         chars: text.trimEnd().length, line: text.trim().slice(0, 60)});
          break;
        }
      }
    }
  }
  const colab = [...document.querySelectorAll("a[href]")].filter((a) => a.href.includes("colab.research.google.com"));
  out.colab = colab.map((a) => a.href);
  out.theme = document.documentElement.dataset.theme;
  out.scripts = [...document.scripts].map((s) => s.src).filter(Boolean);
  const icon = document.querySelector('link[rel~="icon"]');
  out.icon = icon ? icon.href : null;
  out.citationLabels = [...document.querySelectorAll(".citation .label")].map((e) => e.textContent.trim());
  return out;
}
"""

# At phone width: every display equation fits, or an element around it scrolls sideways.
READ_MATHS = r"""
() => {
  const viewport = document.documentElement.clientWidth;
  const clipped = [];
  let count = 0;
  for (const eq of document.querySelectorAll('mjx-container[display="true"]')) {
    if (eq.offsetParent === null) continue;  // inside a hidden solution
    count += 1;
    const math = eq.firstElementChild.getBoundingClientRect();
    let scroller = null;
    for (let el = eq; el && el !== document.body; el = el.parentElement) {
      if (/(auto|scroll)/.test(getComputedStyle(el).overflowX)) { scroller = el; break; }
    }
    const fits = math.left >= -1 && math.right <= viewport + 1;
    const box = scroller && scroller.getBoundingClientRect();
    let scrolls = false;
    if (scroller && box.left >= -1 && box.right <= viewport + 1) {  // a box on screen that really scrolls
      const before = scroller.scrollLeft;
      scroller.scrollLeft = before + 40;
      scrolls = scroller.scrollLeft > before;
      scroller.scrollLeft = before;
    }
    if (!fits && !scrolls) clipped.push({tex: (eq.querySelector("mjx-assistive-mml") || eq).textContent.slice(0, 60),
                                         width: Math.round(math.width)});
  }
  return {count, clipped};
}
"""

# Solutions: hidden at first; a click on the title opens one; a click on the linked "Exercise N"
# words in another title opens that one too, without an error and without leaving the page.
CLICK_SOLUTIONS = r"""
async () => {
  const shown = (s) => { const c = s.querySelector("section, p:not(.admonition-title)");
                         return !!c && c.offsetHeight > 0 && !s.classList.contains("toggle-hidden"); };
  const solutions = [...document.querySelectorAll(".solution.admonition")];
  const out = {count: solutions.length, shownAtLoad: solutions.filter(shown).length};
  const pause = () => new Promise((r) => setTimeout(r, 100));
  if (solutions.length) {
    solutions[0].querySelector(".admonition-title").click();
    await pause();
    out.titleClickShows = shown(solutions[0]);
    const withLink = solutions.slice(1).find((s) => s.querySelector(".admonition-title a"));
    if (withLink) {
      const before = location.href;
      withLink.querySelector(".admonition-title a").click();
      await pause();
      out.linkClickShows = shown(withLink);
      out.linkClickStays = location.href === before;
    }
  }
  return out;
}
"""


def _is_local(url: str, base: str) -> bool:
    return url.startswith(base) or url.startswith(("data:", "blob:", "about:"))


@functools.lru_cache(maxsize=None)
def _ids_in_file(path: Path) -> frozenset[str]:
    return frozenset(re.findall(r'\bid="([^"]+)"', path.read_text(errors="replace")))


_VISITS: dict[str, dict] = {}


@pytest.fixture
def visit(browser, book_url):
    """Open a page of the book once (cached for the session) and return what was read from it."""

    def _visit(page_name: str) -> dict:
        if page_name in _VISITS:
            return _VISITS[page_name]
        page = browser.new_page(viewport=DESKTOP)
        record = {"console": [], "errors": [], "failed": [], "blocked": []}

        def route(route):
            if _is_local(route.request.url, book_url):
                route.continue_()
            else:
                record["blocked"].append(route.request.url)
                route.abort()

        page.route("**/*", route)
        page.on("console", lambda m: record["console"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: record["errors"].append(str(e)))
        page.on("response", lambda r: record["failed"].append(f"{r.status} {r.url}")
                if r.status >= 400 and _is_local(r.url, book_url) else None)
        page.on("requestfailed", lambda r: record["failed"].append(f"{r.failure} {r.url}")
                if _is_local(r.url, book_url) and r.url not in record["blocked"] else None)
        url = book_url + page_name + ".html"
        page.goto(url, wait_until="load")
        record["url"] = page.url
        record.update(page.evaluate(READ_PAGE))
        stem = Path(page_name).name
        if page_name.startswith("chapters/"):
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{stem[:2]}.png"))
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(100)
        record["phone"] = page.evaluate(READ_MATHS)
        page.set_viewport_size(DESKTOP)
        record["solutions"] = page.evaluate(CLICK_SOLUTIONS)
        page.wait_for_load_state("networkidle")
        page.close()
        _VISITS[page_name] = record
        return record

    return _visit


@pytest.mark.parametrize("page_name", PAGES)
def test_page_loads_without_errors_or_outside_requests(visit, page_name):
    seen = visit(page_name)
    assert not seen["errors"], f"{page_name}: JavaScript errors: {seen['errors'][:5]}"
    assert not seen["console"], f"{page_name}: console errors: {seen['console'][:5]}"
    assert not seen["failed"], f"{page_name}: failed local requests: {seen['failed'][:5]}"
    assert not seen["blocked"], f"{page_name}: requests outside the book (offline build): {seen['blocked'][:5]}"
    # No widget manager: the explorers are precomputed sliders (RequireJS and its fonts 404ed).
    widget_js = [src for src in seen["scripts"] if re.search(r"require|html-manager|embed-amd", src)]
    assert not widget_js, f"{page_name}: loads the Jupyter widget manager: {widget_js}"
    assert seen["icon"] and (BOOK / unquote(urlsplit(seen["icon"]).path).lstrip("/")).is_file(), (
        f"{page_name}: no favicon in the book ({seen['icon']})")


@pytest.mark.parametrize("page_name", PAGES)
def test_maths_rendered_no_raw_tex(visit, page_name):
    seen = visit(page_name)
    assert not seen["mathErrors"], f"{page_name}: MathJax errors: {seen['mathErrors'][:5]}"
    assert not seen["rawTex"], f"{page_name}: raw TeX left in {len(seen['rawTex'])} text nodes: {seen['rawTex'][:5]}"


@pytest.mark.parametrize("page_name", PAGES)
def test_internal_links_and_equation_references_resolve(visit, page_name, book_url):
    seen = visit(page_name)
    broken, equations = [], 0
    for link in seen["links"]:
        href = link["href"]
        if not href.startswith(book_url):
            continue
        parts = urlsplit(href)
        path = BOOK / unquote(parts.path[len(urlsplit(book_url).path):])
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            broken.append(f"{link['text']!r} -> {href} (no such file)")
            continue
        if link["equation"]:
            equations += 1
            if not re.fullmatch(r"\(\d+(\.\d+)*\)", link["text"]):
                broken.append(f"equation reference shown as {link['text']!r} -> {href}")
        anchor = unquote(parts.fragment)
        if anchor and path.suffix == ".html":
            ids = set(seen["ids"]) if href.split("#")[0] == seen["url"].split("#")[0] else _ids_in_file(path)
            if anchor not in ids:
                broken.append(f"{link['text']!r} -> {href} (no such anchor)")
    assert not broken, f"{page_name}: {len(broken)} links do not resolve: {broken[:5]}"


@pytest.mark.parametrize("page_name", PAGES)
def test_every_image_loaded(visit, page_name):
    seen = visit(page_name)
    unloaded = [image["src"] for image in seen["images"] if not image["complete"] or image["width"] == 0]
    assert not unloaded, f"{page_name}: images that did not load: {unloaded[:5]}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_figure_count_matches_the_notebook(visit, chapter):
    expected = book_figures.notebook_figures(ROOT / f"{chapter}.ipynb")
    shown = visit(chapter)["figures"]
    assert shown == expected, f"{chapter}: the notebook produces {expected} figures, the page shows {shown}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solutions_hidden_until_clicked(visit, chapter):
    solutions = visit(chapter)["solutions"]
    if not solutions["count"]:
        pytest.skip(f"{chapter} has no solutions")
    assert solutions["shownAtLoad"] == 0, f"{chapter}: {solutions['shownAtLoad']} solutions shown before a click"
    assert solutions["titleClickShows"], f"{chapter}: clicking a solution's title did not show it"
    if "linkClickShows" in solutions:
        assert solutions["linkClickShows"] and solutions["linkClickStays"], (
            f"{chapter}: clicking the linked 'Exercise N' words in a solution's title should open the solution "
            f"in place: {solutions}")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_code_and_outputs_fit_the_text_column(visit, chapter):
    seen = visit(chapter)
    wide = seen["wide"]
    lines = "; ".join(f"{w['kind']} {w['scrollWidth']}>{w['clientWidth']} px, longest line {w['chars']} characters: "
                      f"{w['line']!r}" for w in wide[:4])
    assert not wide, (f"{chapter}: {len(wide)} code cells or outputs wider than the text column at 1280 px "
                      f"(it holds {seen.get('codeChars')} characters of code; readers must scroll sideways): {lines}")


@pytest.mark.parametrize("page_name", PAGES)
def test_display_maths_scrolls_rather_than_clips_on_a_phone(visit, page_name):
    phone = visit(page_name)["phone"]
    assert not phone["clipped"], (f"{page_name}: {len(phone['clipped'])} of {phone['count']} display equations are "
                                  f"cut off at 375 px with nothing to scroll: {phone['clipped'][:3]}")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_colab_link_opens_this_chapter_at_the_release(visit, chapter):
    release_tag = _load_script("sync_notebooks").release_tag(ROOT)
    links = visit(chapter)["colab"]
    assert links, f"{chapter}: no Colab launch link"
    want = f"/blob/{release_tag}/{chapter}.ipynb"
    student = [link for link in links if "/classroom/student/" in link]
    wrong = [link for link in links if link not in student and not link.endswith(want)]
    assert not wrong, f"{chapter}: the Colab link should end with {want}: {wrong}"
    # beside it, the student edition of the same chapter at the same release, which must exist
    name = chapter.split("/")[-1]
    assert student == [links[0].replace("/chapters/", "/classroom/student/")], (
        f"{chapter}: expected one student-edition Colab link beside the chapter's, got {student}")
    assert (ROOT / "classroom" / "student" / f"{name}.ipynb").is_file(), f"no student edition of {name}"


def test_reference_list_is_author_year(visit):
    """The citations read "Goodfellow et al. [2014]": the list is labelled the same way, not [1]-[50]."""
    labels = visit("book/references")["citationLabels"]
    assert labels, "no reference list on book/references"
    numbered = [label for label in labels if not re.fullmatch(r"\[.+, \d{4}[a-z]?\]", label)]
    assert not numbered, f"references not labelled author, year: {numbered[:5]}"


def test_screenshots_saved(visit):
    for chapter in CHAPTERS:
        visit(chapter)
    missing = [c for c in CHAPTERS if not (SHOTS / f"{Path(c).name[:2]}.png").is_file()]
    assert not missing, f"no screenshot for {missing} in {SHOTS}"


def test_dark_mode_follows_the_system(browser, book_url):
    page = browser.new_page(viewport=DESKTOP, color_scheme="dark")
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.route("**/*", lambda r: r.continue_() if _is_local(r.request.url, book_url) else r.abort())
    page.goto(book_url + CHAPTERS[0] + ".html", wait_until="load")
    theme = page.evaluate("document.documentElement.dataset.theme")
    page.close()
    assert theme == "dark" and not errors, f"dark system theme: page theme {theme!r}, errors {errors[:3]}"
