"""Reading the audit trail back: the records of a file sink and its rotations, filtered. Pure but for reading.

The auditor's question ("every denied access last quarter") is a filter over the JSON lines the file sink
writes (`audit.file.path`, rotated to `.1` … `.N`, oldest highest). A line that is not a record is never
skipped silently: it is reported with its file and line number, so a gap in the evidence is visible.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from meshgate.audit.events import Record
from meshgate.errors import BadRequestError

# What a record's outcome can be: `decision` of an authorize record, `result` of an authenticate record.
OUTCOMES = ("allow", "deny", "authenticated", "rejected")


def parse_time(text: str, *, option: str) -> datetime:
    """ISO 8601 date or date-time; without an offset it is UTC."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequestError(
            f"{option}: {text!r} is not an ISO 8601 date or time (e.g. 2026-10-01 or 2026-10-01T12:00:00Z)"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def outcome(record: Record) -> str:
    return str(record.get("decision") or record.get("result") or "")


@dataclass(frozen=True)
class AuditFilter:
    """Which records to keep. Patterns are shell-style (`*`, `?`), matched against the whole value."""

    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    principal: str | None = None
    resource: str | None = None  # any of the record's resource fields (tenant, namespace, topic, ...)
    outcome: str | None = None
    acting_for: str | None = None  # the person an agent acted for (`delegation.subject` of the record)

    def __post_init__(self) -> None:
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise BadRequestError(f"--outcome: {self.outcome!r} is not one of {', '.join(OUTCOMES)}")

    def matches(self, record: Record, at: datetime) -> bool:
        if self.since is not None and at < self.since:
            return False
        if self.until is not None and at >= self.until:
            return False
        if self.outcome is not None and outcome(record) != self.outcome:
            return False
        if self.principal is not None and not fnmatch.fnmatchcase(
            str(record.get("principal", "")), self.principal
        ):
            return False
        if self.acting_for is not None and not fnmatch.fnmatchcase(_acting_for(record), self.acting_for):
            return False
        return self.resource is None or any(
            fnmatch.fnmatchcase(str(value), self.resource)
            for value in dict(record.get("resource") or {}).values()
        )

    def as_json(self) -> dict[str, str]:
        out = {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "principal": self.principal,
            "resource": self.resource,
            "outcome": self.outcome,
            "acting_for": self.acting_for,
        }
        return {key: value for key, value in out.items() if value is not None}


def _acting_for(record: Record) -> str:
    """Whom the call was made for, by an agent (a delegated token); "" for a direct call."""
    chain = record.get("delegation")
    return str(chain.get("subject", "")) if isinstance(chain, dict) else ""


@dataclass(frozen=True)
class BadLine:
    file: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class QueryResult:
    """What a query read: which files, how many lines, and every line that was not a record."""

    files: list[Path] = field(default_factory=list)
    lines_read: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)


def audit_files(path: Path) -> list[Path]:
    """The file sink's file and its rotations, oldest first (`audit.jsonl.N` … `.1`, `audit.jsonl`)."""
    rotated: list[tuple[int, Path]] = []
    for candidate in path.parent.glob(f"{glob_escape(path.name)}.*"):
        suffix = candidate.name[len(path.name) + 1 :]
        if suffix.isdigit() and suffix.isascii():
            rotated.append((int(suffix), candidate))
    files = [p for _, p in sorted(rotated, reverse=True)]
    if path.exists():
        files.append(path)
    if not files:
        raise BadRequestError(f"--file: no audit file at {path} (nor rotated copies {path.name}.1, ...)")
    return files


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def query(path: Path, wanted: AuditFilter, result: QueryResult) -> Iterator[Record]:
    """The records of `path` and its rotations that `wanted` keeps, in file order; `result` is filled in."""
    result.files = audit_files(path)
    for file in result.files:
        with file.open(encoding="utf-8", errors="replace", newline="\n") as lines:
            for number, line in enumerate(lines, start=1):
                result.lines_read += 1
                parsed = _parse(file, number, line)
                if isinstance(parsed, BadLine):
                    result.bad_lines.append(parsed)
                elif wanted.matches(*parsed):
                    yield parsed[0]


def _parse(file: Path, number: int, line: str) -> tuple[Record, datetime] | BadLine:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        return BadLine(file, number, f"not a JSON record ({err.msg})")
    if not isinstance(record, dict) or "event" not in record or "time" not in record:
        return BadLine(file, number, "not an audit record (no 'event' and 'time')")
    try:
        at = datetime.fromisoformat(str(record["time"]))
    except ValueError:
        return BadLine(file, number, f"'time' is not an ISO 8601 time: {record['time']!r}")
    return record, at if at.tzinfo else at.replace(tzinfo=UTC)
