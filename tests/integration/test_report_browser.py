"""The HTML access report in a real browser (Debian's Chromium, driven by Playwright; `devtools.browser`).

For the example policies, with and without the quickstart's extra deny (docs/examples), at a laptop's
1366 x 768: nothing scrolls sideways, with every row's details closed or all of them open; the legend is on
the first screen; every mark the table uses is one the legend explains; and a keyboard alone reaches a
row's details with Tab and opens them with Enter. Skips, naming what is missing, where Playwright or
Chromium is not installed.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from meshgate.policy import load_policy
from meshgate.report.html import render_html
from meshgate.report.matrix import build_matrix

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devtools import browser  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(browser.missing()), reason=f"{browser.missing()}"),
]

EXAMPLES = ROOT / "policies" / "examples"
WIDTH, HEIGHT = browser.LAPTOP


def _with_demo_deny(tmp_path: Path) -> Path:
    folder = tmp_path / "policy"
    shutil.copytree(EXAMPLES, folder)
    shutil.copy(ROOT / "docs" / "examples" / "demo-deny.yaml", folder)
    return folder


@pytest.fixture(scope="module")
def chromium() -> Iterator[Page]:
    with browser.page(WIDTH, HEIGHT) as page:
        yield page


def _open_report(page: Page, folder: Path, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    html.write_text(render_html(build_matrix(load_policy(folder))), encoding="utf-8")
    page.goto(html.as_uri())


def _overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0: no horizontal scroll bar)."""
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return max(0, width - WIDTH)


@pytest.mark.parametrize("policy", ["examples", "examples+demo-deny"])
def test_report_fits_a_laptop_screen_closed_and_open(chromium: Page, tmp_path: Path, policy: str) -> None:
    folder = EXAMPLES if policy == "examples" else _with_demo_deny(tmp_path)
    _open_report(chromium, folder, tmp_path)
    assert _overflow(chromium) == 0
    chromium.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    assert _overflow(chromium) == 0, "a row's details widen the page"


def test_legend_is_on_the_first_screen_and_explains_every_mark_used(chromium: Page, tmp_path: Path) -> None:
    _open_report(chromium, _with_demo_deny(tmp_path), tmp_path)
    legend = chromium.locator("#legend")
    box = legend.bounding_box()
    assert legend.is_visible() and box is not None and box["y"] + box["height"] <= HEIGHT
    used = set(chromium.locator("table .mark").all_text_contents())
    explained = set(legend.locator(".mark").all_text_contents())
    assert used and used <= explained, f"marks without a legend entry: {used - explained}"
    for symbol in used:  # each also carries its meaning for a screen reader
        labels = chromium.locator("table .mark", has_text=symbol).evaluate_all(
            "marks => [...new Set(marks.map(m => m.getAttribute('aria-label')))]"
        )
        assert len(labels) == 1 and labels[0]


def test_keyboard_tab_reaches_the_details_and_enter_opens_them(chromium: Page, tmp_path: Path) -> None:
    _open_report(chromium, EXAMPLES, tmp_path)
    chromium.locator("body").focus()
    for _ in range(5):
        chromium.keyboard.press("Tab")
        if chromium.evaluate("document.activeElement.tagName") == "SUMMARY":
            break
    focused = chromium.evaluate_handle("document.activeElement")
    assert chromium.evaluate("e => e.tagName", focused) == "SUMMARY", "Tab never reached a row's details"
    assert not chromium.evaluate("e => e.parentElement.open", focused)
    chromium.keyboard.press("Enter")
    assert chromium.evaluate("e => e.parentElement.open", focused)
    assert chromium.locator("details[open] dl.detail").first.is_visible()
    chromium.keyboard.press("Tab")  # on to the next row's toggle
    assert chromium.evaluate("document.activeElement.tagName") == "SUMMARY"
    assert not chromium.evaluate("e => e.isSameNode(document.activeElement)", focused)
