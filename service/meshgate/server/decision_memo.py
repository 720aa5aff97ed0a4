"""Per-revision decision memo: a repeated question is answered by a dict hit, never across a policy swap.

    memo = DecisionMemo(max_entries=16384)
    table = memo.table_for(snapshot)          # bound to exactly this snapshot object
    answer = table.get(key)
    if answer is None:
        answer = decide(snapshot, request)     # may raise: nothing is stored then
        table.put(key, answer)

Safety rests on one rule: a table belongs to one snapshot *object* and is only ever filled with answers that
snapshot gave. `table_for` compares by identity (`is`), so a new revision, a reload of the same content or
the same revision with other super-users all start from an empty table, and a caller that took the snapshot
before a racing swap keeps filling the old table, which nobody reads any more. `forget()` (called from the
policy swap, on whatever thread swaps) only frees the old answers and the old snapshot early; correctness
does not depend on it.

Errors are never stored: the caller puts only answers it obtained. The key must hold every input the policy
may read (see `meshgate.server.wire.decision_key`). Thread-safe: the gRPC worker threads share one memo;
each table is a `meshgate.lru.LruCache` (one lock around its bookkeeping) and the memo has a lock around
switching tables, so no table's counts are lost.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Generic, TypeVar

from meshgate.lru import LruCache

V = TypeVar("V")
# An entry (key of wire strings + domain Decision) costs ~0.8 KB of RSS: the default is ~13 MB at most.
DEFAULT_MAX_ENTRIES = 16384


class MemoTable(LruCache[Hashable, V]):
    """Answers of one snapshot, least recently used dropped first beyond `max_entries`."""

    __slots__ = ("snapshot",)

    def __init__(self, snapshot: object, max_entries: int) -> None:
        super().__init__(max_entries)
        self.snapshot = snapshot


class DecisionMemo(Generic[V]):
    """Hands out the table of the snapshot in use; a different snapshot object gets a fresh, empty one."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._max = max_entries
        self._table: MemoTable[V] | None = None
        self._lock = threading.Lock()  # around switching tables; taken before a table's lock, never after
        self._hits = 0  # of tables already dropped
        self._misses = 0

    def table_for(self, snapshot: object) -> MemoTable[V]:
        table = self._table  # the common case takes no lock: one read of one attribute
        if table is not None and table.snapshot is snapshot:
            return table
        with self._lock:
            table = self._table
            if table is None or table.snapshot is not snapshot:
                self._retire(table)
                table = MemoTable(snapshot, self._max)
                self._table = table  # one assignment: a reader sees the old table or the new one, whole
            return table

    def forget(self) -> None:
        """Drop the current table and the snapshot it holds (on a swap, before the next request comes)."""
        with self._lock:
            table, self._table = self._table, None
            self._retire(table)

    def _retire(self, table: MemoTable[V] | None) -> None:
        # A worker still holding `table` may count a few more lookups after this: they go uncounted.
        if table is not None:
            stats = table.stats()
            self._hits += stats.hits
            self._misses += stats.misses

    @property
    def entries(self) -> int:
        table = self._table
        return len(table) if table is not None else 0

    @property
    def hits(self) -> int:
        return self._counts()[0]

    @property
    def misses(self) -> int:
        return self._counts()[1]

    def _counts(self) -> tuple[int, int]:
        with self._lock:
            if self._table is None:
                return self._hits, self._misses
            stats = self._table.stats()
            return self._hits + stats.hits, self._misses + stats.misses
