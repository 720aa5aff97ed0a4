"""An evidence export an auditor can take away: the records of a query as JSONL and CSV, what was asked and
read, and a SHA-256 manifest over all of it (`sha256sum -c SHA256SUMS` checks it).

The export is written into a fresh temporary folder beside the destination and renamed into place at the
end, so a failed export leaves nothing half written, and an existing destination is never overwritten.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from meshgate.audit.events import Record
from meshgate.audit.query import QueryResult, outcome
from meshgate.audit.sinks import encode
from meshgate.errors import BadRequestError

MANIFEST = "SHA256SUMS"
RECORDS_JSONL = "records.jsonl"
RECORDS_CSV = "records.csv"
QUERY_JSON = "query.json"

# The spreadsheet view; the JSONL file keeps every field.
CSV_COLUMNS = (
    "time", "event", "outcome", "principal", "credential_kind", "issuer", "action", "tenant", "namespace",
    "topic", "cluster", "subscription", "rule_id", "reason_code", "code", "revision", "broker_id",
    "request_id", "peer", "prefetch",
    "acting_for", "actors",  # an agent's delegated call: the person, and every actor, the caller first
    "served_by", "count", "last_time",  # who answered; how many identical answers it stands for, until when
)  # fmt: skip


def csv_row(record: Record) -> dict[str, Any]:
    resource = dict(record.get("resource") or {})
    row = {name: record.get(name, "") for name in CSV_COLUMNS}
    row.update({name: resource.get(name, "") for name in ("tenant", "namespace", "topic", "cluster")})
    row["outcome"] = outcome(record)
    chain = dict(record.get("delegation") or {})
    row["acting_for"] = chain.get("subject", "")
    row["actors"] = ", ".join(chain.get("actors", ()))
    row["served_by"] = served_by(record)
    row["count"] = record.get("count", 1)
    return row


def served_by(record: Record) -> str:
    """Who gave the answer: the service, or the broker plugin without asking (`shim_cache`, ...) as it
    reported it; "" for records that are not answers (logins)."""
    if record.get("event") != "authorize":
        return ""
    return str(record.get("served_by") or "service")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export(
    records: Iterable[Record], result: QueryResult, destination: Path, query: dict[str, Any], now: datetime
) -> int:
    """Write the export to `destination` (which must not exist); returns the number of records."""
    if destination.exists():
        raise BadRequestError(f"--out: {destination} already exists; choose a new folder for each export")
    destination.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        count = _write_records(records, work)
        _write_query(work / QUERY_JSON, result, query, count, now)
        _write_manifest(work)
        work.rename(destination)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return count


def _write_records(records: Iterable[Record], work: Path) -> int:
    count = 0
    with (
        (work / RECORDS_JSONL).open("w", encoding="utf-8", newline="\n") as jsonl,
        (work / RECORDS_CSV).open("w", encoding="utf-8", newline="") as csv_file,
    ):
        writer = csv.DictWriter(csv_file, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for record in records:
            jsonl.write(encode(record) + "\n")
            writer.writerow(csv_row(record))
            count += 1
    return count


def _write_query(path: Path, result: QueryResult, query: dict[str, Any], count: int, now: datetime) -> None:
    document = {
        "exported_at": now.isoformat(timespec="seconds"),
        "query": query,
        "records": count,
        "sources": [{"file": str(f), "sha256": sha256_of(f)} for f in result.files],
        "lines_read": result.lines_read,
        "unreadable_lines": [str(bad) for bad in result.bad_lines],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=True) + "\n", encoding="utf-8")


def _write_manifest(work: Path) -> None:
    names = (RECORDS_JSONL, RECORDS_CSV, QUERY_JSON)
    lines = [f"{sha256_of(work / name)}  {name}\n" for name in names]
    (work / MANIFEST).write_text("".join(lines), encoding="ascii")
