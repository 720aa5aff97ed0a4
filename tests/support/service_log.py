"""Waiting for a line in a running meshgate service's log (devtools.service.MeshgateProcess) in the
end-to-end tests: take `log_offset()` before the action, then `wait_for_log()` for what it should log."""

from __future__ import annotations

import time

from devtools.service import MeshgateProcess


def log_offset(meshgate: MeshgateProcess) -> int:
    """Where the log ends now: what a later `wait_for_log` reads from."""
    return len(meshgate.log.read_text(errors="replace"))


def wait_for_log(meshgate: MeshgateProcess, text: str, since: int, timeout: float = 10.0) -> str:
    """The log from `since` on, once it holds `text`; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tail = meshgate.log.read_text(errors="replace")[since:]
        if text in tail:
            return tail
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in {meshgate.log} after {timeout}s")
