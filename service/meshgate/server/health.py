"""gRPC health follows readiness: SERVING exactly when `/readyz` says ready, NOT_SERVING otherwise.

Readiness depends on time (JWKS age) as well as on events (a policy swap), so `HealthSync` re-evaluates,
on a thread of its own, on a short interval and whenever it is poked (from any thread); it writes to the
health servicer only on a change. The servicer is grpc's synchronous `HealthServicer`, whose `set` is
thread-safe and returns at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from grpc_health.v1 import health_pb2

from meshgate.server.readiness import Readiness

log = logging.getLogger(__name__)


class HealthSync:
    def __init__(
        self,
        servicer: Any,
        evaluate: Callable[[], Readiness],
        services: Sequence[str],
        *,
        interval: float = 1.0,
    ) -> None:
        self._servicer = servicer
        self._evaluate = evaluate
        self._services = ("", *services)
        self._interval = interval
        self._serving: bool | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def serving(self) -> bool:
        return bool(self._serving)

    def refresh(self) -> Readiness:
        readiness = self._evaluate()
        if readiness.ready != self._serving:
            self.set(readiness.ready)
            if not readiness.ready:
                log.warning("not ready: %s", "; ".join(readiness.reasons))
        return readiness

    def set(self, serving: bool) -> None:
        self._serving = serving
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in self._services:
            self._servicer.set(name, status)

    def poke(self) -> None:
        """Re-evaluate soon; safe to call from any thread."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="health-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        """Until `stop()`: refresh every `interval` seconds, or at once after `poke()`."""
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:
                log.exception("readiness evaluation failed")
            self._wake.wait(self._interval)
            self._wake.clear()
