"""`AuditLog`: samples allows, encodes each record once and offers it to every sink without blocking.

audit = AuditLog.from_config(config.audit)
audit.record(decision_record(now, request, decision))
if audit.admits(denial=not decision.allowed):      # the same, without building a record sampling drops
    audit.write(decision_record(now, request, decision))
audit.write_all(records)                           # the records of one call: one hand-over per sink
...
audit.close()   # writes what is queued
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from meshgate.audit.config import AuditConfig
from meshgate.audit.events import Record, is_denial
from meshgate.audit.sinks import FileWriter, QueuedSink, StreamWriter, encode


@dataclass(frozen=True, slots=True)
class SinkStats:
    name: str
    written: int
    dropped: int
    failed: int
    backlog: int


class AuditLog:
    def __init__(
        self,
        sinks: Sequence[QueuedSink],
        *,
        allow_sample_rate: float = 1.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._sinks = tuple(sinks)
        self._rate = allow_sample_rate
        self._rng = rng
        self.sampled_out = 0  # allows not written because of sampling
        self._lock = threading.Lock()  # gRPC worker threads count concurrently

    @classmethod
    def from_config(cls, config: AuditConfig) -> AuditLog:
        if not config.enabled:
            return cls(())
        return cls(build_sinks(config), allow_sample_rate=config.allow_sample_rate)

    @property
    def enabled(self) -> bool:
        return bool(self._sinks)

    def record(self, record: Record) -> None:
        """Write `record` to every sink, unless it is an allow that sampling leaves out."""
        if self.admits(is_denial(record)):
            self.write(record)

    def admits(self, denial: bool) -> bool:
        """Whether the next record, a denial or not, is to be written; decide before building it.

        Denials always are (when any sink is configured); an allow is left out (and counted) by sampling."""
        if not self._sinks:
            return False
        if not denial and self._rate < 1.0 and self._rng() >= self._rate:
            with self._lock:
                self.sampled_out += 1
            return False
        return True

    def record_all(self, records: Iterable[Record]) -> None:
        """`record` for the records of one call, handed to each sink at once."""
        self.write_all([r for r in records if self.admits(is_denial(r))])

    def write(self, record: Record) -> None:
        """Offer `record` to every sink without sampling (the caller asked `admits` first)."""
        self.write_all((record,))

    def write_all(self, records: Sequence[Record]) -> None:
        """`write` for the records of one call: each encoded once, then one offer per sink for all of them
        (a queue operation per call instead of per record)."""
        if not records:
            return
        lines = [encode(record) for record in records]
        for sink in self._sinks:
            sink.offer_all(lines)

    def stats(self) -> list[SinkStats]:
        return [SinkStats(s.name, s.written, s.dropped, s.failed, s.backlog) for s in self._sinks]

    def close(self) -> None:
        for sink in self._sinks:
            sink.close()


def build_sinks(config: AuditConfig) -> list[QueuedSink]:
    sinks = []
    if config.file.path is not None:
        writer = FileWriter(config.file.path, max_bytes=config.file.max_bytes, backups=config.file.backups)
        sinks.append(QueuedSink("file", writer, capacity=config.queue_size))
    if config.stdout:
        sinks.append(QueuedSink("stdout", StreamWriter(), capacity=config.queue_size))
    if config.pulsar.service_url:
        from meshgate.audit.pulsar import PulsarWriter  # pulsar-client is an optional dependency

        sinks.append(QueuedSink("pulsar", PulsarWriter(config.pulsar), capacity=config.queue_size))
    return sinks
