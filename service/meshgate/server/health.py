"""gRPC health follows readiness: SERVING exactly when `/readyz` says ready, NOT_SERVING otherwise.

Readiness depends on time (JWKS age) as well as on events (a policy swap), so `HealthSync` re-evaluates
on a short interval and whenever it is poked; it writes to the health servicer only on a change. The
servicer is grpc's synchronous `HealthServicer`, whose `set` is thread-safe and returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
        self._wake = asyncio.Event()

    @property
    def serving(self) -> bool:
        return bool(self._serving)

    async def refresh(self) -> Readiness:
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
        """Re-evaluate soon; call on the event loop (e.g. via `call_soon_threadsafe`)."""
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled: refresh every `interval` seconds, or at once after `poke()`."""
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception("readiness evaluation failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
