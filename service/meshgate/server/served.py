"""Answers the broker plugin served without this service deciding them in that call, as audit records.

The shim answers many questions itself: from its decision cache, with stale-if-error, by joining an
identical call in flight, for its `superUserRoles`, for an empty role, with a deny when the service could
not decide, and with a deny for a spiffe: or oidc: role no meshgate provider proved.
It reports them in batches (`ReportServed`); each entry becomes one `authorize` record of the same shape as
the service's own, plus `served_by` and `count` (an allow may stand for several identical answers between
`time` and `last_time`; every deny is its own entry). The revision is the one that decided the answer, as the
shim served it, not the one active when the report arrives.

`check_report` refuses a malformed report as a whole, naming the entry and field; `ServedLog` writes a
checked report through the audit log and counts what was reported and what was lost on the way. The record
of an entry is `wire.decision_record`'s, the one `Authorize`'s answers get.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from meshgate.audit.events import Record
from meshgate.audit.log import AuditLog
from meshgate.errors import BadRequestError
from meshgate.server.wire import credential_kind_problem, decision_record, timestamp
from meshgate.v1 import meshgate_pb2 as pb

MAX_ENTRIES = 1000  # per report; the shim sends at most 500
MAX_TEXT = 2048  # characters of any one string in an entry
MAX_COUNT = 1 << 30
MAX_ACTORS = 16  # actors of a delegation chain (the highest oidc.max_delegation_depth accepted)
# How each answer was served, and the answer each way can give (None: either).
SERVED_BY: dict[str, bool | None] = {
    "shim_cache": None,  # a cached service answer of the active revision
    "shim_inflight": None,  # joined an identical question already in flight
    "stale_if_error": True,  # the service could not answer; an earlier allow was repeated
    "shim_superuser": True,  # broker.conf superUserRoles: allowed without asking
    "shim_no_role": False,  # the broker asked about an empty role
    "shim_error": False,  # the service could not decide within the budget: denied
    "shim_unproven_role": False,  # a spiffe:/oidc: role no meshgate provider proved: denied without asking
}
# Ways that repeat a service answer, so its revision must come with it.
_REVISIONED = ("shim_cache", "shim_inflight", "stale_if_error")


def check_report(report: pb.ReportServedRequest) -> None:
    """Raise BadRequestError naming the first thing wrong with `report`."""
    if len(report.entries) > MAX_ENTRIES:
        raise BadRequestError(
            f"entries: {len(report.entries)} in one report, at most {MAX_ENTRIES}; send the rest in another"
        )
    _check_text("broker_id", report.broker_id)
    for i, entry in enumerate(report.entries):
        _check_entry(f"entries[{i}]", entry)


def _check_entry(where: str, entry: pb.ServedDecision) -> None:
    expected = SERVED_BY.get(entry.served_by, "unknown")
    if expected == "unknown":
        raise BadRequestError(f"{where}.served_by: {entry.served_by!r} is not one of {', '.join(SERVED_BY)}")
    allowed = entry.decision.allowed
    if expected is not None and allowed is not expected:
        answer = "an allow" if expected else "a deny"
        raise BadRequestError(f"{where}.decision.allowed: {entry.served_by} always serves {answer}")
    _check_count(where, entry, allowed)
    _check_question(where, entry)
    _check_decision(where, entry)
    # An entry of at most MAX_TEXT bytes cannot hold a longer string (a character is at least one byte), so
    # the field-by-field walk (~40 % of an entry's cost) runs only for the rare entry that might.
    if entry.ByteSize() > MAX_TEXT:
        for name, value in _texts(entry):
            _check_text(f"{where}.{name}", value)


def _check_decision(where: str, entry: pb.ServedDecision) -> None:
    decision = entry.decision
    if entry.served_by in _REVISIONED and not decision.revision:
        raise BadRequestError(f"{where}.decision.revision: required for {entry.served_by}")
    actors = len(decision.delegation.actors)
    if actors > MAX_ACTORS:
        raise BadRequestError(f"{where}.decision.delegation.actors: {actors}, at most {MAX_ACTORS}")


def _check_count(where: str, entry: pb.ServedDecision, allowed: bool) -> None:
    if not 1 <= entry.count <= MAX_COUNT:
        raise BadRequestError(f"{where}.count: {entry.count}; must be between 1 and {MAX_COUNT}")
    if not allowed and entry.count != 1:
        raise BadRequestError(f"{where}.count: {entry.count}; every deny is reported on its own (count 1)")
    if entry.first_at_unix_ms <= 0 or entry.last_at_unix_ms < entry.first_at_unix_ms:
        raise BadRequestError(
            f"{where}.first_at_unix_ms/last_at_unix_ms: {entry.first_at_unix_ms}..{entry.last_at_unix_ms}; "
            "first must be a time (ms since the epoch) and last no earlier"
        )


def _check_question(where: str, entry: pb.ServedDecision) -> None:
    question = entry.question
    if question.HasField("credential"):
        raise BadRequestError(f"{where}.question.credential: a report never carries a credential")
    if not question.action:
        raise BadRequestError(f"{where}.question.action: required")
    if not question.principal and entry.served_by != "shim_no_role":
        raise BadRequestError(f"{where}.question.principal: required (only shim_no_role has none)")
    problem = credential_kind_problem(question)
    if problem is not None:
        raise BadRequestError(f"{where}.question.credential_kind: {problem}")


def _texts(entry: pb.ServedDecision) -> Iterator[tuple[str, str]]:
    q, r, p, d = entry.question, entry.question.resource, entry.question.peer, entry.decision
    yield from (
        ("question.principal", q.principal), ("question.action", q.action),
        ("question.subscription", q.subscription), ("question.broker_id", q.broker_id),
        ("question.request_id", q.request_id), ("question.credential_kind", q.credential_kind),
        ("question.resource.tenant", r.tenant), ("question.resource.namespace", r.namespace),
        ("question.resource.topic", r.topic), ("question.resource.cluster", r.cluster),
        ("question.resource.broker", r.broker), ("question.peer.address", p.address),
        ("question.peer.auth_method", p.auth_method), ("question.peer.transport", p.transport),
        ("decision.rule_id", d.rule_id), ("decision.reason_code", d.reason_code),
        ("decision.revision", d.revision), ("decision.commit", d.commit), ("served_by", entry.served_by),
        ("decision.delegation.subject", d.delegation.subject),
    )  # fmt: skip
    for i, actor in enumerate(d.delegation.actors):
        yield f"decision.delegation.actors[{i}]", actor


def _check_text(where: str, value: str) -> None:
    if len(value) > MAX_TEXT:
        raise BadRequestError(f"{where}: {len(value)} characters, at most {MAX_TEXT}")


def _at(unix_ms: int) -> str:
    return timestamp(datetime.fromtimestamp(unix_ms / 1000, UTC))


def served_record(entry: pb.ServedDecision, broker_id: str) -> Record:
    """The `authorize` record of one checked entry; `broker_id`: the report's, for an entry without one."""
    record = decision_record(_at(entry.first_at_unix_ms), entry.question, entry.decision)
    record["served_by"] = entry.served_by
    record["count"] = entry.count
    if entry.last_at_unix_ms != entry.first_at_unix_ms:
        record["last_time"] = _at(entry.last_at_unix_ms)
    if not record["broker_id"]:
        record["broker_id"] = broker_id
    return record


@dataclass(frozen=True, slots=True)
class ServedStats:
    reported: dict[str, int]  # answers reported (an entry's count), by served_by
    dropped_by_shims: int  # answers the shims said they could not report
    refused: int  # answers in reports refused as malformed


class ServedLog:
    """Writes checked reports through the audit log (one hand-over per report) and counts them."""

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit
        self._lock = threading.Lock()
        self._reported: Counter[str] = Counter()
        self._dropped_by_shims = 0
        self._refused = 0

    def record(self, report: pb.ReportServedRequest) -> int:
        """Check and write `report`; returns how many entries went to the audit log. A malformed report
        raises BadRequestError and is counted as refused, its answers lost."""
        try:
            check_report(report)
        except BadRequestError:
            with self._lock:
                self._refused += sum(max(1, e.count) for e in report.entries)
            raise
        records = [
            served_record(entry, report.broker_id)
            for entry in report.entries
            if self._audit.admits(denial=not entry.decision.allowed)
        ]
        self._audit.write_all(records)
        with self._lock:
            self._dropped_by_shims += report.dropped
            for entry in report.entries:
                self._reported[entry.served_by] += entry.count
        return len(records)

    def stats(self) -> ServedStats:
        with self._lock:
            return ServedStats(dict(self._reported), self._dropped_by_shims, self._refused)
