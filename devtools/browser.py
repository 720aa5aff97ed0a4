"""Debian's Chromium driven by Playwright, for the checks and pictures of the HTML access report.

Playwright comes from the package index (the `dev` extra) and never downloads a browser of its own: it
drives the machine's Chromium at `CHROMIUM` (Debian's `chromium` package; `.ci/run` installs it). The
flags are the ones that work on a closed network: no background requests, no sandbox (root in CI), a
fresh profile per launch.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path(os.environ.get("MESHGATE_CHROMIUM", "/usr/bin/chromium"))
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
LAPTOP = (1366, 768)  # the viewport the report must fit without horizontal scrolling


def missing() -> str | None:
    """Why the browser cannot run here (naming what is missing and how to get it), or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is not installed: pip install -e '.[dev]'"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium executable at {CHROMIUM}: apt-get install chromium (or set MESHGATE_CHROMIUM)"
    return None


@contextmanager
def page(width: int = LAPTOP[0], height: int = LAPTOP[1]) -> Iterator[Page]:
    """A page of a headless Chromium with a fresh profile, a `width` x `height` viewport."""
    from playwright.sync_api import sync_playwright

    reason = missing()
    if reason:
        raise RuntimeError(reason)
    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="meshgate-chromium-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=list(FLAGS),
            viewport={"width": width, "height": height},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
