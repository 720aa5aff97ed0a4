"""The active policy snapshot, swapped atomically, with listeners told about each swap."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from meshgate.clock import Clock, SystemClock
from meshgate.errors import PolicyError
from meshgate.policy.engine import PolicySnapshot

Listener = Callable[[PolicySnapshot], None]
_log = logging.getLogger(__name__)


class PolicyStore:
    """Holds one snapshot at a time. Readers take `current()` once per request and use only it, so
    they never see a mix of two revisions. Listeners run in the thread that swaps, after the swap."""

    def __init__(self, initial: PolicySnapshot | None = None, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        # One tuple, replaced by a single assignment: a reader never sees a snapshot with another's time.
        self._state: tuple[PolicySnapshot, datetime] | None = (
            (initial, self._clock.now()) if initial else None
        )
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """True once a valid policy has been loaded (readiness is NOT_SERVING before that)."""
        return self._state is not None

    @property
    def activated_at(self) -> datetime | None:
        state = self._state
        return state[1] if state else None

    def get(self) -> PolicySnapshot | None:
        state = self._state
        return state[0] if state else None

    def current(self) -> PolicySnapshot:
        """The active snapshot; PolicyError(code="policy_unavailable") if none was ever loaded."""
        state = self._state
        if state is None:
            raise PolicyError("no valid policy has been loaded yet", code="policy_unavailable")
        return state[0]

    def swap(self, snapshot: PolicySnapshot) -> None:
        """Make `snapshot` current, then call every listener with it (a failing listener is logged)."""
        with self._lock:
            self._state = (snapshot, self._clock.now())
            listeners = list(self._listeners)
        # A snapshot's objects (millions at 100k rules) live until the next swap: move them, and all else
        # alive now, out of the collector's generations so its full passes stop walking them. Snapshots hold
        # no reference cycles, so the one replaced here is still freed by reference counting.
        gc.freeze()
        for listener in listeners:
            try:
                listener(snapshot)
            except Exception:
                _log.exception("policy swap listener failed for revision %s", snapshot.revision)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(snapshot)` after every swap; returns a function that unsubscribes.

        Listeners run in the swapping thread (the reloader's), so they must be thread-safe and quick."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe
