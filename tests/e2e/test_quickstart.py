"""docs/quickstart.md works verbatim against `make run` (#21).

Starts `python -m devtools.run` (what `make run` runs once the shim and classpath are built), then runs the
quickstart's marked shell blocks in order: the demo producer in the background, the questions to the HTTP
side, and the live revocation, which must show in the producer's output and in `meshgate audit query`.
Ctrl-C then stops every process `make run` started.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.run import STATE_FILE

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "docs" / "quickstart.md"
DEMO_DENY = ROOT / "policies" / "examples" / "demo-deny.yaml"
BLOCK = re.compile(r"<!-- quickstart-test(?:: (?P<mode>\w+))? -->\n```bash\n(?P<body>.*?)```", re.S)

pytestmark = pytest.mark.e2e


class Output:
    """A process's output lines, collected by a thread, waited on with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, text: str, timeout: float, after: int = 0) -> int:
        """Index of the first line from `after` on that contains `text`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index in range(after, len(self.lines)):
                    if text in self.lines[index]:
                        return index
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._changed.wait(0.2)):
                    tail = "".join(self.lines[-30:])
                    raise AssertionError(f"no {text!r} within {timeout}s; output:\n{tail}")
                self._changed.wait(min(left, 0.5))


def _start(argv: list[str]) -> tuple[subprocess.Popen[str], Output]:
    process = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    return process, Output(process)


def _blocks(state: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(mode, command lines) of each marked block, with make run's actual HTTP address."""
    text = QUICKSTART.read_text().replace("http://127.0.0.1:9090", state["meshgate_http"])
    blocks = []
    for match in BLOCK.finditer(text):
        lines = [ln for ln in match["body"].splitlines() if ln.strip() and not ln.startswith("#")]
        blocks.append((match["mode"] or "run", lines))
    return blocks


def _run(command: str) -> str:
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, f"{command}\nexit {done.returncode}: {done.stdout}{done.stderr}"
    return done.stdout


def _listening(url: str) -> bool:
    host, port = url.rsplit("/", 1)[-1].rsplit(":", 1)
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) == 0


@pytest.fixture
def make_run() -> Iterator[tuple[Output, dict[str, str]]]:
    process, output = _start([sys.executable, "-m", "devtools.run"])
    try:
        output.wait_for("Press Ctrl-C to stop everything", timeout=240)
        yield output, json.loads(STATE_FILE.read_text())
    finally:
        DEMO_DENY.unlink(missing_ok=True)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in its terminal sends
        try:
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)


def test_quickstart_runs_verbatim_against_make_run_and_ctrl_c_stops_it(
    make_run: tuple[Output, dict[str, str]],
) -> None:
    run_output, state = make_run
    assert f"meshgate HTTP         {state['meshgate_http']}" in "".join(run_output.lines)
    blocks = _blocks(state)
    assert [mode for mode, _ in blocks] == ["background", "run", "revokes", "run"]
    (_, [producer_command]), (_, questions), (_, [add_deny, audit_query]), (_, checks) = blocks
    producer, produced = _start(["bash", "-c", f"exec {producer_command}"])
    try:
        sent = produced.wait_for("sent message 2", timeout=120)
        explain, _who_can = (_run(command) for command in questions)
        assert json.loads(explain)["allowed"] is True

        _run(add_deny)
        produced.wait_for("send failed", timeout=30, after=sent)
        assert "no-more-demo" in _run(audit_query)

        readyz, deny_explain, _, metrics = (_run(command) for command in checks)
        assert json.loads(readyz)["ready"] is True
        assert json.loads(deny_explain)["rule_id"] == "payments.yaml#ledger-audit-is-append-only-for-ledger"
        assert "meshgate_decisions_total" in metrics
    finally:
        producer.send_signal(signal.SIGINT)
        producer.wait(timeout=30)

    os.killpg(run_output.process.pid, signal.SIGINT)  # Ctrl-C stops everything make run started
    assert run_output.process.wait(timeout=60) == 0
    for url in (state["broker_url"], state["admin_url"], state["meshgate_http"]):
        assert not _listening(url), f"{url} still answers after Ctrl-C"
