"""Audit records in tests: `Recorder`, an audit `Writer` that keeps its lines in memory (unit tests), and
reading a meshgate service's audit file (JSON lines) back (end-to-end tests)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Record = dict[str, Any]


class Recorder:
    """An audit writer (`meshgate.audit.sinks.Writer`) that keeps what it was given in `lines`; clear `gate`
    to hold writes back until it is set again (or `interrupt()`)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def write(self, lines: Sequence[str]) -> None:
        self.gate.wait(10)
        self.lines.extend(lines)

    def interrupt(self) -> None:
        self.gate.set()

    def close(self) -> None:
        pass


def records_about(
    path: Path, topic: str, want: int, timeout: float = 15.0, where: Callable[[Record], bool] = lambda _: True
) -> list[Record]:
    """The records about `topic` (or its partitions) that satisfy `where`, once `want` of them are on disk."""
    deadline = time.monotonic() + timeout
    while True:
        records = map(json.loads, path.read_text().splitlines())
        found = [r for r in records if _about(r, topic) and where(r)]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _about(record: Record, topic: str) -> bool:
    return str(record.get("resource", {}).get("topic", "")).startswith(topic)
