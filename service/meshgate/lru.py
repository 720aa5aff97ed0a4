"""The one bounded LRU cache of the service, with hit and miss counts: verified certificate chains, verified
tokens and the per-revision decision memo all keep their entries in one.

A plain dict in insertion order is the LRU: a hit re-inserts its entry at the end, so the first entry is
the least recently used (half the bytes per entry of an `OrderedDict`, which keeps a linked node each).
Thread-safe: gRPC worker threads share each cache, and one lock covers a lookup and its bookkeeping (a hit
that moves an entry another thread evicts would otherwise raise, and counts would be lost).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    size: int


class LruCache(Generic[K, V]):
    """At most `max_entries` values (none when it is 0 or less), least recently used dropped first."""

    __slots__ = ("_entries", "_lock", "_max", "hits", "misses")

    def __init__(self, max_entries: int) -> None:
        self._entries: dict[K, V] = {}
        self._lock = threading.Lock()
        self._max = max_entries
        self.hits = 0
        self.misses = 0

    def get(self, key: K, valid: Callable[[V], bool] | None = None) -> V | None:
        """The value, now the most recently used; None, counted as a miss, when there is none or `valid`
        says it may no longer be used (then it is dropped)."""
        with self._lock:
            value = self._entries.pop(key, None)
            if value is None or (valid is not None and not valid(value)):
                self.misses += 1
                return None
            self._entries[key] = value
            self.hits += 1
            return value

    def put(self, key: K, value: V) -> None:
        if self._max <= 0:
            return
        with self._lock:
            self._entries.pop(key, None)  # re-inserted at the end: the most recently used
            self._entries[key] = value
            if len(self._entries) > self._max:
                del self._entries[next(iter(self._entries))]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self.hits, self.misses, len(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
