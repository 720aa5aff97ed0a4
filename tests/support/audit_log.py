"""Reading a meshgate service's audit file (JSON lines) back in the end-to-end tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Record = dict[str, Any]


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
