"""Write docs/img/access-report.png: the access report of the example policies at 1366 px wide.

    .venv/bin/python -m devtools.report_screenshot [--policy DIR] [--out PNG]

The page is `meshgate report --html` of the policy folder, rendered by Debian's Chromium
(`devtools.browser`) at a laptop's width, with one row's details opened to show what they hold.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from meshgate.policy import load_policy
from meshgate.report.html import render_html
from meshgate.report.matrix import build_matrix

from devtools import browser

ROOT = Path(__file__).resolve().parents[1]
OPENED_ROW = "persistent://{ns}-team/*/*"  # the row with a subscription condition


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", type=Path, default=ROOT / "policies" / "examples")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "access-report.png")
    args = parser.parse_args()
    matrix = build_matrix(load_policy(args.policy))
    with tempfile.TemporaryDirectory() as tmp, browser.page() as page:
        html = Path(tmp) / "report.html"
        html.write_text(render_html(matrix), encoding="utf-8")
        page.goto(html.as_uri())
        page.locator("tr", has_text=OPENED_ROW).locator("summary").click()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
