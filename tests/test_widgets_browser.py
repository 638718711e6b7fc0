"""The precomputed slider of minigen.widgets moves its image in a real browser, with no kernel.

Runs Debian's ``chromium`` through Playwright (skipped when either is missing): a page holding
only the slider's HTML, as the book embeds it; moving a slider must show the frame of the new
position (and only that one) and update the value shown, without a script error.
"""
import shutil

import pytest
import torch

from minigen import widgets

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

SHOWN = """els => els.filter(e => getComputedStyle(e).display !== 'none')
                  .map(e => [e.dataset.index, e.naturalWidth, e.getBoundingClientRect().width])"""


def _render(a, b):
    img = torch.zeros(4, 4)
    img[0, 0], img[0, 1] = a / 10, b / 10
    return img


def test_the_slider_moves_the_image(tmp_path):
    s = widgets.slider(_render, {"a": [0, 1, 2], "b": [0, 1]}, start={"a": 0, "b": 0})
    page_file = tmp_path / "slider.html"
    page_file.write_text(f"<!doctype html><html><body>{s.to_html()}</body></html>")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_file.as_uri())

            def shown():
                return page.eval_on_selector_all(".minigen-slider-frame", SHOWN)

            assert shown() == [["0", 4, 16]]  # (a=0, b=0): loaded, 4 pixels shown 4 times larger
            inputs = page.locator(".minigen-slider-input")
            inputs.nth(0).fill("2")  # a = 2: frame 2 * 2 + 0
            assert shown() == [["4", 4, 16]]
            assert page.locator(".minigen-slider-value").nth(0).text_content() == "2"
            inputs.nth(1).focus()
            page.keyboard.press("ArrowRight")  # b = 1: frame 5
            assert shown() == [["5", 4, 16]]
            assert page.locator(".minigen-slider-value").nth(1).text_content() == "1"
            assert errors == []
        finally:
            browser.close()
