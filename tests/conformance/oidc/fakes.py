"""In-memory fetcher and monotonic clock for network-free JWKS cache tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from meshgate.oidc import FetchError, FetchResult


class FakeMonotonic:
    def __init__(self, start: float = 1000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


class FakeFetcher:
    """Serves `documents[url]` (None: HTTP 503). Counts calls; `gate` lets a test hold fetches in flight."""

    def __init__(self, documents: Mapping[str, dict[str, Any] | None] | None = None) -> None:
        self.documents: dict[str, dict[str, Any] | None] = dict(documents or {})
        self.max_age: float | None = None
        self.calls: list[str] = []
        self.gate: threading.Event | None = None

    def fetch(self, url: str) -> FetchResult:
        self.calls.append(url)
        if self.gate is not None:
            self.gate.wait(30)  # bounded: a test that forgets to open the gate does not hang the run
        document = self.documents.get(url)
        if document is None:
            raise FetchError(f"GET {url} returned HTTP 503")
        return FetchResult(json.dumps(document).encode(), self.max_age)
