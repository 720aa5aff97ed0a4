"""Audit sinks. Each runs on its own thread behind a bounded queue, so a slow disk or broker never delays
a decision: `offer()` never blocks, and a full queue drops the record and counts it.

A sink is a `Writer` (write a batch, flush, close) wrapped in a `QueuedSink`.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, TextIO

import orjson

from meshgate.audit.events import Record

log = logging.getLogger(__name__)

MAX_BATCH = 256
# After a batch that did not fill up, the writer sleeps this long instead of waiting on the queue: a
# waiting writer costs every `offer` a thread wake-up (~8 % of the service's CPU in a reconnect storm,
# one wake per record); a sleeping one lets records gather. Bounds how late a record reaches the sink.
LINGER_SECONDS = 0.005


class Writer(Protocol):
    def write(self, lines: Sequence[str]) -> None: ...

    def interrupt(self) -> None:
        """Give up any wait inside `write` (shutdown); called from another thread."""
        ...

    def close(self) -> None: ...


class QueuedSink:
    """A bounded queue in front of a `Writer`, drained by one daemon thread.

    The queue holds the lines of one `offer_all` (one call's records) as one item, so a call costs one queue
    operation however many records it audits; `capacity` still counts records."""

    def __init__(self, name: str, writer: Writer, *, capacity: int) -> None:
        self.name = name
        self._writer = writer
        self._capacity = capacity
        # Lists of lines, then None to stop; bounded by `_queued`, not by itself.
        self._queue: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        self._queued = 0  # records offered and not yet taken by the writer thread
        self._lock = threading.Lock()
        self.dropped = 0  # records lost to a full queue
        self.failed = 0  # batches the writer raised on
        self.written = 0
        self._thread = threading.Thread(target=self._drain, name=f"meshgate-audit-{name}", daemon=True)
        self._thread.start()

    def offer(self, line: str) -> bool:
        """Queue one JSON line; False (and counted) when the queue is full. Never blocks."""
        return self.offer_all((line,)) == 1

    def offer_all(self, lines: Sequence[str]) -> int:
        """Queue `lines` as one item; those beyond the room left are dropped (the last ones) and counted.
        Never blocks. Returns how many were queued."""
        with self._lock:
            kept = max(0, min(len(lines), self._capacity - self._queued))
            self._queued += kept
            self.dropped += len(lines) - kept
        if kept:
            self._queue.put(list(lines[:kept]))
        return kept

    @property
    def backlog(self) -> int:
        return self._queued

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the thread and close the writer."""
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning(
                "audit sink %s: writer still busy at shutdown; %d records lost", self.name, self.backlog
            )
            self._writer.interrupt()
            self._thread.join(timeout)

    def _drain(self) -> None:
        running = True
        while running:
            lines, running = self._take()
            self._write(lines)
            if running and len(lines) < MAX_BATCH:
                time.sleep(LINGER_SECONDS)
        self._writer.close()

    def _take(self) -> tuple[list[str], bool]:
        """Waits for the next item, then takes what is queued up to about MAX_BATCH lines (whole items).
        Returns the lines and False once the stop mark (None) was taken."""
        lines: list[str] = []
        item = self._queue.get()
        while item is not None:
            lines += item
            if len(lines) >= MAX_BATCH:
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
        with self._lock:
            self._queued -= len(lines)
        return lines, item is not None

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            self._writer.write(lines)
            self.written += len(lines)
        except Exception:
            self.failed += 1
            log.exception("audit sink %s: could not write %d records", self.name, len(lines))


class FileWriter:
    """Appends JSON lines to a file, rotating by size: `audit.jsonl` → `audit.jsonl.1` → … `.N` (the names
    `RotatingFileHandler` uses); with `backups=0` the file never rotates, as there. One write and one flush
    per batch (the queue hands over up to `MAX_BATCH` lines): a flush per line cost ~50 µs of this thread's
    CPU per record in a reconnect storm."""

    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._max_bytes = max_bytes
        self._backups = backups
        self._file = path.open("ab")
        self._size = self._file.tell()

    def write(self, lines: Sequence[str]) -> None:
        pending = bytearray()
        for line in lines:
            data = line.encode("utf-8") + b"\n"
            filled = self._size + len(pending)
            if self._backups and filled and filled + len(data) > self._max_bytes:
                self._file.write(pending)
                pending.clear()
                self._rotate()
            pending += data
        self._file.write(pending)
        self._file.flush()
        self._size += len(pending)

    def _rotate(self) -> None:
        self._file.close()
        for n in range(self._backups - 1, 0, -1):
            older = self._path.with_name(f"{self._path.name}.{n}")
            if older.exists():
                older.replace(self._path.with_name(f"{self._path.name}.{n + 1}"))
        self._path.replace(self._path.with_name(f"{self._path.name}.1"))
        self._file = self._path.open("ab")
        self._size = 0

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        self._file.close()


class StreamWriter:
    """Writes JSON lines to a text stream (standard output by default, for a log collector)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def write(self, lines: Sequence[str]) -> None:
        stream = self._stream or sys.stdout
        stream.write("".join(line + "\n" for line in lines))
        stream.flush()

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        pass


# Built once: `json.dumps` with any non-default option builds a new encoder for every record.
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False)
# The line breaks of `str.splitlines` (and of JavaScript) that JSON may leave raw inside a string; the
# encoder already escapes \n, \r and the other control characters below U+0020.
_RAW_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def encode(record: Record) -> str:
    """One compact JSON line, whatever the strings in it hold; keys sorted so equal records read the same.

    orjson writes the line the standard encoder above would, ~8x faster (4.8 -> 0.6 us for a decision
    record; every decision, login and served answer is encoded once, and encoding was ~11 % of the
    service's CPU in a reconnect storm, finding 35). The one difference is the exponent of a float
    (`1e-7` for `1e-07`), and no record holds a float. What orjson refuses (an integer beyond 64 bits, a
    key that is not a string, a lone surrogate) goes to the standard encoder, so nothing that encoded
    before fails now."""
    try:
        line = orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        line = _ENCODER.encode(record)
    return line if line.isascii() else line.translate(_RAW_BREAKS)
